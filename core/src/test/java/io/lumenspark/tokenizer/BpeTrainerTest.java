package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BpeTrainerTest {

    private static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    /** A corpus folder: two text files with the special token between documents, and a hidden file to skip. */
    private static Path corpus(Path dir) throws IOException {
        SplittableRandom rnd = new SplittableRandom(42);
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            a.append(BpeTokenizerTest.randomText(rnd, 30)).append(" the people of the united states\n");
            b.append("It was the best of times, it was the worst of times. ").append(i).append("<|endoftext|>");
        }
        Path folder = dir.resolve("corpus");
        Files.createDirectories(folder.resolve(".git"));
        Files.writeString(folder.resolve("a.txt"), a);
        Files.writeString(folder.resolve("b.txt"), b);
        Files.writeString(folder.resolve(".git").resolve("HEAD"), "zzzzqqqq ".repeat(5000));
        return folder;
    }

    @Test
    void learnsFrequentWordsAndRoundTrips(@TempDir Path dir) throws IOException {
        BpeTokenizer tok = new BpeTrainer(600, 2, List.of("<pad>"), 2, QUIET).train(List.of(corpus(dir)));
        assertEquals(600, tok.vocabSize());
        assertEquals(598, tok.eosId()); // after the merges: <|endoftext|>, then the extra special tokens
        assertArrayEquals(new int[]{599}, tok.encode("<pad>"));
        assertEquals(1, tok.encode(" people").length, "a frequent word becomes one token");
        assertEquals(1, tok.encode(" times").length);
        assertEquals("Ġthe", ByteLevel.toChars(tok.tokenBytes(tok.encode(" the")[0])));
        for (int id = 0; id < 598; id++) {
            String t = new String(tok.tokenBytes(id), StandardCharsets.ISO_8859_1);
            assertFalse(t.contains("zzzz"), "learned from a hidden file: " + t);
        }
        // the first 256 ids are the bytes in GPT-2's order
        for (int id = 0; id < 256; id++) {
            assertArrayEquals(Gpt2Tokenizer.instance().tokenBytes(id), tok.tokenBytes(id));
        }
        SplittableRandom rnd = new SplittableRandom(8);
        for (int i = 0; i < 500; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = rnd.nextInt(100); k > 0; k--) sb.appendCodePoint(BpeTokenizerTest.randomCodePoint(rnd));
            String s = i % 2 == 0 ? sb.toString() : BpeTokenizerTest.randomText(rnd, 30);
            assertEquals(s, tok.decode(tok.encode(s)), () -> BpeTokenizerTest.escape(s));
        }
    }

    @Test
    void trainingIsDeterministicForAnyThreadCount(@TempDir Path dir) throws IOException {
        Path folder = corpus(dir);
        BpeTokenizer one = new BpeTrainer(500, 2, List.of(), 1, QUIET).train(List.of(folder));
        BpeTokenizer two = new BpeTrainer(500, 2, List.of(), 2, QUIET).train(List.of(folder));
        assertEquals(one.name(), two.name());
        assertEquals(one.merges().length, two.merges().length);
        for (int i = 0; i < one.merges().length; i++) assertArrayEquals(one.merges()[i], two.merges()[i]);
    }

    @Test
    void mergesTheMostFrequentPairFirst(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("t.txt");
        Files.writeString(file, "xy ".repeat(50) + "qz ".repeat(20) + "xy qz");
        BpeTokenizer tok = new BpeTrainer(300, 1, List.of(), 1, QUIET).train(List.of(file));
        // pairs: "Ġx" 51, "xy" 51 (ties broken by the lower left id: 'x' < 'Ġ' in GPT-2's byte order), ...
        assertEquals("x y", ByteLevel.toChars(tok.tokenBytes(tok.merges()[0][0])) + " "
                + ByteLevel.toChars(tok.tokenBytes(tok.merges()[0][1])));
        assertEquals(1, tok.encode(" xy").length);
        assertEquals(1, tok.encode(" qz").length);
    }

    /** Merges name their two parts by text, e.g. "aa a". */
    private static List<String> mergeTexts(BpeTokenizer tok) {
        return Arrays.stream(tok.merges()).map(m -> ByteLevel.toChars(tok.tokenBytes(m[0])) + " "
                + ByteLevel.toChars(tok.tokenBytes(m[1]))).toList();
    }

    @Test
    void overlappingPairsMergeLeftToRight(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("t.txt");
        Files.writeString(file, "aaaa\naaaa\naaaa\naaa\naaa\naaaaa"); // the newlines are pre-tokens of their own
        // (a, a) occurs 3*3 + 2*2 + 4 = 17 times; left to right, "aaaa" becomes [aa, aa], "aaa" [aa, a] and
        // "aaaaa" [aa, aa, a]. Then (aa, aa) occurs 3 + 1 times and (aa, a) 2 + 1: "aaaa" is merged, which makes
        // "aaaaa" [aaaa, a]. Then (aa, a) occurs 2 times and (aaaa, a) once.
        BpeTokenizer tok = new BpeTrainer(1000, 1, List.of(), 1, QUIET).train(List.of(file));
        assertEquals(List.of("a a", "aa aa", "aa a", "aaaa a"), mergeTexts(tok));
        assertEquals(256 + 4 + 1, tok.vocabSize());
        BpeTokenizer twice = new BpeTrainer(1000, 2, List.of(), 1, QUIET).train(List.of(file));
        assertEquals(List.of("a a", "aa aa", "aa a"), mergeTexts(twice));
    }

    @Test
    void oneLongPreTokenIsMerged(@TempDir Path dir) throws IOException {
        // Text without spaces is one pre-token: here 200,000 letters.
        SplittableRandom rnd = new SplittableRandom(3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 200_000; i++) sb.append((char) ('a' + rnd.nextInt(10)));
        String text = sb.toString();
        Path file = dir.resolve("t.txt");
        Files.writeString(file, text);
        BpeTokenizer tok = new BpeTrainer(400, 2, List.of(), 2, QUIET).train(List.of(file));
        assertEquals(400, tok.vocabSize());
        // the first merge is the most frequent pair of letters (ties: the lower ids, alphabetical for letters)
        long[][] pairs = new long[10][10];
        for (int i = 0; i + 1 < text.length(); i++) pairs[text.charAt(i) - 'a'][text.charAt(i + 1) - 'a']++;
        int best = 0;
        for (int p = 1; p < 100; p++) if (pairs[p / 10][p % 10] > pairs[best / 10][best % 10]) best = p;
        assertEquals((char) ('a' + best / 10) + " " + (char) ('a' + best % 10), mergeTexts(tok).getFirst());
        int[] ids = tok.encode(text);
        // 143 merges: the 100 letter pairs and some triples, so most tokens are longer than a letter
        assertTrue(ids.length < text.length() * 0.6, "merged tokens: " + ids.length);
        assertEquals(text, tok.decode(ids));
    }

    @Test
    void specialTokensInTheCorpusAreNotLearned(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("t.txt");
        Files.writeString(file, "It was the best of times.<|endoftext|>".repeat(200) + "<pad>".repeat(50));
        BpeTokenizer tok = new BpeTrainer(400, 2, List.of("<pad>"), 1, QUIET).train(List.of(file));
        for (int id = 0; id < tok.eosId(); id++) {
            String t = new String(tok.tokenBytes(id), StandardCharsets.ISO_8859_1);
            assertFalse(t.contains("endof") || t.contains("<|") || t.contains("pad"), "learned from a special token: " + t);
        }
        assertArrayEquals(new int[]{tok.eosId()}, tok.encode("<|endoftext|>"));
    }

    @Test
    void minFrequencyStopsEarly(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("t.txt");
        Files.writeString(file, "abcdefg hijklmn");
        BpeTokenizer tok = new BpeTrainer(1000, 2, List.of(), 1, QUIET).train(List.of(file));
        assertEquals(257, tok.vocabSize(), "no pair occurs twice: only the bytes and <|endoftext|>");
        assertEquals(0, tok.merges().length);
    }

    @Test
    void badOptionsAndInputsAreClearErrors(@TempDir Path dir) throws IOException {
        var small = assertThrows(LumensparkException.class, () -> new BpeTrainer(256, 2, List.of(), 1, QUIET));
        assertTrue(small.getMessage().contains("--vocab-size must be in 257.."), small.getMessage());
        var freq = assertThrows(LumensparkException.class, () -> new BpeTrainer(300, 0, List.of(), 1, QUIET));
        assertTrue(freq.getMessage().contains("--min-frequency"), freq.getMessage());
        var empty = assertThrows(LumensparkException.class, () -> new BpeTrainer(300, 1, List.of(""), 1, QUIET));
        assertTrue(empty.getMessage().contains("must not be empty"), empty.getMessage());
        BpeTrainer trainer = new BpeTrainer(300, 1, List.of(), 1, QUIET);
        var missing = assertThrows(LumensparkException.class, () -> trainer.train(List.of(dir.resolve("nope.txt"))));
        assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());
        Files.writeString(dir.resolve("blank.txt"), "<|endoftext|>");
        var blank = assertThrows(LumensparkException.class, () -> trainer.train(List.of(dir.resolve("blank.txt"))));
        assertTrue(blank.getMessage().contains("has no text"), blank.getMessage());
    }

    @Test
    void invalidUtf8IsReadWithReplacement(@TempDir Path dir) throws IOException {
        byte[] bytes = new byte[3000];
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) (i % 7 == 0 ? rnd.nextInt(0x80, 0x100) : 'a' + i % 5);
        Path file = dir.resolve("bad.txt");
        Files.write(file, bytes);
        BpeTokenizer tok = new BpeTrainer(300, 2, List.of(), 1, QUIET).train(List.of(file));
        String text = new String(bytes, StandardCharsets.UTF_8);
        assertEquals(text, tok.decode(tok.encode(text)));
        assertTrue(Arrays.stream(tok.merges()).anyMatch(m -> tok.vocabSize() > 257));
    }
}
