package io.lumenspark.serve;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * A small HTTP/1.1 server on blocking sockets, one virtual thread per connection: keep-alive, bodies by
 * Content-Length or chunked (up to a limit, else 413), responses with a length or chunked (server-sent events).
 * It is ours rather than the JDK's com.sun.net.httpserver because a generation must stop the moment its client goes
 * away, streaming or not: while a request is being answered, {@link Exchange#watch} reads the connection, where
 * the client's close shows at once as the end of the stream. The JDK's server (and Helidon's) read a connection
 * only between requests, so a client that disconnects while a non-streaming completion runs goes unnoticed
 * until the whole answer has been computed.
 */
final class HttpServer implements AutoCloseable {
    /** Request line and headers together: 32 KiB at most (431 beyond). */
    static final int MAX_HEAD = 32 << 10;
    /** A connection idle this long between requests, or this slow to send one, is closed. */
    static final int IDLE_MILLIS = 60_000;
    /** Connections open at once; more are closed as soon as they are accepted. */
    static final int MAX_CONNECTIONS = 4096;

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
    private final long maxBody;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Semaphore slots = new Semaphore(MAX_CONNECTIONS);
    private volatile boolean closed;
    private Thread acceptor;

    /**
     * Binds host:port (port 0: any free port) at once, so that a caller knows the port is taken before it loads
     * models; {@link #start()} accepts connections.
     */
    HttpServer(String host, int port, long maxBody, Handler handler, ErrorBody errors) throws IOException {
        this.handler = handler;
        this.errors = errors;
        this.maxBody = maxBody;
        socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName(host), port), 512);
    }

    /** The port bound. */
    int port() {
        return socket.getLocalPort();
    }

    void start() {
        acceptor = Thread.ofPlatform().name("lumenspark-http-accept").daemon(true).start(this::acceptLoop);
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
            open.add(s);
            Thread.ofVirtual().name("lumenspark-http").start(() -> {
                try {
                    serve(s);
                } finally {
                    open.remove(s);
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
        for (Socket s : open) closeQuietly(s);
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

    private void serve(Socket s) {
        try {
            s.setTcpNoDelay(true);
            Input in = new Input(s.getInputStream());
            OutputStream out = new BufferedOutputStream(s.getOutputStream(), 16 << 10);
            while (!closed) {
                s.setSoTimeout(IDLE_MILLIS);
                Request request;
                try {
                    request = read(in);
                } catch (Refused r) {
                    Exchange x = new Exchange(s, in, out, true);
                    x.respond(r.status, "application/json", errors.json(r.status, r.getMessage()), Map.of());
                    return;
                }
                if (request == null) return;
                s.setSoTimeout(0);
                String connection = request.header("connection");
                boolean close = connection != null && connection.toLowerCase(Locale.ROOT).contains("close");
                Exchange x = new Exchange(s, in, out, close);
                handler.handle(request, x);
                if (!x.finish()) return;
            }
        } catch (SocketTimeoutException | SocketException e) {
            // idle, slow or gone: the connection just ends
        } catch (IOException | RuntimeException e) {
            // a broken connection or request ends its connection only
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
    private Request read(Input in) throws IOException {
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
                if (n < 0 || buf.size() + n > maxBody) throw tooLarge();
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
        String length = headers.get("content-length");
        if (length == null) return new byte[0];
        long n;
        try {
            n = Long.parseLong(length.strip());
        } catch (NumberFormatException e) {
            throw new Refused(400, "a malformed Content-Length");
        }
        if (n < 0) throw new Refused(400, "a malformed Content-Length");
        if (n > maxBody) throw tooLarge();
        return in.exactly((int) n);
    }

    private Refused tooLarge() {
        return new Refused(413, "the request body is larger than the server's limit of " + maxBody + " bytes");
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
        private boolean close, responded;
        private Thread watcher;
        private volatile boolean gone;

        Exchange(Socket socket, Input in, OutputStream out, boolean close) {
            this.socket = socket;
            this.in = in;
            this.out = out;
            this.close = close;
        }

        /** Sends a whole response. */
        void respond(int status, String contentType, byte[] body, Map<String, String> headers) throws IOException {
            StringBuilder h = head(status, contentType, headers);
            h.append("Content-Length: ").append(body.length).append("\r\n\r\n");
            out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            responded = true;
        }

        private StringBuilder head(int status, String contentType, Map<String, String> headers) {
            StringBuilder h = new StringBuilder("HTTP/1.1 ").append(status).append(' ').append(reason(status))
                    .append("\r\nContent-Type: ").append(contentType).append("\r\n");
            headers.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
            if (close) h.append("Connection: close\r\n");
            return h;
        }

        /** Starts a 200 text/event-stream response, sent in chunks as events come. */
        void startEvents() throws IOException {
            StringBuilder h = head(200, "text/event-stream; charset=utf-8", Map.of("Cache-Control", "no-cache",
                    "X-Accel-Buffering", "no"));
            h.append("Transfer-Encoding: chunked\r\n\r\n");
            out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            responded = true;
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
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 413 -> "Content Too Large";
            case 429 -> "Too Many Requests";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 501 -> "Not Implemented";
            case 503 -> "Service Unavailable";
            default -> "Status";
        };
    }
}
