package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CorpusCacheTest {
    @TempDir
    Path tmp;
    LoopbackServer server;
    Download download;
    Path home;
    byte[] wikiZip;

    @BeforeEach
    void start() throws IOException {
        server = new LoopbackServer();
        download = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10), null,
                Download.DEFAULT_MAX_BYTES);
        home = tmp.resolve("home");
        wikiZip = ArchivesTest.zip("wikitext-2-raw/", "", "wikitext-2-raw/wiki.train.raw", " = Train = \n",
                "wikitext-2-raw/wiki.valid.raw", " = Valid = \n", "wikitext-2-raw/wiki.test.raw", " = Test = \n",
                "wikitext-2-raw/README", "not part of the text");
        server.files.put("/wikitext-2-raw-v1.zip", wikiZip);
    }

    @AfterEach
    void stop() {
        server.close();
        download.close();
    }

    /** WikiText-2 as in the catalogue, but served by the loopback server (its first mirror is missing). */
    private Corpus wiki(byte[] pinned) {
        return Corpora.WIKITEXT_2_RAW.withArtifact(new Corpus.Web(List.of(server.url("/gone/wikitext-2-raw-v1.zip"),
                server.url("/wikitext-2-raw-v1.zip"))), pinned.length, DemoCorpusTest.sha256(pinned));
    }

    private CorpusCache cache(Corpus... catalogue) {
        return new CorpusCache(home, List.of(catalogue), "no-npm-in-these-tests", download);
    }

    private static List<String> tree(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(p -> !p.equals(dir) && !p.getFileName().toString().equals(".lock"))
                    .map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void namedCorpusIsDownloadedCheckedExtractedAndCached() throws IOException {
        CorpusCache cache = cache(wiki(wikiZip));
        Path text = cache.get("wikitext-2-raw", null, false);
        assertEquals(home.resolve("corpora/wikitext-2-raw/wikitext-2-raw"), text);
        assertEquals(List.of("wikitext-2-raw", "wikitext-2-raw/wiki.test.raw", "wikitext-2-raw/wiki.train.raw",
                "wikitext-2-raw/wiki.valid.raw"), tree(text.getParent()), "only the text: zip and work folders gone");
        assertEquals(" = Valid = \n", Files.readString(text.resolve("wiki.valid.raw")));
        assertEquals(2, server.requests(), "the missing mirror, then the working one");

        assertEquals(text, cache.get("wikitext-2-raw", null, false));
        assertEquals(2, server.requests(), "cached: no request");
        assertEquals(text, cache.get("wikitext-2-raw", null, true));
        assertEquals(4, server.requests(), "--force fetches again");

        // --force while the sources fail: the cached copy stays until a new one has passed its checks
        server.files.put("/wikitext-2-raw-v1.zip", "not the zip".getBytes(StandardCharsets.UTF_8));
        var e = assertThrows(LumensparkException.class, () -> cache.get("wikitext-2-raw", null, true));
        assertTrue(e.getMessage().contains("could be used"), e.getMessage());
        assertEquals(" = Valid = \n", Files.readString(text.resolve("wiki.valid.raw")));
        assertEquals(List.of("wikitext-2-raw", "wikitext-2-raw/wiki.test.raw", "wikitext-2-raw/wiki.train.raw",
                "wikitext-2-raw/wiki.valid.raw"), tree(text.getParent()), "nothing of the failed fetch stays");
        assertEquals(text, cache.get("wikitext-2-raw", null, false));
    }

    /**
     * A refused archive leaves nothing in the cache, not even the folder of its lock file, also when it holds no
     * text; an extracted folder has the permissions of any new folder (not 700, as a temporary folder gets).
     */
    @Test
    void aRefusedArchiveLeavesNoFolderAndAnExtractedOneHasNormalPermissions() throws IOException {
        CorpusCache cache = cache();
        Path emptyTgz = Files.write(tmp.resolve("empty.tar.gz"), new TarArchiveTest.TarBuilder().gzipped());
        Path emptyZip = Files.write(tmp.resolve("blank.zip"), ArchivesTest.zip("blank.txt", ""));
        Path hostile = Files.write(tmp.resolve("hostile.zip"), ArchivesTest.zip("../../escape.txt", "x"));
        for (Path refused : new Path[]{emptyTgz, emptyZip, hostile}) {
            assertThrows(LumensparkException.class, () -> cache.get(refused.toString(), null, false));
            assertFalse(Files.exists(home.resolve("corpora/files")) && !listAll(home.resolve("corpora/files")).isEmpty(),
                    refused + " left " + listAll(home.resolve("corpora/files")));
            assertThrows(LumensparkException.class, () -> cache.get(refused.toString(), null, true));
            assertTrue(listAll(home.resolve("corpora/files")).isEmpty(), "--force: " + refused);
        }
        Path tgz = Files.write(tmp.resolve("books.tar.gz"),
                new TarArchiveTest.TarBuilder().file("books/a.txt", "alpha").gzipped());
        Path unpacked = cache.get(tgz.toString(), null, false);
        Path fresh = Files.createDirectory(tmp.resolve("any-new-folder"));
        assertEquals(Files.getPosixFilePermissions(fresh), Files.getPosixFilePermissions(unpacked));
    }

    private static List<String> listAll(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(p -> !p.equals(dir)).map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void namedCorpusWithWrongContentOrNoSourceLeavesNothing() throws IOException {
        CorpusCache pinnedElse = cache(wiki("something else".getBytes(StandardCharsets.UTF_8)));
        var e = assertThrows(LumensparkException.class, () -> pinnedElse.get("wikitext-2-raw", null, false));
        assertTrue(e.getMessage().contains("none of the 2 sources of wikitext-2-raw could be used")
                && e.getMessage().contains("HTTP 404") && e.getMessage().contains("expected"), e.getMessage());
        assertEquals(List.of(), tree(home.resolve("corpora/wikitext-2-raw")));

        server.files.clear();
        var gone = assertThrows(LumensparkException.class, () -> cache(wiki(wikiZip)).get("wikitext-2-raw", null, false));
        assertTrue(gone.getMessage().contains("lumenspark data get /path/to/file"), gone.getMessage());
        assertEquals(List.of(), tree(home.resolve("corpora/wikitext-2-raw")));
    }

    @Test
    void aLocalCopyOfACatalogueDownloadBecomesThatCorpus() throws IOException {
        server.files.clear(); // offline
        Path local = Files.write(tmp.resolve("downloaded-elsewhere.zip"), wikiZip);
        Path text = cache(wiki(wikiZip)).get(local.toString(), null, false);
        assertEquals(home.resolve("corpora/wikitext-2-raw/wikitext-2-raw"), text);
        assertEquals(" = Train = \n", Files.readString(text.resolve("wiki.train.raw")));
        assertTrue(Files.exists(local), "the user's file is left alone");
        assertEquals(0, server.requests());
    }

    @Test
    void urlsAreCachedByUrlAndChecked() throws IOException {
        server.files.put("/books/plain.txt", "Call me Ishmael.".getBytes(StandardCharsets.UTF_8));
        CorpusCache cache = cache();
        String url = server.url("/books/plain.txt").toString();
        Path file = cache.get(url, null, false);
        assertEquals("Call me Ishmael.", Files.readString(file));
        assertTrue(file.startsWith(home.resolve("corpora/urls")) && file.endsWith("plain.txt"), file.toString());
        assertEquals(file, cache.get(url, null, false));
        assertEquals(1, server.requests(), "cached by URL");

        Path unpacked = cache.get(server.url("/wikitext-2-raw-v1.zip").toString(), DemoCorpusTest.sha256(wikiZip),
                false);
        assertEquals("wikitext-2-raw-v1", unpacked.getFileName().toString());
        assertEquals(" = Test = \n", Files.readString(unpacked.resolve("wikitext-2-raw/wiki.test.raw")));

        server.files.put("/other.zip", wikiZip);
        String other = server.url("/other.zip").toString();
        var e = assertThrows(LumensparkException.class, () -> cache.get(other, "ab".repeat(32), false));
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
        try (Stream<Path> dirs = Files.list(home.resolve("corpora/urls"))) {
            for (Path d : dirs.toList()) {
                List<String> left = tree(d);
                assertFalse(left.stream().anyMatch(n -> n.startsWith("other")), "nothing of other.zip: " + left);
            }
        }
    }

    @Test
    void localFilesFoldersAndArchives() throws IOException {
        CorpusCache cache = cache(wiki(wikiZip));
        Path text = Files.writeString(tmp.resolve("mine.txt"), "my own text");
        assertEquals(text, cache.get(text.toString(), null, false), "a plain file is used where it is");
        assertEquals(tmp, cache.get(tmp.toString(), null, false));
        assertEquals(text, cache.get(text.toString(), DemoCorpusTest.sha256("my own text".getBytes()), false));
        var bad = assertThrows(LumensparkException.class, () -> cache.get(text.toString(), "0".repeat(64), false));
        assertTrue(bad.getMessage().startsWith("checksum mismatch for " + text), bad.getMessage());
        assertTrue(Files.exists(text), "never deletes the user's file");

        Path tgz = Files.write(tmp.resolve("books.tar.gz"),
                new TarArchiveTest.TarBuilder().file("books/a.txt", "alpha").gzipped());
        Path unpacked = cache.get(tgz.toString(), null, false);
        assertTrue(unpacked.startsWith(home.resolve("corpora/files")), unpacked.toString());
        assertEquals("alpha", Files.readString(unpacked.resolve("books/a.txt")));

        Path hostile = Files.write(tmp.resolve("hostile.zip"), ArchivesTest.zip("../../escape.txt", "x"));
        var e = assertThrows(LumensparkException.class, () -> cache.get(hostile.toString(), null, false));
        assertTrue(e.getMessage().contains("unsafe path"), e.getMessage());
        assertFalse(Files.exists(home.resolve("corpora/escape.txt")) || Files.exists(home.resolve("escape.txt")));

        // Nothing to train on is said now, not later by train.
        Path emptyFile = Files.writeString(tmp.resolve("empty.txt"), "");
        Path emptyFolder = Files.createDirectories(tmp.resolve("nothing"));
        Files.writeString(emptyFolder.resolve(".hidden"), "not text");
        Path emptyZip = Files.write(tmp.resolve("empty.zip"), ArchivesTest.zip("blank.txt", ""));
        for (Path p : new Path[]{emptyFile, emptyFolder, emptyZip}) {
            var none = assertThrows(LumensparkException.class, () -> cache.get(p.toString(), null, false));
            assertTrue(none.getMessage().contains("holds no text"), none.getMessage());
        }
    }

    @Test
    void badRequestsGetClearErrors() {
        CorpusCache cache = cache(wiki(wikiZip));
        var unknown = assertThrows(LumensparkException.class, () -> cache.get("no-such-corpus", null, false));
        assertEquals("no such file: no-such-corpus (nor a corpus of that name; known: wikitext-2-raw)",
                unknown.getMessage());
        var typo = assertThrows(LumensparkException.class, () -> cache.get("wikitext-2-rav", null, false));
        assertEquals("no such file: wikitext-2-rav (nor a corpus of that name; did you mean 'wikitext-2-raw'?)",
                typo.getMessage());
        var noHost = assertThrows(LumensparkException.class, () -> cache.get("https://", null, false));
        assertEquals("not a valid URL: https:// (no host name after the //)", noHost.getMessage());
        var space = assertThrows(LumensparkException.class, () -> cache.get("https://a.org/my file.txt", null, false));
        assertEquals("not a valid URL: https://a.org/my file.txt (a character a URL cannot hold at position 17 (a"
                + " space is written %20))", space.getMessage());
        var pinned = assertThrows(LumensparkException.class, () -> cache.get("wikitext-2-raw", "0".repeat(64), false));
        assertTrue(pinned.getMessage().contains("checksum pinned"), pinned.getMessage());
        var hex = assertThrows(LumensparkException.class, () -> cache.get("wikitext-2-raw", "xyz", false));
        assertTrue(hex.getMessage().contains("64 hex digits"), hex.getMessage());
        var http = assertThrows(LumensparkException.class, () -> cache.get("http://example.com/a.txt", null, false));
        assertTrue(http.getMessage().contains("only https://"), http.getMessage());
        assertEquals(0, server.requests());
    }

    @Test
    void cachedSaysWhatTheCacheHoldsWithoutFetching() {
        Corpus wiki = wiki(wikiZip);
        CorpusCache cache = cache(wiki);
        assertEquals(Optional.empty(), cache.cached(wiki));
        assertEquals(0, server.requests(), "looking fetches nothing");
        Path text = cache.get("wikitext-2-raw", null, false);
        assertEquals(Optional.of(text), cache.cached(wiki));
    }

    @Test
    void emptyArgumentsDevicesAndFifosAreRefused() throws Exception {
        CorpusCache cache = cache(wiki(wikiZip));
        for (String blank : List.of("", " ")) {
            var e = assertThrows(LumensparkException.class, () -> cache.get(blank, null, false));
            assertTrue(e.getMessage().startsWith("no corpus given"), e.getMessage());
        }
        Path device = Path.of("/dev/null");
        assumeTrue(Files.exists(device));
        var dev = assertThrows(LumensparkException.class, () -> cache.get(device.toString(), null, false));
        assertEquals("cannot read /dev/null: not a regular file or folder (a FIFO, device or socket?)",
                dev.getMessage());
        Path fifo = tmp.resolve("fifo.txt");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "needs mkfifo");
        var f = assertThrows(LumensparkException.class, () -> cache.get(fifo.toString(), "0".repeat(64), false));
        assertTrue(f.getMessage().startsWith("cannot read " + fifo + ": not a regular file"), f.getMessage());
        var missing = assertThrows(LumensparkException.class,
                () -> cache.get(tmp.resolve("gone\nfile").toString(), null, false));
        assertTrue(missing.getMessage().startsWith("no such file: " + tmp + "/gone\\nfile (nor a corpus"),
                missing.getMessage());
    }

    @Test
    void aUrlPastTheCapLeavesNothingInTheCache() throws IOException {
        server.files.put("/big.txt", new byte[5000]);
        try (Download small = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10),
                null, 1000)) {
            CorpusCache cache = new CorpusCache(home, List.of(), "no-npm-in-these-tests", small);
            var e = assertThrows(LumensparkException.class,
                    () -> cache.get(server.url("/big.txt").toString(), null, false));
            assertTrue(e.getMessage().contains("announces 4.9 KiB (1000 bytes is the limit"), e.getMessage());
        }
        try (Stream<Path> dirs = Files.list(home.resolve("corpora/urls"))) {
            for (Path d : dirs.toList()) assertEquals(List.of(), tree(d));
        }
    }
}
