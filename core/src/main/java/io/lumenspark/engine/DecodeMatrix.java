package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix W [rows, columns] (PyTorch's [out, in]) as a decoding step reads it: Y = X W^T (+ bias) for a
 * few rows of X, one per sequence being decoded, each weight read once for all of them, a product over the rows
 * rather than one matrix-vector product per row. Every output element is rounded the same way whatever the number
 * of rows and whatever the other rows hold, so a sequence's result does not depend on the batch it is decoded in.
 * Made by {@link #f32} for float32 weights and {@link QuantizedMatrix#decodeMatrix} for bf16 and int8 ones.
 */
public interface DecodeMatrix {
    /** Output features: W's rows. */
    int rows();

    /** Input features: W's columns. */
    int columns();

    /**
     * y[b, :] = W x[b, :] (+ bias) for b in 0..batch-1: x is [batch, columns] and y [batch, rows], both contiguous
     * from their first float. The output rows (and, for many rows of x, blocks of those) are shared out in chunks
     * among the worker threads ({@link Parallel#chunks}), which does not change any result.
     */
    void multiply(MemorySegment x, int batch, MemorySegment y);

    /**
     * Float32 weights W [rows, columns] from float offset of w, and a bias [rows] from its offset (bias null: none),
     * copied into arena in the layout the kernels read: packed for oneDNN's kernels where that is faster and gives
     * the same bits ({@link PackedFloatMatrix}: the large matrices, such as the output layer), else the Vector API
     * panels ({@link PanelMatrix}); the bias is used in place. When fromFile says the weights may be memory mapped
     * from a file and the operating system confirms a read-only file mapping, their pages are given back to the
     * system as they are copied (read from the file again if used later), so the copy does not add to the resident
     * memory.
     */
    static DecodeMatrix f32(MemorySegment w, long offset, int rows, int columns, MemorySegment bias, long biasOffset,
                            Arena arena, boolean fromFile) {
        DecodeMatrix packed = PackedFloatMatrix.of(w, offset, rows, columns, bias, biasOffset, arena, fromFile);
        return packed != null ? packed : PanelMatrix.f32(w, offset, rows, columns, bias, biasOffset, arena, fromFile);
    }
}
