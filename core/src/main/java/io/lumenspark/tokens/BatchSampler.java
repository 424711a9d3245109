package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;

/**
 * Draws training batches: each row is a random contiguous window of {@code n + 1} tokens, giving {@code n} inputs and
 * the {@code n} next tokens as targets.
 *
 * <p>Stateless: the window of a row is a hash of (seed, step, micro-step, row), so a run resumed at step {@code s}
 * sees exactly the batches an uninterrupted run would, and {@link #fill} may be called from any thread.
 */
public final class BatchSampler {

    private final TokenFile tokens;
    private final int batch;
    private final int n;
    private final long seed;
    private final long starts; // number of possible window starts

    /**
     * A sampler over one split; it keeps {@code tokens} but does not close it.
     *
     * @param tokens the split to sample from
     * @param batch  rows per batch
     * @param n      context length (inputs per row)
     * @param seed   run seed
     * @throws LumensparkException if the split is shorter than {@code n + 1} tokens
     * @throws IllegalArgumentException if batch or n is below 1
     */
    public BatchSampler(TokenFile tokens, int batch, int n, long seed) {
        if (batch < 1 || n < 1) {
            throw new IllegalArgumentException("batch and n must be positive, got " + batch + " and " + n);
        }
        if (tokens.length() < n + 1L) {
            throw new LumensparkException("the token split has " + tokens.length() + " tokens, but a window of context "
                    + n + " needs at least " + (n + 1L) + ": use more text or a shorter context");
        }
        this.tokens = tokens;
        this.batch = batch;
        this.n = n;
        this.seed = seed;
        this.starts = tokens.length() - n;
    }

    /** Rows per batch. */
    public int batch() {
        return batch;
    }

    /** Context length. */
    public int n() {
        return n;
    }

    /**
     * Fills {@code inputs[r*n + t]} and {@code targets[r*n + t] = next token} for rows {@code r < batch}; both
     * arrays need at least {@code batch * n} elements.
     *
     * @param step      optimizer step
     * @param microStep gradient-accumulation micro-step within the step
     */
    public void fill(long step, int microStep, int[] inputs, int[] targets) {
        int size = batch * n;
        if (inputs.length < size || targets.length < size) {
            throw new IllegalArgumentException("inputs and targets need " + size + " elements");
        }
        for (int r = 0; r < batch; r++) {
            long start = windowStart(step, microStep, r);
            tokens.copy(start, n, inputs, r * n);
            tokens.copy(start + 1, n, targets, r * n);
        }
    }

    /** First token of row {@code row}'s window, uniform in {@code [0, length - n - 1]}. */
    public long windowStart(long step, int microStep, int row) {
        long h = mix(seed);
        h = mix(h ^ step);
        h = mix(h ^ microStep);
        h = mix(h ^ row);
        return Math.unsignedMultiplyHigh(h, starts); // uniform in [0, starts) without modulo bias
    }

    /** Sequential evaluation windows over a whole split (see {@link EvalWindows}). */
    public static EvalWindows evalWindows(TokenFile tokens, int n) {
        return new EvalWindows(tokens, n);
    }

    /**
     * SplitMix64 (x + golden ratio, then its finalizer): a well-mixed 64-bit hash, so nearby steps give unrelated
     * windows. Chained as mix(mix(seed) ^ step) ..., it keys every draw of a run that a resume must repeat.
     */
    public static long mix(long x) {
        long z = x + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
