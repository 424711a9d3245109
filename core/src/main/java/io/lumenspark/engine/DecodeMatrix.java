package io.lumenspark.engine;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix W [rows, columns] (PyTorch's [out, in]) as a decoding step reads it: Y = X W^T (+ bias) for a
 * few rows of X, one per sequence being decoded, each weight read once for all of them, a product over the rows
 * rather than one matrix-vector product per row. Every output element is rounded the same way whatever the number
 * of rows and whatever the other rows hold, so a sequence's result does not depend on the batch it is decoded in.
 * Implementations differ by how the weights are stored and the kernel that reads them ({@link #f32}: float32;
 * {@link QuantizedMatrix#decodeMatrix}: bf16 and int8).
 */
public interface DecodeMatrix {
    /** Output features: W's rows. */
    int rows();

    /** Input features: W's columns. */
    int columns();

    /**
     * y[b, :] = W x[b, :] (+ bias) for b in 0..batch-1: x is [batch, columns] and y [batch, rows], both contiguous
     * from their first float. The output rows are shared out in chunks among the worker threads
     * ({@link Parallel#chunks}), which does not change any result.
     */
    void multiply(MemorySegment x, int batch, MemorySegment y);

    /**
     * Float32 weights used in place: W [rows, columns] from float offset of w, and a bias [rows] from its offset
     * (bias null: none).
     */
    static DecodeMatrix f32(MemorySegment w, long offset, int rows, int columns, MemorySegment bias, long biasOffset) {
        return new F32(w, offset, rows, columns, bias, biasOffset);
    }

    /** Float32 weights: {@link DecodeKernels#matMulRows} over blocks of four output rows per thread. */
    record F32(MemorySegment w, long offset, int rows, int columns, MemorySegment bias, long biasOffset)
            implements DecodeMatrix {
        @Override
        public void multiply(MemorySegment x, int batch, MemorySegment y) {
            int blocks = (rows + 3) / 4;
            Parallel.chunks(blocks, 4L * columns * batch, (from, to) -> DecodeKernels.matMulRows(w, offset, columns, columns,
                    x, batch, bias, biasOffset, y, rows, 4 * from, Math.min(rows, 4 * to)));
        }
    }
}
