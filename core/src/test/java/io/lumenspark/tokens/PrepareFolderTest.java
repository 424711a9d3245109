package io.lumenspark.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.corpus.RecordReader;
import io.lumenspark.io.Json;
import io.lumenspark.tokenizer.TextPieces;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static io.lumenspark.tokens.TokenCorpusTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code data prepare}: formats, splits, manifest, thread-count independence, resuming, bounds and errors. */
class PrepareFolderTest {

    private static final Tokenizer GPT2 = Tokenizer.byName("gpt2");
    private static final int EOS = GPT2.eosId();

    @TempDir
    Path tmp;

    /** A vocabulary over 65,536: one id per code point, shifted past 65,536 so that uint16 could not hold them. */
    static final class WideTokenizer implements Tokenizer {
        @Override public String name() { return "wide-test"; }
        @Override public int vocabSize() { return 70_000; }
        @Override public int eosId() { return 69_999; }
        @Override public String decode(int[] ids) { throw new UnsupportedOperationException(); }
        @Override public byte[] decodeBytes(int[] ids) { throw new UnsupportedOperationException(); }

        @Override
        public int[] encode(String text) {
            return text.codePoints().map(c -> 66_000 + c % 3_000).toArray();
        }
    }

    private Path write(String name, String text) throws IOException {
        Path p = tmp.resolve(name);
        Files.createDirectories(p.getParent());
        return Files.writeString(p, text, StandardCharsets.UTF_8);
    }

    private static CorpusOptions options(double valFraction) {
        return new CorpusOptions(CorpusFormat.AUTO, "text", "text", valFraction, false);
    }

    private static TokenCorpus.Prepared prepare(List<Path> inputs, CorpusOptions o, Path out) {
        return TokenCorpus.prepareFolder(inputs, GPT2, o, out, false, 2);
    }

    private static int[] uint16(Path file) throws IOException {
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int[] ids = new int[bb.remaining() / 2];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = Short.toUnsignedInt(bb.getShort());
        }
        return ids;
    }

    /** Each document encoded and followed by end-of-text. */
    private static int[] docs(String... texts) {
        return Stream.of(texts).flatMapToInt(t -> IntStream.concat(IntStream.of(GPT2.encode(t)), IntStream.of(EOS)))
                .toArray();
    }

    private static void assertSameFiles(Path a, Path b) throws IOException {
        for (String name : List.of("train.bin", "val.bin", "manifest.json")) {
            assertArrayEquals(Files.readAllBytes(a.resolve(name)), Files.readAllBytes(b.resolve(name)), name);
        }
    }

    @Test
    void textMatchesTheTrainingCacheAndTheManifestDescribesIt() throws Exception {
        Path a = write("in/a.txt", "It was the best of times, it was the worst of times.\n".repeat(30));
        Path b = write("in/b.md", "Call me Ishmael. Some years ago, never mind how long precisely.\n".repeat(20));
        Path out = tmp.resolve("out");
        TokenCorpus.Prepared p = prepare(List.of(tmp.resolve("in")), options(0.1), out);
        assertFalse(p.alreadyComplete() || p.resumed());
        assertEquals(2, p.sources());

        // The same engine as train's cache: identical tokens, and the same content key.
        try (TokenSplits cached = TokenCorpus.prepare(List.of(a, b), GPT2, 0.1, tmp.resolve("cache"))) {
            assertArrayEquals(Files.readAllBytes(cached.dir().resolve("train.bin")),
                    Files.readAllBytes(out.resolve("train.bin")));
            assertArrayEquals(Files.readAllBytes(cached.dir().resolve("val.bin")),
                    Files.readAllBytes(out.resolve("val.bin")));
            JsonNode m = Json.read(out.resolve("manifest.json"));
            assertEquals(cached.dir().getFileName().toString(), m.get("key").asText());
        }

        JsonNode m = Json.read(out.resolve("manifest.json"));
        assertEquals(1, m.get("format").asInt());
        assertEquals("gpt2", m.get("tokenizer").asText());
        assertEquals(50257, m.get("vocabSize").asInt());
        assertEquals("uint16", m.get("dtype").asText());
        assertEquals(0.1, m.get("valFraction").asDouble());
        assertEquals("auto", m.get("inputFormat").asText());
        assertFalse(m.has("field") || m.has("column"), "no record files: no field or column");
        assertEquals(p.trainTokens(), m.get("trainTokens").asLong());
        assertEquals(Files.size(out.resolve("train.bin")), 2 * p.trainTokens());
        assertEquals(Files.size(out.resolve("val.bin")), 2 * p.valTokens());
        JsonNode src = m.get("sources").get(0);
        assertEquals(a.toString(), src.get("path").asText());
        assertEquals(Files.size(a), src.get("bytes").asLong());
        assertEquals("text", src.get("format").asText());
        assertEquals(java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(a))), src.get("sha256").asText());
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(".lock", "manifest.json", "train.bin", "val.bin"),
                    files.map(f -> f.getFileName().toString()).sorted().toList(), "no partial files left");
        }

        // An output folder inside an input folder is not read as input, so the rerun finds the same corpus.
        Path inner = tmp.resolve("in/tokens");
        assertFalse(prepare(List.of(tmp.resolve("in")), options(0.1), inner).alreadyComplete());
        assertTrue(prepare(List.of(tmp.resolve("in")), options(0.1), inner).alreadyComplete());
        assertSameFiles(out, inner);
    }

    @Test
    void jsonLinesGiveOneDocumentPerRecordAndHoldOutTheLastRecords() throws Exception {
        // 10 records (blank lines do not count), so floor(10 * 0.2) = 2 go to validation.
        StringBuilder jsonl = new StringBuilder("\uFEFF");
        for (int i = 0; i < 10; i++) {
            jsonl.append("{\"id\": ").append(i).append(", \"body\": \"Record ").append(i).append(" says caf\\u00e9 ")
                    .append("\\ud83e\\udd16\\nend\"}").append(i % 3 == 0 ? "\r\n" : "\n").append(i == 4 ? "\n  \n" : "");
        }
        Path f = write("data.jsonl", jsonl.toString());
        Path out = tmp.resolve("out");
        CorpusOptions o = new CorpusOptions(CorpusFormat.AUTO, "body", "text", 0.2, false);
        TokenCorpus.Prepared p = prepare(List.of(f), o, out);

        String[] texts = IntStream.range(0, 10).mapToObj(i -> "Record " + i + " says café 🤖\nend").toArray(String[]::new);
        assertArrayEquals(docs(java.util.Arrays.copyOfRange(texts, 0, 8)), uint16(out.resolve("train.bin")));
        assertArrayEquals(docs(java.util.Arrays.copyOfRange(texts, 8, 10)), uint16(out.resolve("val.bin")));
        JsonNode m = Json.read(out.resolve("manifest.json"));
        assertEquals("body", m.get("field").asText());
        assertEquals("jsonl", m.get("sources").get(0).get("format").asText());
        assertEquals(10, m.get("sources").get(0).get("records").asLong());
        assertEquals(0, p.skippedRecords());
    }

    @Test
    void badJsonLinesAreNamedWithTheirLineOrSkippedAndCounted() throws IOException {
        Path f = write("data.jsonl", """
                {"text": "A good first record."}

                {"text": "A good third line."}
                {"txt": "misspelled field"}
                {"text": 42}
                not json at all
                [1, 2]
                {"text": "The last good one."}
                """);
        Path out = tmp.resolve("out");
        assertMessage(f + " line 4: no field 'text' (--skip-bad-records skips such records)",
                () -> prepare(List.of(f), options(0.2), out));
        assertFalse(Files.exists(out), "a failed prepare into a new folder leaves nothing behind");

        TokenCorpus.Prepared p = TokenCorpus.prepareFolder(List.of(f), GPT2,
                new CorpusOptions(CorpusFormat.JSONL, "text", "text", 0.2, true), out, false, 2);
        assertEquals(4, p.skippedRecords());
        // 7 records, so the last floor(7 * 0.2) = 1 is validation; bad records are skipped where they stand.
        assertArrayEquals(docs("A good first record.", "A good third line."), uint16(out.resolve("train.bin")));
        assertArrayEquals(docs("The last good one."), uint16(out.resolve("val.bin")));
        JsonNode src = Json.read(out.resolve("manifest.json")).get("sources").get(0);
        assertEquals(7, src.get("records").asLong());
        assertEquals(4, src.get("skipped").asLong());

        for (String[] bad : new String[][] {
                {"{\"text\": 42}\n", "line 1: field 'text' is not a string"},
                {"{\"text\": \"ok\"}\nnot json\n", "line 2: not valid JSON (Unrecognized token 'not'"},
                {"[\"text\"]\n", "line 1: expected a JSON object, got array"},
                {"{\"text\": \"a\"} {\"text\": \"b\"}\n", "line 1: not valid JSON"}}) {
            Path g = write("bad.jsonl", bad[0]);
            assertMessage(g + " " + bad[1], () -> prepare(List.of(g), options(0), tmp.resolve("bad-out")));
        }
    }

    @Test
    void csvFollowsRfc4180() throws IOException {
        // Quoted commas, doubled quotes, newlines inside quotes, CRLF rows, a BOM, an empty line, a last row
        // without a line break.
        String csv = "\uFEFFid,text,note\r\n"
                + "1,\"Hello, world\",x\r\n"
                + "2,\"She said \"\"hi\"\"\",y\r\n"
                + "\r\n"
                + "3,\"line one\r\nline two\",z\r\n"
                + "4,plain text,\"\"\r\n"
                + "5,,empty text\r\n"
                + "6,\"last\nrow\",w";
        Path f = write("table.csv", csv);
        Path out = tmp.resolve("out");
        TokenCorpus.Prepared p = prepare(List.of(f), options(0.2), out);
        // 6 rows: floor(6 * 0.2) = 1 for validation; row 5's empty text gives no document.
        assertArrayEquals(docs("Hello, world", "She said \"hi\"", "line one\r\nline two", "plain text"),
                uint16(out.resolve("train.bin")));
        assertArrayEquals(docs("last\nrow"), uint16(out.resolve("val.bin")));
        assertEquals(0, p.skippedRecords());
        JsonNode m = Json.read(out.resolve("manifest.json"));
        assertEquals("text", m.get("column").asText());
        assertEquals(6, m.get("sources").get(0).get("records").asLong());

        Path noteOut = tmp.resolve("notes");
        TokenCorpus.prepareFolder(List.of(f), GPT2, new CorpusOptions(CorpusFormat.CSV, "text", "note", 0, false),
                noteOut, false, 1);
        assertArrayEquals(docs("x", "y", "z", "empty text", "w"), uint16(noteOut.resolve("train.bin")));
    }

    @Test
    void badCsvIsNamedWithItsLine() throws IOException {
        Path out = tmp.resolve("out");
        Path noColumn = write("a.csv", "id,body\n1,hello\n");
        assertMessage(noColumn + ": no column 'text' in the header (columns: id, body); choose one with --column",
                () -> prepare(List.of(noColumn), options(0), out));
        Path open = write("b.csv", "text\n\"fine\"\n\"never\nclosed\n");
        assertMessage(open + " line 3: a quoted field is never closed", () -> prepare(List.of(open), options(0), out));
        Path after = write("c.csv", "text\n\"quoted\"tail\n");
        assertMessage(after + " line 2: text after a closing quote", () -> prepare(List.of(after), options(0), out));
        Path fields = write("d.csv", "text,n\nok,1\n\"two\nlines\",2\nthree,fields,here\n");
        assertMessage(fields + " line 5: the row has 3 fields, the header 2 (--skip-bad-records",
                () -> prepare(List.of(fields), options(0), out));
        Path empty = write("e.csv", "");
        assertMessage("has no text", () -> prepare(List.of(empty), options(0), out));
        assertFalse(Files.exists(out));
    }

    @Test
    void largeVocabulariesAreWrittenAsUint32() throws IOException {
        Path f = write("t.txt", "abcdefghij".repeat(10));
        Path out = tmp.resolve("out");
        TokenCorpus.Prepared p = TokenCorpus.prepareFolder(List.of(f), new WideTokenizer(), options(0.1), out, false, 2);
        assertEquals(TokenDtype.UINT32, p.dtype());
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(out.resolve("train.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4 * 91, bb.remaining()); // 90 characters and end-of-text
        assertEquals(66_000 + 'a', bb.getInt(0));
        assertEquals(69_999, bb.getInt(4 * 90));
        assertEquals("uint32", Json.read(out.resolve("manifest.json")).get("dtype").asText());
        try (TokenSplits s = TokenCorpus.openPrepared(out, new WideTokenizer(), new WideTokenizer())) {
            assertEquals(66_000 + 'j', s.val().get(9));
        }
    }

    /** A corpus of all three formats, big enough for many pieces and progress records with small settings. */
    private List<Path> mixedCorpus() throws IOException {
        StringBuilder text = new StringBuilder();
        StringBuilder jsonl = new StringBuilder();
        StringBuilder csv = new StringBuilder("text\n");
        for (int i = 0; i < 300; i++) {
            text.append("Line ").append(i).append(" of the text, with words enough to cut.\n");
            jsonl.append("{\"text\": \"Record ").append(i).append(": the quick brown fox.\"}\n");
            csv.append("\"Row ").append(i).append(", jumping over\nthe lazy dog\"\n");
        }
        return List.of(write("mix/a.txt", text.toString()), write("mix/b.jsonl", jsonl.toString()),
                write("mix/c.csv", csv.toString()));
    }

    /** A started thread preparing corpus into out with tokenizer (on two threads), what it throws into thrown. */
    private static Thread prepareInThread(List<Path> corpus, Tokenizer tokenizer, Path out,
                                          Tokenization.Settings settings, AtomicReference<Throwable> thrown) {
        Thread job = new Thread(() -> {
            try {
                TokenCorpus.prepareFolder(corpus, tokenizer, options(0.1), out, false, settings);
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        job.start();
        return job;
    }

    private static Tokenization.Settings small(int threads) {
        return new Tokenization.Settings(threads, 200, 3_000, RecordReader.MAX_RECORD, -1, Long.MAX_VALUE);
    }

    @Test
    void theOutputDoesNotDependOnTheThreadCount() throws IOException {
        List<Path> corpus = mixedCorpus();
        Path one = tmp.resolve("one");
        Path three = tmp.resolve("three");
        TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), one, false, small(1));
        TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), three, false, small(3));
        assertSameFiles(one, three);
        Path defaults = tmp.resolve("defaults"); // large pieces: one per file
        TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), defaults, false, 2);
        assertSameFiles(one, defaults);
    }

    @Test
    void anInterruptedRunResumesToTheSameBytesWithoutRedoingWork() throws IOException {
        List<Path> corpus = mixedCorpus();
        Path whole = tmp.resolve("whole");
        TokenCorpusTest.CountingTokenizer fullCount = new TokenCorpusTest.CountingTokenizer();
        TokenCorpus.prepareFolder(corpus, fullCount, options(0.1), whole, false, small(2));

        for (int stopAfter : new int[] {0, 3, 9}) {
            Path out = tmp.resolve("interrupted-" + stopAfter);
            Tokenization.Settings failing = new Tokenization.Settings(2, 200, 3_000, RecordReader.MAX_RECORD,
                    stopAfter, Long.MAX_VALUE);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), out, false, failing));
            assertTrue(e.getMessage().contains("simulated interruption"), e.getMessage());
            assertFalse(Files.exists(out.resolve("manifest.json")), "no manifest: the folder is incomplete");
            assertTrue(Files.exists(out.resolve("train.bin.partial")));
            assertEquals(stopAfter > 0, Files.exists(out.resolve("progress.json")));
            if (stopAfter > 0) { // the files run past what the record promises: the rerun must drop that part
                JsonNode progress = Json.read(out.resolve("progress.json"));
                assertTrue(Files.size(out.resolve("train.bin.partial")) + Files.size(out.resolve("val.bin.partial"))
                        > 2 * (progress.get("trainTokens").asLong() + progress.get("valTokens").asLong()));
            }
            assertFalse(TokenCorpus.isPrepared(out));
            assertMessage("is an unfinished prepare", () -> TokenCorpus.prepare(List.of(out), GPT2, 0.1,
                    tmp.resolve("cache")));

            TokenCorpusTest.CountingTokenizer resumedCount = new TokenCorpusTest.CountingTokenizer();
            TokenCorpus.Prepared p = TokenCorpus.prepareFolder(corpus, resumedCount, options(0.1), out, false,
                    small(2));
            assertEquals(stopAfter > 0, p.resumed());
            assertSameFiles(whole, out);
            if (stopAfter > 0) {
                // Each progress record follows at least 3,000 characters of encoding; the rerun skips them.
                assertTrue(resumedCount.chars.get() <= fullCount.chars.get() - 3_000L * stopAfter,
                        resumedCount.chars + " of " + fullCount.chars);
            }
            assertFalse(Files.exists(out.resolve("progress.json")));
        }
    }

    /**
     * A thread interrupted while it waits for its encoders (a cancelled Spark task of spark prepare) stops as a
     * killed run does: the partial files and the progress record stay, and the rerun resumes from them.
     */
    @Test
    void anInterruptedThreadKeepsItsProgressForTheRerun() throws Exception {
        List<Path> corpus = mixedCorpus();
        Path whole = tmp.resolve("whole");
        TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), whole, false, small(2));
        CountDownLatch stuck = new CountDownLatch(1);
        Tokenizer stalling = new TokenCorpusTest.CountingTokenizer() {
            @Override
            public int[] encode(String text) {
                if (chars.get() > 12_000) { // after a few progress records (one per 3,000 characters)
                    stuck.countDown();
                    try {
                        Thread.sleep(60_000);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException("encoder interrupted", e);
                    }
                }
                return super.encode(text);
            }
        };
        Path out = tmp.resolve("interrupted");
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread job = prepareInThread(corpus, stalling, out, small(2), thrown);
        assertTrue(stuck.await(30, TimeUnit.SECONDS), "the encoder stalls");
        while (job.getState() != Thread.State.WAITING) Thread.sleep(1); // for the stalled piece
        job.interrupt();
        job.join(30_000);
        assertTrue(thrown.get() instanceof CancellationException, "stopped, not refused: " + thrown.get());
        assertTrue(Files.exists(out.resolve("progress.json")) && Files.exists(out.resolve("train.bin.partial")),
                "the work so far is kept");
        TokenCorpus.Prepared p = TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), out, false, small(2));
        assertTrue(p.resumed());
        assertSameFiles(whole, out);
    }

    /**
     * Interrupted while it writes rather than while it waits for an encoder (its channel closes, and writing the
     * progress record fails as a full disk would): still stopped as if killed, the files kept for the rerun. The
     * thread is interrupted as soon as it runs after some progress records, over several runs, since where it is
     * then (writing tokens, syncing them, writing the record, or back to waiting) is up to the scheduler.
     */
    @Test
    void aThreadInterruptedWhileWritingKeepsItsProgressToo() throws Exception {
        List<Path> corpus = mixedCorpus();
        Path whole = tmp.resolve("whole");
        TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), whole, false, small(2));
        int stopped = 0;
        for (int attempt = 0; attempt < 30 && stopped < 8; attempt++) {
            CountDownLatch underway = new CountDownLatch(1);
            Tokenizer counting = new TokenCorpusTest.CountingTokenizer() {
                @Override
                public int[] encode(String text) {
                    if (chars.get() > 6_000) underway.countDown(); // past a progress record or two
                    return super.encode(text);
                }
            };
            Path out = tmp.resolve("writing-" + attempt);
            AtomicReference<Throwable> thrown = new AtomicReference<>();
            // every other run with its progress bar, as `prepare` on a large corpus: the bar is closed on the way
            // out, and the progress library's close dropped the interrupt (spark prepare's stop test caught it)
            Tokenization.Settings s = small(2);
            if (attempt % 2 == 1) s = new Tokenization.Settings(s.threads(), s.pieceChars(), s.commitChars(),
                    s.maxRecord(), s.failAfterCommits(), 0);
            Thread job = prepareInThread(corpus, counting, out, s, thrown);
            assertTrue(underway.await(30, TimeUnit.SECONDS), "the run gets going");
            while (job.isAlive() && job.getState() != Thread.State.RUNNABLE) Thread.onSpinWait();
            job.interrupt();
            job.join(30_000);
            if (thrown.get() == null) { // it finished first
                assertTrue(Files.exists(out.resolve("manifest.json")));
                continue;
            }
            stopped++;
            assertTrue(thrown.get() instanceof CancellationException, "stopped, not refused: " + thrown.get());
            assertTrue(Files.exists(out.resolve("train.bin.partial")) || Files.exists(out.resolve("manifest.json")),
                    "the work so far is kept");
            TokenCorpus.prepareFolder(corpus, GPT2, options(0.1), out, false, small(2));
            assertSameFiles(whole, out);
        }
        assertTrue(stopped > 0, "every run finished before its interrupt");
    }

    /**
     * A run stopped while finishing, its files renamed but its manifest not yet written (where `spark prepare`'s stop
     * test often caught a part): the rerun, with force as a Spark part's is and without, writes the manifest of
     * those files without tokenizing again; and when a renamed file is missing or cut short, it starts over.
     */
    @Test
    void aRunStoppedAfterRenamingItsFilesIsFinishedByTheRerun() throws IOException {
        Path f = write("a.txt", "Some text that is long enough to hold out a tenth of it.\n".repeat(40));
        Path whole = tmp.resolve("whole");
        prepare(List.of(f), options(0.1), whole);
        for (String damage : List.of("none", "forced", "missing", "short")) {
            Path out = tmp.resolve(damage);
            prepare(List.of(f), options(0.1), out);
            JsonNode m = Json.read(out.resolve("manifest.json"));
            Files.delete(out.resolve("manifest.json")); // as finish leaves it stopped after its renames
            List<Tokenization.SourceCounts> counts = List.of(new Tokenization.SourceCounts(0, 0));
            Json.write(out.resolve("progress.json"), new Tokenization.Progress(m.get("key").asText(),
                    Tokenization.Settings.of(2).pieceChars(), true, m.get("trainTokens").asLong(),
                    m.get("valTokens").asLong(), 1, 0, counts));
            if (damage.equals("missing")) Files.delete(out.resolve("val.bin"));
            if (damage.equals("short")) Files.write(out.resolve("train.bin"), new byte[2]);
            TokenCorpusTest.CountingTokenizer tok = new TokenCorpusTest.CountingTokenizer();
            TokenCorpus.prepareFolder(List.of(f), tok, options(0.1), out, !damage.equals("none"), 2);
            assertSameFiles(whole, out);
            assertFalse(Files.exists(out.resolve("progress.json")), damage);
            assertEquals(damage.equals("missing") || damage.equals("short"), tok.chars.get() > 0,
                    damage + ": tokenized again only when a file is not as recorded");
            try (TokenSplits opened = TokenCorpus.openPrepared(out, GPT2, GPT2)) { // as a merge reads a part
                assertEquals(m.get("trainTokens").asLong(), opened.train().length(), damage);
            }
        }
    }

    @Test
    void rerunsAreNoOpsAndOtherArgumentsNeedForce() throws IOException {
        Path f = write("a.txt", "Some text that is long enough to hold out a tenth of it.\n".repeat(5));
        Path out = tmp.resolve("out");
        prepare(List.of(f), options(0.1), out);
        byte[] manifest = Files.readAllBytes(out.resolve("manifest.json"));

        TokenCorpusTest.CountingTokenizer tok = new TokenCorpusTest.CountingTokenizer();
        TokenCorpus.Prepared again = TokenCorpus.prepareFolder(List.of(f), tok, options(0.1), out, false, 2);
        assertTrue(again.alreadyComplete());
        assertEquals(0, tok.chars.get(), "nothing encoded");
        assertArrayEquals(manifest, Files.readAllBytes(out.resolve("manifest.json")));

        assertMessage(out + " already holds tokens prepared from other inputs or options; use --force",
                () -> prepare(List.of(f), options(0.2), out));
        TokenCorpus.Prepared forced = TokenCorpus.prepareFolder(List.of(f), GPT2, options(0.2), out, true, 2);
        assertFalse(forced.alreadyComplete());
        assertEquals(0.2, Json.read(out.resolve("manifest.json")).get("valFraction").asDouble());

        Path other = Files.createDirectories(tmp.resolve("other"));
        Files.writeString(other.resolve("notes.txt"), "mine");
        assertMessage("holds files that are not prepared tokens (notes.txt); choose a new or empty folder",
                () -> TokenCorpus.prepareFolder(List.of(f), GPT2, options(0.1), other, true, 2));
        assertEquals("mine", Files.readString(other.resolve("notes.txt")));

        Files.write(out.resolve("val.bin"), new byte[2]);
        assertMessage("is damaged", () -> prepare(List.of(f), options(0.2), out));
        assertMessage("is damaged", () -> TokenCorpus.openPrepared(out, GPT2, GPT2));
    }

    @Test
    void emptyCorporaAndBadOptionsAreClearErrors() throws IOException {
        Path out = tmp.resolve("out");
        Path empty = write("empty.txt", "");
        assertMessage("corpus " + empty + " has no text", () -> prepare(List.of(empty), options(0.1), out));
        Path emptyRecords = write("empty.jsonl", "{\"text\": \"\"}\n{\"text\": \"\"}\n");
        assertMessage("corpus " + emptyRecords + " has no text", () -> prepare(List.of(emptyRecords), options(0), out));
        assertFalse(Files.exists(out));
        assertMessage("no such file", () -> prepare(List.of(tmp.resolve("missing.txt")), options(0.1), out));
        assertMessage("--val-fraction must be between 0 and 0.5", () -> options(0.7));
        assertMessage("unknown --format 'xml' (expected auto, text, jsonl or csv)", () -> CorpusFormat.fromLabel("xml"));
        Path file = write("afile", "x");
        Path text = write("text.txt", "Some text.");
        assertMessage("--out " + file + " is a file, not a folder", () -> prepare(List.of(text), options(0), file));
    }

    @Test
    void memoryStaysBoundedWhateverTheInput() throws IOException {
        // 3 MB of text in 1,000-character pieces: thousands of pieces, but only a few may wait at once.
        Path big = write("big.txt", "The rain in Spain stays mainly in the plain.\n".repeat(70_000));
        Tokenization.Settings s = new Tokenization.Settings(2, 1_000, 1L << 40, 1_000, -1, Long.MAX_VALUE);
        Tokenization.Plan plan = TokenCorpus.plan(List.of(big), GPT2, options(0.1), s, null);
        Tokenization.Outcome r = Tokenization.run(tmp.resolve("out"), plan, s);
        assertTrue(r.maxPendingChars() > 1_000, "pieces were queued: " + r.maxPendingChars());
        assertTrue(r.maxPendingChars() <= s.pendingBudget() + 1_000 + TextPieces.maxPiece(1_000),
                "pending characters " + r.maxPendingChars());
        assertEquals(r.manifest().trainTokens() + r.manifest().valTokens(),
                GPT2.encode(Files.readString(big)).length + 2);

        // A record over the limit is refused, not read into memory.
        Path jsonl = write("long.jsonl", "{\"text\": \"" + "x".repeat(2_000) + "\"}\n");
        assertMessage(jsonl + " line 1: a line longer than 1000 bytes", () -> TokenCorpus.prepareFolder(
                List.of(jsonl), GPT2, options(0), tmp.resolve("o2"), false, s));
        Path csv = write("long.csv", "text\nshort\n\"" + "y\n".repeat(1_000) + "\"\n");
        assertMessage(csv + " line 3: a row longer than 1000 characters", () -> TokenCorpus.prepareFolder(
                List.of(csv), GPT2, options(0), tmp.resolve("o3"), false, s));
    }

    @Test
    void trainingReadsAPreparedFolderAsItIs() throws IOException {
        Path f = write("a.jsonl", "{\"text\": \"First document here.\"}\n".repeat(20));
        Path out = tmp.resolve("prepared");
        TokenCorpus.Prepared p = prepare(List.of(f), options(0.1), out);
        assertTrue(TokenCorpus.isPrepared(out));
        assertFalse(TokenCorpus.isPrepared(tmp));
        Path cache = tmp.resolve("cache");
        try (TokenSplits s = TokenCorpus.prepare(List.of(out), GPT2, 0.3, cache)) {
            assertEquals(out, s.dir());
            assertTrue(s.reused());
            assertEquals(p.trainTokens(), s.train().length());
            assertEquals(p.valTokens(), s.val().length());
            assertEquals(GPT2.encode("First document here.")[0], s.train().get(0));
        }
        assertFalse(Files.exists(cache), "nothing tokenized");

        assertMessage(out + " was prepared with tokenizer 'gpt2' (vocabulary 50257), but the model uses 'wide-test'"
                + " (vocabulary 70000)", () -> TokenCorpus.prepare(List.of(out), new WideTokenizer(), 0.1, cache));
        assertMessage("is a prepared token folder (it holds manifest.json): train and eval take it as their only"
                + " --data",
                () -> TokenCorpus.prepare(List.of(out, f), GPT2, 0.1, cache));
    }

    @Test
    void aStretchWithoutSafeCutsIsStillCutIntoBoundedPieces() throws IOException {
        String text = "x".repeat(300_000) + " tail";
        List<String> pieces = new java.util.ArrayList<>();
        TextPieces.readPart(new java.io.StringReader(text), Long.MAX_VALUE, 1_000, pieces::add);
        assertEquals(text, String.join("", pieces));
        assertTrue(pieces.size() >= 5, "pieces: " + pieces.size());
        assertTrue(pieces.stream().allMatch(s -> s.length() <= TextPieces.maxPiece(1_000)));
        assertThrows(LumensparkException.class, () -> CorpusFormat.fromLabel(""));
    }
}
