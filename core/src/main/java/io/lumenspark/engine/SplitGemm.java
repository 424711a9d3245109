package io.lumenspark.engine;

import java.lang.foreign.MemorySegment;

/**
 * A single-threaded library product (OpenBLAS's or oneDNN's) run across {@link Parallel}'s threads: C is split into
 * one block of rows (or of columns, when it is wider than tall) per thread, each one call. Every element of C is
 * still one call's dot product over all of k. Offsets and leading dimensions are in elements of each operand.
 */
@FunctionalInterface
interface SplitGemm {
    /** Below this many multiply-adds a product runs on the calling thread: splitting costs more than it saves. */
    long SPLIT_WORK = 1L << 20;

    /** One single-threaded call: C = alpha op(A) op(B) + beta C. */
    void call(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, long aOffset,
              int lda, MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset, int ldc);

    /** The product as calls on blocks of C, one per thread. */
    default void split(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a,
                       long aOffset, int lda, MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c,
                       long cOffset, int ldc) {
        if (m == 0 || n == 0) return;
        if (Parallel.threads() == 1 || (long) m * n * k < SPLIT_WORK) {
            call(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        } else if (m >= n) {
            Parallel.rows(m, Long.MAX_VALUE / m, (r0, r1) -> call(transA, transB, r1 - r0, n, k, alpha, a,
                    aOffset + (transA ? r0 : (long) r0 * lda), lda, b, bOffset, ldb, beta, c,
                    cOffset + (long) r0 * ldc, ldc));
        } else {
            Parallel.rows(n, Long.MAX_VALUE / n, (c0, c1) -> call(transA, transB, m, c1 - c0, k, alpha, a, aOffset,
                    lda, b, bOffset + (transB ? (long) c0 * ldb : c0), ldb, beta, c, cOffset + c0, ldc));
        }
    }
}
