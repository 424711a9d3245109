package io.lumenspark.serve;

import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How the legacy completions' logprobs show tokens and where they say each token starts. */
class LogprobsTextTest {
    @Test
    void textOffsetsCountWholeCharactersInCodePoints() {
        // 日 bytes 0-2, 本 3-5, " is " 6-9, the emoji (one code point, two UTF-16 units) 10-13, "!" 14
        byte[] text = "日本 is 😀!".getBytes(StandardCharsets.UTF_8);
        OpenAiApi.TextOffsets o = new OpenAiApi.TextOffsets();
        assertEquals(0, o.next(Arrays.copyOfRange(text, 0, 2)));   // two bytes of 日
        assertEquals(0, o.next(Arrays.copyOfRange(text, 2, 6)));   // the rest of 日 (it starts where 日 does), 本
        assertEquals(2, o.next(Arrays.copyOfRange(text, 6, 9)));   // " is"
        assertEquals(5, o.next(Arrays.copyOfRange(text, 9, 12)));  // " " and half of the emoji
        assertEquals(6, o.next(Arrays.copyOfRange(text, 12, 15))); // the rest of the emoji, "!"
        assertEquals(8, o.next(new byte[]{(byte) 0xff}));          // no character: one U+FFFD in the text
        assertEquals(9, o.next(new byte[]{(byte) 0xe6, 'a'}));     // a lead byte cut short: one U+FFFD, then "a"
        assertEquals(11, o.next("b".getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Ill-formed bytes count as the text shows them: one U+FFFD per maximal ill-formed part (the Unicode Standard's
     * practice, as Python and Hugging Face decode), whatever the token boundaries.
     */
    @Test
    void illFormedBytesCountAsTheReplacementsTheTextShows() {
        int[][] cases = {{0xe6, 0x98, 'a'}, {0xe0, 0x80, 0x80}, {0xed, 0xa0, 0x80}, {0xf4, 0x90, 0x80, 0x80},
                {0xf0, 0x80, 0x80, 0x80}, {0xc0, 0xaf}};
        int[] points = {2, 3, 3, 4, 4, 2}; // e.g. E6 98 is one U+FFFD then "a"; E0 80 80 three U+FFFD
        for (int c = 0; c < cases.length; c++) {
            byte[] b = new byte[cases[c].length];
            for (int i = 0; i < b.length; i++) b[i] = (byte) cases[c][i];
            for (int cut = 0; cut <= b.length; cut++) { // as one token, or split in two anywhere
                OpenAiApi.TextOffsets o = new OpenAiApi.TextOffsets();
                o.next(Arrays.copyOfRange(b, 0, cut));
                o.next(Arrays.copyOfRange(b, cut, b.length));
                assertEquals(points[c], o.next(new byte[]{'z'}), "case " + c + " cut at " + cut);
            }
        }
    }

    @Test
    void aTokenThatIsPartOfACharacterShowsItsBytes() {
        Tokenizer gpt2 = Tokenizer.byName("gpt2");
        int[] ids = gpt2.encode("日本 is");
        int part = IntStream.of(ids).filter(id -> !gpt2.decode(new int[]{id}).equals(new String(
                gpt2.decodeBytes(new int[]{id}), StandardCharsets.UTF_8)) || gpt2.decode(new int[]{id}).contains("\uFFFD"))
                .findFirst().orElseThrow();
        String shown = OpenAiApi.tokenText(gpt2, part);
        StringBuilder expected = new StringBuilder("bytes:");
        for (byte b : gpt2.decodeBytes(new int[]{part})) expected.append(String.format("\\x%02x", b & 0xff));
        assertEquals(expected.toString(), shown);
        assertEquals(" is", OpenAiApi.tokenText(gpt2, ids[ids.length - 1]));
    }
}
