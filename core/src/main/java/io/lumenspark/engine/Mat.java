package io.lumenspark.engine;

import java.lang.foreign.MemorySegment;

/**
 * A row-major float32 matrix inside a native buffer, for {@link Blas#gemm}: where its first element is and how far
 * apart its rows are, both in floats (as in CBLAS).
 *
 * @param data   the buffer
 * @param offset the index of the matrix's first element in data
 * @param ld     the leading dimension: floats from the start of one row to the start of the next
 */
public record Mat(MemorySegment data, long offset, int ld) {
    /** A matrix at the start of data. */
    public Mat(MemorySegment data, int ld) {
        this(data, 0, ld);
    }
}
