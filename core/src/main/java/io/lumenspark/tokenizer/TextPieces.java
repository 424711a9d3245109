package io.lumenspark.tokenizer;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Cuts a character stream into pieces that a GPT-2-style tokenizer can encode independently: the concatenation of
 * the pieces' encodings equals the encoding of the whole text. That lets large files be tokenized in parallel and
 * without holding them in memory.
 *
 * <p>GPT-2's pre-tokenizer ({@code 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}) never joins
 * characters across these two kinds of position, and has no look-behind, so cutting there changes nothing:
 * <ul>
 *   <li>after a single {@code '\n'} that follows a non-space and precedes a non-space ({@code "x\n|Y"}). A longer
 *       whitespace run must not be cut: {@code "\n\nY"} encodes as {@code "\n","\n","Y"}, but a piece ending in
 *       {@code "\n\n"} would encode the run as one token;</li>
 *   <li>before a space that follows an ASCII letter or digit ({@code "word| next"}): no pre-token spans from a
 *       non-space into whitespace.</li>
 * </ul>
 *
 * <p>Text with no safe position for {@link #maxPiece} characters (a huge run of letters without spaces, say) is
 * cut there anyway, between two code points, so that memory stays bounded; only such a cut may change the tokens
 * next to it.
 */
public final class TextPieces {

    /** Characters read per call; also the granularity of the code-point limit. */
    private static final int BLOCK = 1 << 16;

    private TextPieces() {
    }

    /** The longest piece for a target size: 16 times the target, and at least 64 Ki characters. */
    public static int maxPiece(int target) {
        return (int) Math.min(Integer.MAX_VALUE - 16, Math.max(16L * target, BLOCK));
    }

    /**
     * Encodes text in independent pieces of about {@code pieceChars} characters, in parallel: the same ids as
     * {@code tok.encode(text)} for a GPT-2-style tokenizer, which is what cutting a corpus into pieces relies on
     * (tests check it).
     */
    public static int[] encodeChunked(Tokenizer tok, String text, int pieceChars) {
        List<String> pieces = new ArrayList<>();
        try {
            readPart(new StringReader(text), Long.MAX_VALUE, pieceChars, pieces::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return pieces.parallelStream().map(tok::encode).flatMapToInt(Arrays::stream).toArray();
    }

    /**
     * Reads up to {@code maxCodePoints} code points (or to the end) from {@code in} and hands them to {@code out}
     * as pieces of roughly {@code target} characters, cut only at safe positions (so a piece may be longer when
     * the text has none, up to {@link #maxPiece}). Surrogate pairs are never split. Returns the number of code
     * points read.
     */
    public static long readPart(Reader in, long maxCodePoints, int target, Consumer<String> out) throws IOException {
        char[] buf = new char[BLOCK + 1];
        StringBuilder text = new StringBuilder();
        int checked = 0; // cut positions in text below this are known to be unsafe
        int maxPiece = maxPiece(target);
        long seen = 0;
        while (seen < maxCodePoints) {
            int got = in.read(buf, 0, (int) Math.min(BLOCK, maxCodePoints - seen));
            if (got < 0) {
                break;
            }
            if (got > 0 && Character.isHighSurrogate(buf[got - 1])) {
                int low = in.read(); // complete the pair: it is one code point
                if (low >= 0) {
                    buf[got++] = (char) low;
                }
            }
            seen += codePoints(buf, got);
            text.append(buf, 0, got);

            int start = 0;
            while (text.length() - start > target) {
                int cut = findCut(text, Math.max(start + 2, checked), start + target);
                if (cut < 0 && text.length() - start <= maxPiece) {
                    checked = text.length();
                    break;
                }
                if (cut < 0 || cut - start > maxPiece) { // no safe cut in reach: bound the piece anyway
                    cut = start + maxPiece;
                    if (Character.isHighSurrogate(text.charAt(cut - 1))) {
                        cut--;
                    }
                }
                out.accept(text.substring(start, cut));
                start = cut;
                checked = 0;
            }
            if (start > 0) {
                text.delete(0, start);
                checked = Math.max(0, checked - start);
            }
        }
        if (!text.isEmpty()) {
            out.accept(text.toString());
        }
        return seen;
    }

    /**
     * The last safe cut in {@code [from, preferred]}, else the first one after {@code preferred}, else -1. A cut at
     * {@code i} needs the characters {@code i-2 .. i}, so {@code i} ranges over {@code [from, length-1]}, and
     * {@code from} must lie at least 2 past the start of the current piece.
     */
    static int findCut(CharSequence s, int from, int preferred) {
        int last = s.length() - 1;
        for (int i = Math.min(preferred, last); i >= from; i--) {
            if (isSafeCut(s, i)) {
                return i;
            }
        }
        for (int i = Math.max(preferred + 1, from); i <= last; i++) {
            if (isSafeCut(s, i)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether text can be cut before index {@code i} (needs {@code 2 <= i < s.length()}). */
    static boolean isSafeCut(CharSequence s, int i) {
        char prev = s.charAt(i - 1);
        char next = s.charAt(i);
        if (prev == '\n') {
            return isPlainNonSpace(s.charAt(i - 2)) && isPlainNonSpace(next);
        }
        return next == ' ' && prev < 0x80 && Character.isLetterOrDigit(prev);
    }

    // Conservative: characters that are non-whitespace under every definition of \s.
    private static boolean isPlainNonSpace(char c) {
        return (c > ' ' && c < 0x7F) || Character.isLetterOrDigit(c);
    }

    /** Code points in {@code buf[0, n)}, counting a surrogate pair once. */
    public static int codePoints(char[] buf, int n) {
        int lows = 0;
        for (int i = 0; i < n; i++) {
            if (Character.isLowSurrogate(buf[i])) {
                lows++;
            }
        }
        return n - lows;
    }
}
