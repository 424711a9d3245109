package io.lumenspark.corpus;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP server on 127.0.0.1 for download tests: serves byte arrays by path, honours {@code Range} (with
 * {@code If-Range} against its ETag) unless told not to, can cut responses off midway or hold them there until
 * released, redirects, streams without end, can announce another Content-Length than it sends, and records the
 * {@code Range} header of every request ("" when there was none).
 */
final class LoopbackServer implements AutoCloseable {
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    final List<String> ranges = new CopyOnWriteArrayList<>();
    /** The next this many responses send half their body, then the connection is closed. */
    final AtomicInteger drops = new AtomicInteger();
    /** The next this many responses send half their body, then go silent for {@link #STALL_MILLIS}. */
    final AtomicInteger stalls = new AtomicInteger();
    static final long STALL_MILLIS = 30_000;
    /** When set, responses send half their body, then wait (up to 30 s) for this latch before the rest. */
    volatile CountDownLatch gate;
    /** Paths answered with a 302 to the given location. */
    final Map<String, String> redirects = new ConcurrentHashMap<>();
    /** Paths answered with zeros, chunked, until the client goes away. */
    final Set<String> endless = ConcurrentHashMap.newKeySet();
    /** Paths whose response announces this Content-Length, whatever it sends. */
    final Map<String, Long> announced = new ConcurrentHashMap<>();
    volatile boolean honourRange = true;
    volatile String etag = "\"v1\"";
    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);

    LoopbackServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    int requests() {
        return ranges.size();
    }

    private void handle(HttpExchange ex) throws IOException {
        String range = ex.getRequestHeaders().getFirst("Range");
        ranges.add(range == null ? "" : range);
        String path = ex.getRequestURI().getPath();
        if (redirects.containsKey(path)) {
            ex.getResponseHeaders().set("Location", redirects.get(path));
            ex.sendResponseHeaders(302, -1);
            ex.close();
            return;
        }
        if (endless.contains(path)) {
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                byte[] zeros = new byte[1 << 16];
                while (true) out.write(zeros);
            } catch (IOException e) {
                return; // the client hung up
            }
        }
        byte[] body = files.get(path);
        if (body == null) {
            ex.sendResponseHeaders(404, -1);
            ex.close();
            return;
        }
        int start = 0;
        int status = 200;
        String ifRange = ex.getRequestHeaders().getFirst("If-Range");
        if (range != null && honourRange && (ifRange == null || ifRange.equals(etag))) {
            start = Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            status = 206;
            ex.getResponseHeaders().set("Content-Range", "bytes " + start + "-" + (body.length - 1) + "/" + body.length);
        }
        ex.getResponseHeaders().set("ETag", etag);
        int length = body.length - start;
        ex.sendResponseHeaders(status, announced.getOrDefault(path, (long) length));
        OutputStream out = ex.getResponseBody();
        CountDownLatch held = gate;
        try {
            if (held != null) {
                out.write(body, start, length / 2);
                out.flush();
                held.await(30, TimeUnit.SECONDS);
                out.write(body, start + length / 2, length - length / 2);
            } else if (drops.getAndUpdate(d -> Math.max(0, d - 1)) > 0) {
                out.write(body, start, length / 2);
                out.flush();
            } else if (stalls.getAndUpdate(d -> Math.max(0, d - 1)) > 0) {
                out.write(body, start, length / 2);
                out.flush();
                Thread.sleep(STALL_MILLIS);
            } else {
                out.write(body, start, length);
            }
            ex.close(); // short of the announced length, this closes the connection
        } catch (IOException | InterruptedException e) {
            // the client went away, the cut-off response, or the server is stopping: nothing to do
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
