package io.lumenspark.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback stand-in for the Hugging Face Hub and its file host, two servers on 127.0.0.1 that answer as the real
 * ones do: {@code HEAD}/{@code GET /{owner}/{name}/resolve/{revision}/{file}} with {@code X-Repo-Commit}; small files
 * with 200, their git blob SHA-1 as {@code ETag} and their bytes; LFS files ({@code .safetensors}, {@code .bin}) with
 * a 302 to the file host, {@code X-Linked-Etag} (their SHA-256) and {@code X-Linked-Size}; 401 for a private repo
 * without its token (and for a missing repo without a token, as the hub does), 404 with {@code X-Error-Code}
 * {@code RepoNotFound}, {@code RevisionNotFound} or {@code EntryNotFound}. The file host serves LFS content by
 * SHA-256, honours {@code Range} (with {@code If-Range}), and can cut responses off midway. Every request to either
 * is recorded.
 */
public final class FakeHub implements AutoCloseable {
    /** One request as a server saw it; {@code path} is raw (escapes as sent), headers "" when absent. */
    public record Request(String method, String path, String authorization, String range) {
    }

    /** A repository: commits (hash to files) and refs (branch, tag or ref name to hash). */
    public static final class Repo {
        final Map<String, Map<String, byte[]>> commits = new ConcurrentHashMap<>();
        final Map<String, String> refs = new ConcurrentHashMap<>();
        /** When set, the repo is private: requests need {@code Authorization: Bearer token}. */
        volatile String token;

        /** Adds a commit with these files, and points {@code ref} at it. */
        public Repo commit(String ref, String commit, Map<String, byte[]> files) {
            commits.put(commit, Map.copyOf(files));
            refs.put(ref, commit);
            return this;
        }
    }

    final Map<String, Repo> repos = new ConcurrentHashMap<>();
    /** Old ids answered with a redirect to the new one, as for a renamed repository. */
    final Map<String, String> renamed = new ConcurrentHashMap<>();
    /** Whether those redirects name the hub's own origin ({@code http://127.0.0.1:PORT/...}) rather than a path. */
    volatile boolean absoluteRenames;
    /** Whether LFS files redirect to the hub's own origin ({@code /lfs/SHA256} there) instead of the file host. */
    volatile boolean lfsOnHubOrigin;
    public final List<Request> hubRequests = new CopyOnWriteArrayList<>();
    public final List<Request> fileRequests = new CopyOnWriteArrayList<>();
    /** The next this many file host responses send half their body, then the connection is closed. */
    final AtomicInteger drops = new AtomicInteger();
    /** What the file host sends instead of the content with this SHA-256: a corrupted file. */
    final Map<String, byte[]> corruptLfs = new ConcurrentHashMap<>();
    /** What the hub sends instead of this small file (by name), under the real file's ETag. */
    final Map<String, byte[]> corruptSmall = new ConcurrentHashMap<>();
    /** When not 0, the hub answers every request with this status (503: down). */
    volatile int failWith;
    /** ETag headers sent instead of the real one, by file name. */
    final Map<String, String> etags = new ConcurrentHashMap<>();
    private final Map<String, byte[]> lfsContent = new ConcurrentHashMap<>();
    private final HttpServer hub;
    private final HttpServer files;
    private final ExecutorService executor = Executors.newFixedThreadPool(8);

    public FakeHub() throws IOException {
        hub = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        files = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        hub.createContext("/", this::hub);
        files.createContext("/", this::files);
        hub.setExecutor(executor);
        files.setExecutor(executor);
        hub.start();
        files.start();
    }

    /** The hub's endpoint, as HF_ENDPOINT would name it. */
    public String endpoint() {
        return "http://127.0.0.1:" + hub.getAddress().getPort();
    }

    /** The file host, by another host name than the hub's (as a CDN is), so clients see another origin. */
    String fileHost() {
        return "http://localhost:" + files.getAddress().getPort();
    }

    public Repo repo(String id) {
        return repos.computeIfAbsent(id, k -> new Repo());
    }

    public void clearRequests() {
        hubRequests.clear();
        fileRequests.clear();
    }

    static boolean lfs(String file) {
        return file.endsWith(".safetensors") || file.endsWith(".bin");
    }

    static String sha256(byte[] data) {
        return HexFormat.of().formatHex(digest("SHA-256").digest(data));
    }

    /** Git's blob id of {@code data}, computed as git does. */
    static String gitSha1(byte[] data) {
        MessageDigest sha1 = digest("SHA-1");
        sha1.update(("blob " + data.length + "\0").getBytes(StandardCharsets.US_ASCII));
        return HexFormat.of().formatHex(sha1.digest(data));
    }

    private static MessageDigest digest(String name) {
        try {
            return MessageDigest.getInstance(name);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static Request record(HttpExchange ex) {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        String range = ex.getRequestHeaders().getFirst("Range");
        return new Request(ex.getRequestMethod(), ex.getRequestURI().getRawPath(), auth == null ? "" : auth,
                range == null ? "" : range);
    }

    private void hub(HttpExchange ex) throws IOException {
        if (lfsOnHubOrigin && ex.getRequestURI().getRawPath().startsWith("/lfs/")) {
            files(ex);
            return;
        }
        Request request = record(ex);
        hubRequests.add(request);
        String[] parts = request.path().split("/", -1); // "", owner, name, "resolve", revision, file
        if (failWith != 0) {
            send(ex, failWith, null, null);
            return;
        }
        if (parts.length != 6 || !parts[3].equals("resolve")) {
            send(ex, 404, null, null);
            return;
        }
        String id = parts[1] + "/" + parts[2];
        String revision = URLDecoder.decode(parts[4], StandardCharsets.UTF_8);
        String file = URLDecoder.decode(parts[5], StandardCharsets.UTF_8);
        if (renamed.containsKey(id)) {
            ex.getResponseHeaders().set("Location", (absoluteRenames ? endpoint() : "") + "/" + renamed.get(id)
                    + "/resolve/" + parts[4] + "/" + parts[5]);
            send(ex, 307, null, null);
            return;
        }
        Repo repo = repos.get(id);
        boolean authorized = repo != null
                && (repo.token == null || request.authorization().equals("Bearer " + repo.token));
        if (repo == null || !authorized) {
            // the hub answers 401 to a request without a token for a repo it will not show, existing or not
            send(ex, request.authorization().isEmpty() || repo != null ? 401 : 404, "RepoNotFound", null);
            return;
        }
        String commit = repo.commits.containsKey(revision) ? revision : repo.refs.get(revision);
        if (commit == null) {
            send(ex, 404, "RevisionNotFound", null);
            return;
        }
        byte[] content = repo.commits.get(commit).get(file);
        if (content == null) {
            send(ex, 404, "EntryNotFound", commit);
            return;
        }
        var headers = ex.getResponseHeaders();
        headers.set("X-Repo-Commit", commit);
        if (lfs(file)) {
            String sha = sha256(content);
            lfsContent.put(sha, content);
            headers.set("X-Linked-Etag", etags.getOrDefault(file, "\"" + sha + "\""));
            headers.set("X-Linked-Size", Long.toString(content.length));
            headers.set("ETag", "\"" + gitSha1(("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha)
                    .getBytes(StandardCharsets.US_ASCII)) + "\"");
            headers.set("Location", (lfsOnHubOrigin ? endpoint() : fileHost()) + "/lfs/" + sha);
            send(ex, 302, null, null);
            return;
        }
        headers.set("ETag", etags.getOrDefault(file, "\"" + gitSha1(content) + "\""));
        byte[] body = corruptSmall.getOrDefault(file, content);
        if (ex.getRequestMethod().equals("HEAD")) {
            headers.set("Content-Length", Long.toString(body.length));
            ex.sendResponseHeaders(200, -1);
            ex.close();
            return;
        }
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private static void send(HttpExchange ex, int status, String errorCode, String commit) throws IOException {
        if (errorCode != null) ex.getResponseHeaders().set("X-Error-Code", errorCode);
        if (commit != null) ex.getResponseHeaders().set("X-Repo-Commit", commit);
        ex.sendResponseHeaders(status, -1);
        ex.close();
    }

    private void files(HttpExchange ex) throws IOException {
        Request request = record(ex);
        fileRequests.add(request);
        String sha = request.path().substring(request.path().lastIndexOf('/') + 1);
        byte[] body = corruptLfs.getOrDefault(sha, lfsContent.get(sha));
        if (body == null || !request.path().startsWith("/lfs/")) {
            send(ex, 404, null, null);
            return;
        }
        String etag = "\"" + sha + "\"";
        ex.getResponseHeaders().set("ETag", etag);
        int start = 0;
        int status = 200;
        String ifRange = ex.getRequestHeaders().getFirst("If-Range");
        if (!request.range().isEmpty() && (ifRange == null || ifRange.equals(etag))) {
            start = Integer.parseInt(request.range().substring("bytes=".length(), request.range().indexOf('-')));
            status = 206;
            ex.getResponseHeaders().set("Content-Range",
                    "bytes " + start + "-" + (body.length - 1) + "/" + body.length);
        }
        int length = body.length - start;
        if (ex.getRequestMethod().equals("HEAD")) {
            send(ex, status, null, null);
            return;
        }
        ex.sendResponseHeaders(status, length);
        OutputStream out = ex.getResponseBody();
        try {
            if (drops.getAndUpdate(d -> Math.max(0, d - 1)) > 0) {
                out.write(Arrays.copyOfRange(body, start, start + length / 2));
                out.flush();
            } else {
                out.write(body, start, length);
            }
            ex.close(); // short of the announced length, this closes the connection
        } catch (IOException e) {
            // the client went away: nothing to do
        }
    }

    /**
     * Points this process's hub settings ({@link HubSettings#fromEnvironment()}: system properties) at this hub, with
     * {@code cache} as the hub cache, online and without a token, until the result is closed, which puts the
     * properties back as they were. Commands and {@code fromPretrained} then fetch from here.
     */
    public ProcessSettings useForThisProcess(Path cache) {
        return new ProcessSettings(Map.of("HF_ENDPOINT", endpoint(), "HF_HUB_CACHE", cache.toString(),
                "HF_HUB_OFFLINE", "0", "HF_TOKEN", "", "HUGGING_FACE_HUB_TOKEN", "",
                "HF_TOKEN_PATH", cache.resolve("no-token").toString()));
    }

    /** Hub settings of this process set as system properties, and put back as they were on close. */
    public static final class ProcessSettings implements AutoCloseable {
        private final Map<String, String> saved = new HashMap<>();

        ProcessSettings(Map<String, String> set) {
            for (String name : HubSettings.VARIABLES) {
                String value = System.getProperty(name);
                if (value != null) saved.put(name, value);
            }
            set.forEach(System::setProperty);
        }

        /** Turns HF_HUB_OFFLINE on or off. */
        public void offline(boolean offline) {
            System.setProperty("HF_HUB_OFFLINE", offline ? "1" : "0");
        }

        @Override
        public void close() {
            for (String name : HubSettings.VARIABLES) System.clearProperty(name);
            saved.forEach(System::setProperty);
        }
    }

    @Override
    public void close() {
        hub.stop(0);
        files.stop(0);
        executor.shutdownNow();
    }
}
