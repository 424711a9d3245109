package io.lumenspark.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Choosing the next token from logits, with Hugging Face transformers' processors in its order: repetition
 * penalty, no-repeat n-grams, minimum new tokens; then, when sampling, temperature, top-k and top-p; then the
 * draw (or argmax when greedy). Removed tokens get -infinity.
 */
public final class Sampling {
    private Sampling() {
    }

    /**
     * Applies the processors to logits in place. context holds the prompt and the tokens generated so far
     * (the first length entries), generated of them new.
     */
    public static void process(float[] logits, int[] context, int length, int generated, GenerationConfig cfg) {
        if (cfg.repetitionPenalty() != 1) penalizeRepeats(logits, context, length, cfg);
        if (cfg.noRepeatNgramSize() > 0) banRepeatedNgrams(logits, context, length, cfg.noRepeatNgramSize());
        if (cfg.eosTokenId() != null && generated < cfg.minNewTokens() && cfg.eosTokenId() < logits.length) {
            logits[cfg.eosTokenId()] = Float.NEGATIVE_INFINITY;
        }
        if (!cfg.doSample()) return;
        if (cfg.temperature() != 1) {
            float inv = (float) (1 / cfg.temperature());
            for (int i = 0; i < logits.length; i++) logits[i] *= inv;
        }
        if (cfg.topK() > 0 && cfg.topK() < logits.length) keepTopK(logits, cfg.topK());
        if (cfg.topP() < 1) keepTopP(logits, cfg.topP());
    }

    /** The next token: argmax (lowest id on ties) when greedy, else a draw from softmax(logits). */
    public static int choose(float[] logits, GenerationConfig cfg, SplittableRandom random) {
        return cfg.doSample() ? draw(logits, random) : argmax(logits);
    }

    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /** A draw from softmax(logits); -infinity entries are never drawn. */
    public static int draw(float[] logits, SplittableRandom random) {
        float max = Float.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] weights = new double[logits.length];
        double total = 0;
        for (int i = 0; i < logits.length; i++) {
            weights[i] = logits[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(logits[i] - max);
            total += weights[i];
        }
        double u = random.nextDouble() * total;
        int last = 0;
        for (int i = 0; i < logits.length; i++) {
            if (weights[i] == 0) continue;
            last = i;
            u -= weights[i];
            if (u < 0) return i;
        }
        return last; // rounding left u a hair above zero: the last drawable token
    }

    /** Each distinct token of the context: positive logits divided by the penalty, negative ones multiplied. */
    private static void penalizeRepeats(float[] logits, int[] context, int length, GenerationConfig cfg) {
        float p = (float) cfg.repetitionPenalty();
        boolean published = cfg.repetitionPenaltyMode().equals("lumenspark");
        boolean[] seen = new boolean[logits.length];
        for (int i = 0; i < length; i++) {
            int t = context[i];
            if (t < 0 || t >= logits.length || seen[t]) continue;
            seen[t] = true;
            logits[t] = published || logits[t] > 0 ? logits[t] / p : logits[t] * p;
        }
    }

    /** Bans every token that would complete an n-gram already in the context. */
    private static void banRepeatedNgrams(float[] logits, int[] context, int length, int n) {
        if (length < n - 1) return;
        for (int start = 0; start + n <= length; start++) {
            boolean match = true;
            for (int j = 0; j < n - 1 && match; j++) match = context[start + j] == context[length - (n - 1) + j];
            int banned = context[start + n - 1];
            if (match && banned >= 0 && banned < logits.length) logits[banned] = Float.NEGATIVE_INFINITY;
        }
    }

    /** Keeps the k largest logits (and any tied with the k-th), as Hugging Face's TopKLogitsWarper does. */
    private static void keepTopK(float[] logits, int k) {
        float[] sorted = logits.clone();
        Arrays.sort(sorted);
        float kth = sorted[sorted.length - k];
        for (int i = 0; i < logits.length; i++) if (logits[i] < kth) logits[i] = Float.NEGATIVE_INFINITY;
    }

    /**
     * Keeps the most likely tokens until their probability reaches topP (at least one), as Hugging Face's
     * TopPLogitsWarper does: in ascending order, a token goes while the cumulative probability up to it is at
     * most 1 - topP.
     */
    private static void keepTopP(float[] logits, double topP) {
        long[] order = new long[logits.length]; // (sortable logit, index), ascending
        for (int i = 0; i < logits.length; i++) {
            int bits = Float.floatToRawIntBits(logits[i]);
            bits ^= (bits >> 31) & 0x7fffffff;
            order[i] = ((long) bits << 32) | i;
        }
        Arrays.sort(order);
        float max = logits[(int) order[order.length - 1]];
        double total = 0;
        for (float l : logits) total += l == Float.NEGATIVE_INFINITY ? 0 : Math.exp(l - max);
        double cumulative = 0;
        for (int r = 0; r < order.length - 1; r++) {
            int i = (int) order[r];
            cumulative += logits[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(logits[i] - max) / total;
            if (cumulative > 1 - topP) break;
            logits[i] = Float.NEGATIVE_INFINITY;
        }
    }
}
