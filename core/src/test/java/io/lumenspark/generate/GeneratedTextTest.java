package io.lumenspark.generate;

import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A generation's text decoded token by token gives the pieces, the stop and the text that decoding all the ids
 * after every token gave (the quadratic way this replaced), on random ids that cut characters and hold ill-formed
 * bytes.
 */
class GeneratedTextTest {
    private static final Tokenizer GPT2 = Tokenizer.byName("gpt2");

    /** The pieces, ending at the first stop string or after the last id (as a length limit ends it). */
    private record Run(List<String> pieces, String text) {
    }

    /** The former way: the whole new text decoded after each token, its trailing replacement character held. */
    private static Run wholeDecodeEachToken(int[] ids, List<String> stops) {
        List<String> pieces = new ArrayList<>();
        String text = "";
        int emitted = 0;
        for (int i = 0; i < ids.length; i++) {
            text = GPT2.decode(Arrays.copyOf(ids, i + 1));
            String t = text;
            if (stops.stream().anyMatch(t::contains) || i == ids.length - 1) {
                pieces.add(text.substring(Math.min(emitted, text.length())));
                return new Run(pieces, text);
            }
            int ready = text.endsWith("\uFFFD") ? text.length() - 1 : text.length();
            pieces.add(ready > emitted ? text.substring(emitted, ready) : "");
            emitted = Math.max(emitted, ready);
        }
        return new Run(pieces, text);
    }

    private static Run incremental(int[] ids, List<String> stops) {
        GeneratedText text = new GeneratedText(GPT2, stops);
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            if (text.add(ids[i]) || i == ids.length - 1) {
                text.finish();
                pieces.add(text.rest());
                break;
            }
            pieces.add(text.piece());
        }
        return new Run(pieces, text.finish());
    }

    @Test
    void tokenByTokenDecodingGivesThePiecesStopsAndTextOfTheWholeDecode() {
        SplittableRandom r = new SplittableRandom(17);
        for (int trial = 0; trial < 400; trial++) {
            int[] ids = new int[1 + r.nextInt(40)];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(3) == 0 ? r.nextInt(GPT2.vocabSize() - 1) : 128 + r.nextInt(128);
            }
            // stop strings from the text itself (with replacement characters), and ones that never occur
            String all = GPT2.decode(ids);
            List<String> stops = new ArrayList<>();
            for (int s = r.nextInt(3); s > 0 && !all.isEmpty(); s--) {
                int from = r.nextInt(all.length());
                stops.add(all.substring(from, Math.min(all.length(), from + 1 + r.nextInt(4))));
            }
            if (r.nextBoolean()) stops.add("\u0000never");
            Run want = wholeDecodeEachToken(ids, stops), got = incremental(ids, stops);
            String what = "trial " + trial + ", stops " + stops;
            assertEquals(want.pieces(), got.pieces(), what);
            assertEquals(want.text(), got.text(), what);
            assertEquals(got.text(), String.join("", got.pieces()), what);
        }
    }
}
