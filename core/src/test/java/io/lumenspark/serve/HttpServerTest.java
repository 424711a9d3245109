package io.lumenspark.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP/1.1 layer on raw sockets, with a handler that echoes the request: keep-alive, pipelining, chunked
 * bodies, Expect: 100-continue, the size caps (413, 431), malformed requests (400), deadlines for slow and silent
 * clients (slowloris, a reader that stops reading) and the connection bound.
 */
class HttpServerTest {
    static final long MAX_BODY = 4096;
    HttpServer server;
    final CompletableFuture<Throwable> bigWrite = new CompletableFuture<>();
    final CountDownLatch hold = new CountDownLatch(1);

    HttpServer start(HttpServer.Limits limits) throws IOException {
        server = new HttpServer("127.0.0.1", 0, limits, (r, x) -> {
            if (r.path().equals("/big")) { // a response far larger than the socket buffers
                try {
                    byte[] mib = new byte[1 << 20];
                    x.startEvents();
                    for (int i = 0; i < 1024; i++) x.event(new String(mib, StandardCharsets.ISO_8859_1));
                    bigWrite.complete(null);
                } catch (IOException e) {
                    bigWrite.complete(e);
                    throw e;
                }
                return;
            }
            if (r.path().equals("/watched")) x.watch(() -> { }); // as a completion watches for a disconnect
            if (r.path().equals("/hold")) {
                try {
                    hold.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            String echo = r.method() + " " + r.path() + " " + new String(r.body(), StandardCharsets.UTF_8);
            x.respond(200, "text/plain", echo.getBytes(StandardCharsets.UTF_8), Map.of());
        }, OpenAiApi::protocolError);
        server.start();
        return server;
    }

    HttpServer start() throws IOException {
        return start(HttpServer.Limits.of(MAX_BODY));
    }

    @AfterEach
    void stop() {
        if (server != null) server.close();
    }

    /** A response: status, lower-case headers, body (read by its Content-Length). */
    record Response(int status, Map<String, String> headers, String body) {
        JsonNode error() throws IOException {
            return Json.mapper().readTree(body).get("error");
        }
    }

    static String line(InputStream in) throws IOException {
        var b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
            b.write(c);
        }
        String s = b.toString(StandardCharsets.ISO_8859_1);
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    static Response read(InputStream in) throws IOException {
        String status = line(in);
        if (status == null) return null;
        Map<String, String> headers = new LinkedHashMap<>();
        for (String h; !(h = line(in)).isEmpty(); ) {
            int colon = h.indexOf(':');
            headers.put(h.substring(0, colon).toLowerCase(Locale.ROOT), h.substring(colon + 1).strip());
        }
        byte[] body = in.readNBytes(Integer.parseInt(headers.getOrDefault("content-length", "0")));
        return new Response(Integer.parseInt(status.split(" ")[1]), headers, new String(body, StandardCharsets.UTF_8));
    }

    Socket connect() throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        s.setSoTimeout(20_000);
        return s;
    }

    static void send(Socket s, String text) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    static String post(String path, String body) {
        return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length
                + "\r\n\r\n" + body;
    }

    /** Whether the server closed the connection: end of stream or a reset, within the socket's timeout. */
    static boolean closedByServer(Socket s) throws IOException {
        try {
            return s.getInputStream().read() < 0;
        } catch (SocketException e) {
            return true; // reset
        }
    }

    @Test
    void keepAliveServesSeveralRequestsOnOneConnectionPipelinedToo() throws Exception {
        start();
        try (Socket s = connect()) {
            InputStream in = s.getInputStream();
            for (int i = 0; i < 3; i++) {
                send(s, post("/a" + i, "body " + i));
                Response r = read(in);
                assertEquals(200, r.status());
                assertEquals("POST /a" + i + " body " + i, r.body());
                assertNull(r.headers().get("connection"));
            }
            send(s, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n" + post("/p2", "two") + "GET /p3?q=1 HTTP/1.1\r\nHost: x\r\n"
                    + "Connection: close\r\n\r\n");
            assertEquals("GET /p1 ", read(in).body());
            assertEquals("POST /p2 two", read(in).body());
            Response last = read(in);
            assertEquals("GET /p3 ", last.body());
            assertEquals("close", last.headers().get("connection"));
            assertTrue(closedByServer(s), "closed after the request that asked for it");
        }
    }

    @Test
    void chunkedRequestBodiesWithExtensionsAndTrailers() throws Exception {
        start();
        try (Socket s = connect()) {
            send(s, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
            assertEquals("POST /c hello 0123456789", read(s.getInputStream()).body());
            send(s, post("/after", "ok")); // the connection goes on
            assertEquals("POST /after ok", read(s.getInputStream()).body());
            send(s, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
            assertEquals(400, read(s.getInputStream()).status(), "a malformed chunk size");
        }
        try (Socket s = connect()) {
            send(s, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + ("800\r\n" + "x".repeat(0x800) + "\r\n").repeat(3) + "0\r\n\r\n");
            Response r = read(s.getInputStream());
            assertEquals(413, r.status(), "chunks adding up to more than the limit");
            assertEquals("request_too_large", r.error().get("code").asText());
        }
        try (Socket s = connect()) {
            send(s, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n");
            assertEquals(501, read(s.getInputStream()).status());
        }
    }

    @Test
    void expect100ContinueIsAnsweredBeforeTheBodyAndRefusedForAnOversizedOne() throws Exception {
        start();
        try (Socket s = connect()) {
            InputStream in = s.getInputStream();
            send(s, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
            assertEquals("HTTP/1.1 100 Continue", line(in));
            assertEquals("", line(in));
            send(s, "body");
            assertEquals("POST /e body", read(in).body());
        }
        try (Socket s = connect()) {
            send(s, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
            Response r = read(s.getInputStream());
            assertEquals(413, r.status(), "refused before the body is sent");
            assertEquals("close", r.headers().get("connection"));
        }
        try (Socket s = connect()) {
            send(s, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 4\r\n\r\nbody");
            assertEquals(417, read(s.getInputStream()).status());
        }
    }

    @Test
    void oversizedBodiesAndHeadersAre413And431InTheApisErrorShape() throws Exception {
        start();
        try (Socket s = connect()) {
            send(s, post("/big-body", "x".repeat((int) MAX_BODY + 1)));
            Response r = read(s.getInputStream());
            assertEquals(413, r.status());
            assertEquals("invalid_request_error", r.error().get("type").asText());
            assertTrue(r.error().get("message").asText().contains("4096 bytes"), r.body());
            assertTrue(closedByServer(s));
        }
        try (Socket s = connect()) {
            send(s, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "y".repeat(HttpServer.MAX_HEAD) + "\r\n\r\n");
            Response r = read(s.getInputStream());
            assertEquals(431, r.status());
            assertTrue(r.error().get("message").asText().contains("headers"), r.body());
        }
        try (Socket s = connect()) {
            send(s, post("/fits", "x".repeat((int) MAX_BODY)));
            assertEquals(200, read(s.getInputStream()).status(), "a body at the limit");
        }
    }

    @Test
    void malformedRequestsAre400() throws Exception {
        start();
        for (String bad : List.of("GARBAGE\r\n\r\n", "GET /x\r\n\r\n", "GET /x HTTP/2.0\r\n\r\n",
                "GET /x HTTP/1.1\r\nno colon here\r\n\r\n", "POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
                "POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n", "GET /x HTTP/1.1\r\nHost: x\r\n")) {
            try (Socket s = connect()) {
                send(s, bad);
                s.shutdownOutput(); // the request ends here
                Response r = read(s.getInputStream());
                assertEquals(400, r.status(), bad);
                assertEquals("invalid_request_error", r.error().get("type").asText());
            }
        }
    }

    /**
     * A client that sends a request a byte at a time (slowloris) is closed at the request deadline, one that sends
     * nothing at the idle deadline, and one that stops reading a response at the write deadline (its handler sees
     * the failed write, so its generation would be cancelled).
     */
    @Test
    void slowSilentAndNonReadingClientsAreClosedAtTheirDeadlines() throws Exception {
        start(new HttpServer.Limits(MAX_BODY, 400, 300, 300, 100));
        try (Socket slow = connect(); Socket silent = connect(); Socket deaf = connect()) {
            deaf.setReceiveBufferSize(4096);
            send(deaf, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); // and never read
            Thread dripping = Thread.ofVirtual().start(() -> {
                try {
                    send(slow, "POST /slow HTTP/1.1\r\nHost: x\r\n");
                    for (int i = 0; i < 2000; i++) { // 100 s at most; the deadline is 0.3 s
                        send(slow, "X");
                        Thread.sleep(50);
                    }
                } catch (IOException | InterruptedException e) {
                    // closed by the server: done
                }
            });
            assertTrue(closedByServer(slow), "the slow client is cut off");
            dripping.join(20_000);
            assertTrue(closedByServer(silent), "the silent one is closed");
            // a kept-alive connection after a request whose handler watched it (as a completion does): idle
            try (Socket kept = connect()) {
                send(kept, "GET /watched HTTP/1.1\r\nHost: x\r\n\r\n");
                assertEquals(200, read(kept.getInputStream()).status());
                assertTrue(closedByServer(kept), "idle after a watched request: closed too");
            }
            assertInstanceOf(IOException.class, bigWrite.get(60, TimeUnit.SECONDS), "the response's write failed");
        }
    }

    /** A request counts as being handled until its response is sent (what Server.drain waits for). */
    @Test
    void aRequestIsHandledUntilItsResponseIsSent() throws Exception {
        start();
        try (Socket s = connect()) {
            assertEquals(0, server.handling());
            send(s, post("/hold", "x"));
            for (int i = 0; i < 2000 && server.handling() == 0; i++) Thread.sleep(5);
            assertEquals(1, server.handling(), "the handler is working");
            hold.countDown();
            assertEquals("POST /hold x", read(s.getInputStream()).body());
            for (int i = 0; i < 2000 && server.handling() > 0; i++) Thread.sleep(5);
            assertEquals(0, server.handling(), "answered");
        }
    }

    @Test
    void connectionsAreBounded() throws Exception {
        start(new HttpServer.Limits(MAX_BODY, 60_000, 30_000, 60_000, 2));
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 2; i++) {
                Socket s = connect();
                held.add(s);
                send(s, post("/held", "" + i));
                assertEquals(200, read(s.getInputStream()).status());
            }
            try (Socket third = connect()) {
                assertTrue(closedByServer(third), "over the bound: closed at once");
            }
            held.removeFirst().close();
            Response r = null;
            for (int tries = 0; r == null && tries < 200; tries++) { // the slot is freed as its thread ends
                try (Socket s = connect()) {
                    send(s, post("/again", "x"));
                    r = read(s.getInputStream());
                } catch (SocketException e) {
                    // closed: not yet free
                }
                if (r == null) Thread.sleep(20);
            }
            assertEquals(200, r == null ? 0 : r.status(), "a slot freed serves a new connection");
        } finally {
            for (Socket s : held) s.close();
        }
    }
}
