package io.lumenspark.training;

import io.lumenspark.io.SafeTensors;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The masked-LM masks: Hugging Face's proportions, never a special token or padding, and a pure function of their key. */
class MlmMaskingTest {
    private static final int VOCAB = 1000, EOS = 997, MASK = 998, PAD = 999;
    private static final MlmMasking MASKING = new MlmMasking(new int[]{EOS}, MASK, PAD, VOCAB);

    /** The PyTorch reference draws the same masks (reference/lumenspark_ref.py mlm_mask) for its fixtures. */
    @ParameterizedTest
    @ValueSource(strings = {"mlm-v01", "mlm-full", "mlm-conv", "mlm-options", "mlm-dense"})
    void theReferenceDrawsTheSameMasks(String name) {
        Path dir = Path.of("core", "src", "test", "resources", "fixtures", name);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File io = SafeTensors.open(dir.resolve("io.safetensors"), arena);
            int[] tokens = io.toIntArray(io.get("tokens")), lengths = io.toIntArray(io.get("lengths"));
            int[] key = io.toIntArray(io.get("mask_key"));
            int n = tokens.length / lengths.length;
            MlmMasking masking = new MlmMasking(new int[]{94}, 95, 96, 97); // the fixtures' vocabulary
            int[] in = new int[tokens.length], labels = new int[tokens.length];
            for (int r = 0; r < lengths.length; r++) {
                masking.maskRow(tokens, r * n, lengths[r], n, in, labels, r * n, key[0], key[1], key[2], r);
            }
            assertArrayEquals(io.toIntArray(io.get("input_ids")), in, name + " inputs");
            int[] want = io.toIntArray(io.get("labels"));
            for (int i = 0; i < want.length; i++) assertEquals(want[i] < 0 ? -1 : want[i], labels[i], name + " label " + i);
        }
    }

    @Test
    void fifteenPercentSelectedThenEightyTenTenNeverSpecialOrPadding() {
        SplittableRandom random = new SplittableRandom(3);
        int n = 512, rows = 64;
        long candidates = 0, selected = 0, masked = 0, randomized = 0, kept = 0;
        long[] randomBuckets = new long[10];
        int[] tokens = new int[n], in = new int[n], labels = new int[n];
        for (int step = 0; step < 6; step++) {
            for (int row = 0; row < rows; row++) {
                int length = n - random.nextInt(100);
                for (int t = 0; t < n; t++) tokens[t] = t % 37 == 0 ? EOS : t % 101 == 0 ? MASK : random.nextInt(EOS);
                int count = MASKING.maskRow(tokens, 0, length, n, in, labels, 0, 42, step, 1, row);
                int seen = 0;
                for (int t = 0; t < n; t++) {
                    boolean special = tokens[t] == EOS || tokens[t] == MASK;
                    if (t >= length) {
                        assertEquals(PAD, in[t], "padding");
                        assertEquals(-1, labels[t], "padding is never selected");
                        continue;
                    }
                    if (special) {
                        assertEquals(-1, labels[t], "special tokens are never selected");
                        assertEquals(tokens[t], in[t]);
                        continue;
                    }
                    candidates++;
                    if (labels[t] < 0) {
                        assertEquals(tokens[t], in[t], "an unselected token stays");
                        continue;
                    }
                    seen++;
                    assertEquals(tokens[t], labels[t], "the label is the original token");
                    if (in[t] == MASK) {
                        masked++;
                    } else if (in[t] == tokens[t]) {
                        kept++;
                    } else {
                        randomized++;
                        randomBuckets[in[t] * 10 / VOCAB]++;
                    }
                }
                assertEquals(seen, count, "maskRow counts what it selects");
                selected += count;
            }
        }
        // selection: Bernoulli(0.15) per candidate, within 4.5 standard deviations
        double rate = (double) selected / candidates, sd = Math.sqrt(0.15 * 0.85 / candidates);
        assertTrue(Math.abs(rate - 0.15) < 4.5 * sd, "selection rate " + rate);
        // 80/10/10: chi-square with 2 degrees of freedom below 13.8 (p = 0.001)
        double chi = square(masked, 0.8 * selected) + square(randomized, 0.1 * selected) + square(kept, 0.1 * selected);
        assertTrue(chi < 13.8, "80/10/10 split: mask " + masked + ", random " + randomized + ", kept " + kept
                + " of " + selected + " (chi-square " + chi + ")");
        // random tokens are uniform over the whole vocabulary: 10 buckets, 9 degrees of freedom, below 27.9
        double uniform = 0;
        for (long b : randomBuckets) uniform += square(b, randomized / 10.0);
        assertTrue(uniform < 27.9, "random tokens over the vocabulary " + Arrays.toString(randomBuckets));
    }

    private static double square(long observed, double expected) {
        return (observed - expected) * (observed - expected) / expected;
    }

    @Test
    void aMaskIsAFunctionOfSeedStepMicroBatchAndRow() {
        int n = 256;
        int[] tokens = new int[n];
        for (int t = 0; t < n; t++) tokens[t] = t * 7 % EOS;
        int[] a = mask(tokens, 1, 5, 0, 2), b = mask(tokens, 1, 5, 0, 2);
        assertArrayEquals(a, b, "the same key gives the same mask");
        for (int[] other : new int[][]{mask(tokens, 2, 5, 0, 2), mask(tokens, 1, 6, 0, 2), mask(tokens, 1, 5, 1, 2),
                mask(tokens, 1, 5, 0, 3)}) {
            assertFalse(Arrays.equals(a, other), "another seed, step, micro-batch or row masks other positions");
        }
    }

    private static int[] mask(int[] tokens, long seed, long step, int micro, int row) {
        int n = tokens.length;
        int[] in = new int[n], labels = new int[n];
        MASKING.maskRow(tokens, 0, n, n, in, labels, 0, seed, step, micro, row);
        return labels;
    }

    @Test
    void aTokenizersSpecialTokensAreNeverSelected() {
        Tokenizer tok = Tokenizer.byName("gpt2").withSpecialTokens(MlmMasking.SPECIAL_TOKENS);
        MlmMasking masking = new MlmMasking(tok);
        assertEquals(tok.specialId(Tokenizer.MASK_TEXT).orElseThrow(), masking.maskId());
        assertEquals(tok.specialId(Tokenizer.PAD_TEXT).orElseThrow(), masking.padId());
        int[] tokens = new int[4096];
        Arrays.fill(tokens, tok.eosId());
        for (int i = 0; i < tokens.length; i += 3) tokens[i] = masking.maskId();
        int[] in = new int[tokens.length], labels = new int[tokens.length];
        assertEquals(0, masking.maskRow(tokens, 0, tokens.length, tokens.length, in, labels, 0, 1, 1, 0, 0));
        assertArrayEquals(tokens, in);
    }
}
