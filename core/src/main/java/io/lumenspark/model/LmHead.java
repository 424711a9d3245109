package io.lumenspark.model;

import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * fc_out fused with the cross-entropy loss, a chunk of rows at a time, so the tokens x vocab logits are never
 * all in memory (at vocab 50257 and 8 x 512 tokens they would take 823 MB, and as much again for their gradient).
 */
final class LmHead {
    /** Floats of logits per chunk: 32 Mi = 128 MB, 667 rows at vocab 50257 (measured 3-12 % faster than 64 MB). */
    private static final long CHUNK_FLOATS = 1L << 25;
    final Linear fc;                    // d -> vocab, with bias
    private final int d, vocab;
    private int chunk;                  // rows of logits at a time
    private MemorySegment logits;       // [chunk, vocab] a chunk's logits, then dLoss/dlogits (made on first use)
    private MemorySegment dx;           // [rows, d] the hidden states' gradient (training)
    private MemorySegment biasGradParts; // [parts, vocab] each thread's share of the bias gradient (training)

    LmHead(Params params, int d, int vocab) {
        this.d = d;
        this.vocab = vocab;
        fc = new Linear(params, "fc_out", d, vocab, true);
    }

    void allocate(Pass c) {
        chunk = (int) Math.max(1, Math.min(c.rows, CHUNK_FLOATS / vocab));
        logits = null; // on first use: prefill and logits() never need it
        dx = c.forwardOnly ? null : c.floats((long) c.rows * d);
        biasGradParts = c.forwardOnly ? null : c.floats((long) Parallel.parts(chunk) * vocab);
    }

    /** Makes the chunk of logits the loss works in (allocate leaves it out: prefill and logits() never need it). */
    void reserveLogits(Pass c) {
        if (logits == null) logits = c.floats((long) chunk * vocab);
    }

    /**
     * Cross-entropy of each row of x against its target (targets {@code < 0} are ignored), written to tokenLoss when
     * given; returns their sum. With backward, accumulates the fc_out gradients and fills dx() for the loss
     * sum(token losses) * gradScale.
     */
    double run(Pass c, MemorySegment x, int[] targets, float[] tokenLoss, float gradScale, boolean backward) {
        double total = 0;
        reserveLogits(c);
        if (backward) biasGradParts.fill((byte) 0);
        for (int r0 = 0; r0 < c.rows; r0 += chunk) {
            int rows = Math.min(chunk, c.rows - r0);
            MemorySegment xs = Floats.slice(x, (long) r0 * d, (long) rows * d);
            fc.forwardInto(c, xs, logits, rows, false); // bias added below, in the same pass as the row maximum
            MemorySegment bias = c.value(fc.bias);
            double[] losses = new double[rows];
            final int base = r0;
            Parallel.rows(rows, (part, from, to) -> {
                long acc = (long) part * vocab; // this part's share of the bias gradient
                for (int r = from; r < to; r++) {
                    int t = targets[base + r];
                    long o = (long) r * vocab;
                    if (t < 0) { // ignored row (padding)
                        if (backward) Floats.zero(logits, o, vocab);
                        continue;
                    }
                    float m = Kernels.addAndMax(bias, 0, logits, o, vocab);
                    float target = logits.getAtIndex(JAVA_FLOAT, o + t);
                    if (backward) {
                        float s = Kernels.expShiftSum(logits, o, vocab, m);
                        losses[r] = m + StrictMath.log(s) - target;
                        // dLoss/dlogits = (softmax - onehot) * gradScale; the bias gradient is its column sum
                        Kernels.scaleAndAccumulate(logits, o, vocab, gradScale / s, biasGradParts, acc);
                        logits.setAtIndex(JAVA_FLOAT, o + t, logits.getAtIndex(JAVA_FLOAT, o + t) - gradScale);
                        biasGradParts.setAtIndex(JAVA_FLOAT, acc + t,
                                biasGradParts.getAtIndex(JAVA_FLOAT, acc + t) - gradScale);
                    } else {
                        losses[r] = m + StrictMath.log(Kernels.sumExpShift(logits, o, vocab, m)) - target;
                    }
                }
            });
            for (int r = 0; r < rows; r++) {
                if (tokenLoss != null) tokenLoss[r0 + r] = (float) losses[r];
                total += losses[r];
            }
            if (backward) {
                // logits now holds dLoss/dlogits for these rows
                c.blas.gemm(new Mat(logits, vocab), false, new Mat(c.value(fc.weight), d), false,
                        new Mat(dx, (long) r0 * d, d), rows, d, vocab, 1f, 0f);
                c.blas.gemm(new Mat(logits, vocab), true, new Mat(xs, d), false, new Mat(c.grad(fc.weight), d),
                        vocab, d, rows, 1f, 1f);
            }
        }
        if (backward) {
            MemorySegment db = c.grad(fc.bias);
            for (int p = 0; p < Parallel.parts(chunk); p++) Kernels.add(biasGradParts, (long) p * vocab, db, 0, vocab);
        }
        return total;
    }

    MemorySegment dx() {
        return dx;
    }

    /** Raw logits of rows [r0, r0 + rows) of x into out ([rows, vocab]). */
    void logits(Pass c, MemorySegment x, int r0, int rows, MemorySegment out) {
        fc.forwardInto(c, Floats.slice(x, (long) r0 * d, (long) rows * d), out, rows);
    }
}
