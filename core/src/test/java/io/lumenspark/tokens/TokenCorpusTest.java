package io.lumenspark.tokens;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lumenspark.LumensparkException;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenCorpusTest {

    private static final Tokenizer GPT2 = Tokenizer.byName("gpt2");

    @TempDir
    Path tmp;

    /** GPT-2, counting encode calls and the characters encoded, to tell how much work a run did. */
    static class CountingTokenizer implements Tokenizer {
        final AtomicInteger encodes = new AtomicInteger();
        final AtomicLong chars = new AtomicLong();

        @Override public String name() { return GPT2.name(); }
        @Override public int vocabSize() { return GPT2.vocabSize(); }
        @Override public int eosId() { return GPT2.eosId(); }
        @Override public String decode(int[] ids) { return GPT2.decode(ids); }
        @Override public byte[] decodeBytes(int[] ids) { return GPT2.decodeBytes(ids); }

        @Override
        public int[] encode(String text) {
            encodes.incrementAndGet();
            chars.addAndGet(text.length());
            return GPT2.encode(text);
        }
    }

    private Path write(String name, String text) throws IOException {
        Path p = tmp.resolve(name);
        Files.createDirectories(p.getParent());
        return Files.writeString(p, text, StandardCharsets.UTF_8);
    }

    private static int[] all(TokenFile f) {
        int[] out = new int[(int) f.length()];
        f.copy(0, out.length, out, 0);
        return out;
    }

    private static int[] tokens(String... parts) {
        return Stream.of(parts).map(p -> p == null ? new int[] {GPT2.eosId()} : GPT2.encode(p))
                .flatMapToInt(IntStream::of).toArray();
    }

    @Test
    void splitsEachFileAndSeparatesDocuments() throws IOException {
        Path a = write("a.txt", "0123456789");
        Path b = write("b.txt", "Hello there, world!\n");
        Path cache = tmp.resolve("cache");
        try (TokenSplits s = TokenCorpus.prepare(List.of(a, b), GPT2, 0.25, cache)) {
            // floor(10 * 0.75) = 7 and floor(20 * 0.75) = 15 characters go to training.
            assertArrayEquals(tokens("0123456", null, "Hello there, wo", null), all(s.train()));
            assertArrayEquals(tokens("789", null, "rld!\n", null), all(s.val()));
            assertEquals(cache, s.dir().getParent());
        }
    }

    @Test
    void reusesCacheWithoutTokenizingAgain() throws IOException {
        Path f = write("text.txt", "It was the best of times, it was the worst of times.\n".repeat(200));
        Path cache = tmp.resolve("cache");
        CountingTokenizer tok = new CountingTokenizer();
        int[] train1;
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), tok, 0.1, cache)) {
            assertFalse(s.reused());
            train1 = all(s.train());
        }
        assertTrue(tok.encodes.get() > 0);
        tok.encodes.set(0);

        // Same content under another name: path-independent key, so still a hit.
        Path copy = Files.copy(f, tmp.resolve("renamed.txt"));
        try (TokenSplits s = TokenCorpus.prepare(List.of(copy), tok, 0.1, cache)) {
            assertTrue(s.reused());
            assertArrayEquals(train1, all(s.train()));
        }
        assertEquals(0, tok.encodes.get(), "second call must not tokenize");

        // A different fraction or changed content is a different corpus.
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), tok, 0.2, cache)) {
            assertFalse(s.reused());
        }
        try (Stream<Path> dirs = Files.list(cache)) {
            assertEquals(2, dirs.count());
        }
    }

    @Test
    void rebuildsAnIncompleteCache() throws IOException {
        Path f = write("text.txt", "Some text to tokenize, some more text.\n".repeat(10));
        Path cache = tmp.resolve("cache");
        Path dir;
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), GPT2, 0.1, cache)) {
            dir = s.dir();
        }
        Files.write(dir.resolve(TokenCorpus.TRAIN_FILE), new byte[6]); // truncated by a crash, say
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), GPT2, 0.1, cache)) {
            assertFalse(s.reused());
            assertTrue(s.train().length() > 3);
        }
    }

    @Test
    void writesLittleEndianUint16AndManifest() throws IOException {
        Path f = write("t.txt", "Hello, world! Hello, world!\n");
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), GPT2, 0.0, tmp.resolve("cache"))) {
            byte[] raw = Files.readAllBytes(s.dir().resolve(TokenCorpus.TRAIN_FILE));
            int[] expected = tokens("Hello, world! Hello, world!\n", null);
            assertEquals(expected.length * 2, raw.length);
            ByteBuffer bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            for (int id : expected) {
                assertEquals(id, Short.toUnsignedInt(bb.getShort()));
            }
            assertEquals(0, s.val().length(), "fraction 0: no validation tokens");

            JsonNode m = new ObjectMapper().readTree(s.dir().resolve(TokenCorpus.MANIFEST_FILE).toFile());
            assertEquals("gpt2", m.get("tokenizer").asText());
            assertEquals("uint16", m.get("dtype").asText());
            assertEquals(expected.length, m.get("trainTokens").asLong());
            assertEquals(0, m.get("valTokens").asLong());
            assertEquals(Files.size(f), m.get("sources").get(0).get("bytes").asLong());
            assertEquals(64, m.get("sources").get(0).get("sha256").asText().length());
        }
        try (Stream<Path> files = Files.walk(tmp.resolve("cache"))) {
            assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")), "no temporary files left");
        }
    }

    @Test
    void readsFoldersRecursivelyInPathOrder() throws IOException {
        write("corpus/b.txt", "Bravo");
        write("corpus/a/z.txt", "Alpha");
        write("corpus/c.txt", "");
        write("corpus/.hidden", "Hidden");
        write("corpus/.git/objects", "Git");
        try (TokenSplits s = TokenCorpus.prepare(List.of(tmp.resolve("corpus")), GPT2, 0.0, tmp.resolve("cache"))) {
            assertArrayEquals(tokens("Alpha", null, "Bravo", null), all(s.train()));
        }
    }

    @Test
    void replacesMalformedUtf8() throws IOException {
        Path f = tmp.resolve("bad.txt");
        Files.write(f, new byte[] {'a', (byte) 0xFF, 'b', (byte) 0xC3}); // stray byte, truncated sequence
        try (TokenSplits s = TokenCorpus.prepare(List.of(f), GPT2, 0.0, tmp.resolve("cache"))) {
            assertArrayEquals(tokens("a\uFFFDb\uFFFD", null), all(s.train()));
        }
    }

    @Test
    void explainsBadInput() throws IOException {
        Path cache = tmp.resolve("cache");
        Path missing = tmp.resolve("nope.txt");
        assertMessage("no such file: " + missing, () -> TokenCorpus.prepare(List.of(missing), GPT2, 0.1, cache));

        Path empty = write("empty.txt", "");
        assertMessage("corpus " + empty + " has no text", () -> TokenCorpus.prepare(List.of(empty), GPT2, 0.1, cache));
        Path emptyDir = Files.createDirectories(tmp.resolve("emptydir"));
        assertMessage("has no text", () -> TokenCorpus.prepare(List.of(emptyDir), GPT2, 0.1, cache));

        for (double bad : new double[] {-0.1, 0.6, Double.NaN}) {
            assertMessage("--val-fraction must be between 0 and 0.5",
                    () -> TokenCorpus.prepare(List.of(empty), GPT2, bad, cache));
        }

        // Any non-empty validation part yields at least 2 tokens (text + <|endoftext|>); this one rounds to empty.
        Path tiny = write("tiny.txt", "Hello world, this is a short text.");
        assertMessage("the validation split has only 0 tokens (needs at least 2): use a larger --val-fraction",
                () -> TokenCorpus.prepare(List.of(tiny), GPT2, 1e-18, cache));
    }

    static void assertMessage(String expectedPart, org.junit.jupiter.api.function.Executable call) {
        LumensparkException e = assertThrows(LumensparkException.class, call);
        assertTrue(e.getMessage().contains(expectedPart), "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one-line message");
    }
}
