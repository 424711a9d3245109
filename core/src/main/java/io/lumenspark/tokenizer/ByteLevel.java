package io.lumenspark.tokenizer;

import java.util.Arrays;

/**
 * The fixed parts of GPT-2-style byte-level BPE: the pre-tokenizer that cuts text into pieces BPE never merges
 * across, and the printable stand-in character of each byte that Hugging Face's vocab.json and merges.txt use
 * (token bytes back to text: {@link Utf8Decoder}).
 *
 * <p>The pre-tokenizer matches the pattern
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+} with Unicode character
 * classes (as tiktoken and jtokkit compile it), written out by hand because a regular expression is several times
 * slower. Positions are code points: a lone surrogate counts as "other".
 */
final class ByteLevel {

    /** Character classes of the pattern. */
    static final byte LETTER = 0, NUMBER = 1, SPACE = 2, OTHER = 3;

    private static final byte[] ASCII_CLASS = new byte[128];
    /** The character standing for each byte in Hugging Face's files, and the byte behind each such character. */
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final short[] CHAR_TO_BYTE = new short[512];

    static {
        for (int c = 0; c < 128; c++) ASCII_CLASS[c] = classify(c);
        Arrays.fill(CHAR_TO_BYTE, (short) -1);
        // Printable Latin-1 bytes stand for themselves; the others (controls, space, 127-160, soft hyphen) are
        // given the characters from U+0100 on, in byte order.
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (printable ? b : next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {
    }

    /** The pattern's class of a code point: {@code \p{L}}, {@code \p{N}}, {@code \s} (Unicode White_Space) or other. */
    static byte classOf(int cp) {
        return cp < 128 ? ASCII_CLASS[cp] : classify(cp);
    }

    private static byte classify(int cp) {
        int type = Character.getType(cp);
        return switch (type) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> SPACE;
            default -> (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 ? SPACE : OTHER;
        };
    }

    /** The character standing for byte b (0..255) in vocab.json and merges.txt. */
    static char byteChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a vocab.json character stands for, or -1 if it stands for none. */
    static int charByte(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The token's bytes written with the stand-in characters (Hugging Face's form of a token). */
    static String toChars(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(out);
    }

    /** The bytes a Hugging Face token string stands for, or null if it has a character that stands for no byte. */
    static byte[] fromChars(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < out.length; i++) {
            int b = charByte(token.charAt(i));
            if (b < 0) return null;
            out[i] = (byte) b;
        }
        return out;
    }

    /**
     * The end of the pre-token that starts at {@code start}, looking no further than {@code end} (which the
     * pattern sees as the end of the text).
     */
    static int pieceEnd(String s, int start, int end) {
        int cp = s.codePointAt(start);
        int cls = classOf(cp);
        int i = start + Character.charCount(cp);
        if (cp == '\'' && i < end) {
            int contraction = contractionEnd(s, i, end);
            if (contraction > 0) return contraction;
        }
        if (cp == ' ' && i < end) {
            int nextCp = s.codePointAt(i);
            int nextCls = classOf(nextCp);
            if (nextCls != SPACE) return runEnd(s, i, end, nextCls); // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+"
        }
        if (cls != SPACE) return runEnd(s, start, end, cls);
        int run = runEnd(s, start, end, SPACE);
        if (run == end) return run;
        // "\s+(?!\S)": the run less its last character, which then starts the next pre-token; a single whitespace
        // character before a non-space is matched alone by "\s+".
        int last = run - Character.charCount(s.codePointBefore(run));
        return last > start ? last : run;
    }

    /** The end of a run of code points of class cls starting at i. */
    private static int runEnd(String s, int i, int end, int cls) {
        while (i < end) {
            char c = s.charAt(i);
            if (c < 128) {
                if (ASCII_CLASS[c] != cls) break;
                i++;
            } else {
                int cp = s.codePointAt(i);
                if (classify(cp) != cls) break;
                i += Character.charCount(cp);
            }
        }
        return i;
    }

    /** After an apostrophe at i - 1: the end of 's, 't, 're, 've, 'm, 'll or 'd, or 0 if none follows. */
    private static int contractionEnd(String s, int i, int end) {
        char c = s.charAt(i);
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 1;
        if (i + 1 < end) {
            char d = s.charAt(i + 1);
            if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return i + 2;
        }
        return 0;
    }
}
