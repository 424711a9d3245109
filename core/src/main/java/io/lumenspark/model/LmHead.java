package io.lumenspark.model;

import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Bf16Mat;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * fc_out fused with the cross-entropy loss, a chunk of rows at a time, so the tokens x vocab logits are never
 * all in memory (at vocab 50257 and 8 x 512 tokens they would take 823 MB, and as much again for their gradient).
 * Only the rows with a target go through it: when some rows have none (a masked LM's unmasked positions, padding),
 * those with one are gathered into a compact buffer first and their gradient scattered back, so a masked-LM step
 * runs the output layer's three products on about 15 % of the rows.
 *
 * <p>With {@code lm_head: dense} (masked LM), RoBERTa's transform comes first, over every row:
 * {@code lm_head.dense} (Linear d -> d), exact GELU, {@code lm_head.layer_norm} (RMSNorm).
 */
final class LmHead {
    /** Floats of logits per chunk: 32 Mi = 128 MB, 667 rows at vocab 50257 (measured 3-12 % faster than 64 MB). */
    private static final long CHUNK_FLOATS = 1L << 25;
    final Linear fc;                    // d -> vocab, with bias
    private final Linear dense;         // d -> d (dense head), or null
    private final RmsNorm norm;         // the dense head's norm, or null
    private final int d, vocab;
    private int chunk;                  // rows of logits at a time
    private MemorySegment logits;       // [chunk, vocab] a chunk's logits, then dLoss/dlogits (made on first loss)
    private MemorySegment pre;          // [rows, d] dense(x), the dense layer's own buffer (dense head)
    private MemorySegment act;          // [rows, d] GELU(pre) (dense head)
    private MemorySegment picked;       // [rows, d] the rows with a target, gathered in order (made on first loss)
    private MemorySegment dPicked;      // [rows, d] their gradient (training; made on first loss)
    private MemorySegment dFeatures;    // [rows, d] the gradient of what fc_out reads (training)
    private MemorySegment dx;           // [rows, d] the hidden states' gradient: dFeatures, or the dense head's dx
    private MemorySegment biasGradParts; // [parts, vocab] each thread's share of the bias gradient (training)
    private MemorySegment weightBf16;   // [vocab, d] bf16: fc_out's weights for a step's bf16 products (made on first)
    private MemorySegment chunkBf16;    // [chunk, d] bf16: the chunk's rows of xs
    private MemorySegment logitsBf16;   // [chunk, vocab] bf16: the chunk's dLoss/dlogits

    LmHead(Params params, ModelConfig config) {
        d = config.embedDim();
        vocab = config.vocabSize();
        if (config.lmHead() == LmHeadKind.DENSE) {
            dense = new Linear(params, "lm_head.dense", d, d, true);
            norm = new RmsNorm(params, "lm_head.layer_norm", d, config.normEps());
        } else {
            dense = null;
            norm = null;
        }
        fc = new Linear(params, "fc_out", d, vocab, true);
        fc.integerDecoding = true;
    }

    void allocate(Pass c) {
        chunk = (int) Math.max(1, Math.min(c.rows, CHUNK_FLOATS / vocab));
        logits = null; // on first use: prefill and logits() never need it
        weightBf16 = chunkBf16 = logitsBf16 = null; // on first use by a bf16 step
        long size = (long) c.rows * d;
        if (dense != null) {
            dense.allocate(c);
            norm.allocate(c);
            act = c.activation("lm_head.act", size);
        }
        picked = dPicked = null; // on first use, with the logits
        dFeatures = c.forwardOnly ? null : c.floats(size);
        dx = dFeatures;
        biasGradParts = c.forwardOnly ? null : c.floats((long) Parallel.parts(chunk) * vocab);
    }

    /**
     * Makes the buffers of a loss: the chunk of logits it works in and the rows it gathers (allocate leaves them
     * out: prefill and logits() never need them).
     */
    void reserveLoss(Pass c) {
        if (logits != null) return;
        logits = c.floats((long) chunk * vocab);
        picked = c.floats((long) c.rows * d);
        dPicked = c.forwardOnly ? null : c.floats((long) c.rows * d);
    }

    /** What fc_out reads from the hidden states x [rows, d]: x itself, or the dense head's transform of it. */
    MemorySegment features(Pass c, MemorySegment x) {
        if (dense == null) return x;
        pre = dense.forward(c, x);
        Parallel.rows(c.rows, d, (from, to) -> Kernels.gelu(pre, act, (long) from * d, (long) to * d));
        return norm.forward(c, act);
    }

    /**
     * Cross-entropy of each row of x against its target (targets {@code < 0} are ignored: no output layer, no
     * loss, no gradient), written to tokenLoss when given (0 for ignored rows); returns their sum. With backward,
     * accumulates the head's gradients and fills dx() for the loss sum(token losses) * gradScale.
     */
    double run(Pass c, MemorySegment x, int[] targets, float[] tokenLoss, float gradScale, boolean backward) {
        reserveLoss(c);
        MemorySegment features = features(c, x);
        int[] rowsWithTarget = new int[c.rows];
        int m = 0;
        for (int r = 0; r < c.rows; r++) if (targets[r] >= 0) rowsWithTarget[m++] = r;
        boolean compact = m < c.rows;
        MemorySegment in = features, dIn = dFeatures;
        if (compact) { // gather the rows with a target; the output layer runs on them alone
            final int[] at = rowsWithTarget;
            Parallel.rows(m, d, (from, to) -> {
                for (int j = from; j < to; j++) Floats.copy(features, (long) at[j] * d, picked, (long) j * d, d);
            });
            in = picked;
            dIn = dPicked;
        }
        double total = 0;
        if (backward) biasGradParts.fill((byte) 0);
        // a bf16 step rounds the weights to bf16 once: the logits and the inputs' gradient both multiply them
        Bf16Mat w16 = c.bf16 == null ? null : weightsBf16(c);
        Bf16Mat x16 = w16 == null ? null : new Bf16Mat(chunkBf16, d);
        Bf16Mat g16 = w16 == null ? null : new Bf16Mat(logitsBf16, vocab);
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int rows = Math.min(chunk, m - r0);
            MemorySegment xs = Floats.slice(in, (long) r0 * d, (long) rows * d);
            // bias added below, in the same pass as the row maximum
            if (w16 == null) {
                fc.forwardInto(c, xs, logits, rows, false);
            } else {
                Bf16Gemm.convert(new Mat(xs, d), rows, d, x16);
                c.bf16.gemm(x16, false, w16, true, new Mat(logits, vocab), rows, vocab, d, 1f, 0f);
            }
            MemorySegment bias = c.value(fc.bias);
            double[] losses = new double[rows];
            final int base = r0;
            final int[] at = rowsWithTarget;
            Parallel.rows(rows, (part, from, to) -> {
                long acc = (long) part * vocab; // this part's share of the bias gradient
                for (int r = from; r < to; r++) {
                    int t = targets[at[base + r]];
                    long o = (long) r * vocab;
                    float max = Kernels.addAndMax(bias, 0, logits, o, vocab);
                    float target = logits.getAtIndex(JAVA_FLOAT, o + t);
                    if (backward) {
                        float s = Kernels.expShiftSum(logits, o, vocab, max);
                        losses[r] = max + StrictMath.log(s) - target;
                        // dLoss/dlogits = (softmax - onehot) * gradScale; the bias gradient is its column sum
                        Kernels.scaleAndAccumulate(logits, o, vocab, gradScale / s, biasGradParts, acc);
                        logits.setAtIndex(JAVA_FLOAT, o + t, logits.getAtIndex(JAVA_FLOAT, o + t) - gradScale);
                        biasGradParts.setAtIndex(JAVA_FLOAT, acc + t,
                                biasGradParts.getAtIndex(JAVA_FLOAT, acc + t) - gradScale);
                        if (g16 != null) Kernels.toBf16(logits, o, logitsBf16, o, vocab); // while in cache
                    } else {
                        losses[r] = max + StrictMath.log(Kernels.sumExpShift(logits, o, vocab, max)) - target;
                    }
                }
            });
            for (int r = 0; r < rows; r++) {
                if (tokenLoss != null) tokenLoss[rowsWithTarget[r0 + r]] = (float) losses[r];
                total += losses[r];
            }
            if (backward && g16 != null) { // the same two products from the bf16 copies
                c.bf16.gemm(g16, false, w16, false, new Mat(dIn, (long) r0 * d, d), rows, d, vocab, 1f, 0f);
                c.bf16.gemm(g16, true, x16, false, new Mat(c.grad(fc.weight), d), vocab, d, rows, 1f, 1f);
            } else if (backward) {
                // logits now holds dLoss/dlogits for these rows
                c.blas.gemm(new Mat(logits, vocab), false, new Mat(c.value(fc.weight), d), false,
                        new Mat(dIn, (long) r0 * d, d), rows, d, vocab, 1f, 0f);
                c.blas.gemm(new Mat(logits, vocab), true, new Mat(xs, d), false, new Mat(c.grad(fc.weight), d),
                        vocab, d, rows, 1f, 1f);
            }
        }
        if (tokenLoss != null && compact) {
            for (int r = 0; r < c.rows; r++) if (targets[r] < 0) tokenLoss[r] = 0f;
        }
        if (backward) {
            MemorySegment db = c.grad(fc.bias);
            for (int p = 0; p < Parallel.parts(chunk); p++) Kernels.add(biasGradParts, (long) p * vocab, db, 0, vocab);
            if (compact) { // scatter: rows without a target get no gradient
                dFeatures.fill((byte) 0);
                final int[] at = rowsWithTarget;
                Parallel.rows(m, d, (from, to) -> {
                    for (int j = from; j < to; j++) Floats.copy(dPicked, (long) j * d, dFeatures, (long) at[j] * d, d);
                });
            }
            dx = dense == null ? dFeatures : denseBackward(c, dFeatures);
        }
        return total;
    }

    /**
     * fc_out's weights rounded to bf16 into their own buffer, with the buffers of the chunk's bf16 operands made
     * on first use (a bf16 step: c.bf16 is set, and with it backward).
     */
    private Bf16Mat weightsBf16(Pass c) {
        if (weightBf16 == null) {
            weightBf16 = c.floats(((long) vocab * d + 1) / 2);
            chunkBf16 = c.floats(((long) chunk * d + 1) / 2);
            logitsBf16 = c.floats(((long) chunk * vocab + 1) / 2);
        }
        Bf16Mat w = new Bf16Mat(weightBf16, d);
        Bf16Gemm.convert(new Mat(c.value(fc.weight), d), vocab, d, w);
        return w;
    }

    /** The dense head's backward: the gradient of the hidden states from that of its output. */
    private MemorySegment denseBackward(Pass c, MemorySegment dOut) {
        MemorySegment dAct = norm.backward(c, dOut);
        Parallel.rows(c.rows, d, (from, to) -> Kernels.geluBackward(pre, dAct, dAct, (long) from * d, (long) to * d));
        return dense.backward(c, dAct);
    }

    /** The hidden states' gradient of the last {@link #run} with backward. */
    MemorySegment dx() {
        return dx;
    }

    /** Raw logits of rows [r0, r0 + rows) of features (see {@link #features}) into out ([rows, vocab]). */
    void logits(Pass c, MemorySegment features, int r0, int rows, MemorySegment out) {
        fc.forwardInto(c, Floats.slice(features, (long) r0 * d, (long) rows * d), out, rows);
    }

    /**
     * {@link #logits} through the decoding steps' product, so a prompt's last position gets the logits a
     * decoding step would give it and generation reads one copy of the output layer, in any dtype.
     */
    void decodingLogits(Pass c, MemorySegment features, int r0, int rows, MemorySegment out) {
        fc.decodeInto(c, Floats.slice(features, (long) r0 * d, (long) rows * d), out, rows);
    }
}
