package io.lumenspark.model;

import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * A sequence classifier's head over the {@link Backbone}'s hidden states: each sequence's real (non-pad) rows
 * pooled into one vector ({@link Pooling}: the last token, the mean, or the first), then {@code score}, a Linear
 * d -> num_labels without bias, named and shaped as Hugging Face's GPT2ForSequenceClassification has it
 * ({@code score.weight} [num_labels, d]). The pass's lengths ({@link Pass#length}) say which rows are real.
 */
final class ClassificationHead {
    final Params.Param score;          // [num_labels, d]
    private final Pooling pooling;
    private final int d, labels;
    private MemorySegment pooled;      // [batch, d] one vector per sequence
    private MemorySegment logits;      // [batch, num_labels]
    private MemorySegment dLogits;     // [batch, num_labels] (training)
    private MemorySegment dPooled;     // [batch, d] (training)
    private MemorySegment dx;          // [rows, d] the hidden states' gradient (training)

    ClassificationHead(Params params, ModelConfig config) {
        d = config.embedDim();
        labels = config.numLabels();
        pooling = config.pooling();
        score = params.declare("score.weight", labels, d);
    }

    void allocate(Pass c) {
        pooled = c.floats((long) c.batch * d);
        logits = c.floats((long) c.batch * labels);
        dLogits = c.forwardOnly ? null : c.floats((long) c.batch * labels);
        dPooled = c.forwardOnly ? null : c.floats((long) c.batch * d);
        dx = c.forwardOnly ? null : c.floats((long) c.rows * d);
    }

    /** The logits [batch, num_labels] of the hidden states x [rows, d], into a new array. */
    float[] forward(Pass c, MemorySegment x) {
        pooled.fill((byte) 0);
        for (int b = 0; b < c.batch; b++) {
            int len = c.length(b);
            long row = (long) b * c.n, to = (long) b * d;
            switch (pooling) {
                case LAST -> Floats.copy(x, (row + len - 1) * d, pooled, to, d);
                case FIRST -> Floats.copy(x, row * d, pooled, to, d);
                case MEAN -> {
                    for (int t = 0; t < len; t++) Kernels.add(x, (row + t) * d, pooled, to, d);
                    Kernels.scale(pooled, to, d, 1f / len);
                }
            }
        }
        c.blas.gemm(new Mat(pooled, d), false, new Mat(c.value(score), d), true, new Mat(logits, labels),
                c.batch, labels, d, 1f, 0f);
        return logits.toArray(JAVA_FLOAT);
    }

    /**
     * The backward pass of the gradient of the last {@link #forward}'s logits (gradLogits, [batch, num_labels]):
     * accumulates score's gradient and returns the hidden states' (zero on rows the pooling did not read).
     */
    MemorySegment backward(Pass c, float[] gradLogits) {
        MemorySegment.copy(gradLogits, 0, dLogits, JAVA_FLOAT, 0, c.batch * labels);
        c.blas.gemm(new Mat(dLogits, labels), true, new Mat(pooled, d), false, new Mat(c.grad(score), d),
                labels, d, c.batch, 1f, 1f);
        c.blas.gemm(new Mat(dLogits, labels), false, new Mat(c.value(score), d), false, new Mat(dPooled, d),
                c.batch, d, labels, 1f, 0f);
        dx.fill((byte) 0);
        for (int b = 0; b < c.batch; b++) {
            int len = c.length(b);
            long row = (long) b * c.n, from = (long) b * d;
            switch (pooling) {
                case LAST -> Floats.copy(dPooled, from, dx, (row + len - 1) * d, d);
                case FIRST -> Floats.copy(dPooled, from, dx, row * d, d);
                case MEAN -> {
                    for (int t = 0; t < len; t++) Kernels.axpy(1f / len, dPooled, from, dx, (row + t) * d, d);
                }
            }
        }
        return dx;
    }
}
