package io.lumenspark.data;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP server on 127.0.0.1 for download tests: serves byte arrays by path, honours {@code Range} (with
 * {@code If-Range} against its ETag) unless told not to, can cut responses off midway, and records the
 * {@code Range} header of every request ("" when there was none).
 */
final class LoopbackServer implements AutoCloseable {
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    final List<String> ranges = new CopyOnWriteArrayList<>();
    /** The next this many responses send half their body, then the connection is closed. */
    final AtomicInteger drops = new AtomicInteger();
    /** The next this many responses send half their body, then go silent for {@link #STALL_MILLIS}. */
    final AtomicInteger stalls = new AtomicInteger();
    static final long STALL_MILLIS = 3000;
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
        byte[] body = files.get(ex.getRequestURI().getPath());
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
        ex.sendResponseHeaders(status, length);
        OutputStream out = ex.getResponseBody();
        try {
            if (drops.getAndUpdate(d -> Math.max(0, d - 1)) > 0) {
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
