package io.lumenspark.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Incremental UTF-8 decoding gives, however the bytes are cut, what decoding them whole gives. */
class Utf8DecoderTest {
    private static final Tokenizer GPT2 = Tokenizer.byName("gpt2");

    /** Bytes with many multi-byte leads, continuations and invalid bytes among ASCII. */
    private static byte[] randomBytes(SplittableRandom r, int n) {
        int[] pool = {0x41, 0x20, 0x80, 0x8F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
                0xFF, 0x90, 0x82, 0xAC};
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (r.nextInt(4) == 0 ? r.nextInt(256) : pool[r.nextInt(pool.length)]);
        return b;
    }

    /** The bytes cut at random places and fed piece by piece. */
    private static String incremental(byte[] bytes, SplittableRandom r) {
        Utf8Decoder d = new Utf8Decoder();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < bytes.length; ) {
            int len = Math.min(bytes.length - i, r.nextInt(5));
            byte[] piece = new byte[len];
            System.arraycopy(bytes, i, piece, 0, len);
            out.append(d.append(piece));
            i += len;
        }
        d.finish(out);
        return out.toString();
    }

    @Test
    void randomCutsOfRandomBytesAddUpToTheWholeDecode() {
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 2000; trial++) {
            byte[] bytes = randomBytes(r, r.nextInt(40));
            assertEquals(Utf8Decoder.decode(bytes), incremental(bytes, r), "trial " + trial);
        }
    }

    @Test
    void wellFormedTextDecodesAsTheJdkDecodesIt() {
        SplittableRandom r = new SplittableRandom(5);
        for (int trial = 0; trial < 500; trial++) {
            StringBuilder s = new StringBuilder();
            for (int i = r.nextInt(20); i > 0; i--) {
                int cp = r.nextInt(3) == 0 ? r.nextInt(0x80) : r.nextInt(0x110000);
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x20AC; // a surrogate is no character
                s.appendCodePoint(cp);
            }
            byte[] bytes = s.toString().getBytes(StandardCharsets.UTF_8);
            assertEquals(s.toString(), Utf8Decoder.decode(bytes));
            assertEquals(s.toString(), incremental(bytes, r));
        }
    }

    @Test
    void anIncompleteCharacterWaitsAndAnIllFormedByteDoesNot() {
        Utf8Decoder d = new Utf8Decoder();
        assertEquals("a", d.append(new byte[]{'a', (byte) 0xE2}));
        assertTrue(d.holdsBytes());
        assertEquals("", d.append(new byte[]{(byte) 0x82}));
        assertEquals("\u20AC", d.append(new byte[]{(byte) 0xAC})); // the euro sign, cut into three
        assertFalse(d.holdsBytes());
        assertEquals("\uFFFD", d.append(new byte[]{(byte) 0x80})); // a lone continuation byte: at once
        assertEquals("\uFFFDb", d.append(new byte[]{(byte) 0xE2, 'b'})); // broken by 'b'
        assertEquals("", d.append(new byte[]{(byte) 0xF0, (byte) 0x9F}));
        StringBuilder end = new StringBuilder();
        d.finish(end);
        assertEquals("\uFFFD", end.toString()); // one for the maximal incomplete part
        assertEquals("\uFFFD\uFFFD\uFFFD", Utf8Decoder.decode(new byte[]{(byte) 0xED, (byte) 0xA0, (byte) 0x80}));
    }

    /** GPT-2's byte tokens cut characters anywhere; token by token, the text is still the whole decode. */
    @Test
    void tokenByTokenTextOfRandomIdsIsTheirDecode() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 500; trial++) {
            int[] ids = new int[r.nextInt(30)];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(3) == 0 ? r.nextInt(GPT2.vocabSize() - 1) : 128 + r.nextInt(128); // 128..255: bytes
            }
            Utf8Decoder d = new Utf8Decoder();
            StringBuilder out = new StringBuilder();
            for (int id : ids) d.append(GPT2.decodeBytes(new int[]{id}), out);
            d.finish(out);
            assertEquals(GPT2.decode(ids), out.toString(), "trial " + trial);
        }
    }
}
