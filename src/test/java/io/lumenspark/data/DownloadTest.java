package io.lumenspark.data;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DownloadTest {
    @TempDir
    Path tmp;
    LoopbackServer server;
    Download download;
    byte[] data;
    String sha;

    @BeforeEach
    void start() throws IOException {
        server = new LoopbackServer();
        download = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10), false);
        data = new byte[300_000];
        new Random(7).nextBytes(data);
        sha = DemoCorpusTest.sha256(data);
        server.files.put("/data.bin", data);
    }

    @AfterEach
    void stop() {
        server.close();
        download.close();
    }

    private List<String> files(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void downloadsAndChecks() throws IOException {
        Path target = tmp.resolve("d").resolve("data.bin");
        download.fetch(server.url("/data.bin"), target, data.length, sha);
        assertArrayEquals(data, Files.readAllBytes(target));
        assertEquals(List.of("data.bin"), files(target.getParent()), "no .part left");
        assertEquals(List.of(""), server.ranges);
    }

    @Test
    void resumesWithRangeAfterTheConnectionDrops() throws IOException {
        server.drops.set(1);
        Path target = tmp.resolve("data.bin");
        download.fetch(server.url("/data.bin"), target, data.length, sha);
        assertArrayEquals(data, Files.readAllBytes(target));
        assertEquals(2, server.requests());
        assertEquals("", server.ranges.get(0));
        assertEquals("bytes=" + data.length / 2 + "-", server.ranges.get(1), "the second request resumes");
    }

    @Test
    void resumesAPartLeftByAnEarlierCall() throws IOException {
        server.drops.set(Download.ATTEMPTS); // every attempt of the first call breaks off
        Path target = tmp.resolve("data.bin");
        var e = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/data.bin"), target, data.length, sha));
        assertTrue(e.getMessage().contains("broke off") && e.getMessage().contains("run the same command again"),
                e.getMessage());
        assertFalse(Files.exists(target));
        long kept = Files.size(tmp.resolve("data.bin.part"));
        assertTrue(kept > data.length / 2 && kept < data.length, "kept " + kept);

        download.fetch(server.url("/data.bin"), target, data.length, sha);
        assertArrayEquals(data, Files.readAllBytes(target));
        assertEquals("bytes=" + kept + "-", server.ranges.getLast());
        assertEquals(List.of("data.bin"), files(tmp));
    }

    @Test
    void aServerThatGoesSilentIsLeftAndResumed() throws IOException {
        server.stalls.set(1);
        try (Download impatient = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofMillis(300),
                false)) {
            Path target = tmp.resolve("data.bin");
            long start = System.nanoTime();
            impatient.fetch(server.url("/data.bin"), target, data.length, sha);
            assertTrue(System.nanoTime() - start < LoopbackServer.STALL_MILLIS * 1_000_000L,
                    "did not wait for the silent server");
            assertArrayEquals(data, Files.readAllBytes(target));
            assertEquals("bytes=" + data.length / 2 + "-", server.ranges.getLast());
        }
    }

    @Test
    void startsOverWhenTheServerIgnoresRangeOrTheFileChanged() throws IOException {
        server.honourRange = false;
        server.drops.set(1);
        Path target = tmp.resolve("a.bin");
        download.fetch(server.url("/data.bin"), target, data.length, sha);
        assertArrayEquals(data, Files.readAllBytes(target), "the whole file, once");
        assertTrue(server.ranges.get(1).startsWith("bytes="), "a Range was asked for");

        // The server's file changed between two calls: If-Range fails and the new file comes whole.
        server.honourRange = true;
        server.drops.set(Download.ATTEMPTS);
        Path other = tmp.resolve("b.bin");
        assertThrows(LumensparkException.class, () -> download.fetch(server.url("/data.bin"), other, -1, null));
        byte[] changed = "changed".repeat(1000).getBytes();
        server.files.put("/data.bin", changed);
        server.etag = "\"v2\"";
        download.fetch(server.url("/data.bin"), other, -1, null);
        assertArrayEquals(changed, Files.readAllBytes(other));
    }

    @Test
    void checksumMismatchLeavesNothing() throws IOException {
        Path dir = tmp.resolve("d");
        var e = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/data.bin"), dir.resolve("data.bin"), data.length, "0".repeat(64)));
        assertTrue(e.getMessage().contains("checksum mismatch") && e.getMessage().contains(sha), e.getMessage());
        assertEquals(List.of(), files(dir));

        var size = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/data.bin"), dir.resolve("data.bin"), data.length + 1, null));
        assertTrue(size.getMessage().contains("expected " + (data.length + 1)), size.getMessage());
        assertEquals(List.of(), files(dir));
    }

    @Test
    void httpErrorsAndUnreachableHostsSayWhatToDo() throws IOException {
        Path target = tmp.resolve("x.bin");
        var notFound = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/missing.bin"), target, -1, null));
        assertTrue(notFound.getMessage().contains("HTTP 404"), notFound.getMessage());
        assertTrue(notFound.getMessage().contains("lumenspark data get /path/to/file"), notFound.getMessage());

        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        URI refused = URI.create("http://127.0.0.1:" + port + "/x.bin");
        var e = assertThrows(LumensparkException.class, () -> download.fetch(refused, target, -1, null));
        assertEquals("cannot reach 127.0.0.1 (connection refused; offline?): download " + refused
                + " yourself and run `lumenspark data get /path/to/file`, or pass --data FILE", e.getMessage());
        assertEquals(List.of(), files(tmp));
    }

    @Test
    void onlyHttpsLeavesThisMachine() {
        for (String url : List.of("http://example.com/x.txt", "http://10.0.0.1/x", "ftp://127.0.0.1/x",
                "file:///etc/passwd")) {
            var e = assertThrows(LumensparkException.class,
                    () -> download.fetch(URI.create(url), tmp.resolve("x"), -1, null), url);
            assertTrue(e.getMessage().contains("https"), e.getMessage());
        }
        Download.checkAllowed(URI.create("http://localhost:8080/x"));
        Download.checkAllowed(URI.create("http://[::1]:8080/x"));
        Download.checkAllowed(URI.create("https://example.com/x"));
    }
}
