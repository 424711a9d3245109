package io.lumenspark.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TextPiecesTest {

    private static final Tokenizer TOK = Tokenizer.byName("gpt2");

    @Test
    void cutsOnlyWhereTokenizationCannotChange() {
        assertTrue(TextPieces.isSafeCut("ab\nCd", 3));      // "ab\n|Cd"
        assertTrue(TextPieces.isSafeCut("word next", 4));   // "word| next"
        assertFalse(TextPieces.isSafeCut("a\n\nB", 3));     // "a\n\n|B": the run "\n\n" must stay whole
        assertFalse(TextPieces.isSafeCut("a \nB", 3));      // "a \n|B"
        assertFalse(TextPieces.isSafeCut("ab\n B", 3));     // next is a space
        assertFalse(TextPieces.isSafeCut("a. b", 2));       // only after a letter or digit
        assertFalse(TextPieces.isSafeCut("ab  c", 3));      // "ab |" would end in whitespace
    }

    @Test
    void naiveCutAfterBlankLineWouldChangeTokens() {
        // Why the cut rule is stricter than "after any newline": the pre-tokenizer's \s+(?!\S) sees the end of text.
        String a = "Speak.\n\n";
        String b = "First Citizen:";
        int[] whole = TOK.encode(a + b);
        int[] naive = concat(TOK.encode(a), TOK.encode(b));
        assertFalse(java.util.Arrays.equals(whole, naive));
        assertArrayEquals(whole, TextPieces.encodeChunked(TOK, a + b, 4));
    }

    @Test
    void chunkedEncodingMatchesOnTrickyText() {
        String text = ("Hello world  and\n\n\nmore   text\n  indented\nline 42x\tTab\r\nWindows\n"
                + "naïve 日本語 🤖 ok\n"
                + "it's 'quoted' <|endoftext|>Next doc\n").repeat(50);
        for (int piece : new int[] {3, 10, 37, 500}) {
            assertArrayEquals(TOK.encode(text), TextPieces.encodeChunked(TOK, text, piece), "piece " + piece);
        }
    }

    @Test
    void stopsAtCodePointLimitWithoutSplittingPairs() throws IOException {
        String text = "ab🤖cd"; // 5 code points, 6 chars
        StringReader in = new StringReader(text);
        List<String> first = new ArrayList<>();
        assertEquals(3, TextPieces.readPart(in, 3, 100, first::add));
        assertEquals(List.of("ab🤖"), first);
        List<String> rest = new ArrayList<>();
        assertEquals(2, TextPieces.readPart(in, Long.MAX_VALUE, 100, rest::add));
        assertEquals(List.of("cd"), rest);
    }

    @Test
    void keepsTextWithoutSafeCutsWhole() throws IOException {
        String text = "x".repeat(1000) + "\n\n" + "y".repeat(1000);
        List<String> pieces = new ArrayList<>();
        TextPieces.readPart(new StringReader(text), Long.MAX_VALUE, 100, pieces::add);
        assertEquals(List.of(text), pieces);
    }

    @Test
    void piecesConcatenateToInput() throws IOException {
        String text = "The quick brown fox\njumps over the lazy dog. ".repeat(20_000);
        List<String> pieces = new ArrayList<>();
        TextPieces.readPart(new StringReader(text), Long.MAX_VALUE, 1000, pieces::add);
        assertEquals(text, String.join("", pieces));
        assertTrue(pieces.size() > 500);
        assertTrue(pieces.stream().allMatch(p -> p.length() <= 1100), "pieces stay near the target size");
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
