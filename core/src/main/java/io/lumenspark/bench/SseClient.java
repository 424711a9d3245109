package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * The serving benchmark's client: HTTP/1.1 on blocking sockets, one connection per stream at a time, kept open
 * from round to round in a pool (as an application's client keeps its pool), each completion streamed as
 * server-sent events in chunks and timed as its events arrive. It does only what the benchmark needs, so that on
 * a two-core machine it takes as little as it can of the cores the server runs on (the JDK's HttpClient, with its
 * selector and executor threads and a hand-over per chunk, made one stream about 7 % slower than this client
 * against the same server; the README gives the runs).
 */
final class SseClient implements AutoCloseable {
    private record Connection(Socket socket, DataInputStream in, OutputStream out) {
    }

    /** Connecting, and waiting for the next byte of an answer (a first token waits for the prompts fed before). */
    private static final int CONNECT_MILLIS = 10_000, READ_MILLIS = 120_000;

    private final String host;
    private final int port;
    private final ConcurrentLinkedDeque<Connection> idle = new ConcurrentLinkedDeque<>();

    /** A client of the server at url ("http://host:port"). */
    SseClient(String url) {
        URI u = URI.create(url);
        host = u.getHost();
        port = u.getPort();
    }

    /**
     * POSTs body (a streaming completion request) to path and reads its events. Returns {completion tokens (the
     * usage chunk's), ms per token from the first text chunk to the last (NaN when they came at once or were
     * read in one burst), ms from start to the first, ms from start to the last}.
     *
     * @throws LumensparkException for an answer other than 200 (with the server's message), an error event, or
     *                             an answer that breaks off or times out; a pooled connection the server closed
     *                             meanwhile is replaced once
     */
    double[] stream(String path, String body, long start) {
        Connection pooled = idle.pollFirst();
        if (pooled != null) {
            try {
                return exchange(pooled, path, body, start);
            } catch (Stale e) { // the server closed it while it waited in the pool: once more, on a new one
                closeQuietly(pooled);
            }
        }
        try {
            return exchange(open(), path, body, start);
        } catch (Stale e) {
            throw new LumensparkException("a benchmark stream failed: the server closed a new connection");
        } catch (IOException e) {
            throw new LumensparkException("a benchmark stream failed: " + e.getMessage());
        }
    }

    /** A connection that failed before any byte of the answer came: closed by the server, likely while idle. */
    private static final class Stale extends IOException {
        Stale(Throwable cause) {
            super(cause);
        }
    }

    /** One request and its answer on c, which goes back to the pool only after a complete, good answer. */
    private double[] exchange(Connection c, String path, String body, long start) throws Stale {
        boolean answered = false;
        try {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            c.out.write(("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            c.out.write(b);
            c.out.flush();
            int firstByte = c.in.read();
            if (firstByte < 0) throw new EOFException("the server closed the connection");
            answered = true;
            String status = (char) firstByte + line(c.in);
            boolean chunked = false, close = false;
            long length = -1;
            for (String h; !(h = line(c.in)).isEmpty(); ) {
                String lower = h.toLowerCase(Locale.ROOT);
                if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) chunked = true;
                if (lower.startsWith("connection:") && lower.contains("close")) close = true;
                if (lower.startsWith("content-length:")) length = Long.parseLong(lower.substring(15).trim());
            }
            if (!status.startsWith("HTTP/1.1 200 ") || !chunked) {
                String why = length > 0 && length <= 1 << 16 ? ": " + errorMessage(c.in, (int) length) : "";
                throw new LumensparkException("a benchmark stream was answered " + status + why);
            }
            long first = 0, last = 0;
            int tokens = 0;
            // whether a token's event after the first was waited for; when none was, the rest of the text came
            // with the first (read late, in one burst) and first to last measures parsing, not the server. The
            // finish event, sent right after the last token's, does not count
            boolean waited = false, waiting = c.in.available() == 0;
            for (int size; (size = Integer.parseInt(line(c.in).trim(), 16)) > 0; waiting = c.in.available() == 0) {
                byte[] chunk = new byte[size];
                c.in.readFully(chunk);
                line(c.in); // the chunk's CRLF
                String event = new String(chunk, StandardCharsets.UTF_8); // one "data: ..." event per chunk
                if (!event.startsWith("data: {")) continue;
                long now = System.nanoTime();
                if (event.startsWith("data: {\"error\"")) { // an error in the middle of the stream
                    throw new LumensparkException("a benchmark stream failed: " + Json.mapper()
                            .readTree(event.substring(6).trim()).at("/error/message").asText());
                }
                if (event.contains("\"choices\":[]") && event.contains("\"usage\"")) {
                    tokens = Json.mapper().readTree(event.substring(6).trim()).at("/usage/completion_tokens").asInt();
                    continue;
                }
                if (first == 0) first = now;
                else if (event.contains("\"finish_reason\":null")) waited |= waiting;
                last = now;
            }
            line(c.in); // the end of the chunked body
            if (tokens == 0 || first == 0) {
                throw new LumensparkException("a benchmark stream ended without its tokens or their count");
            }
            if (close) c.socket.close();
            else idle.addFirst(c);
            // undefined when the text came in one chunk (a token can be part of a character, sent with the
            // next one) or in one burst, read late
            double perToken = tokens > 1 && waited ? (last - first) / 1e6 / (tokens - 1) : Double.NaN;
            return new double[]{tokens, perToken, (first - start) / 1e6, (last - start) / 1e6};
        } catch (IOException | RuntimeException e) {
            closeQuietly(c);
            if (!answered && e instanceof IOException io) throw new Stale(io);
            if (e instanceof LumensparkException l) throw l;
            throw new LumensparkException("a benchmark stream failed: " + e.getMessage());
        }
    }

    /** The message of an error answer's OpenAI-shaped body, or the body. */
    private static String errorMessage(DataInputStream in, int length) throws IOException {
        byte[] body = new byte[length];
        in.readFully(body);
        String text = new String(body, StandardCharsets.UTF_8);
        try {
            String message = Json.mapper().readTree(text).at("/error/message").asText("");
            return message.isEmpty() ? text : message;
        } catch (IOException e) {
            return text;
        }
    }

    private Connection open() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(host, port), CONNECT_MILLIS);
        s.setSoTimeout(READ_MILLIS);
        s.setTcpNoDelay(true);
        return new Connection(s, new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16)),
                s.getOutputStream());
    }

    /** A line without its CR LF (ISO-8859-1: the header and chunk-size lines are ASCII). */
    private static String line(DataInputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int ch; (ch = in.read()) != '\n'; ) {
            if (ch < 0) throw new EOFException("the server closed the connection");
            if (ch != '\r') sb.append((char) ch);
        }
        return sb.toString();
    }

    private static void closeQuietly(Connection c) {
        try {
            c.socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public void close() {
        for (Connection c; (c = idle.pollFirst()) != null; ) closeQuietly(c);
    }
}
