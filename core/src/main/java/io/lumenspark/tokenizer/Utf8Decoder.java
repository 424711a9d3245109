package io.lumenspark.tokenizer;

/**
 * UTF-8 decoded as its bytes come, a token's at a time, replacing each maximal ill-formed subpart with one U+FFFD
 * (the Unicode Standard's recommended practice, which Hugging Face's ByteLevel decoder follows through Rust's
 * {@code String::from_utf8_lossy}, as do Python and JavaScript's TextDecoder). The JDK's decoder differs on
 * encoded surrogates: it gives one U+FFFD for {@code ED A0 80} where these give three, so it is not used here.
 *
 * <p>{@link #append} gives the characters that the bytes so far complete and holds back a trailing sequence that is
 * well-formed so far but incomplete (at most 3 bytes), which the next bytes may complete; {@link #finish} turns a
 * held sequence into one U+FFFD. Whatever way the bytes are cut, the pieces add up to {@link #decode} of all of
 * them, and each call costs time in proportion to its own bytes.
 */
public final class Utf8Decoder {
    private final byte[] held = new byte[3];
    private int heldLength;

    /** Decodes whole UTF-8 (see the class comment for ill-formed bytes). */
    public static String decode(byte[] bytes) {
        StringBuilder out = new StringBuilder(bytes.length);
        Utf8Decoder d = new Utf8Decoder();
        d.append(bytes, out);
        d.finish(out);
        return out.toString();
    }

    /** Whether bytes of an incomplete character are held back. */
    public boolean holdsBytes() {
        return heldLength > 0;
    }

    /** Appends to out the characters these bytes complete (see the class comment). */
    public void append(byte[] bytes, StringBuilder out) {
        byte[] in = bytes;
        if (heldLength > 0) { // the held sequence starts anew before the new bytes
            in = new byte[heldLength + bytes.length];
            System.arraycopy(held, 0, in, 0, heldLength);
            System.arraycopy(bytes, 0, in, heldLength, bytes.length);
            heldLength = 0;
        }
        int i = 0;
        while (i < in.length) {
            int start = i;
            int lead = in[i++] & 0xFF;
            if (lead < 0x80) {
                out.append((char) lead);
                continue;
            }
            // Continuation bytes the lead needs, and the allowed range of the first (Table 3-7 of the standard).
            int needed, low = 0x80, high = 0xBF, cp;
            if (lead >= 0xC2 && lead <= 0xDF) {
                needed = 1;
                cp = lead & 0x1F;
            } else if (lead >= 0xE0 && lead <= 0xEF) {
                needed = 2;
                cp = lead & 0x0F;
                if (lead == 0xE0) low = 0xA0; // no overlong forms
                if (lead == 0xED) high = 0x9F; // no surrogates
            } else if (lead >= 0xF0 && lead <= 0xF4) {
                needed = 3;
                cp = lead & 0x07;
                if (lead == 0xF0) low = 0x90; // no overlong forms
                if (lead == 0xF4) high = 0x8F; // nothing above U+10FFFF
            } else {
                out.append('\uFFFD');
                continue;
            }
            int got = 0;
            while (got < needed && i < in.length) {
                int b = in[i] & 0xFF;
                if (b < low || b > high) break;
                cp = cp << 6 | (b & 0x3F);
                low = 0x80;
                high = 0xBF;
                i++;
                got++;
            }
            if (got == needed) {
                out.appendCodePoint(cp);
            } else if (i == in.length) { // well-formed so far: the next bytes may complete it
                heldLength = i - start;
                System.arraycopy(in, start, held, 0, heldLength);
            } else {
                out.append('\uFFFD'); // the bytes taken so far; the byte that broke the sequence starts anew
            }
        }
    }

    /** The characters these bytes complete, as a string (see {@link #append(byte[], StringBuilder)}). */
    public String append(byte[] bytes) {
        StringBuilder out = new StringBuilder(bytes.length);
        append(bytes, out);
        return out.toString();
    }

    /** Ends the input: appends one U+FFFD for a held incomplete sequence, if any. */
    public void finish(StringBuilder out) {
        if (heldLength > 0) out.append('\uFFFD');
        heldLength = 0;
    }
}
