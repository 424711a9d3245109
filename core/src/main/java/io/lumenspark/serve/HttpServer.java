package io.lumenspark.serve;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A small HTTP/1.1 server on blocking sockets, one virtual thread per connection: keep-alive, bodies by
 * Content-Length or chunked (up to a limit, else 413), {@code Expect: 100-continue}, responses with a length or
 * chunked (server-sent events). Every connection has a deadline that a reaper thread enforces by closing it: idle
 * between requests, a whole request (request line, headers and body) from its first byte, and each write, so
 * a slow or silent client (slowloris, a reader that stops reading) holds its thread for a bounded time only.
 * It is ours rather than the JDK's com.sun.net.httpserver because a generation must stop the moment its client goes
 * away, streaming or not: while a request is being answered, {@link Exchange#watch} reads the connection, where
 * the client's close shows at once as the end of the stream. The JDK's server (and Helidon's) read a connection
 * only between requests, so a client that disconnects while a non-streaming completion runs goes unnoticed
 * until the whole answer has been computed.
 */
final class HttpServer implements AutoCloseable {
    /** Request line and headers together: 32 KiB at most (431 beyond). */
    static final int MAX_HEAD = 32 << 10;
    /** A body over the limit is still read and dropped up to this size, so that its client sees the 413. */
    static final long DISCARD_LIMIT = 64L << 20;

    /**
     * The server's bounds.
     *
     * @param maxBody        the largest request body (413 beyond)
     * @param idleMillis     a connection idle this long between requests is closed
     * @param requestMillis  a request (line, headers, body) not received this long after its first byte: closed
     * @param writeMillis    a write (part of a response) that the client does not take in this long: closed
     * @param maxConnections connections open at once; more are closed as soon as they are accepted
     */
    record Limits(long maxBody, int idleMillis, int requestMillis, int writeMillis, int maxConnections) {
        /** The defaults for a body limit: 60 s idle, 30 s per request, 60 s per write, 4096 connections. */
        static Limits of(long maxBody) {
            return new Limits(maxBody, 60_000, 30_000, 60_000, 4096);
        }
    }

    /** One request: method, path (without the query), lower-case header names, the whole body. */
    record Request(String method, String path, String query, Map<String, String> headers, byte[] body) {
        String header(String name) {
            return headers.get(name);
        }
    }

    /** Answers one request through its exchange; an exception closes the connection. */
    @FunctionalInterface
    interface Handler {
        void handle(Request request, Exchange exchange) throws IOException;
    }

    /** The body of a response to a malformed request (status, message): the API's error shape. */
    @FunctionalInterface
    interface ErrorBody {
        byte[] json(int status, String message);
    }

    private final ServerSocket socket;
    private final Handler handler;
    private final ErrorBody errors;
    private final Limits limits;
    private final Set<Connection> open = ConcurrentHashMap.newKeySet();
    private final Semaphore slots;
    private final AtomicInteger handling = new AtomicInteger();
    private volatile boolean closed;
    private Thread acceptor, reaper;

    /** An open connection and the time by which it must make progress (System.nanoTime; MAX_VALUE: none). */
    private static final class Connection {
        final Socket socket;
        volatile long deadline = Long.MAX_VALUE;

        Connection(Socket socket) {
            this.socket = socket;
        }

        void deadlineIn(int millis) {
            deadline = System.nanoTime() + millis * 1_000_000L;
        }

        void noDeadline() {
            deadline = Long.MAX_VALUE;
        }
    }

    /**
     * Binds host:port (port 0: any free port) at once, so that a caller knows the port is taken before it loads
     * models; {@link #start()} accepts connections.
     */
    HttpServer(String host, int port, Limits limits, Handler handler, ErrorBody errors) throws IOException {
        this.handler = handler;
        this.errors = errors;
        this.limits = limits;
        slots = new Semaphore(limits.maxConnections());
        socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName(host), port), 512);
    }

    /** Requests being answered now (read, and their handler not yet returned: a response not yet all sent). */
    int handling() {
        return handling.get();
    }

    /** The port bound. */
    int port() {
        return socket.getLocalPort();
    }

    void start() {
        acceptor = Thread.ofPlatform().name("lumenspark-http-accept").daemon(true).start(this::acceptLoop);
        reaper = Thread.ofPlatform().name("lumenspark-http-reaper").daemon(true).start(this::reapLoop);
    }

    /** Closes the connections past their deadline, a few times per shortest timeout. */
    private void reapLoop() {
        long tick = Math.clamp(Math.min(limits.idleMillis(), Math.min(limits.requestMillis(), limits.writeMillis())) / 4,
                10, 1000);
        while (!closed) {
            try {
                Thread.sleep(tick);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Connection c : open) {
                if (now - c.deadline > 0) closeQuietly(c.socket);
            }
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket s;
            try {
                s = socket.accept();
            } catch (IOException e) {
                if (closed) return;
                continue;
            }
            if (!slots.tryAcquire()) {
                closeQuietly(s);
                continue;
            }
            Connection c = new Connection(s);
            open.add(c);
            Thread.ofVirtual().name("lumenspark-http").start(() -> {
                try {
                    serve(c);
                } finally {
                    open.remove(c);
                    closeQuietly(s);
                    slots.release();
                }
            });
        }
    }

    /** Stops accepting and closes every connection. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(socket);
        for (Connection c : open) closeQuietly(c.socket);
        if (reaper != null) reaper.interrupt();
        if (acceptor != null) {
            try {
                acceptor.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing anyway
        }
    }

    private void serve(Connection c) {
        Socket s = c.socket;
        try {
            s.setTcpNoDelay(true);
            Input in = new Input(s.getInputStream());
            OutputStream out = new Output(c, new BufferedOutputStream(s.getOutputStream(), 16 << 10), limits.writeMillis());
            while (!closed) {
                c.deadlineIn(limits.idleMillis());
                if (in.read() < 0) return; // closed between requests
                in.unread();
                c.deadlineIn(limits.requestMillis());
                Request request;
                try {
                    request = read(in, out);
                } catch (Refused r) {
                    Exchange x = new Exchange(s, in, out, true, false);
                    x.respond(r.status, "application/json", errors.json(r.status, r.getMessage()), Map.of());
                    lingeringClose(c, in);
                    return;
                }
                c.noDeadline();
                String connection = request.header("connection");
                boolean close = connection != null && connection.toLowerCase(Locale.ROOT).contains("close");
                Exchange x = new Exchange(s, in, out, close, request.method().equals("HEAD"));
                handling.incrementAndGet();
                try {
                    handler.handle(request, x);
                } finally {
                    handling.decrementAndGet();
                }
                // idle from here: the watcher of a watched request may still be waiting for the next one's first
                // byte, and the idle deadline holds for that wait too
                c.deadlineIn(limits.idleMillis());
                if (!x.finish()) return;
            }
        } catch (IOException | RuntimeException e) {
            // idle, slow, gone or broken: the connection just ends
        }
    }

    /**
     * After refusing a request whose rest was not read: stop sending, then read and drop what the client still
     * sends (1 MiB and 2 s at most), so that closing does not reset the connection before it has read the answer.
     */
    private static void lingeringClose(Connection c, Input in) throws IOException {
        c.socket.shutdownOutput();
        c.deadlineIn(2000);
        in.discard(1 << 20);
    }

    /** A connection's output: each write and flush must finish within the write deadline, else it is closed. */
    private static final class Output extends FilterOutputStream {
        private final Connection c;
        private final int millis;

        Output(Connection c, OutputStream out, int millis) {
            super(out);
            this.c = c;
            this.millis = millis;
        }

        @Override
        public void write(int b) throws IOException {
            c.deadlineIn(millis);
            try {
                out.write(b);
            } finally {
                c.noDeadline();
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            c.deadlineIn(millis);
            try {
                out.write(b, off, len);
            } finally {
                c.noDeadline();
            }
        }

        @Override
        public void flush() throws IOException {
            c.deadlineIn(millis);
            try {
                out.flush();
            } finally {
                c.noDeadline();
            }
        }
    }

    /** A request the server answers itself, with this status, and then closes the connection. */
    private static final class Refused extends IOException {
        final int status;

        Refused(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** The next request, or null at the end of the stream before one starts. */
    private Request read(Input in, OutputStream out) throws IOException {
        int[] used = {0};
        String line;
        do {
            line = in.line(used);
            if (line == null) return null;
        } while (line.isEmpty()); // blank lines before a request are allowed (RFC 9112 2.2)
        String[] parts = line.split(" ");
        if (parts.length != 3 || !parts[2].startsWith("HTTP/1.")) throw new Refused(400, "malformed request line");
        Map<String, String> headers = new LinkedHashMap<>();
        while (true) {
            String h = in.line(used);
            if (h == null) throw new Refused(400, "the request ended in its headers");
            if (h.isEmpty()) break;
            int colon = h.indexOf(':');
            if (colon <= 0) throw new Refused(400, "malformed header line");
            String name = h.substring(0, colon).strip().toLowerCase(Locale.ROOT);
            String value = h.substring(colon + 1).strip();
            headers.merge(name, value, (a, b) -> a + ", " + b);
        }
        if (parts[2].equals("HTTP/1.0") && !headers.containsKey("connection")) headers.put("connection", "close");
        String expect = headers.get("expect");
        if (expect != null) {
            if (!expect.equalsIgnoreCase("100-continue")) throw new Refused(417, "only Expect: 100-continue is supported");
            if (declaredLength(headers) > limits.maxBody()) throw tooLarge(); // refused before the client sends it
            out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }
        byte[] body = body(in, headers);
        String target = parts[1];
        int q = target.indexOf('?');
        return new Request(parts[0], q < 0 ? target : target.substring(0, q), q < 0 ? "" : target.substring(q + 1),
                headers, body);
    }

    private byte[] body(Input in, Map<String, String> headers) throws IOException {
        String te = headers.get("transfer-encoding");
        if (te != null) {
            if (!te.equalsIgnoreCase("chunked")) throw new Refused(501, "transfer encoding " + te + " is not supported");
            var buf = new ByteArrayOutputStream();
            int[] used = {0};
            while (true) {
                String size = in.line(used);
                if (size == null) throw new Refused(400, "the request body ended early");
                int semi = size.indexOf(';');
                long n;
                try {
                    n = Long.parseLong((semi < 0 ? size : size.substring(0, semi)).strip(), 16);
                } catch (NumberFormatException e) {
                    throw new Refused(400, "a malformed chunk size");
                }
                if (n < 0 || buf.size() + n > limits.maxBody()) throw tooLarge();
                if (n == 0) {
                    while (true) { // trailers
                        String t = in.line(used);
                        if (t == null || t.isEmpty()) break;
                    }
                    return buf.toByteArray();
                }
                buf.write(in.exactly((int) n));
                if (!"".equals(in.line(used))) throw new Refused(400, "a malformed chunk");
            }
        }
        long n = declaredLength(headers);
        if (n > limits.maxBody()) {
            // read what the client is sending (up to a bound), so that it sees the 413 rather than a reset
            if (n <= DISCARD_LIMIT) in.discard(n);
            throw tooLarge();
        }
        return in.exactly((int) n);
    }

    /** The Content-Length (0 when there is none). */
    private static long declaredLength(Map<String, String> headers) throws Refused {
        String length = headers.get("content-length");
        if (length == null) return 0;
        long n;
        try {
            n = Long.parseLong(length.strip());
        } catch (NumberFormatException e) {
            throw new Refused(400, "a malformed Content-Length");
        }
        if (n < 0) throw new Refused(400, "a malformed Content-Length");
        return n;
    }

    private Refused tooLarge() {
        return new Refused(413, "the request body is larger than the server's limit of " + limits.maxBody() + " bytes");
    }

    /** Buffered input that reads lines with a shared size limit and can take back one byte. */
    static final class Input {
        private final InputStream in;
        private final byte[] buf = new byte[16 << 10];
        private int pos, end;

        Input(InputStream in) {
            this.in = in;
        }

        /** The next byte, or -1 at the end of the stream. */
        int read() throws IOException {
            if (pos == end) {
                end = in.read(buf, 0, buf.length);
                pos = 0;
                if (end <= 0) {
                    end = 0;
                    return -1;
                }
            }
            return buf[pos++] & 0xff;
        }

        /** Takes back the byte just read. */
        void unread() {
            pos--;
        }

        /** A line without its CRLF (or LF); null at the end of the stream before any byte. */
        String line(int[] used) throws IOException {
            var b = new ByteArrayOutputStream(64);
            while (true) {
                int c = read();
                if (c < 0) {
                    if (b.size() == 0) return null;
                    throw new Refused(400, "the request ended in a line");
                }
                if (++used[0] > MAX_HEAD) throw new Refused(431, "the request's headers are over " + MAX_HEAD + " bytes");
                if (c == '\n') break;
                b.write(c);
            }
            byte[] bytes = b.toByteArray();
            int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
            return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
        }

        /** Reads and drops n bytes (fewer at the end of the stream). */
        void discard(long n) throws IOException {
            long left = n - Math.min(n, end - pos);
            pos += (int) Math.min(n, end - pos);
            byte[] sink = new byte[8192];
            while (left > 0) {
                int r = in.read(sink, 0, (int) Math.min(sink.length, left));
                if (r < 0) return;
                left -= r;
            }
        }

        byte[] exactly(int n) throws IOException {
            byte[] out = new byte[n];
            int have = Math.min(n, end - pos);
            System.arraycopy(buf, pos, out, 0, have);
            pos += have;
            while (have < n) {
                int r = in.read(out, have, n - have);
                if (r < 0) throw new Refused(400, "the request body ended early");
                have += r;
            }
            return out;
        }
    }

    /**
     * The response side of one request: a whole response ({@link #respond}) or a stream of server-sent events
     * ({@link #startEvents}, {@link #event}, {@link #endEvents}), and the watch for the client going away.
     */
    static final class Exchange {
        private final Socket socket;
        private final Input in;
        private final OutputStream out;
        private final boolean head; // a HEAD request: headers only
        private final Map<String, String> always = new LinkedHashMap<>(); // headers of every response it sends
        private boolean close, responded, streaming;
        private Thread watcher;
        private volatile boolean gone;

        Exchange(Socket socket, Input in, OutputStream out, boolean close, boolean head) {
            this.socket = socket;
            this.in = in;
            this.out = out;
            this.close = close;
            this.head = head;
        }

        /** Sends a whole response (to a HEAD request, its headers only). */
        void respond(int status, String contentType, byte[] body, Map<String, String> headers) throws IOException {
            StringBuilder h = head(status, contentType, headers);
            if (status != 204) h.append("Content-Length: ").append(body.length).append("\r\n"); // 204: no body, no length
            h.append("\r\n");
            out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
            if (!head) out.write(body);
            out.flush();
            responded = true;
        }

        /** Headers that every response of this exchange carries, the event stream's included (CORS). */
        void alwaysSend(Map<String, String> headers) {
            always.putAll(headers);
        }

        private StringBuilder head(int status, String contentType, Map<String, String> headers) {
            StringBuilder h = new StringBuilder("HTTP/1.1 ").append(status).append(' ').append(reason(status))
                    .append("\r\nContent-Type: ").append(contentType).append("\r\n");
            always.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
            headers.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
            if (close) h.append("Connection: close\r\n");
            return h;
        }

        /** Whether a response (or the start of an event stream) has been sent. */
        boolean responded() {
            return responded;
        }

        /** Whether the response is an event stream ({@link #startEvents}). */
        boolean streaming() {
            return streaming;
        }

        /** Starts a 200 text/event-stream response, sent in chunks as events come. */
        void startEvents() throws IOException {
            StringBuilder h = head(200, "text/event-stream; charset=utf-8", Map.of("Cache-Control", "no-cache",
                    "X-Accel-Buffering", "no"));
            h.append("Transfer-Encoding: chunked\r\n\r\n");
            out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            responded = streaming = true;
        }

        /** Sends one event, "data: TEXT" and a blank line, at once; throws when the client has gone. */
        void event(String data) throws IOException {
            byte[] b = ("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8);
            out.write((Integer.toHexString(b.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(b);
            out.write('\r');
            out.write('\n');
            out.flush();
        }

        /** Ends the event stream. */
        void endEvents() throws IOException {
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        /**
         * Watches the connection while the request is worked on: when the client closes it (or it breaks),
         * onGone runs at once, on the watching thread. A byte that arrives instead (the next request, pipelined)
         * is kept for the next request.
         */
        void watch(Runnable onGone) {
            watcher = Thread.ofVirtual().name("lumenspark-http-watch").start(() -> {
                try {
                    if (in.read() >= 0) {
                        in.unread();
                        return;
                    }
                } catch (IOException e) {
                    // broken: gone
                }
                gone = true;
                onGone.run();
            });
        }

        /** Whether the client has gone away (seen by {@link #watch}). */
        boolean gone() {
            return gone;
        }

        /**
         * After the handler: whether the connection can take another request (a response was sent, completely,
         * and neither side asked to close). Waits for the watcher, which holds the connection's input.
         */
        boolean finish() {
            if (!responded || close) return false;
            if (watcher == null) return true;
            try {
                watcher.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            return !gone;
        }

        /** Marks the connection to be closed after this response (sent with "Connection: close"). */
        void closeAfter() {
            close = true;
        }

        /** The client's address, for logs. */
        String client() {
            return String.valueOf(socket.getRemoteSocketAddress());
        }
    }

    static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 204 -> "No Content";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 413 -> "Content Too Large";
            case 417 -> "Expectation Failed";
            case 429 -> "Too Many Requests";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 501 -> "Not Implemented";
            case 503 -> "Service Unavailable";
            default -> "Status";
        };
    }
}
