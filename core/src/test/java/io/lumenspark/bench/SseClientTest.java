package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The benchmark's client against a scripted loopback server: events timed as they come, the streams of a round
 * at once, connections reused, a connection the server closed meanwhile replaced, error answers and error events
 * reported.
 */
class SseClientTest {
    /** Marks the end of the connection after an answer's parts. */
    private static final String CLOSE = "close";
    private static final int GAP_MILLIS = 100;

    /**
     * Answers each request with the next answer, its parts GAP_MILLIS apart (a part CLOSE closes the connection);
     * counts the connections accepted.
     */
    private static Thread serve(ServerSocket listener, List<List<String>> answers, AtomicInteger connections) {
        return Thread.ofVirtual().start(() -> {
            int next = 0;
            while (next < answers.size()) {
                try (Socket s = listener.accept()) {
                    connections.incrementAndGet();
                    BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                            StandardCharsets.ISO_8859_1));
                    OutputStream out = s.getOutputStream();
                    boolean open = true;
                    while (open && next < answers.size()) {
                        int length = 0;
                        String line = in.readLine();
                        if (line == null) break;
                        for (; !line.isEmpty(); line = in.readLine()) {
                            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                                length = Integer.parseInt(line.substring(15).trim());
                            }
                        }
                        for (int i = 0; i < length; i++) in.read(); // the body (ASCII JSON here)
                        for (String part : answers.get(next)) {
                            if (part.equals(CLOSE)) {
                                open = false;
                                break;
                            }
                            out.write(part.getBytes(StandardCharsets.UTF_8));
                            out.flush();
                            Thread.sleep(GAP_MILLIS);
                        }
                        next++;
                    }
                } catch (IOException | InterruptedException e) {
                    return;
                }
            }
        });
    }

    private static String chunk(String data) {
        byte[] b = ("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8);
        return Integer.toHexString(b.length) + "\r\n" + new String(b, StandardCharsets.UTF_8) + "\r\n";
    }

    /**
     * A streamed completion of n text chunks (tokens), sent as parts: headers, each text chunk, the finish chunk,
     * the end (usage, [DONE]).
     */
    private static List<String> stream(int tokens, String... after) {
        List<String> parts = new ArrayList<>();
        parts.add("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < tokens; i++) parts.add(chunk("{\"choices\":[{\"text\":\"t" + i + "\",\"finish_reason\":null}]}"));
        parts.add(chunk("{\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}"));
        parts.add(chunk("{\"choices\":[],\"usage\":{\"completion_tokens\":" + tokens + "}}")
                + chunk("[DONE]") + "0\r\n\r\n");
        parts.addAll(List.of(after));
        return parts;
    }

    /** One request answered with answer's parts: the client's {@link SseClient#stream} result. */
    private static double[] streamOnce(List<String> answer) throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            Thread server = serve(listener, List.of(answer), new AtomicInteger());
            double[] a = client.stream("/v1/completions", "{}", System.nanoTime());
            server.join(10_000);
            return a;
        }
    }

    @Test
    void textThatComesInOneBurstHasNoTimePerToken() throws Exception {
        // the whole answer as one part: every chunk is in the client's buffer when it reads the first
        double[] a = streamOnce(List.of(String.join("", stream(4))));
        assertEquals(4, a[0]);
        assertTrue(Double.isNaN(a[1]), "first to last measures parsing, not the server: " + a[1]);
    }

    @Test
    void theFinishEventRightAfterTheOnlyTextDoesNotTimeTheTokens() throws Exception {
        // the earlier tokens' text was held back (parts of a character): one text chunk, then, a gap later, the
        // finish chunk; the first-to-last time is not the tokens'
        List<String> parts = stream(1);
        List<String> answer = new ArrayList<>(List.of(parts.getFirst(), parts.get(1), parts.get(2)));
        answer.add(String.join("", parts.subList(3, parts.size())).replace("\"completion_tokens\":1",
                "\"completion_tokens\":5"));
        double[] a = streamOnce(answer);
        assertEquals(5, a[0]);
        assertTrue(Double.isNaN(a[1]), "not timed by the finish event: " + a[1]);
    }

    @Test
    void eventsAreTimedAsTheyComeAndTheConnectionIsKeptForTheNext() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            AtomicInteger connections = new AtomicInteger();
            Thread server = serve(listener, List.of(stream(4), stream(3)), connections);
            long start = System.nanoTime();
            double[] a = client.stream("/v1/completions", "{}", start);
            double[] b = client.stream("/v1/completions", "{\"a\":1}", start);
            server.join(10_000);
            assertEquals(4, a[0]);
            assertEquals(3, b[0]);
            // four text chunks and the finish chunk GAP_MILLIS apart: first to last four gaps, over three tokens
            // after the first (at least one and a half gaps: the client may read the first chunk late on a busy
            // machine)
            assertTrue(a[3] - a[2] >= 1.5 * GAP_MILLIS && a[1] >= GAP_MILLIS * 0.5, () -> Arrays.toString(a));
            assertTrue(a[2] >= GAP_MILLIS * 0.9, "the first text chunk came a gap after the headers: " + a[2]);
            assertTrue(b[2] > a[3], "the second stream came after the first");
            assertEquals(1, connections.get(), "the second request reused the first's connection");
        }
    }

    @Test
    void aRoundsStreamsRunAtOnceOnTheirOwnConnectionsKeptForTheNextRound() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            // each connection on its own thread, answering its requests with 4 and then 2 tokens
            AtomicInteger connections = new AtomicInteger();
            Thread acceptor = acceptEach(listener, 3, connections, n -> List.of(stream(4), stream(2)));
            long start = System.nanoTime();
            double[][] a = client.streams("/v1/completions", List.of("{}", "{\"b\":1}", "{\"c\":2}"), start);
            double[][] b = client.streams("/v1/completions", List.of("{}", "{}", "{}"), start);
            acceptor.join(10_000);
            assertEquals(3, a.length);
            double firstLast = Double.POSITIVE_INFINITY, lastFirst = 0;
            for (double[] r : a) {
                assertEquals(4, r[0], () -> Arrays.toString(r));
                assertTrue(r[1] >= GAP_MILLIS * 0.5, () -> "timed as they came: " + Arrays.toString(r));
                firstLast = Math.min(firstLast, r[3]);
                lastFirst = Math.max(lastFirst, r[2]);
            }
            // at once: every stream's first token came before any stream's last (one after the other, the
            // second's first would come after the first's last)
            assertTrue(lastFirst < firstLast, "the streams ran at once: " + Arrays.deepToString(a));
            for (double[] r : b) assertEquals(2, r[0], () -> Arrays.toString(r));
            assertEquals(3, connections.get(), "the second round reused the first's three connections");
        }
    }

    @Test
    void aFailedRoundLeavesItsGoodConnectionsReadyForTheNext() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            // the first connection answers in full and is closed by the server 2 gaps later (as an idle
            // connection is); the second sends a token, then 5 gaps later an error event; later ones answer in full
            AtomicInteger connections = new AtomicInteger();
            String whole = String.join("", stream(2));
            Thread acceptor = acceptEach(listener, 3, connections, n -> List.of(switch (n) {
                case 0 -> List.of(whole, "");
                case 1 -> List.of(stream(1).getFirst()
                                + chunk("{\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}"),
                        "", "", "", "", chunk("{\"error\":{\"message\":\"a step failed\"}}") + "0\r\n\r\n", CLOSE);
                default -> List.of(whole, CLOSE);
            }));
            LumensparkException e = assertThrows(LumensparkException.class,
                    () -> client.streams("/v1/completions", List.of("{}", "{}"), System.nanoTime()));
            assertEquals("a benchmark stream failed: a step failed", e.getMessage());
            // the first connection, pooled and since closed by the server, is replaced at once: no wait for the
            // read timeout
            double[] next = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> client.stream("/v1/completions", "{}", System.nanoTime()));
            assertEquals(2, next[0]);
            acceptor.join(10_000);
            assertEquals(3, connections.get(), "a new connection for the next round");
        }
    }

    /**
     * Accepts count connections on listener, counting them, each answered on its own thread by {@link #answer}
     * with answers(n) for the n-th connection (from 0).
     */
    private static Thread acceptEach(ServerSocket listener, int count, AtomicInteger connections,
                                     IntFunction<List<List<String>>> answers) {
        return Thread.ofVirtual().start(() -> {
            for (int i = 0; i < count; i++) {
                try {
                    Socket s = listener.accept();
                    List<List<String>> a = answers.apply(connections.getAndIncrement());
                    Thread.ofVirtual().start(() -> answer(s, a));
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    /**
     * Answers the requests that come on s with answers' parts in turn, GAP_MILLIS apart (an empty part: a gap
     * only), then closes it (at once at a part CLOSE).
     */
    private static void answer(Socket s, List<List<String>> answers) {
        try (s) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                    StandardCharsets.ISO_8859_1));
            OutputStream out = s.getOutputStream();
            for (List<String> answer : answers) {
                int length = 0;
                for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                for (int i = 0; i < length; i++) in.read();
                for (String part : answer) {
                    if (part.equals(CLOSE)) return;
                    out.write(part.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    Thread.sleep(GAP_MILLIS);
                }
            }
        } catch (IOException | InterruptedException e) {
            // the test's assertions tell
        }
    }

    @Test
    void aConnectionTheServerClosedMeanwhileIsReplacedOnce() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            AtomicInteger connections = new AtomicInteger();
            // the first answer ends the connection without saying so (an idle timeout, later)
            Thread server = serve(listener, List.of(stream(2, CLOSE), stream(2)), connections);
            assertEquals(2, client.stream("/v1/completions", "{}", System.nanoTime())[0]);
            assertEquals(2, client.stream("/v1/completions", "{}", System.nanoTime())[0]);
            server.join(10_000);
            assertEquals(2, connections.get(), "a new connection for the second request");
        }
    }

    @Test
    void errorAnswersAndErrorEventsAreOneErrorEachAndTheirConnectionsAreNotKept() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            String busy = "{\"error\":{\"message\":\"the server is busy\",\"type\":\"rate_limit_error\"}}";
            List<String> tooMany = List.of("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + busy.length() + "\r\n\r\n" + busy);
            List<String> failing = List.of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    chunk("{\"choices\":[{\"text\":\"a\"}]}"), chunk("{\"error\":{\"message\":\"a step failed\"}}")
                            + chunk("[DONE]") + "0\r\n\r\n");
            AtomicInteger connections = new AtomicInteger();
            serve(listener, List.of(tooMany, failing, stream(1)), connections);
            LumensparkException e = assertThrows(LumensparkException.class,
                    () -> client.stream("/v1/completions", "{}", System.nanoTime()));
            assertEquals("a benchmark stream was answered HTTP/1.1 429 Too Many Requests: the server is busy",
                    e.getMessage());
            LumensparkException event = assertThrows(LumensparkException.class,
                    () -> client.stream("/v1/completions", "{}", System.nanoTime()));
            assertEquals("a benchmark stream failed: a step failed", event.getMessage());
            assertEquals(1, client.stream("/v1/completions", "{}", System.nanoTime())[0]);
            assertEquals(3, connections.get(), "a connection after an error is not used again");
        }
    }
}
