package io.lumenspark.hub;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.Download;
import io.lumenspark.io.WeightFiles;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Turns a model argument into a local model folder: a folder as it is, a Hugging Face Hub id ({@code owner/name},
 * optionally {@code @revision}; see {@link ModelRef} for the rule) into a snapshot folder of the hub cache, fetching
 * what is missing through the hub's public HTTP layout, {@code {endpoint}/{owner}/{name}/resolve/{revision}/{file}}.
 *
 * <p>Which files: {@code config.json} first (its answer names the commit the revision is at; the other files are
 * requested at that commit, so they belong together); then the weights, the first the repository has of
 * {@code model.safetensors}, {@code model.safetensors.index.json} (and every shard its {@code weight_map} names),
 * {@code pytorch_model.bin}, {@code pytorch_model.bin.index.json} (and its shards); then, each when the repository
 * has it, {@code tokenizer.json}, {@code vocab.json}, {@code merges.txt}, {@code tokenizer_config.json},
 * {@code special_tokens_map.json}, {@code added_tokens.json} and {@code generation_config.json}. A file the hub
 * answers 404 for is recorded in {@code .no_exist} and not asked for again at that commit.
 *
 * <p>The network is used only when needed: a snapshot that holds config.json and complete weights, and of every
 * optional file either the file or its {@code .no_exist} marker, is returned without a request (for a branch, the
 * snapshot of the commit {@code refs/BRANCH} names: a branch that moved on since is followed once that file is
 * deleted, or by naming the new commit). With {@code HF_HUB_OFFLINE} no request is made at all: a snapshot with
 * config.json and complete weights is used, anything less is a one-line error. When the hub cannot be reached (or
 * answers 429 or 5xx), such a cached snapshot is used with a note on stderr; without one the error names the URL and
 * says how to download the folder by hand.
 *
 * <p>Each file is asked for with a {@code HEAD} that follows only redirects within the hub's origin that are not an
 * LFS file's answer (a renamed repository). Its answer gives {@code X-Repo-Commit}; the blob name, the {@code ETag} without quotes or {@code W/}
 * prefix ({@code X-Linked-Etag}, the SHA-256, for files in LFS, which answer with a redirect to a file host; the git
 * blob SHA-1 for small files); and the size ({@code X-Linked-Size}, else {@code Content-Length}). The file is then
 * downloaded from the redirect's target (or the same URL) by {@link Download}: resumable, size-checked, and checked
 * against the SHA-256 for LFS files or the git blob SHA-1 for small ones the hub serves itself, before the
 * snapshot's link is made. {@code Authorization: Bearer HF_TOKEN} goes only to the endpoint's own origin, never to
 * the file host.
 *
 * <p>Everything that changes the cache happens under a lock on the repository
 * ({@code .locks/models--owner--name/lumenspark.lock} in the cache folder), so two processes fetching one model
 * take turns and the second finds the first one's files.
 */
public final class Hub implements AutoCloseable {
    static final String CONFIG = "config.json";
    /** The weights, most preferred first. */
    static final List<String> WEIGHTS = WeightFiles.NAMES;
    /** Files fetched when the repository has them. */
    static final List<String> OPTIONAL = List.of("tokenizer.json", "vocab.json", "merges.txt",
            "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json");
    private static final int MAX_REDIRECTS = 5;
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");

    private final HubSettings settings;
    private final Download download;
    private final HttpClient client;
    private final Duration timeout;
    private final PrintStream log;

    /** A hub client with production timeouts, progress bars and notes on stderr. */
    public Hub(HubSettings settings) {
        this(settings, new Download(Download.DEFAULT_MAX_BYTES), Duration.ofSeconds(20), Duration.ofSeconds(30),
                System.err);
    }

    /**
     * @param download       the downloader of the files
     * @param connectTimeout how long to wait for the hub to accept a connection
     * @param timeout        how long to wait for the hub's answer to one HEAD request
     * @param log            where notes go (using the cache when offline), or null for nowhere
     */
    Hub(HubSettings settings, Download download, Duration connectTimeout, Duration timeout, PrintStream log) {
        this.settings = Objects.requireNonNull(settings);
        this.download = download;
        this.client = HttpClient.newBuilder().connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER).build();
        this.timeout = timeout;
        this.log = log;
    }

    /**
     * The model folder that {@code text} names, with the settings of this process's environment: a local folder as
     * it is (without touching the network), or a hub model's snapshot folder in the cache, fetched as needed.
     *
     * @throws LumensparkException (one line) when the text names neither, or the model cannot be fetched
     */
    public static Path modelFolder(String text) {
        return switch (ModelRef.parse(text)) {
            case ModelRef.Folder f -> f.dir();
            case ModelRef.Remote r -> {
                try (Hub hub = new Hub(HubSettings.fromEnvironment())) {
                    yield hub.resolve(r);
                }
            }
        };
    }

    /**
     * The model folder that {@code text} names: see {@link #modelFolder}, with this client's settings.
     *
     * @throws LumensparkException (one line) when the text names neither, or the model cannot be fetched
     */
    public Path resolve(String text) {
        return switch (ModelRef.parse(text)) {
            case ModelRef.Folder f -> f.dir();
            case ModelRef.Remote r -> resolve(r);
        };
    }

    /**
     * The snapshot folder of a hub model in the cache ({@code snapshots/COMMIT}), after fetching what it lacks.
     *
     * @throws LumensparkException (one line) when the model cannot be had: not on the hub, private without a token,
     *                             unreachable without a usable cached snapshot, a download that fails its checks
     */
    public Path resolve(ModelRef.Remote model) {
        RepoCache repo = new RepoCache(settings.cache(), model.repo());
        String known = commitOf(repo, model);
        if (known != null && complete(repo, known)) return repo.snapshot(known);
        if (settings.offline()) return offline(repo, model, known);
        checkSettings(model);
        try (RepoCache.Lock _ = repo.lock()) {
            known = commitOf(repo, model); // another process may have fetched it meanwhile
            if (known != null && complete(repo, known)) return repo.snapshot(known);
            try {
                return fetch(repo, model);
            } catch (Unreachable e) {
                if (known != null && missing(repo, known) == null) {
                    if (log != null) log.println("note: " + e.getMessage() + "; using the cached snapshot " + known);
                    return repo.snapshot(known);
                }
                throw new LumensparkException(e.getMessage() + ", and no local folder " + model + " either: "
                        + hint(model), e);
            }
        }
    }

    @Override
    public void close() {
        client.shutdownNow();
        download.close();
    }

    /** The commit a model's revision is at as far as the cache knows, or null. */
    private static String commitOf(RepoCache repo, ModelRef.Remote model) {
        return model.pinned() ? model.revision() : repo.ref(model.revision());
    }

    /** Whether the snapshot has everything: the required files, and each optional one or its .no_exist marker. */
    private static boolean complete(RepoCache repo, String commit) {
        return missing(repo, commit) == null
                && OPTIONAL.stream().allMatch(f -> repo.has(commit, f) || repo.knownMissing(commit, f));
    }

    /** What a snapshot lacks of config.json and the weights, in words, or null when it has them all. */
    private static String missing(RepoCache repo, String commit) {
        if (!repo.has(commit, CONFIG)) return CONFIG;
        for (String weights : WEIGHTS) {
            if (!repo.has(commit, weights)) continue;
            if (!weights.endsWith(".index.json")) return null;
            for (String shard : shards(repo.snapshot(commit).resolve(weights))) {
                if (!repo.has(commit, shard)) return shard;
            }
            return null;
        }
        return "weights (" + WeightFiles.namesInWords() + ")";
    }

    private Path offline(RepoCache repo, ModelRef.Remote model, String commit) {
        String problem;
        if (commit == null) {
            problem = "the cache " + settings.cache() + " has no snapshot of " + model;
        } else {
            String missing = missing(repo, commit);
            if (missing == null) return repo.snapshot(commit);
            problem = "the cached snapshot of " + model + " (" + repo.snapshot(commit) + ") lacks " + missing;
        }
        throw new LumensparkException("HF_HUB_OFFLINE is set and " + problem + ", and there is no local folder "
                + model + " either: unset HF_HUB_OFFLINE to download it, or " + hint(model));
    }

    /** The endpoint and token make a request: an https URL (plain http only on this machine), a header value. */
    private void checkSettings(ModelRef.Remote model) {
        URI url = fileUrl(model.repo(), model.revision(), CONFIG);
        try {
            Download.checkAllowed(url);
        } catch (LumensparkException e) {
            throw new LumensparkException("HF_ENDPOINT must be an https:// URL (plain http only on this machine): "
                    + settings.endpoint());
        }
        if (settings.token() != null && !settings.token().chars().allMatch(c -> c > 0x20 && c < 0x7F)) {
            throw new LumensparkException("HF_TOKEN holds characters that no access token has (spaces, controls or"
                    + " non-ASCII)");
        }
    }

    /** Fetches what the snapshot of the revision's current commit lacks; returns that snapshot's folder. */
    private Path fetch(RepoCache repo, ModelRef.Remote model) throws Unreachable {
        FileInfo config = required(model, model.revision(), CONFIG);
        String commit = config.commit();
        place(repo, model, commit, CONFIG, config);
        String weights = null;
        for (String candidate : WEIGHTS) {
            if (repo.has(commit, candidate)) {
                weights = candidate;
                break;
            }
            if (repo.knownMissing(commit, candidate)) continue;
            FileInfo info = optional(repo, model, commit, candidate);
            if (info != null) {
                place(repo, model, commit, candidate, info);
                weights = candidate;
                break;
            }
        }
        if (weights == null) {
            throw new LumensparkException(model + " has no weights on the hub (commit " + commit + "): none of "
                    + String.join(", ", WEIGHTS));
        }
        if (weights.endsWith(".index.json")) {
            for (String shard : shards(repo.snapshot(commit).resolve(weights))) {
                if (!repo.has(commit, shard)) place(repo, model, commit, shard, required(model, commit, shard));
            }
        }
        for (String file : OPTIONAL) {
            if (repo.has(commit, file) || repo.knownMissing(commit, file)) continue;
            FileInfo info = optional(repo, model, commit, file);
            if (info != null) place(repo, model, commit, file, info);
        }
        // only now, so that refs/REVISION never names a snapshot less usable than the one it named before
        if (!model.pinned()) repo.writeRef(model.revision(), commit);
        return repo.snapshot(commit);
    }

    /**
     * The distinct shard names an index's {@code weight_map} names, in order ({@link WeightFiles#shardNames}); each
     * must also be a safe name for a file of the cache.
     */
    private static List<String> shards(Path index) {
        List<String> shards = WeightFiles.shardNames(index);
        for (String shard : shards) {
            if (!RepoCache.safeName(shard)) {
                throw new LumensparkException(index + ": a tensor maps to " + shown(shard) + ", which is not a plain"
                        + " file name beside the index");
            }
        }
        return shards;
    }

    /** Puts a file into the snapshot: its blob downloaded unless the cache has it, then the link. */
    private void place(RepoCache repo, ModelRef.Remote model, String commit, String file, FileInfo info) {
        if (repo.has(commit, file)) return;
        Path blob = repo.blob(info.etag());
        if (!Files.isRegularFile(blob)) {
            boolean sameOrigin = sameOrigin(info.location(), info.asked());
            Map<String, String> headers = settings.token() != null && sameOrigin
                    ? Map.of("Authorization", "Bearer " + settings.token()) : Map.of();
            String sha256 = info.lfs() && SHA256.matcher(info.etag()).matches() ? info.etag() : null;
            download.fetch(new Download.Source(info.location(), headers, file, hint(model)), blob, info.size(), sha256);
            // a small file the hub serves itself is named by its git blob hash
            boolean served = info.location().equals(info.asked());
            if (!info.lfs() && served && SHA1.matcher(info.etag()).matches()) {
                checkGitBlob(blob, info.etag(), model, file);
            }
        }
        repo.link(commit, file, info.etag());
    }

    /** Refuses (and deletes) a small file whose git blob SHA-1 is not the one its ETag names. */
    private static void checkGitBlob(Path blob, String sha1, ModelRef.Remote model, String file) {
        try {
            String got = gitBlobSha1(blob);
            if (got.equals(sha1)) return;
            Files.delete(blob);
            throw new LumensparkException("checksum mismatch for " + file + " of " + model + ": git blob SHA-1 " + got
                    + ", expected " + sha1 + "; the file was deleted");
        } catch (IOException e) {
            throw new LumensparkException("cannot check " + blob + ": " + e.getMessage(), e);
        }
    }

    /** Git's name for a file's content: the SHA-1 of {@code "blob " + size + "\0"} and the content. */
    static String gitBlobSha1(Path file) throws IOException {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
        sha1.update(("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) sha1.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(sha1.digest());
    }

    /** What the hub says of a file it has. */
    private record FileInfo(URI asked, String commit, String etag, long size, boolean lfs, URI location) {
    }

    /** The hub's answer to a HEAD: the URL that answered (after redirects within the hub), its status and headers. */
    private record Answer(URI url, int status, HttpHeaders headers) {
        String header(String name) {
            return headers.firstValue(name).orElse(null);
        }
    }

    /** The hub could not be reached, or answered that it cannot answer now (429, 5xx): what happened, in words. */
    private static final class Unreachable extends Exception {
        Unreachable(String what) {
            super(what, null, false, false);
        }
    }

    /** A file the model must have: its metadata, or a one-line error when the hub does not give it. */
    private FileInfo required(ModelRef.Remote model, String revision, String file) throws Unreachable {
        Answer answer = head(model, revision, file);
        if (answer.status() == 404) throw notFound(model, answer, file);
        return info(model, answer, file);
    }

    /** A file the model may have: its metadata, or null (and a .no_exist marker) when the repository lacks it. */
    private FileInfo optional(RepoCache repo, ModelRef.Remote model, String commit, String file) throws Unreachable {
        Answer answer = head(model, commit, file);
        if (answer.status() == 404) {
            String code = answer.header("X-Error-Code");
            if (code != null && !code.equals("EntryNotFound")) throw notFound(model, answer, file);
            repo.markMissing(commit, file);
            return null;
        }
        return info(model, answer, file);
    }

    /** The metadata in a successful answer, after checking it; any error status becomes a one-line error. */
    private FileInfo info(ModelRef.Remote model, Answer answer, String file) throws Unreachable {
        int status = answer.status();
        if (status == 429 || status >= 500) {
            throw new Unreachable(answer.url() + " answered HTTP " + status + " (the hub is busy or down: try again"
                    + " later)");
        }
        if (status == 401 || status == 403) throw denied(model, answer);
        boolean redirect = status >= 300 && status < 400;
        if (status < 200 || status >= 400 || (redirect && answer.header("Location") == null)) {
            throw new LumensparkException("cannot fetch " + file + " of " + model + ": " + answer.url()
                    + " answered HTTP " + status + "; " + hint(model));
        }
        String commit = answer.header("X-Repo-Commit");
        if (commit == null || !ModelRef.Remote.isCommit(commit)) {
            throw new LumensparkException(answer.url() + " answered without a commit hash (X-Repo-Commit): is "
                    + settings.endpoint() + " a Hugging Face hub? (HF_ENDPOINT)");
        }
        String linked = answer.header("X-Linked-Etag");
        String etag = normalizeEtag(linked != null ? linked : answer.header("ETag"));
        if (etag == null || !RepoCache.safeName(etag)) {
            throw new LumensparkException(answer.url() + " answered without a usable ETag (it names the file in the"
                    + " cache): is " + settings.endpoint() + " a Hugging Face hub? (HF_ENDPOINT)");
        }
        String size = answer.header("X-Linked-Size");
        if (size == null && !redirect) size = answer.header("Content-Length");
        URI location = answer.url();
        if (redirect) {
            try {
                location = answer.url().resolve(answer.header("Location"));
            } catch (IllegalArgumentException e) {
                throw new LumensparkException(answer.url() + " redirects to " + shown(answer.header("Location"))
                        + ", which is not a URL");
            }
        }
        return new FileInfo(answer.url(), commit, etag, size != null && size.matches("[0-9]{1,18}")
                ? Long.parseLong(size) : -1, linked != null, location);
    }

    /** An ETag as huggingface_hub names blobs by it: without a {@code W/} prefix and quotes. */
    static String normalizeEtag(String etag) {
        if (etag == null) return null;
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) e = e.substring(1, e.length() - 1);
        return e;
    }

    private LumensparkException notFound(ModelRef.Remote model, Answer answer, String file) {
        String code = answer.header("X-Error-Code");
        String at = model.revision().equals(ModelRef.DEFAULT_REVISION) ? "" : " at revision " + model.revision();
        if ("RevisionNotFound".equals(code)) {
            return new LumensparkException("no revision " + model.revision() + " of " + model.repo()
                    + " on the hub: name a branch, tag or commit it has");
        }
        if ("RepoNotFound".equals(code) || (code == null && file.equals(CONFIG))) {
            return new LumensparkException("no such model folder, nor model on the hub: " + model + " ("
                    + settings.endpoint() + "/" + model.repo() + at + ")");
        }
        return file.equals(CONFIG)
                ? new LumensparkException(model.repo() + at + " on the hub has no config.json: it is not a model"
                + " repository")
                : new LumensparkException(model.repo() + at + " on the hub lacks " + file + ", which its weights index"
                + " names");
    }

    private LumensparkException denied(ModelRef.Remote model, Answer answer) {
        String page = settings.endpoint() + "/" + model.repo();
        if ("GatedRepo".equals(answer.header("X-Error-Code"))) {
            return new LumensparkException("repository " + model.repo() + " is gated: accept its conditions at "
                    + page + (settings.token() == null ? ", then set HF_TOKEN to an access token of that account"
                    : " with the account of HF_TOKEN"));
        }
        if (settings.token() == null) {
            return new LumensparkException("repository " + model.repo() + " is private or gated, or does not exist"
                    + " (HTTP " + answer.status() + " without a token): set HF_TOKEN to an access token that can read"
                    + " it (https://huggingface.co/settings/tokens), or " + hint(model));
        }
        return new LumensparkException("the hub refused HF_TOKEN for " + model.repo() + " (HTTP " + answer.status()
                + "): the token is invalid, or cannot read this private or gated repository (" + page + ")");
    }

    /**
     * HEADs a file, following redirects within the hub only (not an LFS file's redirect to its content, which may
     * be on the hub's own origin too); an unreachable hub is an {@link Unreachable}.
     */
    private Answer head(ModelRef.Remote model, String revision, String file) throws Unreachable {
        URI url = fileUrl(model.repo(), revision, file);
        for (int hops = 0; ; hops++) {
            HttpRequest.Builder request = HttpRequest.newBuilder(url)
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).timeout(timeout)
                    .header("User-Agent", "lumenspark").header("Accept-Encoding", "identity");
            if (settings.token() != null) request.header("Authorization", "Bearer " + settings.token());
            HttpResponse<Void> response;
            try {
                response = client.send(request.build(), HttpResponse.BodyHandlers.discarding());
            } catch (IOException e) {
                throw new Unreachable("cannot reach " + url + " (" + Download.describe(e) + "; offline?)");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new LumensparkException("interrupted while asking " + url);
            }
            int status = response.statusCode();
            String location = response.headers().firstValue("Location").orElse(null);
            // an LFS file's answer (X-Linked-Etag) redirects to where its content is, be that on the hub's origin
            boolean lfs = response.headers().firstValue("X-Linked-Etag").isPresent();
            if (status < 300 || status >= 400 || location == null || lfs || !withinHub(url, location)) {
                return new Answer(url, status, response.headers());
            }
            if (hops == MAX_REDIRECTS) {
                throw new LumensparkException(url + " redirects more than " + MAX_REDIRECTS + " times within the"
                        + " hub; " + hint(model));
            }
            url = url.resolve(location);
        }
    }

    /**
     * A redirect that stays on the hub (a renamed repository, say): a path without scheme and host, or a URL of the
     * same origin. Anything else is where the file itself is (a file host, a CDN).
     */
    private static boolean withinHub(URI from, String location) {
        try {
            URI uri = new URI(location);
            return uri.getRawAuthority() == null ? uri.getScheme() == null : sameOrigin(from.resolve(uri), from);
        } catch (URISyntaxException e) {
            return false;
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme() != null && a.getHost() != null && a.getScheme().equalsIgnoreCase(b.getScheme())
                && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b);
    }

    private static int port(URI uri) {
        if (uri.getPort() >= 0) return uri.getPort();
        return uri.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    /**
     * {@code {endpoint}/{owner}/{name}/resolve/{revision}/{file}}, the revision's slashes (and pluses) escaped as
     * huggingface_hub escapes them; the id and file names need no escaping.
     */
    private URI fileUrl(RepoId repo, String revision, String file) {
        String rev = revision.replace("+", "%2B").replace("/", "%2F");
        try {
            return new URI(settings.endpoint() + "/" + repo + "/resolve/" + rev + "/" + file);
        } catch (URISyntaxException e) {
            throw new LumensparkException("HF_ENDPOINT is not a URL: " + shown(settings.endpoint()));
        }
    }

    /** How to go on without this download. */
    private static String hint(ModelRef.Remote model) {
        String revision = model.revision().equals(ModelRef.DEFAULT_REVISION) ? "" : " --revision " + model.revision();
        return "download the folder yourself (e.g. `hf download " + model.repo() + revision + " --local-dir DIR`)"
                + " and pass DIR instead";
    }

    /** Text from outside in a message: as it is when it is short printable ASCII, else left out. */
    private static String shown(String text) {
        boolean plain = text != null && text.length() <= 200 && text.chars().allMatch(c -> c >= 0x20 && c < 0x7F);
        return plain ? "'" + text + "'" : "(a name not shown: too long or not printable)";
    }
}
