package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The serving benchmark's client: HTTP/1.1, one connection per stream at a time, kept open from round to round in
 * a pool (as an application's client keeps its pool), each completion streamed as server-sent events in chunks and
 * timed as its events arrive. The streams of a round all run on the calling thread, over non-blocking sockets and
 * one selector: it does only what the benchmark needs, so that on a two-core machine it takes as little as it can
 * of the cores the server runs on. A thread per stream costs more: a virtual thread blocked in a read is woken
 * through the JDK's poller thread and a carrier thread, each woken per token (with them one stream took 17-33 %
 * longer per token than batch-1 generation in the same process, against 7-16 % with a platform thread per stream,
 * which costs a thread start per stream and round; six runs each); the JDK's HttpClient, with its selector and
 * executor threads and a hand-over per chunk, made one stream about 7 % slower than a client on blocking sockets
 * (the README gives the runs).
 */
final class SseClient implements AutoCloseable {
    /** Connecting, and waiting for the next byte of any answer (a first token waits for the prompts fed before). */
    private static final int CONNECT_MILLIS = 10_000, READ_MILLIS = 120_000;
    /** The most an answer's header line, a chunk-size line or an error body may take. */
    private static final int MAX_PART = 1 << 16;
    /** The largest chunk (one event) taken: 16 MiB. */
    private static final int MAX_CHUNK = 1 << 24;

    private final String host;
    private final int port;
    private final Selector selector;
    /** Connections kept open between rounds, the most recently used first. */
    private final ArrayDeque<SocketChannel> idle = new ArrayDeque<>();

    /** A client of the server at url ("http://host:port"). */
    SseClient(String url) {
        URI u = URI.create(url);
        host = u.getHost();
        port = u.getPort();
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new LumensparkException("the benchmark's client could not start: " + e.getMessage());
        }
    }

    /** {@link #streams} for one body. */
    double[] stream(String path, String body, long start) {
        return streams(path, List.of(body), start)[0];
    }

    /**
     * POSTs each body (a streaming completion request) to path, all at once, and reads their events as they come.
     * Returns, per body, {completion tokens (the usage chunk's), ms per token from the first text chunk to the
     * last (NaN when they came at once or were read in one burst), ms from start to the first, ms from start to
     * the last}.
     *
     * @throws LumensparkException for an answer other than 200 (with the server's message), an error event, or an
     *                             answer that breaks off or times out; a pooled connection the server closed
     *                             meanwhile is replaced once
     */
    synchronized double[][] streams(String path, List<String> bodies, long start) {
        List<Exchange> exchanges = new ArrayList<>();
        try {
            for (String body : bodies) {
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1);
                byte[] request = new byte[head.length + b.length];
                System.arraycopy(head, 0, request, 0, head.length);
                System.arraycopy(b, 0, request, head.length, b.length);
                Exchange x = new Exchange(request, start);
                exchanges.add(x);
                SocketChannel pooled = idle.pollFirst();
                x.send(pooled != null ? pooled : open(), pooled != null);
            }
            run(exchanges);
            double[][] out = new double[exchanges.size()][];
            for (int i = 0; i < out.length; i++) out[i] = exchanges.get(i).result();
            return out;
        } catch (IOException e) {
            throw new LumensparkException("a benchmark stream failed: " + e.getMessage());
        } catch (LumensparkException e) {
            throw e;
        } catch (RuntimeException e) { // a malformed answer (a chunk size or length that is no number, ...)
            throw new LumensparkException("a benchmark stream failed: " + e);
        } finally {
            for (Exchange x : exchanges) x.finish();
        }
    }

    /**
     * Reads and writes until every exchange has its answer; a READ_MILLIS silence of them all fails, and so does an
     * interrupt. The selected keys are cleared whatever happens, so that a key left selected by a failure cannot
     * keep a pooled connection's readiness from the next round's selects.
     */
    private void run(List<Exchange> exchanges) throws IOException {
        int open = exchanges.size();
        long deadline = System.nanoTime() + READ_MILLIS * 1_000_000L;
        while (open > 0) {
            if (Thread.currentThread().isInterrupted()) throw new LumensparkException("interrupted");
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) throw new LumensparkException("a benchmark stream timed out: no answer for "
                    + READ_MILLIS / 1000 + " s");
            try {
                if (selector.select(left) == 0) continue;
                long now = System.nanoTime();
                for (SelectionKey k : selector.selectedKeys()) {
                    Exchange x = (Exchange) k.attachment();
                    if (x == null || x.done) continue;
                    if (x.ready(k, now)) open--;
                    deadline = now + READ_MILLIS * 1_000_000L;
                }
            } finally {
                selector.selectedKeys().clear();
            }
        }
    }

    private SocketChannel open() throws IOException {
        SocketChannel c = SocketChannel.open();
        try {
            c.socket().connect(new InetSocketAddress(host, port), CONNECT_MILLIS);
            c.setOption(StandardSocketOptions.TCP_NODELAY, true);
            c.configureBlocking(false);
            return c;
        } catch (IOException e) {
            closeQuietly(c);
            throw e;
        }
    }

    private static void closeQuietly(SocketChannel c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public synchronized void close() {
        for (SocketChannel c; (c = idle.pollFirst()) != null; ) closeQuietly(c);
        try {
            selector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    /** Where an answer's parsing is. */
    private enum Part { STATUS, HEADERS, ERROR_BODY, SIZE, DATA, DATA_END, TRAILER }

    /** One request and its answer on a connection, which goes back to the pool only after a complete, good answer. */
    private final class Exchange {
        private final byte[] request;
        private final long start;
        private SocketChannel channel;
        private SelectionKey key;
        private boolean pooled; // the connection came from the pool (the server may have closed it meanwhile)
        private boolean answered; // a byte of the answer came
        private boolean done, good, close;
        private ByteBuffer out;
        private ByteBuffer in = ByteBuffer.allocate(MAX_PART); // read into; parsed from position 0 to position
        private Part part = Part.STATUS;
        private String status;
        private boolean chunked;
        private long length = -1;
        private int size; // the chunk being read
        // reads so far, and the read in which the current chunk's size line came and the last event ended
        private long reads, chunkRead, lastEventRead;
        private long first, last;
        private int tokens;
        // whether a token's event after the first was waited for; when none was, the rest of the text came with
        // the first (read late, in one burst) and first to last measures parsing, not the server. The finish
        // event, sent right after the last token's, does not count
        private boolean waited;

        Exchange(byte[] request, long start) {
            this.request = request;
            this.start = start;
        }

        /** Starts the request on c (from the pool when pooled). */
        void send(SocketChannel c, boolean pooled) throws IOException {
            channel = c;
            this.pooled = pooled;
            out = ByteBuffer.wrap(request);
            key = c.keyFor(selector);
            if (key == null) key = c.register(selector, 0);
            key.attach(this);
            try {
                c.write(out);
            } catch (IOException e) { // a pooled connection the server closed: once more, on a new one
                if (!pooled) throw e;
                replace();
                return;
            }
            key.interestOps(out.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
        }

        /** The pooled connection was closed by the server before any byte of the answer: a new one, once. */
        private void replace() throws IOException {
            closeQuietly(channel);
            send(open(), false);
        }

        /** Handles k's readiness at time now; returns whether the answer is complete. */
        boolean ready(SelectionKey k, long now) throws IOException {
            if (k.isWritable()) {
                try {
                    channel.write(out);
                } catch (IOException e) {
                    if (!pooled) throw e;
                    replace();
                    return false;
                }
                if (!out.hasRemaining()) k.interestOps(SelectionKey.OP_READ);
                return false;
            }
            if (!k.isReadable()) return false;
            int n;
            try {
                n = channel.read(in);
            } catch (IOException e) {
                if (!answered && pooled) {
                    replace();
                    return false;
                }
                throw e;
            }
            if (n < 0) {
                if (!answered && pooled) {
                    replace();
                    return false;
                }
                throw new EOFException("the server closed the connection");
            }
            if (n == 0) return false;
            answered = true;
            reads++;
            in.flip();
            parse(now);
            in.compact();
            if (done) {
                k.interestOps(0); // a close by the server from now on is no event of this round's
            } else if (!in.hasRemaining()) { // a chunk larger than the buffer (at most MAX_CHUNK)
                in = ByteBuffer.allocate(Math.min(2 * in.capacity(), MAX_CHUNK + MAX_PART)).put(in.flip());
            }
            return done;
        }

        /** Parses what has come so far; leaves an incomplete line or chunk in the buffer. */
        private void parse(long now) throws IOException {
            while (!done) {
                switch (part) {
                    case STATUS, HEADERS, SIZE, DATA_END, TRAILER -> {
                        String line = line();
                        if (line == null) return;
                        line(line);
                    }
                    case ERROR_BODY -> {
                        if (in.remaining() < length) return;
                        byte[] body = new byte[(int) length];
                        in.get(body);
                        throw new LumensparkException("a benchmark stream was answered " + status + ": "
                                + errorMessage(new String(body, StandardCharsets.UTF_8)));
                    }
                    case DATA -> {
                        if (in.remaining() < size) return;
                        byte[] chunk = new byte[size];
                        in.get(chunk);
                        event(new String(chunk, StandardCharsets.UTF_8), now); // one "data: ..." event per chunk
                        part = Part.DATA_END;
                    }
                }
            }
        }

        /** A line of the answer's head, a chunk's size or end, or the trailer. */
        private void line(String line) {
            switch (part) {
                case STATUS -> {
                    status = line;
                    part = Part.HEADERS;
                }
                case HEADERS -> {
                    if (!line.isEmpty()) {
                        String lower = line.toLowerCase(Locale.ROOT);
                        if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) chunked = true;
                        if (lower.startsWith("connection:") && lower.contains("close")) close = true;
                        if (lower.startsWith("content-length:")) length = Long.parseLong(lower.substring(15).trim());
                        return;
                    }
                    if (status.startsWith("HTTP/1.1 200 ") && chunked) {
                        part = Part.SIZE;
                    } else if (length > 0 && length <= MAX_PART) {
                        part = Part.ERROR_BODY;
                    } else {
                        throw new LumensparkException("a benchmark stream was answered " + status);
                    }
                }
                case SIZE -> {
                    size = Integer.parseInt(line.trim(), 16);
                    if (size < 0 || size > MAX_CHUNK) {
                        throw new LumensparkException("a benchmark stream's answer has a chunk of " + size
                                + " bytes (at most " + MAX_CHUNK + ")");
                    }
                    chunkRead = reads;
                    part = size > 0 ? Part.DATA : Part.TRAILER;
                }
                case DATA_END -> part = Part.SIZE;
                case TRAILER -> {
                    if (!line.isEmpty()) return;
                    if (tokens == 0 || first == 0) {
                        throw new LumensparkException("a benchmark stream ended without its tokens or their count");
                    }
                    done = true;
                    good = true;
                }
                default -> throw new IllegalStateException(part.toString());
            }
        }

        /** One event, read at time now. */
        private void event(String event, long now) throws IOException {
            boolean waiting = chunkRead > lastEventRead; // its chunk came in a later read than the last event
            lastEventRead = reads;
            if (!event.startsWith("data: {")) return;
            if (event.startsWith("data: {\"error\"")) { // an error in the middle of the stream
                throw new LumensparkException("a benchmark stream failed: " + Json.mapper()
                        .readTree(event.substring(6).trim()).at("/error/message").asText());
            }
            if (event.contains("\"choices\":[]") && event.contains("\"usage\"")) {
                tokens = Json.mapper().readTree(event.substring(6).trim()).at("/usage/completion_tokens").asInt();
                return;
            }
            if (first == 0) first = now;
            else if (event.contains("\"finish_reason\":null")) waited |= waiting;
            last = now;
        }

        /** The next line without its CR LF (ISO-8859-1: head and chunk-size lines are ASCII), or null for none yet. */
        private String line() {
            for (int i = in.position(); i < in.limit(); i++) {
                if (in.get(i) != '\n') continue;
                int end = i > in.position() && in.get(i - 1) == '\r' ? i - 1 : i;
                String s = new String(in.array(), in.position(), end - in.position(), StandardCharsets.ISO_8859_1);
                in.position(i + 1);
                return s;
            }
            if (in.remaining() >= MAX_PART) throw new LumensparkException("a benchmark stream's answer has a line"
                    + " over " + MAX_PART + " bytes");
            return null;
        }

        /** The figures of a complete answer (see {@link #streams}). */
        double[] result() {
            // undefined when the text came in one chunk (a token can be part of a character, sent with the next
            // one) or in one burst, read late
            double perToken = tokens > 1 && waited ? (last - first) / 1e6 / (tokens - 1) : Double.NaN;
            return new double[]{tokens, perToken, (first - start) / 1e6, (last - start) / 1e6};
        }

        /** After the round: a good answer's connection goes back to the pool, any other is closed. */
        void finish() {
            if (channel == null) return;
            if (good && !close && channel.isOpen()) {
                key.interestOps(0);
                key.attach(null);
                idle.addFirst(channel);
            } else {
                closeQuietly(channel);
            }
            channel = null;
        }
    }

    /** The message of an error answer's OpenAI-shaped body, or the body. */
    private static String errorMessage(String body) {
        try {
            String message = Json.mapper().readTree(body).at("/error/message").asText("");
            return message.isEmpty() ? body : message;
        } catch (IOException e) {
            return body;
        }
    }
}
