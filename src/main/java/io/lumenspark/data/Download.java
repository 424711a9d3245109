package io.lumenspark.data;

import io.lumenspark.LumensparkException;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;

/**
 * Downloads one file over HTTPS (plain HTTP only from a loopback address, for tests) into place atomically:
 * bytes go to {@code NAME.part}, an interrupted transfer resumes with a {@code Range} request (guarded by
 * {@code If-Range}, so a file that changed on the server starts over), and the file is renamed to its name only
 * after its size and SHA-256 match what was expected. A file that fails the check is deleted.
 *
 * <p>Failures become one-line {@link LumensparkException}s; an unreachable host (offline, DNS failure, refused
 * connection, timeout) or an HTTP error says how to fetch the file by hand and pass it as a local path.
 */
final class Download implements AutoCloseable {

    /** Transfers cut off midway are resumed this many times within one call before giving up. */
    static final int ATTEMPTS = 4;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    private final HttpClient client;
    private final Duration responseTimeout;
    private final Duration stallTimeout;
    private final boolean showProgress;

    /** Production timeouts: 20 s to connect, 60 s for the response headers, 60 s without a byte of the body. */
    Download() {
        this(Duration.ofSeconds(20), Duration.ofSeconds(60), Duration.ofSeconds(60), true);
    }

    Download(Duration connectTimeout, Duration responseTimeout, Duration stallTimeout, boolean showProgress) {
        this.client = HttpClient.newBuilder().connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NORMAL) // never from https to http
                .build();
        this.responseTimeout = responseTimeout;
        this.stallTimeout = stallTimeout;
        this.showProgress = showProgress;
    }

    /**
     * Downloads {@code url} to {@code target}, resuming a {@code .part} file left by an earlier call.
     *
     * @param size   expected size in bytes, or -1 if unknown
     * @param sha256 expected SHA-256 in hex, or null to accept any content
     */
    void fetch(URI url, Path target, long size, String sha256) {
        checkAllowed(url);
        Path part = target.resolveSibling(target.getFileName() + ".part");
        Path validator = target.resolveSibling(target.getFileName() + ".part.validator");
        try {
            Files.createDirectories(target.getParent());
            for (int attempt = 1; ; attempt++) {
                String why;
                try {
                    why = transfer(url, part, validator, size, sha256 != null);
                    if (why == null) break;
                } catch (Interrupted e) {
                    why = e.getMessage();
                }
                if (attempt == ATTEMPTS) {
                    long have = Files.exists(part) ? Files.size(part) : 0;
                    throw new LumensparkException("the download of " + url + " broke off after " + have + " bytes ("
                            + why + "); run the same command again to resume it, or " + hint(url));
                }
            }
            try {
                verify(part, url.toString(), size, sha256);
            } finally {
                if (!Files.exists(part)) Files.deleteIfExists(validator); // failed: nothing of it stays
            }
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Files.deleteIfExists(validator);
        } catch (IOException e) {
            throw new LumensparkException("cannot download " + url + " to " + target.getParent() + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        client.shutdownNow();
    }

    /** The body was cut off after some bytes arrived: worth resuming. */
    private static final class Interrupted extends Exception {
        Interrupted(String why) {
            super(why);
        }
    }

    /**
     * One request: resumes {@code part} if it holds bytes of the same file, else starts it over. Returns null when
     * the part file is complete, or why it must be requested again (the part was discarded).
     */
    private String transfer(URI url, Path part, Path validatorFile, long size, boolean checked)
            throws IOException, Interrupted {
        long have = Files.exists(part) ? Files.size(part) : 0;
        String validator = Files.exists(validatorFile) ? Files.readString(validatorFile).strip() : "";
        // Without a validator or a checksum, bytes from an earlier run might belong to another version of the file.
        boolean resume = have > 0 && (!validator.isEmpty() || checked) && (size < 0 || have < size);
        HttpRequest.Builder request = HttpRequest.newBuilder(url).timeout(responseTimeout)
                .header("User-Agent", "lumenspark").header("Accept-Encoding", "identity");
        if (resume) {
            request.header("Range", "bytes=" + have + "-");
            if (!validator.isEmpty()) request.header("If-Range", validator);
        }
        FileSink sink = new FileSink(part, validatorFile, resume ? have : 0);
        CompletableFuture<HttpResponse<Void>> future = client.sendAsync(request.build(), sink::open);
        try {
            int status = await(future, sink, url, size).statusCode();
            if (status == 416 || (status == 206 && !sink.started())) {
                Files.deleteIfExists(part); // not the bytes we asked for: start over with the whole file
                return "the server could not resume at byte " + have + " (HTTP " + status + ")";
            }
            if (status != 200 && status != 206) {
                throw new LumensparkException("cannot download " + url + ": the server answered HTTP " + status
                        + "; " + hint(url));
            }
            return null;
        } finally {
            sink.close();
        }
    }

    /**
     * Waits for the response while bytes keep coming, with a progress bar once the body starts; a stall longer than
     * the stall timeout cancels the request.
     */
    private HttpResponse<Void> await(CompletableFuture<HttpResponse<Void>> future, FileSink sink, URI url, long size)
            throws Interrupted {
        long lastBytes = -1;
        long lastChange = System.nanoTime();
        ProgressBar bar = null;
        try {
            while (true) {
                try {
                    return future.get(200, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (bar == null && sink.started() && showProgress) bar = progressBar(url, size);
                    if (bar != null) bar.stepTo(sink.total());
                    long bytes = sink.total();
                    if (bytes != lastBytes) {
                        lastBytes = bytes;
                        lastChange = System.nanoTime();
                    } else if (sink.started() && System.nanoTime() - lastChange > stallTimeout.toNanos()) {
                        future.cancel(true);
                        throw new Interrupted("no data for " + stallTimeout.toSeconds() + " s");
                    }
                } catch (InterruptedException e) {
                    future.cancel(true);
                    Thread.currentThread().interrupt();
                    throw new LumensparkException("interrupted while downloading " + url);
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    for (Throwable c = cause; c != null; c = c.getCause()) {
                        if (c instanceof LumensparkException le) throw le; // our own, e.g. the disk is full
                    }
                    if (sink.started()) throw new Interrupted(describe(cause));
                    throw unreachable(url, cause);
                }
            }
        } finally {
            if (bar != null) {
                bar.stepTo(sink.total());
                bar.close();
            }
        }
    }

    private static ProgressBar progressBar(URI url, long size) {
        String name = url.getPath().substring(url.getPath().lastIndexOf('/') + 1);
        return new ProgressBarBuilder().setTaskName(name.isEmpty() ? url.getHost() : name).setInitialMax(size)
                .setUnit(" MB", 1 << 20).showSpeed().setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
    }

    /**
     * Receives the body into the part file: appended after a 206 whose Content-Range starts where the file ends,
     * written from the start after a 200 (the server ignored the Range, or the file changed), discarded otherwise.
     */
    private static final class FileSink {
        private final Path part;
        private final Path validatorFile;
        private final long have;
        private final AtomicLong written = new AtomicLong();
        private volatile FileChannel channel;
        private volatile long start;

        FileSink(Path part, Path validatorFile, long have) {
            this.part = part;
            this.validatorFile = validatorFile;
            this.have = have;
        }

        HttpResponse.BodySubscriber<Void> open(HttpResponse.ResponseInfo info) {
            int status = info.statusCode();
            long[] range = status == 206 ? contentRange(info.headers()) : null;
            boolean append = range != null && range[0] == have && have > 0;
            if (status != 200 && !append) {
                return HttpResponse.BodySubscribers.replacing(null);
            }
            try {
                if (append) {
                    channel = FileChannel.open(part, StandardOpenOption.WRITE);
                    channel.truncate(have).position(have);
                    start = have;
                } else {
                    channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                            StandardOpenOption.TRUNCATE_EXISTING);
                    start = 0;
                }
                // saved now, so that a later call can resume this transfer if it breaks off
                Optional<String> validator = validatorOf(info.headers());
                if (validator.isPresent()) Files.writeString(validatorFile, validator.get());
                else if (!append) Files.deleteIfExists(validatorFile);
            } catch (IOException e) {
                throw new LumensparkException("cannot write " + part + ": " + e.getMessage(), e);
            }
            return new Subscriber();
        }

        boolean started() {
            return channel != null;
        }

        /** Bytes in the part file so far. */
        long total() {
            return start + written.get();
        }

        void close() throws IOException {
            FileChannel c = channel;
            if (c != null) c.close();
        }

        /** Writes each buffer as it arrives, asking for the next only when it is on disk. */
        private final class Subscriber implements HttpResponse.BodySubscriber<Void> {
            private final CompletableFuture<Void> done = new CompletableFuture<>();
            private Flow.Subscription subscription;

            @Override
            public CompletionStage<Void> getBody() {
                return done;
            }

            @Override
            public void onSubscribe(Flow.Subscription s) {
                subscription = s;
                s.request(1);
            }

            @Override
            public void onNext(List<ByteBuffer> buffers) {
                try {
                    for (ByteBuffer b : buffers) {
                        while (b.hasRemaining()) written.addAndGet(channel.write(b));
                    }
                    subscription.request(1);
                } catch (IOException e) {
                    subscription.cancel();
                    done.completeExceptionally(new LumensparkException("cannot write " + part + ": "
                            + e.getMessage(), e));
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                done.complete(null);
            }
        }
    }

    /** The start and end of a Content-Range header, or null if there is none or it cannot be read. */
    static long[] contentRange(HttpHeaders headers) {
        Optional<String> value = headers.firstValue("Content-Range");
        if (value.isEmpty()) return null;
        Matcher m = CONTENT_RANGE.matcher(value.get().strip());
        return m.matches() ? new long[]{Long.parseLong(m.group(1)), Long.parseLong(m.group(2))} : null;
    }

    /** A strong ETag, else Last-Modified: what If-Range may carry to ask "the same file still?". */
    private static Optional<String> validatorOf(HttpHeaders headers) {
        Optional<String> etag = headers.firstValue("ETag").filter(e -> !e.startsWith("W/"));
        return etag.isPresent() ? etag : headers.firstValue("Last-Modified");
    }

    /** Checks size and SHA-256 of a finished download; a file that fails is deleted. */
    static void verify(Path file, String label, long size, String sha256) throws IOException {
        long actual = Files.size(file);
        if (size >= 0 && actual != size) {
            Files.delete(file);
            throw new LumensparkException(label + " is " + actual + " bytes, expected " + size
                    + "; the download was deleted, so run the same command again to fetch it anew");
        }
        if (sha256 != null) {
            String got = sha256(file);
            if (!got.equalsIgnoreCase(sha256)) {
                Files.delete(file);
                throw new LumensparkException("checksum mismatch for " + label + ": SHA-256 " + got + ", expected "
                        + sha256.toLowerCase(Locale.ROOT) + "; the file was deleted");
            }
        }
    }

    /** The SHA-256 of a file's content, in lower-case hex. */
    static String sha256(Path file) throws IOException {
        MessageDigest sha = Tokenization.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** HTTPS anywhere; plain HTTP only to this machine (the tests' loopback server). */
    static void checkAllowed(URI url) {
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        boolean web = scheme.equals("https") || scheme.equals("http");
        if (web && url.getHost() == null) {
            throw new LumensparkException("not a download URL (no host): " + url);
        }
        if (scheme.equals("https") || (scheme.equals("http") && isLoopback(url.getHost()))) return;
        throw new LumensparkException("only https:// URLs can be downloaded (plain http only from this machine): "
                + url);
    }

    private static boolean isLoopback(String host) {
        if (host.equalsIgnoreCase("localhost")) return true;
        if (!host.matches("[0-9.]+|\\[[0-9a-fA-F:]+]")) return false; // never resolve names here
        try {
            return InetAddress.getByName(host.replace("[", "").replace("]", "")).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** How to go on when the download cannot be done here. */
    static String hint(URI url) {
        return "download " + url + " yourself and run `lumenspark data get /path/to/file`, or pass --data FILE";
    }

    private static LumensparkException unreachable(URI url, Throwable cause) {
        return new LumensparkException("cannot reach " + url.getHost() + " (" + describe(cause) + "; offline?): "
                + hint(url), cause);
    }

    /** A few words on why a connection failed. */
    private static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof HttpConnectTimeoutException) return "connection timed out";
            if (c instanceof HttpTimeoutException) return "no answer in time";
            if (c instanceof UnresolvedAddressException || c instanceof UnknownHostException) return "unknown host";
            if (c instanceof ConnectException) return "connection refused";
            if (c instanceof SSLException) return "TLS failed: " + c.getMessage();
        }
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }
}
