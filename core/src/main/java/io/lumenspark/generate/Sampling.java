package io.lumenspark.generate;

import io.lumenspark.engine.Kernels;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Choosing the next token from logits, with Hugging Face transformers' processors in its order: repetition
 * penalty (then OpenAI's presence and frequency penalties), no-repeat n-grams, minimum new tokens; then, when
 * sampling, temperature, top-k and top-p; then the draw (or argmax when greedy). Removed tokens get -infinity.
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
        if (cfg.presencePenalty() != 0 || cfg.frequencyPenalty() != 0) {
            penalizeGenerated(logits, context, length, generated, cfg.presencePenalty(), cfg.frequencyPenalty());
        }
        if (cfg.noRepeatNgramSize() > 0) banRepeatedNgrams(logits, context, length, cfg.noRepeatNgramSize());
        if (generated < cfg.minNewTokens()) {
            for (int eos : cfg.eosTokenIds()) if (eos < logits.length) logits[eos] = Float.NEGATIVE_INFINITY;
        }
        if (!cfg.doSample()) return;
        if (cfg.temperature() != 1) {
            float inv = (float) (1 / cfg.temperature());
            for (int i = 0; i < logits.length; i++) logits[i] *= inv;
        }
        if (cfg.topK() > 0 && cfg.topK() < logits.length) keepTopK(logits, cfg.topK());
        if (cfg.topP() < 1) keepTopP(logits, cfg.topP());
    }

    /**
     * The index of the first logit that is NaN or infinite, or -1 if there is none: one pass over the
     * vocabulary, next to the matrix-vector product that made the logits.
     *
     * @param removedAllowed let -infinity pass (a token the processors removed)
     */
    public static int firstNonFinite(float[] logits, boolean removedAllowed) {
        return Kernels.firstNonFinite(logits, logits.length, removedAllowed);
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

    /** The draw's weights and their run sums, one pair of buffers per thread (not a vocabulary's worth of garbage). */
    private static final ThreadLocal<float[]> WEIGHTS = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<double[]> RUNS = ThreadLocal.withInitial(() -> new double[0]);

    /**
     * A draw from softmax(logits); -infinity entries are never drawn. The weights exp(logit - max) are computed
     * once, vectorized (float32, within 2 ulp), and summed by runs of vector lanes (each run in a fixed order);
     * u = uniform x total is walked down the runs' sums in double, then through the run it falls in, one weight
     * at a time. The same logits and random stream give the same token every time.
     */
    public static int draw(float[] logits, SplittableRandom random) {
        int n = logits.length, lanes = Kernels.lanes();
        float max = Kernels.max(logits, n);
        float[] w = WEIGHTS.get();
        if (w.length < n) WEIGHTS.set(w = new float[n]);
        double[] runs = RUNS.get();
        if (runs.length < (n + lanes - 1) / lanes) RUNS.set(runs = new double[(n + lanes - 1) / lanes]);
        Kernels.expShift(logits, n, max, w);
        int count = Kernels.runSums(w, n, runs);
        double total = 0;
        for (int c = 0; c < count; c++) total += runs[c];
        double u = random.nextDouble() * total;
        int lastRun = -1;
        for (int c = 0; c < count; c++) {
            if (runs[c] == 0) continue;
            lastRun = c;
            if (u >= runs[c]) {
                u -= runs[c];
                continue;
            }
            for (int i = c * lanes, end = Math.min(n, i + lanes); i < end; i++) {
                if (w[i] == 0) continue;
                u -= w[i];
                if (u < 0) return i;
            }
            // rounding left u a hair above zero within the run: go on with the next runs
        }
        for (int i = Math.min(n, (lastRun + 1) * lanes) - 1; i >= 0; i--) { // the last drawable token
            if (w[i] != 0) return i;
        }
        return 0;
    }

    /** exp(l - max), exactly 0 for removed (-infinity) tokens. */
    private static double weight(float l, float max) {
        return l == Float.NEGATIVE_INFINITY ? 0 : Math.exp(l - max);
    }

    /** Each distinct token of the context: positive logits divided by the penalty, negative ones multiplied. */
    private static void penalizeRepeats(float[] logits, int[] context, int length, GenerationConfig cfg) {
        float p = (float) cfg.repetitionPenalty();
        boolean published = cfg.repetitionPenaltyMode() == RepetitionPenaltyMode.LUMENSPARK;
        boolean[] seen = new boolean[logits.length];
        for (int i = 0; i < length; i++) {
            int t = context[i];
            if (t < 0 || t >= logits.length || seen[t]) continue;
            seen[t] = true;
            logits[t] = published || logits[t] > 0 ? logits[t] / p : logits[t] * p;
        }
    }

    /**
     * OpenAI's presence and frequency penalties over the generated tokens (the last generated of the context's
     * first length): logit -= presence + frequency x count, for each token generated count > 0 times.
     */
    private static void penalizeGenerated(float[] logits, int[] context, int length, int generated, double presence,
                                          double frequency) {
        int[] ids = Arrays.copyOfRange(context, length - generated, length);
        Arrays.sort(ids);
        for (int i = 0; i < ids.length; ) {
            int j = i;
            while (j < ids.length && ids[j] == ids[i]) j++;
            int t = ids[i];
            if (t >= 0 && t < logits.length) logits[t] -= (float) (presence + frequency * (j - i));
            i = j;
        }
    }

    /**
     * The log-probability of token under softmax(logits), and the top most likely tokens with theirs (most likely
     * first, lower ids first on ties), as OpenAI's logprobs report them.
     */
    public static TokenLogprobs logprobs(float[] logits, int token, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double total = 0;
        for (float l : logits) total += weight(l, max);
        double logTotal = max + Math.log(total);
        int k = Math.min(top, logits.length);
        int[] ids = new int[k];
        double[] lps = new double[k];
        if (k > 0) {
            // a min-heap of the k best so far would be as good; k is at most 20, so a sorted insert is simpler
            int have = 0;
            for (int i = 0; i < logits.length; i++) {
                float l = logits[i];
                if (have == k && !(l > logits[ids[k - 1]])) continue;
                int at = Math.min(have, k - 1);
                while (at > 0 && l > logits[ids[at - 1]]) {
                    ids[at] = ids[at - 1];
                    at--;
                }
                ids[at] = i;
                if (have < k) have++;
            }
            for (int i = 0; i < k; i++) lps[i] = logits[ids[i]] - logTotal;
        }
        return new TokenLogprobs(logits[token] - logTotal, ids, lps);
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
        float kth = k <= TOP_K_HEAP ? kthLargestByHeap(logits, k) : kthLargest(logits.clone(), k);
        for (int i = 0; i < logits.length; i++) if (logits[i] < kth) logits[i] = Float.NEGATIVE_INFINITY;
    }

    /** Largest k for {@link #kthLargestByHeap}; above it, quickselect. */
    static final int TOP_K_HEAP = 256;

    private static final VectorSpecies<Float> LANES = FloatVector.SPECIES_PREFERRED;

    /**
     * The k-th largest value of a (k from 1 to a.length), a unchanged: one pass keeping the k largest so far in a
     * min-heap. Past the first few hundred entries almost none beats the heap's least, so the pass is a vector
     * comparison of each run of lanes against it, and only runs holding a larger value are looked at one by one.
     */
    static float kthLargestByHeap(float[] a, int k) {
        float[] heap = Arrays.copyOf(a, k);
        for (int i = k / 2 - 1; i >= 0; i--) siftDown(heap, i);
        int i = k, step = LANES.length();
        for (int bound = a.length - step; i <= bound; i += step) {
            if (!FloatVector.fromArray(LANES, a, i).compare(VectorOperators.GT, heap[0]).anyTrue()) continue;
            for (int j = i; j < i + step; j++) offer(heap, a[j]);
        }
        for (; i < a.length; i++) offer(heap, a[i]);
        return heap[0];
    }

    private static void offer(float[] heap, float v) {
        if (v > heap[0]) {
            heap[0] = v;
            siftDown(heap, 0);
        }
    }

    /** Restores the min-heap order below i. */
    private static void siftDown(float[] heap, int i) {
        int n = heap.length;
        float v = heap[i];
        while (true) {
            int c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && heap[c + 1] < heap[c]) c++;
            if (heap[c] >= v) break;
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = v;
    }

    /** The k-th largest value (k >= 1) by quickselect, in linear time instead of a sort of the whole vocabulary. */
    static float kthLargest(float[] a, int k) {
        int lo = 0, hi = a.length - 1, target = k - 1; // index of the answer in descending order
        SplittableRandom pivots = new SplittableRandom(a.length);
        while (lo < hi) {
            float pivot = a[lo + pivots.nextInt(hi - lo + 1)];
            int i = lo, j = hi;
            while (i <= j) { // descending partition: [lo, j] >= pivot >= [i, hi]
                while (a[i] > pivot) i++;
                while (a[j] < pivot) j--;
                if (i <= j) {
                    float t = a[i];
                    a[i++] = a[j];
                    a[j--] = t;
                }
            }
            if (target <= j) hi = j;
            else if (target >= i) lo = i;
            else return a[target];
        }
        return a[target];
    }

    /**
     * Keeps the most likely tokens until their probability reaches topP (at least one), as Hugging Face's
     * TopPLogitsWarper does: in ascending order, a token goes while the cumulative probability up to it is at
     * most 1 - topP.
     */
    private static void keepTopP(float[] logits, double topP) {
        // only tokens still in play are sorted (after top-k, k of them); removed ones add nothing to the sum
        int live = 0;
        for (float l : logits) if (l != Float.NEGATIVE_INFINITY) live++;
        long[] order = new long[live]; // (sortable logit, index), ascending
        for (int i = 0, r = 0; i < logits.length; i++) {
            if (logits[i] == Float.NEGATIVE_INFINITY) continue;
            int bits = Float.floatToRawIntBits(logits[i]);
            bits ^= (bits >> 31) & 0x7fffffff;
            order[r++] = ((long) bits << 32) | i;
        }
        Arrays.sort(order);
        float max = logits[(int) order[live - 1]];
        double total = 0;
        for (float l : logits) total += weight(l, max);
        double cumulative = 0;
        for (int r = 0; r < live - 1; r++) {
            int i = (int) order[r];
            cumulative += weight(logits[i], max) / total;
            if (cumulative > 1 - topP) break;
            logits[i] = Float.NEGATIVE_INFINITY;
        }
    }
}
