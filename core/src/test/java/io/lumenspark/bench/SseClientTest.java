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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark's client against a scripted loopback server: events timed, the connection reused, errors. */
class SseClientTest {
    /** Answers each request on a connection with the next of answers; counts the connections accepted. */
    private static Thread serve(ServerSocket listener, List<String> answers, AtomicInteger connections) {
        return Thread.ofVirtual().start(() -> {
            int next = 0;
            while (next < answers.size()) {
                try (Socket s = listener.accept()) {
                    connections.incrementAndGet();
                    BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                            StandardCharsets.ISO_8859_1));
                    OutputStream out = s.getOutputStream();
                    while (next < answers.size()) {
                        int length = 0;
                        String line = in.readLine();
                        if (line == null) break;
                        for (; !line.isEmpty(); line = in.readLine()) {
                            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                                length = Integer.parseInt(line.substring(15).trim());
                            }
                        }
                        for (int i = 0; i < length; i++) in.read(); // the body (ASCII JSON here)
                        out.write(answers.get(next++).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    private static String chunk(String data) {
        byte[] b = ("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8);
        return Integer.toHexString(b.length) + "\r\n" + new String(b, StandardCharsets.UTF_8) + "\r\n";
    }

    private static String stream(int tokens) {
        StringBuilder sb = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < tokens; i++) sb.append(chunk("{\"choices\":[{\"text\":\"t" + i + "\"}]}"));
        sb.append(chunk("{\"choices\":[],\"usage\":{\"completion_tokens\":" + tokens + "}}"));
        sb.append(chunk("[DONE]")).append("0\r\n\r\n");
        return sb.toString();
    }

    @Test
    void streamsAreTimedAndTheConnectionIsKeptForTheNext() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            AtomicInteger connections = new AtomicInteger();
            Thread server = serve(listener, List.of(stream(5), stream(3)), connections);
            List<double[]> results = new ArrayList<>();
            long start = System.nanoTime();
            results.add(client.stream("/v1/completions", "{}", start));
            results.add(client.stream("/v1/completions", "{\"a\":1}", start));
            server.join(10_000);
            assertEquals(5, results.get(0)[0]);
            assertEquals(3, results.get(1)[0]);
            for (double[] r : results) assertTrue(r[1] >= 0 && r[2] >= 0 && r[3] >= r[2], () -> List.of(r).toString());
            assertEquals(1, connections.get(), "the second request reused the first's connection");
        }
    }

    @Test
    void anAnswerOtherThan200IsOneError() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             SseClient client = new SseClient("http://127.0.0.1:" + listener.getLocalPort())) {
            String busy = "{\"error\":{\"message\":\"busy\"}}";
            serve(listener, List.of("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + busy.length() + "\r\n\r\n" + busy, "HTTP/1.1 200 OK\r\n"), new AtomicInteger());
            LumensparkException e = assertThrows(LumensparkException.class,
                    () -> client.stream("/v1/completions", "{}", System.nanoTime()));
            assertEquals("a benchmark stream was answered HTTP/1.1 429 Too Many Requests", e.getMessage());
            // a stream that breaks off: the server closes after its headers
            LumensparkException cut = assertThrows(LumensparkException.class,
                    () -> client.stream("/v1/completions", "{}", System.nanoTime()));
            assertTrue(cut.getMessage().startsWith("a benchmark stream"), cut.getMessage());
        }
    }
}
