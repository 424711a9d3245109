package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;

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
        download = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10), null,
                Download.DEFAULT_MAX_BYTES);
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
        try (Download impatient = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofMillis(1000),
                null, Download.DEFAULT_MAX_BYTES)) {
            Path target = tmp.resolve("data.bin");
            long start = System.nanoTime();
            impatient.fetch(server.url("/data.bin"), target, data.length, sha);
            assertTrue(System.nanoTime() - start < LoopbackServer.STALL_MILLIS * 1_000_000L,
                    "did not wait for the silent server");
            assertArrayEquals(data, Files.readAllBytes(target));
            // resumed from the half it had (a pause of its own past the stall timeout would resume once more)
            assertTrue(server.ranges.contains("bytes=" + data.length / 2 + "-"), server.ranges.toString());
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
        assertTrue(size.getMessage().contains(String.format("expected %,d", data.length + 1)), size.getMessage());
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

    /** A stream that collects what is printed and counts down {@code printed} at the first byte. */
    private static final class Captured extends OutputStream {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final CountDownLatch printed = new CountDownLatch(1);

        @Override
        public synchronized void write(int b) {
            bytes.write(b);
            printed.countDown();
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            bytes.write(b, off, len);
            if (len > 0) printed.countDown();
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void theProgressBarEndsItsLineBeforeTheErrorAndAfterSuccess() throws IOException {
        // The server sends half the body, then waits until the bar is on screen: the bar is certain to be shown.
        for (boolean fails : new boolean[]{true, false}) {
            Captured err = new Captured();
            server.gate = err.printed;
            try (Download shown = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(60),
                    new PrintStream(err, true, StandardCharsets.UTF_8), Download.DEFAULT_MAX_BYTES)) {
                Path target = tmp.resolve(fails + ".bin");
                if (fails) {
                    var e = assertThrows(LumensparkException.class,
                            () -> shown.fetch(server.url("/data.bin"), target, data.length, "0".repeat(64)));
                    assertTrue(e.getMessage().startsWith("checksum mismatch"), e.getMessage());
                } else {
                    shown.fetch(server.url("/data.bin"), target, data.length, sha);
                }
            }
            String bar = err.text();
            assertTrue(bar.contains("data.bin") && bar.contains("MB"), "the bar was shown: " + bar);
            assertTrue(bar.endsWith("\n"), "the bar's line is ended, so an error starts its own: " + bar);
            assertEquals(1, bar.chars().filter(c -> c == '\n').count(), "ended once: " + bar);
        }
    }

    @Test
    void aDownloadWithoutPinnedSizeStopsAtTheCap() throws IOException {
        server.endless.add("/endless");
        try (Download capped = new Download(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10),
                null, 100_000)) {
            Path target = tmp.resolve("endless");
            var e = assertThrows(LumensparkException.class,
                    () -> capped.fetch(server.url("/endless"), target, -1, null));
            assertTrue(e.getMessage().contains("sends more than 97.7 KiB")
                    && e.getMessage().contains("--max-size"), e.getMessage());
            assertEquals(List.of(), files(tmp), "the part file is deleted");
            assertEquals(1, server.requests(), "not retried");

            // Announced beyond the cap: refused before a byte is written.
            server.announced.put("/data.bin", 1L << 40);
            var big = assertThrows(LumensparkException.class,
                    () -> capped.fetch(server.url("/data.bin"), target, -1, null));
            assertTrue(big.getMessage().contains("announces 1.0 TiB (97.7 KiB is the limit"),
                    big.getMessage());
            assertEquals(List.of(), files(tmp));

            // Within the cap (the file is 300,000 bytes): fine with a larger one.
            server.announced.clear();
            download.fetch(server.url("/data.bin"), target, -1, null);
            assertArrayEquals(data, Files.readAllBytes(target));
        }
    }

    @Test
    void aDownloadPastItsPinnedSizeIsRefusedAsItComes() throws IOException {
        server.announced.put("/data.bin", 1L << 40); // a lie: it sends 300,000 bytes
        var e = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/data.bin"), tmp.resolve("a.bin"), 1000, null));
        assertTrue(e.getMessage().contains("announces 1.0 TiB (1,000 bytes expected)"), e.getMessage());
        server.endless.add("/endless"); // no Content-Length: counted as it comes
        var sent = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/endless"), tmp.resolve("a.bin"), 1000, null));
        assertTrue(sent.getMessage().contains("sends more than 1000 bytes (1,000 bytes expected)"), sent.getMessage());
        assertEquals(List.of(), files(tmp));
    }

    @Test
    void redirectLoopsAndGarbageAreOneCleanLine() throws Exception {
        server.redirects.put("/loop", "/loop");
        var loop = assertThrows(LumensparkException.class,
                () -> download.fetch(server.url("/loop"), tmp.resolve("loop"), -1, null));
        assertTrue(loop.getMessage().contains("redirects too many times") && loop.getMessage().contains("HTTP 302"),
                loop.getMessage());

        // A "server" that answers with bytes that are not HTTP, escape sequences and all.
        try (ServerSocket garbage = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread answer = Thread.ofVirtual().start(() -> {
                try (Socket s = garbage.accept()) {
                    s.getInputStream().read(new byte[4096]);
                    s.getOutputStream().write("\u001b[2J\u001b[31mHELLO\0\r\nnot http\r\n\r\n".getBytes(
                            StandardCharsets.ISO_8859_1));
                } catch (IOException e) {
                    // the test fails on its own if nothing was answered
                }
            });
            URI url = URI.create("http://127.0.0.1:" + garbage.getLocalPort() + "/x.txt");
            var e = assertThrows(LumensparkException.class, () -> download.fetch(url, tmp.resolve("g"), -1, null));
            assertTrue(e.getMessage().startsWith("cannot download " + url + ": the server's answer is not HTTP (")
                    && e.getMessage().contains("\\u001b[2J"), e.getMessage());
            assertTrue(e.getMessage().chars().noneMatch(c -> c < 0x20 || c == 0x7F), e.getMessage());
            answer.join();
        }
        assertEquals(List.of(), files(tmp));
    }

    @Test
    void garbageHeadersDoNotEscape() throws IOException {
        assertEquals(-1, Download.contentLength(java.net.http.HttpHeaders.of(
                java.util.Map.of("Content-Length", List.of("99999999999999999999999")), (a, b) -> true)));
        assertEquals(-1, Download.contentLength(java.net.http.HttpHeaders.of(
                java.util.Map.of("Content-Length", List.of("-5")), (a, b) -> true)));
        assertEquals(null, Download.contentRange(java.net.http.HttpHeaders.of(
                java.util.Map.of("Content-Range", List.of("bytes 99999999999999999999999-1/2")), (a, b) -> true)));
    }
}
