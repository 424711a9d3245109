package io.lumenspark.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Json;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Prepares text for training the way nanoGPT does: each file's first {@code 1 - valFraction} of its characters
 * (Unicode code points) go to the training split and the rest to validation, each part followed by
 * {@code <|endoftext|>}. The tokens are written once to a cache folder keyed by the content, tokenizer and
 * fraction, and memory-mapped from there on every later run. {@link #prepareFolder} does the same for
 * {@code lumenspark data prepare}, into a chosen folder and from JSON lines and CSV files too; both use
 * {@link Tokenization}, so an interrupted run goes on where it stopped.
 *
 * <p>Token folder layout: {@code train.bin}, {@code val.bin} (little-endian uint16, or uint32 for vocabularies
 * over 65,536) and {@code manifest.json}, written last, so a folder without it is incomplete. Such a folder given
 * as the only input to {@link #prepare} is used as it is.
 */
public final class TokenCorpus {

    static final int FORMAT = Tokenization.FORMAT;
    static final String TRAIN_FILE = Tokenization.TRAIN_FILE;
    static final String VAL_FILE = Tokenization.VAL_FILE;
    static final String MANIFEST_FILE = Tokenization.MANIFEST_FILE;

    /** Characters per piece encoded by one task. */
    static final int PIECE_CHARS = Tokenization.PIECE_CHARS;

    /** Files that {@code data prepare} writes into its folder; anything else there is the user's. */
    private static final Set<String> OWN_FILES = Set.of(TRAIN_FILE, VAL_FILE, MANIFEST_FILE,
            Tokenization.TRAIN_PARTIAL, Tokenization.VAL_PARTIAL, Tokenization.PROGRESS_FILE);

    private TokenCorpus() {
    }

    /**
     * What {@link #prepareFolder} did.
     *
     * @param dir             the token folder
     * @param trainTokens     tokens in {@code train.bin}
     * @param valTokens       tokens in {@code val.bin}
     * @param dtype           their type on disk
     * @param sources         input files read
     * @param skippedRecords  records skipped as bad (with {@link CorpusOptions#skipBadRecords()})
     * @param resumed         whether an interrupted run was continued
     * @param alreadyComplete whether the folder already held these tokens, so nothing was done
     */
    public record Prepared(Path dir, long trainTokens, long valTokens, TokenDtype dtype, int sources,
                           long skippedRecords, boolean resumed, boolean alreadyComplete) {
    }

    /**
     * Tokenizes {@code inputs} into training and validation splits, or reuses the cached result of an earlier call
     * on the same content. A single input that is a prepared token folder (see {@link #isPrepared}) is used as it
     * is, with its own split ({@code valFraction} does not apply).
     *
     * @param inputs      UTF-8 text files (malformed bytes become U+FFFD) or folders, whose regular files are read
     *                    recursively in path order, skipping hidden names (starting with '.')
     * @param tok         the tokenizer
     * @param valFraction share of each file's characters, taken from its end, used for validation; in [0, 0.5]
     * @param cacheDir    root of the token cache
     * @return the splits, memory-mapped from the cache; the caller closes them
     * @throws LumensparkException for missing files, a corpus without text, a validation split under 2 tokens
     *                             (when valFraction is above 0), a fraction out of range, a prepared folder made
     *                             with another tokenizer, or I/O errors
     */
    public static TokenSplits prepare(List<Path> inputs, Tokenizer tok, double valFraction, Path cacheDir) {
        return prepare(inputs, tok, tok, valFraction, cacheDir);
    }

    /**
     * As {@link #prepare(List, Tokenizer, double, Path)} for a model whose text is encoded with a tokenizer of its
     * own ({@code textTok}: a masked LM's without its appended {@code <mask>} and {@code <pad>}, whose ids are the
     * model's first ones): text is encoded with {@code textTok}, and a prepared folder may have been made with
     * either tokenizer (see {@link #openPrepared(Path, Tokenizer, Tokenizer)}).
     *
     * @param tok     the model's tokenizer
     * @param textTok what encodes the text: {@code tok}, or {@code tok} without special tokens that held its last
     *                ids
     */
    public static TokenSplits prepare(List<Path> inputs, Tokenizer tok, Tokenizer textTok, double valFraction,
                                      Path cacheDir) {
        CorpusOptions options = CorpusOptions.text(valFraction);
        if (inputs.size() == 1 && isPrepared(inputs.getFirst())) {
            return openPrepared(inputs.getFirst(), tok, textTok);
        }
        Tokenization.Settings settings = Tokenization.Settings.of(Parallel.threads());
        Tokenization.Plan plan = plan(inputs, textTok, options, settings, null);
        Path dir = cacheDir.resolve(plan.key());
        TokenDtype dtype = plan.dtype();
        TokenSplits cached = reuse(dir, textTok, dtype);
        if (cached != null) {
            return cached;
        }
        try (FolderLock _ = FolderLock.acquire(dir, true, "writing tokens to")) {
            cached = reuse(dir, textTok, dtype); // another process may have finished it while we waited
            if (cached != null) {
                return cached;
            }
            Files.deleteIfExists(dir.resolve(MANIFEST_FILE)); // a damaged cache: make it again
            Tokenization.run(dir, plan, settings);
        } catch (IOException e) {
            throw new LumensparkException("cannot write the token cache in " + dir + ": " + e.getMessage(), e);
        }
        return open(dir, dtype, false);
    }

    /**
     * Tokenizes {@code inputs} into {@code out}: {@code train.bin}, {@code val.bin} and {@code manifest.json}
     * (tokenizer, token counts, each source's path, size and SHA-256, the options). An interrupted run of the same
     * inputs and options goes on where it stopped; a folder that already holds them is left alone.
     *
     * @param inputs  files or folders (read recursively in path order, skipping hidden names)
     * @param tok     the tokenizer
     * @param options formats, fields and split
     * @param out     the token folder: new, empty, or from an earlier prepare
     * @param force   replace an earlier prepare of other inputs or options in {@code out}
     * @param threads encoding threads
     * @throws LumensparkException for missing or bad inputs, a corpus without text, a validation split under 2
     *                             tokens, a folder holding other files or (without force) another prepare, or
     *                             I/O errors
     */
    public static Prepared prepareFolder(List<Path> inputs, Tokenizer tok, CorpusOptions options, Path out,
                                         boolean force, int threads) {
        if (threads < 1) {
            throw new LumensparkException("--threads must be at least 1, got " + threads);
        }
        return prepareFolder(inputs, tok, options, out, force, Tokenization.Settings.of(threads).withProgressBarBytes(1 << 20));
    }

    static Prepared prepareFolder(List<Path> inputs, Tokenizer tok, CorpusOptions options, Path out, boolean force,
                                  Tokenization.Settings settings) {
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new LumensparkException("--out " + out + " is a file, not a folder");
        }
        Tokenization.Plan plan = plan(inputs, tok, options, settings, out);
        String key = plan.key();
        FolderLock lock = FolderLock.acquire(out, false, "writing tokens to");
        try {
            Prepared done = existing(out, key, force);
            if (done == null) {
                Tokenization.Outcome r = Tokenization.run(out, plan, settings);
                Tokenization.Manifest m = r.manifest();
                done = new Prepared(out, m.trainTokens(), m.valTokens(), plan.dtype(), m.sources().size(),
                        skipped(m), r.resumed(), false);
            }
            lock.close();
            return done;
        } catch (LumensparkException e) {
            // a refused folder is left as it was: no lock file, nor a folder, of ours (partial files stay, for a rerun)
            lock.closeAndUndo();
            throw e;
        } catch (RuntimeException | Error e) {
            lock.close();
            throw e;
        }
    }

    private static long skipped(Tokenization.Manifest m) {
        return m.sources().stream().mapToLong(s -> s.skipped() == null ? 0 : s.skipped()).sum();
    }

    /**
     * What {@code out} already holds: the finished tokens of this key (returned), nothing or an unfinished run of
     * this key (null: go on), or another prepare (removed with force, else an error). Files not written by a
     * prepare are never removed.
     */
    private static Prepared existing(Path out, String key, boolean force) {
        List<String> foreign = new ArrayList<>();
        try (Stream<Path> files = Files.list(out)) {
            files.map(p -> p.getFileName().toString())
                    .filter(name -> !name.startsWith(".") && !OWN_FILES.contains(name)).sorted().forEach(foreign::add);
        } catch (IOException e) {
            throw new LumensparkException("cannot list " + out + ": " + e.getMessage(), e);
        }
        if (!foreign.isEmpty()) {
            throw new LumensparkException("--out " + out + " holds files that are not prepared tokens ("
                    + String.join(", ", foreign.subList(0, Math.min(3, foreign.size())))
                    + (foreign.size() > 3 ? ", ..." : "") + "); choose a new or empty folder");
        }
        Path manifestFile = out.resolve(MANIFEST_FILE);
        if (Files.exists(manifestFile)) {
            Tokenization.Manifest m = readManifest(out);
            if (key.equals(m.key())) {
                TokenDtype dtype = TokenDtype.fromLabel(m.dtype());
                if (!sizesMatch(out, m, dtype)) {
                    if (!force) {
                        throw new LumensparkException(out + " is damaged: its token files do not have the sizes its"
                                + " manifest.json gives; use --force to prepare it again");
                    }
                } else {
                    Tokenization.deletePartials(out); // left by a run stopped after writing the manifest
                    return new Prepared(out, m.trainTokens(), m.valTokens(), dtype, m.sources().size(), skipped(m),
                            false, true);
                }
            } else if (!force) {
                throw new LumensparkException(out + " already holds tokens prepared from other inputs or options;"
                        + " use --force to replace them, or choose another --out");
            }
        } else if (Files.exists(out.resolve(Tokenization.PROGRESS_FILE))
                && Tokenization.readProgress(out, key) == null && !force) {
            throw new LumensparkException(out + " holds an unfinished prepare of other inputs or options; rerun"
                    + " that command to finish it, or use --force to start over");
        }
        if (force) { // the earlier output goes; an unfinished run of the same key is kept and continued
            try {
                Files.deleteIfExists(manifestFile);
                // with a progress record of this key, train.bin and val.bin stay: a run stopped while finishing has
                // renamed its files to them (Tokenization.run finishes them if they have the recorded sizes, else
                // starts over and replaces them)
                if (Tokenization.readProgress(out, key) == null) {
                    Files.deleteIfExists(out.resolve(TRAIN_FILE));
                    Files.deleteIfExists(out.resolve(VAL_FILE));
                }
            } catch (IOException e) {
                throw new LumensparkException("cannot delete the old tokens in " + out + ": " + e.getMessage(), e);
            }
        }
        return null;
    }

    /**
     * Whether {@code dir} is a token folder: it holds a {@code manifest.json} of ours (as written by
     * {@link #prepareFolder} or the cache).
     */
    public static boolean isPrepared(Path dir) {
        Path file = dir.resolve(MANIFEST_FILE);
        if (!Files.isDirectory(dir) || !Files.isRegularFile(file)) {
            return false;
        }
        try {
            JsonNode m = Json.read(file);
            return m.path("format").isInt() && m.path("tokenizer").isTextual() && m.path("dtype").isTextual()
                    && m.has("trainTokens") && m.has("valTokens");
        } catch (RuntimeException e) {
            return false;
        }
    }

    /**
     * Opens the splits of a token folder for a model whose text is encoded with {@code textTok}, memory-mapped. The
     * folder may have been made with the model's tokenizer or with {@code textTok}: the same ids for the same text,
     * {@code textTok}'s being the model's first ones (a literal special token's text that only the model's
     * tokenizer has, such as {@code "<mask>"}, is that token in a folder made with it).
     *
     * @param tok     the model's tokenizer
     * @param textTok what encodes the model's text: {@code tok}, or {@code tok} without special tokens that held its
     *                last ids
     * @throws LumensparkException if the folder is not one, was made with another tokenizer than these two, or its
     *                             files do not match its manifest
     */
    public static TokenSplits openPrepared(Path dir, Tokenizer tok, Tokenizer textTok) {
        Tokenization.Manifest m = readManifest(dir);
        if (!preparedWith(m, tok) && !preparedWith(m, textTok)) {
            throw new LumensparkException(dir + " was prepared with tokenizer '" + m.tokenizer() + "' (vocabulary "
                    + m.vocabSize() + "), but the model uses '" + tok.name() + "' (vocabulary " + tok.vocabSize()
                    + "); prepare it again with --tokenizer");
        }
        TokenDtype dtype = TokenDtype.fromLabel(m.dtype());
        if (dtype != TokenDtype.forVocab(m.vocabSize()) || !sizesMatch(dir, m, dtype)) {
            throw new LumensparkException(dir + " is damaged: its token files do not match its manifest.json");
        }
        return open(dir, dtype, true);
    }

    private static boolean preparedWith(Tokenization.Manifest m, Tokenizer tok) {
        return tok.name().equals(m.tokenizer()) && tok.vocabSize() == m.vocabSize();
    }

    private static Tokenization.Manifest readManifest(Path dir) {
        Path file = dir.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(file)) {
            throw new LumensparkException(dir + " is not a prepared token folder (no " + MANIFEST_FILE + ")");
        }
        Tokenization.Manifest m = Json.read(file, Tokenization.Manifest.class);
        if (m.tokenizer() == null || m.dtype() == null || m.sources() == null) {
            throw new LumensparkException(file + ": not a token manifest (needs tokenizer, dtype and sources)");
        }
        return m;
    }

    private static boolean sizesMatch(Path dir, Tokenization.Manifest m, TokenDtype dtype) {
        try {
            return Files.size(dir.resolve(TRAIN_FILE)) == m.trainTokens() * dtype.bytes()
                    && Files.size(dir.resolve(VAL_FILE)) == m.valTokens() * dtype.bytes();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Merges token folders that {@link #prepareFolder} made from consecutive groups of one list of input files
     * (given in that order, all with {@code tok} and {@code options}) into {@code out}: train.bin and val.bin are the
     * parts' files one after the other, and manifest.json is the one that preparing all the files at once writes, so
     * the folder is byte for byte what that gives. Each file is written atomically, the manifest last.
     *
     * @throws LumensparkException if a part is not a finished token folder of that tokenizer
     */
    public static Prepared merge(List<Path> parts, Tokenizer tok, CorpusOptions options, Path out) {
        List<Tokenization.Source> sources = new ArrayList<>();
        List<Tokenization.SourceCounts> counts = new ArrayList<>();
        long train = 0, val = 0;
        for (Path part : parts) {
            try (TokenSplits s = openPrepared(part, tok, tok)) {
                train += s.train().length();
                val += s.val().length();
            }
            for (Tokenization.ManifestSource m : readManifest(part).sources()) {
                long records = m.records() == null ? 0 : m.records(), skipped = m.skipped() == null ? 0 : m.skipped();
                sources.add(new Tokenization.Source(Path.of(m.path()), CorpusFormat.fromLabel(m.format()), m.sha256(),
                        m.bytes(), 0, records));
                counts.add(new Tokenization.SourceCounts(records, skipped));
            }
        }
        Tokenization.Plan plan = new Tokenization.Plan(sources, tok, options, out.toString());
        String key = plan.key();
        for (String name : List.of(TRAIN_FILE, VAL_FILE)) {
            AtomicFiles.write(out.resolve(name), channel -> {
                for (Path part : parts) {
                    try (FileChannel in = FileChannel.open(part.resolve(name))) {
                        for (long at = 0, size = in.size(); at < size; ) at += in.transferTo(at, size - at, channel);
                    }
                }
            });
        }
        Tokenization.Manifest m = Tokenization.manifest(plan, key, new Tokenization.Progress(key, PIECE_CHARS, true,
                train, val, sources.size(), 0, counts));
        Json.write(out.resolve(MANIFEST_FILE), m);
        return new Prepared(out, train, val, plan.dtype(), sources.size(), skipped(m), false, false);
    }

    /** Lists, checks and scans the inputs, leaving out the files in {@code out} (null for none). */
    static Tokenization.Plan plan(List<Path> inputs, Tokenizer tok, CorpusOptions options,
                                  Tokenization.Settings settings, Path out) {
        Path skip = out == null ? null : out.toAbsolutePath().normalize();
        List<Path> files = listFiles(inputs).stream()
                .filter(f -> skip == null || !f.toAbsolutePath().normalize().startsWith(skip)).toList();
        List<Tokenization.Source> sources = files.parallelStream()
                .map(f -> Tokenization.scan(f, options.format().resolve(f), options, settings.maxRecord())).toList();
        String name = String.join(", ", inputs.stream().map(Path::toString).toList());
        if (sources.stream().allMatch(Tokenization.Source::isEmpty)) {
            throw new LumensparkException("corpus " + name + " has no text");
        }
        return new Tokenization.Plan(sources, tok, options, name);
    }

    /**
     * The files that preparing {@code inputs} reads, in the order their tokens are written: files as given, folders
     * walked recursively in path order without hidden names.
     *
     * @throws LumensparkException if an input is missing, not a file or folder, or a (partly) prepared token folder
     */
    public static List<Path> listFiles(List<Path> inputs) {
        if (inputs.isEmpty()) {
            throw new LumensparkException("no corpus files given");
        }
        List<Path> files = new ArrayList<>();
        for (Path in : inputs) {
            if (Files.isDirectory(in)) {
                if (isPrepared(in)) {
                    throw new LumensparkException(in + " is a prepared token folder (it holds manifest.json): train"
                            + " and eval take it as their only --data; it is not text to tokenize");
                }
                if (Files.exists(in.resolve(Tokenization.TRAIN_PARTIAL))) {
                    throw new LumensparkException(in + " is an unfinished prepare; rerun " + Home.command() + " data prepare"
                            + " to finish it");
                }
                try (Stream<Path> walk = Files.walk(in)) {
                    walk.filter(p -> Files.isRegularFile(p) && !isHidden(in, p)).sorted().forEach(files::add);
                } catch (IOException | UncheckedIOException e) {
                    throw new LumensparkException("cannot list folder " + in + ": " + e.getMessage(), e);
                }
            } else if (Files.isRegularFile(in)) {
                files.add(in);
            } else if (Files.exists(in)) {
                throw new LumensparkException("not a file or folder: " + in);
            } else {
                throw new LumensparkException("no such file: " + in);
            }
        }
        Map<Path, Path> seen = new HashMap<>();
        for (Path f : files) { // --data X --data X, or a folder and a file in it: the same text twice
            Path real;
            try {
                real = f.toRealPath();
            } catch (IOException e) {
                throw new LumensparkException("cannot read " + f + ": " + e.getMessage(), e);
            }
            Path first = seen.putIfAbsent(real, f);
            if (first != null) {
                throw new LumensparkException((first.equals(f) ? f + " is given twice"
                        : first + " and " + f + " are the same file") + "; give each file once");
            }
        }
        return files;
    }

    // Skips .git, .DS_Store and the like inside corpus folders.
    private static boolean isHidden(Path root, Path file) {
        for (Path part : root.relativize(file)) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    /** The cached splits in {@code dir}, or null when they are missing, incomplete or of another format. */
    private static TokenSplits reuse(Path dir, Tokenizer tok, TokenDtype dtype) {
        Path manifest = dir.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(manifest)) {
            return null;
        }
        try {
            Tokenization.Manifest m = Json.read(manifest, Tokenization.Manifest.class);
            boolean valid = m.format() == FORMAT && tok.name().equals(m.tokenizer()) && dtype.label().equals(m.dtype())
                    && sizesMatch(dir, m, dtype);
            return valid ? open(dir, dtype, true) : null;
        } catch (RuntimeException e) {
            return null; // unreadable cache: tokenize again
        }
    }

    private static TokenSplits open(Path dir, TokenDtype dtype, boolean reused) {
        TokenFile train = TokenFile.open(dir.resolve(TRAIN_FILE), dtype);
        try {
            return new TokenSplits(train, TokenFile.open(dir.resolve(VAL_FILE), dtype), dir, reused);
        } catch (RuntimeException e) {
            train.close();
            throw e;
        }
    }
}
