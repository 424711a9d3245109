package io.lumenspark.corpus;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Hashes;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Printable;
import io.lumenspark.io.ProgressBars;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ProtocolException;
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
import java.util.Map;
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
 * after its size and SHA-256 match what was expected. A file that fails the check is deleted. A download never grows
 * past its pinned size, or past a cap when it has none ({@link #DEFAULT_MAX_BYTES} unless told otherwise): a server
 * that announces or sends more is refused and the part file deleted.
 *
 * <p>Failures become one-line {@link LumensparkException}s; an unreachable host (offline, DNS failure, refused
 * connection, timeout) or an HTTP error says how to fetch the file by hand and pass it as a local path. Whatever the
 * server sends that ends up in a message goes through {@link Printable}. The progress bar's line is always ended
 * before this class returns or throws, so an error never shares it.
 */
public final class Download implements AutoCloseable {

    /** Transfers cut off midway are resumed this many times within one call before giving up. */
    static final int ATTEMPTS = 4;
    /** The cap on a download whose size is not pinned (4 GiB), unless another is given. */
    public static final long DEFAULT_MAX_BYTES = 4L << 30;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d{1,18})-(\\d{1,18})/(\\d{1,18}|\\*)");

    private final HttpClient client;
    private final Duration responseTimeout;
    private final Duration stallTimeout;
    private final PrintStream progress;
    private final long maxBytes;

    /**
     * Production timeouts (20 s to connect, 60 s for the response headers, 60 s without a byte of the body), a
     * progress bar on stderr, and {@code maxBytes} as the cap on downloads whose size is not pinned.
     */
    public Download(long maxBytes) {
        this(Duration.ofSeconds(20), Duration.ofSeconds(60), Duration.ofSeconds(60), System.err, maxBytes);
    }

    /**
     * @param progress where the progress bar goes, or null for none
     * @param maxBytes the cap on a download whose size is not pinned
     */
    public Download(Duration connectTimeout, Duration responseTimeout, Duration stallTimeout, PrintStream progress,
                    long maxBytes) {
        if (maxBytes <= 0) {
            throw new LumensparkException("the download size limit must be positive, got " + maxBytes);
        }
        this.client = HttpClient.newBuilder().connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NORMAL) // never from https to http
                .build();
        this.responseTimeout = responseTimeout;
        this.stallTimeout = stallTimeout;
        this.progress = progress;
        this.maxBytes = maxBytes;
    }

    /**
     * One file to download.
     *
     * @param url     where it is
     * @param headers sent with each request for it; the JDK's client drops {@code Authorization} (and cookies) when
     *                a redirect leads to another scheme, host or port
     * @param name    the progress bar's name, or null for the last segment of the URL's path
     * @param hint    what error messages advise doing instead of this download, or null for the advice given for a
     *                data file (fetch it by hand and pass it as a local path)
     */
    public record Source(URI url, Map<String, String> headers, String name, String hint) {
        public Source {
            headers = Map.copyOf(headers);
        }

        String advice() {
            return hint != null ? hint : Download.hint(url);
        }
    }

    /**
     * Downloads {@code url} to {@code target}, resuming a {@code .part} file left by an earlier call.
     *
     * @param size   expected size in bytes, or -1 if unknown (then at most the cap this downloader was made with)
     * @param sha256 expected SHA-256 in hex, or null to accept any content
     */
    void fetch(URI url, Path target, long size, String sha256) {
        fetch(new Source(url, Map.of(), null, null), target, size, sha256);
    }

    /**
     * Downloads {@code source} to {@code target}, resuming a {@code .part} file left by an earlier call, with its
     * headers, progress bar name and advice.
     *
     * @param size   expected size in bytes, or -1 if unknown (then at most the cap this downloader was made with)
     * @param sha256 expected SHA-256 in hex, or null to accept any content
     */
    public void fetch(Source source, Path target, long size, String sha256) {
        URI url = source.url();
        checkAllowed(url);
        Path part = target.resolveSibling(target.getFileName() + ".part");
        Path validator = target.resolveSibling(target.getFileName() + ".part.validator");
        try {
            Files.createDirectories(target.getParent());
            for (int attempt = 1; ; attempt++) {
                String why;
                try {
                    why = transfer(source, part, validator, size, sha256 != null);
                    if (why == null) break;
                } catch (Interrupted e) {
                    why = e.getMessage();
                }
                if (attempt == ATTEMPTS) {
                    long have = Files.exists(part) ? Files.size(part) : 0;
                    throw new LumensparkException("the download of " + url + " broke off after "
                            + InputFiles.humanSize(have) + " ("
                            + Printable.of(why) + "); run the same command again to resume it, or " + source.advice());
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
                    + Printable.reason(e), e);
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
    private String transfer(Source source, Path part, Path validatorFile, long size, boolean checked)
            throws IOException, Interrupted {
        URI url = source.url();
        long have = Files.exists(part) ? Files.size(part) : 0;
        String validator = Files.exists(validatorFile) ? Files.readString(validatorFile).strip() : "";
        // Without a validator or a checksum, bytes from an earlier run might belong to another version of the file.
        boolean resume = have > 0 && (!validator.isEmpty() || checked) && (size < 0 || have < size);
        HttpRequest.Builder request = HttpRequest.newBuilder(url).timeout(responseTimeout)
                .header("User-Agent", "lumenspark").header("Accept-Encoding", "identity");
        source.headers().forEach(request::header);
        if (resume) {
            request.header("Range", "bytes=" + have + "-");
            if (!validator.isEmpty()) request.header("If-Range", validator);
        }
        FileSink sink = new FileSink(url, part, validatorFile, resume ? have : 0, size >= 0 ? size : maxBytes,
                size >= 0);
        CompletableFuture<HttpResponse<Void>> future = client.sendAsync(request.build(), sink::open);
        try {
            HttpResponse<Void> response = await(future, sink, source, size);
            int status = response.statusCode();
            if (status == 416 || (status == 206 && !sink.started())) {
                Files.deleteIfExists(part); // not the bytes we asked for: start over with the whole file
                return "the server could not resume at byte " + have + " (HTTP " + status + ")";
            }
            if (status >= 300 && status < 400) {
                String to = response.headers().firstValue("Location").map(l -> " to " + Printable.of(l)).orElse("");
                throw new LumensparkException("cannot download " + url + ": the server redirects too many times,"
                        + " or from https to plain http (HTTP " + status + to + "); " + source.advice());
            }
            if (status != 200 && status != 206) {
                throw new LumensparkException("cannot download " + url + ": the server answered HTTP " + status
                        + "; " + source.advice());
            }
            return null;
        } finally {
            sink.close();
            if (sink.refused()) { // more than it may be: nothing of it stays
                Files.deleteIfExists(part);
                Files.deleteIfExists(validatorFile);
            }
        }
    }

    /**
     * Waits for the response while bytes keep coming, with a progress bar once the body starts; a stall longer than
     * the stall timeout cancels the request.
     */
    private HttpResponse<Void> await(CompletableFuture<HttpResponse<Void>> future, FileSink sink, Source source,
                                     long size) throws Interrupted {
        URI url = source.url();
        long lastBytes = -1;
        long lastChange = System.nanoTime();
        ProgressBars.Bar bar = null;
        try {
            while (true) {
                try {
                    return future.get(200, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (bar == null && sink.started() && progress != null) {
                        bar = progressBar(source, size);
                    }
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
                    throw unreachable(source, cause);
                }
            }
        } finally {
            if (bar != null) {
                bar.stepTo(sink.total());
                bar.close();
            }
        }
    }

    /**
     * The bar for {@code source}, named by its name, else by the last segment of its URL's path as the URL writes it
     * (escapes and all).
     */
    private ProgressBars.Bar progressBar(Source source, long size) {
        URI url = source.url();
        String path = url.getRawPath() == null ? "" : url.getRawPath();
        String name = source.name() != null ? source.name() : path.substring(path.lastIndexOf('/') + 1);
        return ProgressBars.open(name.isEmpty() ? url.getHost() : name, size, 0, ProgressBars.Unit.MEGABYTES,
                progress);
    }

    /**
     * Receives the body into the part file: appended after a 206 whose Content-Range starts where the file ends,
     * written from the start after a 200 (the server ignored the Range, or the file changed), discarded otherwise.
     * A body that would take the file past {@code limit} bytes is refused: when its Content-Length says so, before a
     * byte is written, else at the first buffer past it.
     */
    private static final class FileSink {
        private final URI url;
        private final Path part;
        private final Path validatorFile;
        private final long have;
        private final long limit;
        private final boolean pinned;
        private final AtomicLong written = new AtomicLong();
        private volatile FileChannel channel;
        private volatile long start;
        private volatile boolean refused;

        FileSink(URI url, Path part, Path validatorFile, long have, long limit, boolean pinned) {
            this.url = url;
            this.part = part;
            this.validatorFile = validatorFile;
            this.have = have;
            this.limit = limit;
            this.pinned = pinned;
        }

        HttpResponse.BodySubscriber<Void> open(HttpResponse.ResponseInfo info) {
            int status = info.statusCode();
            long[] range = status == 206 ? contentRange(info.headers()) : null;
            boolean append = range != null && range[0] == have && have > 0;
            if (status != 200 && !append) {
                return HttpResponse.BodySubscribers.replacing(null);
            }
            long announced = contentLength(info.headers());
            if (announced >= 0 && announced > limit - (append ? have : 0)) {
                refused = true;
                return new Subscriber(tooLarge(" announces " + InputFiles.humanSize((append ? have : 0) + announced)));
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
                throw new LumensparkException("cannot write " + part + ": " + Printable.reason(e), e);
            }
            return new Subscriber(null);
        }

        boolean started() {
            return channel != null;
        }

        /** Whether the body was refused as larger than the limit. */
        boolean refused() {
            return refused;
        }

        private LumensparkException tooLarge(String what) {
            return new LumensparkException(url + what + (pinned ? String.format(" (%,d bytes expected)", limit)
                    : " (" + InputFiles.humanSize(limit) + " is the limit for a download whose size is not pinned;"
                    + " data get --max-size raises it)") + "; the part downloaded was deleted");
        }

        /** Bytes in the part file so far. */
        long total() {
            return start + written.get();
        }

        void close() throws IOException {
            FileChannel c = channel;
            if (c != null) c.close();
        }

        /**
         * Writes each buffer as it arrives, asking for the next only when it is on disk; or, made with a refusal,
         * cancels the body at once and fails with it.
         */
        private final class Subscriber implements HttpResponse.BodySubscriber<Void> {
            private final CompletableFuture<Void> done = new CompletableFuture<>();
            private final LumensparkException refusal;
            private Flow.Subscription subscription;

            Subscriber(LumensparkException refusal) {
                this.refusal = refusal;
            }

            @Override
            public CompletionStage<Void> getBody() {
                return done;
            }

            @Override
            public void onSubscribe(Flow.Subscription s) {
                subscription = s;
                if (refusal != null) {
                    s.cancel();
                    done.completeExceptionally(refusal);
                    return;
                }
                s.request(1);
            }

            @Override
            public void onNext(List<ByteBuffer> buffers) {
                if (done.isDone()) return;
                long incoming = 0;
                for (ByteBuffer b : buffers) incoming += b.remaining();
                if (incoming > limit - total()) {
                    refused = true;
                    subscription.cancel();
                    done.completeExceptionally(tooLarge(" sends more than " + InputFiles.humanSize(limit)));
                    return;
                }
                try {
                    for (ByteBuffer b : buffers) {
                        while (b.hasRemaining()) written.addAndGet(channel.write(b));
                    }
                    subscription.request(1);
                } catch (IOException e) {
                    subscription.cancel();
                    done.completeExceptionally(new LumensparkException("cannot write " + part + ": "
                            + Printable.reason(e), e));
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

    /** The Content-Length header, or -1 if there is none or it is not a number. */
    static long contentLength(HttpHeaders headers) {
        Optional<String> value = headers.firstValue("Content-Length").map(String::strip);
        if (value.isEmpty() || !value.get().matches("[0-9]{1,18}")) return -1;
        return Long.parseLong(value.get());
    }

    /**
     * A strong ETag, else Last-Modified: what If-Range may carry to ask "the same file still?". Only printable
     * ASCII of a sensible length is kept, since it is saved and sent back.
     */
    private static Optional<String> validatorOf(HttpHeaders headers) {
        Optional<String> etag = headers.firstValue("ETag").filter(e -> !e.startsWith("W/"));
        return (etag.isPresent() ? etag : headers.firstValue("Last-Modified"))
                .filter(v -> v.length() <= 1024 && v.chars().allMatch(c -> c >= 0x20 && c < 0x7F));
    }

    /** Checks size and SHA-256 of a finished download; a file that fails is deleted. */
    static void verify(Path file, String label, long size, String sha256) throws IOException {
        long actual = Files.size(file);
        if (size >= 0 && actual != size) {
            Files.delete(file);
            throw new LumensparkException(String.format("%s is %,d bytes, expected %,d", label, actual, size)
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
        MessageDigest sha = Hashes.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * HTTPS anywhere; plain HTTP only to this machine (the tests' loopback server).
     *
     * @throws LumensparkException for any other URL
     */
    public static void checkAllowed(URI url) {
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
        return "download " + url + " yourself and run `" + Home.command() + " data get /path/to/file`, or pass --data FILE";
    }

    /** A request that failed before its body: the answer was not HTTP, or else the host could not be reached. */
    private static LumensparkException unreachable(Source source, Throwable cause) {
        URI url = source.url();
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (c instanceof ProtocolException) {
                return new LumensparkException("cannot download " + url + ": the server's answer is not HTTP ("
                        + describe(c) + "); " + source.advice(), cause);
            }
        }
        return new LumensparkException("cannot reach " + url.getHost() + " (" + describe(cause) + "; offline?): "
                + source.advice(), cause);
    }

    /** A few words on why a connection failed, printable: "connection refused", "unknown host" and the like. */
    public static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof HttpConnectTimeoutException) return "connection timed out";
            if (c instanceof HttpTimeoutException) return "no answer in time";
            if (c instanceof UnresolvedAddressException || c instanceof UnknownHostException) return "unknown host";
            if (c instanceof ConnectException) return "connection refused";
            if (c instanceof SSLException) return "TLS failed: " + Printable.of(c.getMessage());
        }
        String m = t.getMessage();
        return m == null || m.isBlank() ? "the connection failed" : Printable.of(m);
    }
}
