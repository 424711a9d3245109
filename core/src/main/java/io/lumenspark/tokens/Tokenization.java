package io.lumenspark.tokens;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.corpus.RecordReader;
import io.lumenspark.io.Hashes;
import io.lumenspark.io.Json;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.tokenizer.TextPieces;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
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
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * The one implementation behind the token cache that {@code train} fills and {@code lumenspark data prepare}:
 * reads sources in order, cuts their documents into pieces ({@link TextPieces}), encodes the pieces on a pool of
 * threads and appends the ids in order to {@code train.bin.partial} and {@code val.bin.partial}.
 *
 * <p>Memory stays bounded whatever the corpus: at most about two pieces per thread wait for or undergo encoding,
 * a piece is at most {@link TextPieces#maxPiece} characters and a record at most {@link RecordReader#MAX_RECORD}.
 * The output depends only on the sources and options, never on the thread count.
 *
 * <p>Resuming: every {@code commitChars} characters the token files are forced to disk and {@code progress.json}
 * records the token counts and the position reached (source, and pieces within it). A rerun truncates the
 * files to those counts and goes on from there, re-reading (but not encoding) the part of that source before it.
 * When all is written the files are renamed to {@code train.bin} and {@code val.bin} and {@code manifest.json}
 * is written last, so a folder without the manifest is incomplete.
 */
final class Tokenization {

    static final int FORMAT = 1;
    static final String TRAIN_FILE = "train.bin";
    static final String VAL_FILE = "val.bin";
    static final String MANIFEST_FILE = "manifest.json";
    static final String TRAIN_PARTIAL = "train.bin.partial";
    static final String VAL_PARTIAL = "val.bin.partial";
    static final String PROGRESS_FILE = "progress.json";

    /** Characters per piece encoded by one task. */
    static final int PIECE_CHARS = 1 << 18;
    /** Characters encoded between two progress records. */
    static final long COMMIT_CHARS = 32L << 20;
    private static final long PROGRESS_MIN_BYTES = 8L << 20;

    private Tokenization() {
    }

    /**
     * How to run: tuning and test hooks.
     *
     * @param threads          encoding threads
     * @param pieceChars       characters per piece
     * @param commitChars      characters between progress records
     * @param maxRecord        largest record of a JSON lines or CSV file
     * @param failAfterCommits for tests: throw when about to record progress the (n+1)-th time; -1 never
     * @param progressBarBytes show a progress bar on stderr for corpora of at least this many bytes
     */
    record Settings(int threads, int pieceChars, long commitChars, int maxRecord, int failAfterCommits,
                    long progressBarBytes) {
        static Settings of(int threads) {
            return new Settings(threads, PIECE_CHARS, COMMIT_CHARS, RecordReader.MAX_RECORD, -1, PROGRESS_MIN_BYTES);
        }

        Settings withThreads(int n) {
            return new Settings(n, pieceChars, commitChars, maxRecord, failAfterCommits, progressBarBytes);
        }

        Settings withProgressBarBytes(long bytes) {
            return new Settings(threads, pieceChars, commitChars, maxRecord, failAfterCommits, bytes);
        }

        /** Characters that may wait for or undergo encoding at once: two pieces per thread. */
        long pendingBudget() {
            return 2L * threads * pieceChars;
        }
    }

    /** One input file as scanned before tokenizing: its format, hash, size, and code points or records. */
    record Source(Path path, CorpusFormat format, String sha256, long bytes, long codePoints, long records) {
        boolean isEmpty() {
            return format == CorpusFormat.TEXT ? codePoints == 0 : records == 0;
        }
    }

    /** Everything the output depends on, and its key: the hash of the content, tokenizer and options. */
    record Plan(List<Source> sources, Tokenizer tok, CorpusOptions options, String corpusName) {
        TokenDtype dtype() {
            return TokenDtype.forVocab(tok.vocabSize());
        }

        /**
         * Depends on content only, not on paths: a renamed copy of a corpus has the same key. For text files it is
         * the token cache's original key.
         */
        String key() {
            StringBuilder key = new StringBuilder("lumenspark-tokens/" + FORMAT + "\n")
                    .append(tok.name()).append('\n').append(options.valFraction()).append('\n');
            sources.forEach(s -> key.append(s.sha256()).append('\n'));
            if (sources.stream().anyMatch(s -> s.format() != CorpusFormat.TEXT)) {
                key.append("field=").append(options.field()).append("\ncolumn=").append(options.column())
                        .append("\nskip=").append(options.skipBadRecords()).append('\n');
                sources.forEach(s -> key.append(s.format().label()).append('\n'));
            }
            byte[] hash = Hashes.sha256().digest(key.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash).substring(0, 32);
        }
    }

    /** Content of {@code manifest.json}; the nullable fields are left out where they do not apply. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Manifest(int format, String key, String tokenizer, int vocabSize, String dtype, double valFraction,
                    String inputFormat, String field, String column, Boolean skipBadRecords,
                    long trainTokens, long valTokens, List<ManifestSource> sources) {
    }

    /**
     * One source in the manifest; {@code path} is where it was read. Records (read, skipped included) and skipped
     * records are given for JSON lines and CSV files.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record ManifestSource(String path, String sha256, long bytes, String format, Long records, Long skipped) {
    }

    /**
     * Content of {@code progress.json}: what is safely on disk. The position counts pieces, so it holds only for
     * the piece size it was made with.
     */
    record Progress(String key, int pieceChars, boolean complete, long trainTokens, long valTokens, int source,
                    long pieces, List<SourceCounts> counts) {
    }

    /** Records read and skipped in one source (0 and 0 for text files). */
    record SourceCounts(long records, long skipped) {
    }

    /** What a run did: the manifest written, whether it continued an interrupted run, and memory figures. */
    record Outcome(Manifest manifest, boolean resumed, long maxPendingChars, int commits) {
    }

    /** Hashes a file and counts its code points (text) or records (JSON lines, CSV). */
    static Source scan(Path file, CorpusFormat format, CorpusOptions options, int maxRecord) {
        MessageDigest sha = Hashes.sha256();
        long codePoints = 0;
        long records = 0;
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha)) {
            if (format == CorpusFormat.TEXT) {
                Reader text = new InputStreamReader(in, StandardCharsets.UTF_8);
                char[] buf = new char[1 << 16];
                for (int n; (n = text.read(buf)) >= 0; ) {
                    codePoints += TextPieces.codePoints(buf, n);
                }
            } else {
                try (RecordReader r = RecordReader.open(format, in, file, options, maxRecord)) {
                    while (r.next()) {
                        records++;
                    }
                }
            }
            return new Source(file, format, HexFormat.of().formatHex(sha.digest()), Files.size(file), codePoints,
                    records);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Tokenizes the plan into {@code dir}, going on from {@code progress.json} when it records an interrupted run
     * of the same plan, and writes the manifest last. The caller holds the folder's lock.
     *
     * @throws LumensparkException for unreadable or bad sources, a corpus without tokens, or a validation split
     *                             under 2 tokens (with a fraction above 0); the partial files are then deleted
     */
    static Outcome run(Path dir, Plan plan, Settings settings) {
        String key = plan.key();
        Progress progress = readProgress(dir, key);
        try {
            Files.createDirectories(dir);
            if (progress != null && !progress.complete() && (progress.pieceChars() != settings.pieceChars()
                    || !partialsHold(dir, progress, plan.dtype()))) {
                progress = null; // its position counts other pieces, or the files lost data it promised: start over
            }
            if (progress != null && progress.complete()) { // stopped while renaming: only the last steps are left
                if (finishedFilesHold(dir, progress, plan.dtype())) return finish(dir, plan, key, progress, true, 0, 0);
                progress = null; // a split's file is missing or of another size than recorded: start over
            }
            Progress done;
            Job job = new Job(dir, plan, key, settings, progress);
            try (job) {
                done = job.runToEnd();
            } catch (LumensparkException e) {
                // The input or the options are at fault, so this work cannot be resumed as it is. Crashes and
                // interruptions (any other exception) keep the files for a rerun; so does a write that failed
                // because the thread was interrupted (an interrupted channel closes: the progress record's write
                // then fails as if the disk had)
                if (Thread.currentThread().isInterrupted()) throw interrupted();
                deletePartials(dir);
                throw e;
            }
            return finish(dir, plan, key, done, job.resumed, job.maxPendingChars, job.commits);
        } catch (IOException | UncheckedIOException e) {
            if (Thread.currentThread().isInterrupted()) throw interrupted();
            throw new LumensparkException("cannot write the tokens in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** A run stopped by an interrupt (a cancelled Spark task): as if killed, its files kept for a rerun. */
    private static CancellationException interrupted() {
        return new CancellationException("tokenizing interrupted");
    }

    /** Renames the finished files into place and writes the manifest, then drops the progress record. */
    private static Outcome finish(Path dir, Plan plan, String key, Progress done, boolean resumed,
                                  long maxPending, int commits) throws IOException {
        for (String[] names : new String[][] {{TRAIN_PARTIAL, TRAIN_FILE}, {VAL_PARTIAL, VAL_FILE}}) {
            if (Files.exists(dir.resolve(names[0]))) { // absent if an earlier finish stopped after renaming it
                Files.move(dir.resolve(names[0]), dir.resolve(names[1]), StandardCopyOption.ATOMIC_MOVE,
                        StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Manifest manifest = manifest(plan, key, done);
        Json.write(dir.resolve(MANIFEST_FILE), manifest);
        Files.deleteIfExists(dir.resolve(PROGRESS_FILE));
        return new Outcome(manifest, resumed, maxPending, commits);
    }

    static Manifest manifest(Plan plan, String key, Progress done) {
        CorpusOptions o = plan.options();
        List<Source> sources = plan.sources();
        List<ManifestSource> ms = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            Source s = sources.get(i);
            boolean records = s.format() != CorpusFormat.TEXT;
            SourceCounts c = done.counts().get(i);
            ms.add(new ManifestSource(s.path().toString(), s.sha256(), s.bytes(), s.format().label(),
                    records ? c.records() : null, records ? c.skipped() : null));
        }
        boolean anyJsonl = sources.stream().anyMatch(s -> s.format() == CorpusFormat.JSONL);
        boolean anyCsv = sources.stream().anyMatch(s -> s.format() == CorpusFormat.CSV);
        Tokenizer tok = plan.tok();
        return new Manifest(FORMAT, key, tok.name(), tok.vocabSize(), plan.dtype().label(), o.valFraction(),
                o.format().label(), anyJsonl ? o.field() : null, anyCsv ? o.column() : null,
                anyJsonl || anyCsv ? o.skipBadRecords() : null, done.trainTokens(), done.valTokens(), ms);
    }

    /** The progress record in {@code dir} if it belongs to {@code key}, else null. */
    static Progress readProgress(Path dir, String key) {
        Path file = dir.resolve(PROGRESS_FILE);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            Progress p = Json.read(file, Progress.class);
            return key.equals(p.key()) && p.counts() != null ? p : null;
        } catch (RuntimeException e) {
            return null; // unreadable: start over
        }
    }

    /**
     * Whether each split of a complete record is on disk at exactly its recorded size: as its partial file, or as
     * its final file where an earlier finish renamed it already.
     */
    private static boolean finishedFilesHold(Path dir, Progress p, TokenDtype dtype) throws IOException {
        return holds(dir, TRAIN_PARTIAL, TRAIN_FILE, p.trainTokens() * dtype.bytes())
                && holds(dir, VAL_PARTIAL, VAL_FILE, p.valTokens() * dtype.bytes());
    }

    private static boolean holds(Path dir, String partial, String finished, long bytes) throws IOException {
        Path f = Files.exists(dir.resolve(partial)) ? dir.resolve(partial) : dir.resolve(finished);
        return Files.isRegularFile(f) && Files.size(f) == bytes;
    }

    private static boolean partialsHold(Path dir, Progress p, TokenDtype dtype) throws IOException {
        Path train = dir.resolve(TRAIN_PARTIAL);
        Path val = dir.resolve(VAL_PARTIAL);
        return Files.isRegularFile(train) && Files.isRegularFile(val)
                && Files.size(train) >= p.trainTokens() * dtype.bytes() && Files.size(val) >= p.valTokens() * dtype.bytes();
    }

    /** Deletes the partial files and progress record of an unfinished run. */
    static void deletePartials(Path dir) {
        try {
            for (String name : List.of(TRAIN_PARTIAL, VAL_PARTIAL, PROGRESS_FILE)) {
                Files.deleteIfExists(dir.resolve(name));
            }
        } catch (IOException e) {
            throw new LumensparkException("cannot delete partial files in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** One tokenizing run: reads the sources, encodes on the pool, writes in order, records progress. */
    private static final class Job implements AutoCloseable {
        private final Path dir;
        private final Plan plan;
        private final String key;
        private final Settings settings;
        final boolean resumed;
        private final FileChannel trainChannel;
        private final FileChannel valChannel;
        private final TokenSink train;
        private final TokenSink val;
        private final ExecutorService pool;
        private final ArrayDeque<Pending> pending = new ArrayDeque<>();
        private final List<SourceCounts> counts = new ArrayList<>();
        private ProgressBars.Bar bar;

        private Task task = new Task();
        private long pendingChars;
        long maxPendingChars;
        private long charsSinceCommit;
        int commits;
        // Reading position: the source being read, its next piece's number, and how many of its pieces to drop.
        private int source;
        private long ordinal;
        private long skip;
        private long bytesBefore;
        private CountingInputStream input;
        // Writing position: everything before piece donePieces of source doneSource is in the files.
        private int doneSource;
        private long donePieces;

        private record Pending(Task task, Future<int[][]> ids) {
        }

        Job(Path dir, Plan plan, String key, Settings settings, Progress start) throws IOException {
            this.dir = dir;
            this.plan = plan;
            this.key = key;
            this.settings = settings;
            this.resumed = start != null;
            TokenDtype dtype = plan.dtype();
            int vocab = plan.tok().vocabSize();
            if (start == null) {
                Files.deleteIfExists(dir.resolve(PROGRESS_FILE));
                trainChannel = FileChannel.open(dir.resolve(TRAIN_PARTIAL), CREATE, WRITE, TRUNCATE_EXISTING);
                valChannel = FileChannel.open(dir.resolve(VAL_PARTIAL), CREATE, WRITE, TRUNCATE_EXISTING);
                train = new TokenSink(trainChannel, dtype, vocab, 0);
                val = new TokenSink(valChannel, dtype, vocab, 0);
            } else { // drop whatever was written after the last record
                trainChannel = FileChannel.open(dir.resolve(TRAIN_PARTIAL), WRITE);
                valChannel = FileChannel.open(dir.resolve(VAL_PARTIAL), WRITE);
                train = new TokenSink(trainChannel, dtype, vocab, start.trainTokens());
                val = new TokenSink(valChannel, dtype, vocab, start.valTokens());
                counts.addAll(start.counts());
                doneSource = start.source();
                donePieces = start.pieces();
            }
            pool = Executors.newFixedThreadPool(settings.threads(),
                    Thread.ofPlatform().daemon().name("tokenize-", 0).factory());
        }

        /** Streams every source not yet written, then records completion; returns the final record. */
        Progress runToEnd() throws IOException {
            List<Source> sources = plan.sources();
            long totalBytes = sources.stream().mapToLong(Source::bytes).sum();
            for (int s = 0; s < doneSource; s++) {
                bytesBefore += sources.get(s).bytes();
            }
            if (totalBytes >= settings.progressBarBytes()) {
                bar = ProgressBars.open(resumed ? "Tokenizing (resumed)" : "Tokenizing", totalBytes, bytesBefore,
                        ProgressBars.Unit.MEGABYTES);
            }
            for (source = doneSource; source < sources.size(); source++) {
                Source s = sources.get(source);
                ordinal = 0;
                skip = source == doneSource ? donePieces : 0;
                try (CountingInputStream in = new CountingInputStream(Files.newInputStream(s.path()))) {
                    input = in;
                    counts.add(s.format() == CorpusFormat.TEXT ? readText(s, in) : readRecords(s, in));
                } catch (IOException e) {
                    throw new LumensparkException("cannot read " + s.path() + ": " + e.getMessage(), e);
                }
                bytesBefore += s.bytes();
            }
            submit();
            while (!pending.isEmpty()) {
                writeOldest();
            }
            if (bar != null) {
                bar.stepTo(totalBytes);
            }
            checkSplits();
            doneSource = sources.size();
            donePieces = 0;
            return commit(true);
        }

        private void checkSplits() {
            double valFraction = plan.options().valFraction();
            if (train.count + val.count == 0) {
                throw new LumensparkException("corpus " + plan.corpusName() + " has no text");
            }
            if (valFraction > 0 && val.count < 2) {
                throw new LumensparkException("the validation split has only "
                        + Words.count(val.count, "token") + " (needs at least 2): use a larger --val-fraction (now "
                        + valFraction + ") or more text");
            }
        }

        /** A text file: its first {@code 1 - valFraction} of code points (floor, like nanoGPT), then the rest. */
        private SourceCounts readText(Source s, InputStream in) throws IOException {
            long trainCodePoints = (long) (s.codePoints() * (1 - plan.options().valFraction()));
            Reader text = new InputStreamReader(in, StandardCharsets.UTF_8); // malformed bytes become U+FFFD
            int target = settings.pieceChars();
            if (TextPieces.readPart(text, trainCodePoints, target, t -> piece(t, false)) > 0) {
                piece(null, false);
            }
            if (TextPieces.readPart(text, Long.MAX_VALUE, target, t -> piece(t, true)) > 0) {
                piece(null, true);
            }
            return new SourceCounts(0, 0);
        }

        /** A record file: its last floor(records * valFraction) records are validation, the others training. */
        private SourceCounts readRecords(Source s, InputStream in) throws IOException {
            CorpusOptions o = plan.options();
            long trainRecords = s.records() - (long) (s.records() * o.valFraction());
            long index = 0;
            long skipped = 0;
            try (RecordReader r = RecordReader.open(s.format(), in, s.path(), o, settings.maxRecord())) {
                while (r.next()) {
                    boolean isVal = index++ >= trainRecords;
                    String text;
                    try {
                        text = r.text();
                    } catch (RecordReader.BadRecordException e) {
                        if (!o.skipBadRecords()) {
                            throw RecordReader.error(s.path(), r.line(), e.getMessage()
                                    + " (--skip-bad-records skips such records)");
                        }
                        skipped++;
                        continue;
                    }
                    if (text.length() <= settings.pieceChars()) { // what readPart would do, without its buffer
                        if (!text.isEmpty()) {
                            piece(text, isVal);
                            piece(null, isVal);
                        }
                    } else if (TextPieces.readPart(new StringReader(text), Long.MAX_VALUE, settings.pieceChars(),
                            t -> piece(t, isVal)) > 0) {
                        piece(null, isVal);
                    }
                }
            }
            return new SourceCounts(index, skipped);
        }

        /** The next piece of the current source: text, or null for the end of a document. */
        private void piece(String text, boolean isVal) {
            if (ordinal++ < skip) {
                return; // written before an interruption
            }
            task.add(text, isVal);
            if (task.chars >= settings.pieceChars()) {
                submit();
            }
            if (bar != null) {
                bar.stepTo(bytesBefore + input.count);
            }
        }

        private void submit() {
            if (task.texts.isEmpty()) {
                return;
            }
            Task t = task;
            task = new Task();
            t.endSource = source;
            t.endPieces = ordinal;
            Tokenizer tok = plan.tok();
            pending.add(new Pending(t, pool.submit(() -> t.encode(tok))));
            pendingChars += t.chars;
            maxPendingChars = Math.max(maxPendingChars, pendingChars);
            while (pendingChars > settings.pendingBudget()) {
                writeOldest();
            }
        }

        private void writeOldest() {
            Pending p = pending.removeFirst();
            int[][] ids = await(p.ids());
            for (int i = 0; i < ids.length; i++) {
                (p.task().isVal.get(i) ? val : train).write(ids[i]);
            }
            pendingChars -= p.task().chars;
            charsSinceCommit += p.task().chars;
            doneSource = p.task().endSource;
            donePieces = p.task().endPieces;
            if (charsSinceCommit >= settings.commitChars()) {
                commit(false);
            }
        }

        /** Forces the token files to disk, then records how far they go. */
        private Progress commit(boolean complete) {
            train.flush();
            val.flush();
            if (!complete && settings.failAfterCommits() >= 0 && commits >= settings.failAfterCommits()) {
                // as if killed here: tokens past the last record are in the files, which a rerun must drop
                throw new IllegalStateException("simulated interruption after " + commits + " progress records");
            }
            try {
                trainChannel.force(false);
                valChannel.force(false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Progress p = new Progress(key, settings.pieceChars(), complete, train.count, val.count, doneSource, donePieces,
                    List.copyOf(counts.subList(0, doneSource)));
            Json.write(dir.resolve(PROGRESS_FILE), p);
            commits++;
            charsSinceCommit = 0;
            return p;
        }

        private static int[][] await(Future<int[][]> f) {
            try {
                return f.get();
            } catch (ExecutionException e) {
                switch (e.getCause()) {
                    case RuntimeException r -> throw r;
                    case Error r -> throw r;
                    default -> throw new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) { // e.g. a cancelled Spark task: stopped as if killed, files kept
                Thread.currentThread().interrupt();
                throw interrupted();
            }
        }

        @Override
        public void close() throws IOException {
            pool.shutdownNow();
            if (bar != null) {
                bar.close();
            }
            try (trainChannel; valChannel) {
                // closes both, even if one fails
            }
        }
    }

    /** Consecutive pieces encoded by one thread: about {@code pieceChars} characters in all. */
    private static final class Task {
        final List<String> texts = new ArrayList<>(); // null: end of a document
        final List<Boolean> isVal = new ArrayList<>();
        long chars;
        int endSource;
        long endPieces;

        void add(String text, boolean val) {
            texts.add(text);
            isVal.add(val);
            chars += text == null ? 1 : text.length();
        }

        int[][] encode(Tokenizer tok) {
            int[][] ids = new int[texts.size()][];
            for (int i = 0; i < ids.length; i++) {
                String text = texts.get(i);
                ids[i] = text == null ? new int[] {tok.eosId()} : tok.encode(text);
            }
            return ids;
        }
    }

    /** Appends tokens to a channel, at the end of its first {@code count} tokens, as little-endian uint16/32. */
    private static final class TokenSink {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private final TokenDtype dtype;
        private final int vocabSize;
        long count;

        TokenSink(FileChannel channel, TokenDtype dtype, int vocabSize, long count) throws IOException {
            this.channel = channel;
            this.dtype = dtype;
            this.vocabSize = vocabSize;
            this.count = count;
            channel.truncate(count * dtype.bytes());
            channel.position(count * dtype.bytes());
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

    /** Counts the bytes read, for the progress bar. */
    private static final class CountingInputStream extends FilterInputStream {
        volatile long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count += n;
            }
            return n;
        }
    }
}
