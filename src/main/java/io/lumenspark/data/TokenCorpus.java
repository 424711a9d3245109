package io.lumenspark.data;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * Prepares text for training the way nanoGPT does: each file's first {@code 1 - valFraction} of its characters
 * (Unicode code points) go to the training split and the rest to validation, each part followed by
 * {@code <|endoftext|>}. The tokens are written once to a cache folder keyed by the content, tokenizer and
 * fraction, and memory-mapped from there on every later run.
 *
 * <p>Cache layout: {@code <cacheDir>/<key>/train.bin}, {@code val.bin} (little-endian uint16, or uint32 for
 * vocabularies over 65,536) and {@code manifest.json}, written last, so a folder without it is incomplete.
 */
public final class TokenCorpus {

    static final int FORMAT = 1;
    static final String TRAIN_FILE = "train.bin";
    static final String VAL_FILE = "val.bin";
    static final String MANIFEST_FILE = "manifest.json";

    /** Characters per piece encoded by one task. */
    static final int PIECE_CHARS = 1 << 18;
    private static final long PROGRESS_MIN_BYTES = 8L << 20;

    private TokenCorpus() {
    }

    /** One input file as scanned before tokenizing. */
    record Source(Path path, String sha256, long bytes, long chars, long codePoints) {
    }

    /** Content of {@code manifest.json}. */
    record Manifest(int format, String tokenizer, int vocabSize, String dtype, double valFraction,
                    long trainTokens, long valTokens, List<ManifestSource> sources) {
    }

    /** One source in the manifest; {@code path} is where it was read when the cache was made. */
    record ManifestSource(String path, String sha256, long bytes) {
    }

    /**
     * Tokenizes {@code inputs} into training and validation splits, or reuses the cached result of an earlier call
     * on the same content.
     *
     * @param inputs      UTF-8 text files (malformed bytes become U+FFFD) or folders, whose regular files are read
     *                    recursively in path order, skipping hidden names (starting with '.')
     * @param tok         the tokenizer
     * @param valFraction share of each file's characters, taken from its end, used for validation; in [0, 0.5]
     * @param cacheDir    root of the token cache
     * @return the splits, memory-mapped from the cache; the caller closes them
     * @throws LumensparkException for missing files, a corpus without text, a validation split under 2 tokens
     *                             (when valFraction is above 0), a fraction out of range, or I/O errors
     */
    public static TokenSplits prepare(List<Path> inputs, Tokenizer tok, double valFraction, Path cacheDir) {
        if (!(valFraction >= 0 && valFraction <= 0.5)) {
            throw new LumensparkException("--val-fraction must be between 0 and 0.5, got " + valFraction);
        }
        List<Source> sources = listFiles(inputs).parallelStream().map(TokenCorpus::scan).toList();
        if (sources.stream().mapToLong(Source::codePoints).sum() == 0) {
            throw new LumensparkException("corpus " + describe(inputs) + " has no text");
        }
        TokenDtype dtype = TokenDtype.forVocab(tok.vocabSize());
        Path dir = cacheDir.resolve(cacheKey(tok, valFraction, sources));
        TokenSplits cached = reuse(dir, tok, dtype);
        if (cached != null) {
            return cached;
        }
        try {
            Manifest manifest = tokenize(sources, tok, valFraction, dtype, dir);
            Json.write(dir.resolve(MANIFEST_FILE), manifest); // written last: its presence marks a complete cache
        } catch (UncheckedIOException e) {
            throw new LumensparkException("cannot write the token cache in " + dir + ": "
                    + e.getCause().getMessage(), e);
        }
        return open(dir, dtype, false);
    }

    /** Encodes text in independent pieces of about {@code pieceChars} characters, in parallel (for tests). */
    static int[] encodeChunked(Tokenizer tok, String text, int pieceChars) {
        List<String> pieces = new ArrayList<>();
        try {
            TextPieces.readPart(new StringReader(text), Long.MAX_VALUE, pieceChars, pieces::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return pieces.parallelStream().map(tok::encode).flatMapToInt(Arrays::stream).toArray();
    }

    private static Manifest tokenize(List<Source> sources, Tokenizer tok, double valFraction, TokenDtype dtype,
                                     Path dir) {
        long[] counts = new long[2];
        // Both splits stream to temporary files; each is renamed into place only if everything succeeds.
        AtomicFiles.write(dir.resolve(TRAIN_FILE), trainOut -> AtomicFiles.write(dir.resolve(VAL_FILE), valOut -> {
            TokenSink train = new TokenSink(trainOut, dtype, tok.vocabSize());
            TokenSink val = new TokenSink(valOut, dtype, tok.vocabSize());
            encodeSources(sources, tok, valFraction, train, val);
            train.flush();
            val.flush();
            if (valFraction > 0 && val.count < 2) {
                throw new LumensparkException("the validation split has only " + val.count + " token"
                        + (val.count == 1 ? "" : "s") + " (needs at least 2): use a larger --val-fraction (now "
                        + valFraction + ") or more text");
            }
            counts[0] = train.count;
            counts[1] = val.count;
        }));
        List<ManifestSource> ms = sources.stream()
                .map(s -> new ManifestSource(s.path().toString(), s.sha256(), s.bytes())).toList();
        return new Manifest(FORMAT, tok.name(), tok.vocabSize(), dtype.label(), valFraction, counts[0], counts[1], ms);
    }

    private static void encodeSources(List<Source> sources, Tokenizer tok, double valFraction, TokenSink train,
                                      TokenSink val) {
        long totalBytes = sources.stream().mapToLong(Source::bytes).sum();
        long totalChars = sources.stream().mapToLong(Source::chars).sum();
        try (ProgressBar bar = totalBytes > PROGRESS_MIN_BYTES ? progressBar(totalChars) : null) {
            Batch batch = new Batch(tok, train, val, bar);
            for (Source s : sources) {
                long trainCodePoints = (long) (s.codePoints() * (1 - valFraction)); // floor, like nanoGPT
                try (Reader in = reader(s.path())) {
                    if (TextPieces.readPart(in, trainCodePoints, PIECE_CHARS, t -> batch.add(t, false)) > 0) {
                        batch.add(null, false);
                    }
                    if (TextPieces.readPart(in, Long.MAX_VALUE, PIECE_CHARS, t -> batch.add(t, true)) > 0) {
                        batch.add(null, true);
                    }
                } catch (IOException e) {
                    throw new LumensparkException("cannot read " + s.path() + ": " + e.getMessage(), e);
                }
            }
            batch.flush();
        }
    }

    private static ProgressBar progressBar(long totalChars) {
        return new ProgressBarBuilder().setTaskName("Tokenizing").setInitialMax(totalChars)
                .setUnit("M chars", 1_000_000).setUpdateIntervalMillis(500).build();
    }

    /** Pieces waiting to be encoded; encodes them in parallel and writes them in order. */
    private static final class Batch {
        private record Piece(String text, boolean val) { // text null: end of a document
        }

        private final Tokenizer tok;
        private final TokenSink train;
        private final TokenSink val;
        private final ProgressBar bar;
        // A few pieces per core keeps every core busy while holding only a few MB of text.
        private final long maxChars = 2L * PIECE_CHARS * Runtime.getRuntime().availableProcessors();
        private final List<Piece> pieces = new ArrayList<>();
        private long chars;

        Batch(Tokenizer tok, TokenSink train, TokenSink val, ProgressBar bar) {
            this.tok = tok;
            this.train = train;
            this.val = val;
            this.bar = bar;
        }

        void add(String text, boolean isVal) {
            pieces.add(new Piece(text, isVal));
            chars += text == null ? 0 : text.length();
            if (chars >= maxChars) {
                flush();
            }
        }

        void flush() {
            int[][] ids = pieces.parallelStream()
                    .map(p -> p.text() == null ? new int[] {tok.eosId()} : tok.encode(p.text()))
                    .toArray(int[][]::new);
            for (int i = 0; i < ids.length; i++) {
                (pieces.get(i).val() ? val : train).write(ids[i]);
            }
            if (bar != null) {
                bar.stepBy(chars);
            }
            pieces.clear();
            chars = 0;
        }
    }

    /** Appends tokens to a channel as little-endian uint16 or uint32. */
    private static final class TokenSink {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private final TokenDtype dtype;
        private final int vocabSize;
        long count;

        TokenSink(FileChannel channel, TokenDtype dtype, int vocabSize) {
            this.channel = channel;
            this.dtype = dtype;
            this.vocabSize = vocabSize;
        }

        void write(int[] ids) {
            for (int id : ids) {
                if (id < 0 || id >= vocabSize) { // would be silently truncated to uint16
                    throw new IllegalStateException("tokenizer produced id " + id + " outside its vocabulary");
                }
                if (buffer.remaining() < 4) {
                    flush();
                }
                if (dtype == TokenDtype.UINT16) {
                    buffer.putShort((short) id);
                } else {
                    buffer.putInt(id);
                }
            }
            count += ids.length;
        }

        void flush() {
            try {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                buffer.clear();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static List<Path> listFiles(List<Path> inputs) {
        if (inputs.isEmpty()) {
            throw new LumensparkException("no corpus files given");
        }
        List<Path> files = new ArrayList<>();
        for (Path in : inputs) {
            if (Files.isDirectory(in)) {
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

    private static String describe(List<Path> inputs) {
        return inputs.size() == 1 ? inputs.getFirst().toString() : inputs.toString();
    }

    private static Reader reader(Path file) throws IOException {
        // This constructor replaces malformed UTF-8 with U+FFFD instead of failing.
        return new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8);
    }

    /** Hashes a file and counts its characters. */
    private static Source scan(Path file) {
        MessageDigest sha = sha256();
        long chars = 0;
        long codePoints = 0;
        try (Reader in = new InputStreamReader(new DigestInputStream(Files.newInputStream(file), sha),
                StandardCharsets.UTF_8)) {
            char[] buf = new char[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                chars += n;
                codePoints += TextPieces.codePoints(buf, n);
            }
            return new Source(file, HexFormat.of().formatHex(sha.digest()), Files.size(file), chars, codePoints);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Depends on content only, not on paths: a renamed copy of a corpus reuses its tokens. */
    private static String cacheKey(Tokenizer tok, double valFraction, List<Source> sources) {
        MessageDigest sha = sha256();
        StringBuilder key = new StringBuilder("lumenspark-tokens/" + FORMAT + "\n")
                .append(tok.name()).append('\n').append(valFraction).append('\n');
        sources.forEach(s -> key.append(s.sha256()).append('\n'));
        return HexFormat.of().formatHex(sha.digest(key.toString().getBytes(StandardCharsets.UTF_8))).substring(0, 32);
    }

    /** The cached splits in {@code dir}, or null when they are missing, incomplete or of another format. */
    private static TokenSplits reuse(Path dir, Tokenizer tok, TokenDtype dtype) {
        Path manifest = dir.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(manifest)) {
            return null;
        }
        try {
            Manifest m = Json.read(manifest, Manifest.class);
            boolean valid = m.format() == FORMAT && tok.name().equals(m.tokenizer()) && dtype.label().equals(m.dtype())
                    && Files.size(dir.resolve(TRAIN_FILE)) == m.trainTokens() * dtype.bytes()
                    && Files.size(dir.resolve(VAL_FILE)) == m.valTokens() * dtype.bytes();
            return valid ? open(dir, dtype, true) : null;
        } catch (IOException | RuntimeException e) {
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

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }
}
