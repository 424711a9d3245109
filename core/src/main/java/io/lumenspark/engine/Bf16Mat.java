package io.lumenspark.engine;

import java.lang.foreign.MemorySegment;

/**
 * A row-major bfloat16 matrix inside a native buffer, for {@link Bf16Gemm}: where its first element is and how far
 * apart its rows are, both in bf16 elements (2 bytes each).
 *
 * @param data   the buffer
 * @param offset the index of the matrix's first element in data
 * @param ld     the leading dimension: elements from the start of one row to the start of the next
 */
public record Bf16Mat(MemorySegment data, long offset, int ld) {
    /** A matrix at the start of data. */
    public Bf16Mat(MemorySegment data, int ld) {
        this(data, 0, ld);
    }

    /** Bytes of a buffer for count bf16 elements. */
    public static long bytes(long count) {
        return count * 2;
    }
}
