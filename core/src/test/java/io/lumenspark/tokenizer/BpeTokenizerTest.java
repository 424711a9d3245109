package io.lumenspark.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.lumenspark.tokens.ShakespeareTest;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Our GPT-2 BPE against jtokkit's (the reference), and decode(encode(s)) == s on arbitrary text. */
class BpeTokenizerTest {

    static final Encoding JTOKKIT = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    private static final BpeTokenizer GPT2 = Gpt2Tokenizer.instance();

    /** jtokkit's encoding, with literal {@code <|endoftext|>} as the special token (jtokkit refuses it in text). */
    static int[] reference(String text) {
        List<Integer> out = new ArrayList<>();
        int from = 0;
        while (true) {
            int at = text.indexOf(Tokenizer.EOS_TEXT, from);
            String part = text.substring(from, at < 0 ? text.length() : at);
            var ids = JTOKKIT.encodeOrdinary(part);
            for (int i = 0; i < ids.size(); i++) out.add(ids.get(i));
            if (at < 0) break;
            out.add(50256);
            from = at + Tokenizer.EOS_TEXT.length();
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Random text that exercises every branch of the pre-tokenizer: ASCII words and contractions, digits,
     * punctuation runs, whitespace runs of every kind (including Unicode spaces and control characters), accented and
     * combining characters, CJK, emoji (surrogate pairs), supplementary letters and the special token.
     */
    static String randomText(SplittableRandom rnd, int pieces) {
        String[] words = {"the", "The", "and", "of", "Hello", "world", "naïve", "café", "über", "Straße", "日本語",
                "русский", "ελληνικά", "עברית", "العربية", "हिन्दी", "😀", "👍🏽", "🤖🎉", "𝒜𝒷𝒸", "𐍈", "e\u0301",
                "a\u0308\u0323", "don't", "I'm", "we'll", "you're", "they've", "it'd", "'s", "'S", "''", "'ll",
                "1234567", "3.14", "Ⅻ", "½", "٣", "====", "...", "!?", "\"quoted\"", "(x)", "<|endoftext|>",
                "<|endoftext", "<|", "|>", "\t", "\r\n", "\u000b", "\f", "\u0085", "\u00a0", "\u2028", "\u3000",
                "\u0000", "\u0007", "\u001b[0m", "\ufeff", "\u200b", "\ufffd"};
        String[] gaps = {" ", "  ", "   ", "\n", "\n\n", " \n ", "\t", "", "", "", " \u00a0", "\u3000 "};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pieces; i++) {
            switch (rnd.nextInt(10)) {
                case 0 -> sb.appendCodePoint(randomCodePoint(rnd));
                case 1 -> sb.append(" ".repeat(rnd.nextInt(1, 6)));
                default -> sb.append(words[rnd.nextInt(words.length)]);
            }
            sb.append(gaps[rnd.nextInt(gaps.length)]);
        }
        return sb.toString();
    }

    /** Any Unicode scalar value (no lone surrogates), weighted towards the planes text uses. */
    static int randomCodePoint(SplittableRandom rnd) {
        int cp;
        do {
            cp = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(0x80);
                case 1 -> rnd.nextInt(0x80, 0x800);
                case 2 -> rnd.nextInt(0x800, 0x10000);
                default -> rnd.nextInt(0x10000, 0x110000);
            };
        } while (cp >= 0xD800 && cp <= 0xDFFF);
        return cp;
    }

    @Test
    void matchesJtokkitOnRandomText() {
        SplittableRandom rnd = new SplittableRandom(20240607);
        for (int i = 0; i < 3000; i++) {
            String text = randomText(rnd, rnd.nextInt(1, 60));
            assertArrayEquals(reference(text), GPT2.encode(text), () -> "text: " + escape(text));
        }
    }

    @Test
    void matchesJtokkitOnLongRuns() {
        // Pieces longer than the short-piece limit go through the heap-based merge.
        SplittableRandom rnd = new SplittableRandom(7);
        List<String> texts = new ArrayList<>(List.of("!".repeat(5000), " ".repeat(3000) + "x", "\n".repeat(2000),
                "a".repeat(4000), "ab".repeat(3000), "1".repeat(999), "😀".repeat(700), "=-".repeat(1500) + " ok",
                "Supercalifragilisticexpialidocious".repeat(50)));
        for (int i = 0; i < 200; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(49, 400);
            char[] alphabet = rnd.nextBoolean() ? "abcdefghijklmnopqrstuvwxyz".toCharArray() : "#$%&*+-/<=>@^_~".toCharArray();
            for (int k = 0; k < n; k++) sb.append(alphabet[rnd.nextInt(alphabet.length)]);
            texts.add(sb.toString());
        }
        for (String text : texts) assertArrayEquals(reference(text), GPT2.encode(text), () -> escape(text));
    }

    @Test
    void matchesJtokkitOnShakespeareLines() throws IOException {
        // The whole file's count and encoding are checked in ShakespeareTest; here line by line, every line.
        if (!Files.isRegularFile(ShakespeareTest.FILE)) return;
        String text = Files.readString(ShakespeareTest.FILE);
        for (String line : text.split("(?<=\n)")) assertArrayEquals(reference(line), GPT2.encode(line), line);
        assertArrayEquals(reference(text), GPT2.encode(text));
    }

    @Test
    void roundTripsArbitraryUnicode() {
        SplittableRandom rnd = new SplittableRandom(99);
        for (int i = 0; i < 3000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(0, 200);
            for (int k = 0; k < n; k++) sb.appendCodePoint(randomCodePoint(rnd));
            String s = rnd.nextBoolean() ? sb.toString() : randomText(rnd, rnd.nextInt(1, 40));
            assertEquals(s, GPT2.decode(GPT2.encode(s)), () -> escape(s));
        }
    }

    @Test
    void roundTripsInvalidUtf8ReadWithReplacement() {
        SplittableRandom rnd = new SplittableRandom(5);
        int replaced = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] bytes = new byte[rnd.nextInt(1, 120)];
            for (int k = 0; k < bytes.length; k++) {
                // mostly ASCII, with stray continuation bytes, truncated sequences and invalid lead bytes
                bytes[k] = (byte) (rnd.nextInt(4) == 0 ? rnd.nextInt(0x80, 0x100) : rnd.nextInt(0x20, 0x7F));
            }
            String s = new String(bytes, StandardCharsets.UTF_8);
            if (s.indexOf('\ufffd') >= 0) replaced++;
            int[] ids = GPT2.encode(s);
            assertEquals(s, GPT2.decode(ids));
            assertArrayEquals(reference(s), ids);
        }
        assertTrue(replaced > 1000, "the generator must produce malformed UTF-8: " + replaced);
    }

    @Test
    void cachedResultsEqualFreshOnes() {
        // The same pre-tokens many times over (served by the cache) against a text seen once.
        SplittableRandom rnd = new SplittableRandom(3);
        String text = randomText(rnd, 400);
        int[] first = GPT2.encode(text);
        for (int i = 0; i < 5; i++) assertArrayEquals(first, GPT2.encode(text));
        assertArrayEquals(reference(text), first);
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().forEach(cp -> sb.append(cp >= 0x20 && cp < 0x7F ? Character.toString(cp) : String.format("\\u{%x}", cp)));
        return sb.toString();
    }

    @Test
    void lonelySurrogatesEncodeLikeJavaStrings() {
        // Not valid Unicode, so no round trip; encoded like String.getBytes (as '?'), the same as jtokkit.
        for (String s : List.of("a\ud800b", "\udc00", "x \ud83d", "\ud83d\ud83d\ude00")) {
            assertArrayEquals(reference(s), GPT2.encode(s), escape(s));
            assertEquals(new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8), GPT2.decode(GPT2.encode(s)));
        }
        assertTrue(Arrays.stream(GPT2.encode("a\ud800b")).allMatch(id -> id < 50256));
    }

    @Test
    void malformedUtf8DecodesLikeHuggingFace() {
        // GPT-2 ids of single-byte tokens and what transformers.js 4.3.1 decoded them to (one U+FFFD per maximal
        // ill-formed part, as Rust's from_utf8_lossy in Hugging Face's tokenizers library); the JDK's decoder gives
        // one U+FFFD for the encoded surrogate ED A0 80 and for ED B6.
        String r = "\uFFFD";
        Object[][] cases = {
                {new int[]{64, 169, 254, 222, 65}, "a" + r + r + r + "b"}, // 61 ED A0 80 62
                {new int[]{169, 114, 220}, r + r + " "}, // ED B6 20
                {new int[]{156, 222, 32}, r + r + "A"}, // E0 80 41: overlong
                {new int[]{172, 253, 246}, r}, // F0 9F 98: cut short
                {new int[]{172, 253, 246, 32}, r + "A"},
                {new int[]{124, 107}, r + r}, // C0 AF
                {new int[]{176, 238, 222, 222}, r + r + r + r}, // F4 90 80 80: above U+10FFFF
                {new int[]{187, 186}, r + r}, // FF FE
                {new int[]{158, 224, 105, 158, 224}, "\u20AC" + r}, // E2 82 AC E2 82
                {new int[]{172, 253, 246, 222}, "\uD83D\uDE00"}, // F0 9F 98 80
        };
        for (Object[] c : cases) assertEquals(c[1], GPT2.decode((int[]) c[0]), () -> Arrays.toString((int[]) c[0]));
    }

    @Test
    void whiteSpaceIsUnicodeWhiteSpace() {
        // U+0085 is White_Space and U+FEFF is not, as in tiktoken (jtokkit) and Hugging Face's Rust library;
        // JavaScript's \s (so transformers.js) has it the other way round.
        for (String s : List.of("a\uFEFF'd", "\uFEFF'd x", "a\u0085'd", "a \u0085b", "x\u0085\u0085 y")) {
            assertArrayEquals(reference(s), GPT2.encode(s), escape(s));
        }
        assertArrayEquals(new int[]{64, 171, 119, 123, 6, 67}, GPT2.encode("a\uFEFF'd")); // "a", "\uFEFF'", "d"
    }
}
