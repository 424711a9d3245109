package io.lumenspark.engine;

import java.lang.foreign.MemorySegment;

/**
 * Single-precision matrix products on row-major float32 matrices held in native memory.
 * Offsets and leading dimensions are in elements, as in CBLAS.
 */
public interface Blas {
    /**
     * C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; op(A) is m x k, op(B) is k x n, C is m x n.
     * As in BLAS, C need not be initialized when beta is 0.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               MemorySegment a, long aOffset, int lda,
               MemorySegment b, long bOffset, int ldb,
               float beta, MemorySegment c, long cOffset, int ldc);

    /**
     * C = alpha * op(A) * op(B) + beta * C with the matrices named: op(X) = X^T when its trans flag is set; op(A) is
     * m x k, op(B) k x n and C m x n. The same product as {@link #sgemm}, whose sixteen positional arguments it
     * spares the caller.
     */
    default void gemm(Mat a, boolean transA, Mat b, boolean transB, Mat c, int m, int n, int k, float alpha,
                      float beta) {
        sgemm(transA, transB, m, n, k, alpha, a.data(), a.offset(), a.ld(), b.data(), b.offset(), b.ld(), beta,
                c.data(), c.offset(), c.ld());
    }

    /**
     * y = A x for a row-major m x n matrix A (rows lda apart): the products of decoding one token, which read
     * each weight once and run at memory bandwidth, so they get their own kernel rather than sgemm with m = 1.
     */
    void matVec(int m, int n, MemorySegment a, long aOffset, int lda, MemorySegment x, long xOffset,
                MemorySegment y, long yOffset);

    /** A short name for logs and benchmarks, e.g. "openblas 0.3.31 (Cooperlake)" or "java". */
    String name();

    /** The backend in use: OpenBLAS when it loads, else the pure-Java one (or as forced by {@link #select}). */
    static Blas get() {
        return Backend.current();
    }

    /**
     * Chooses the backend: AUTO (OpenBLAS if it loads, else Java), OPENBLAS (fails if it cannot load) or JAVA; and
     * the number of threads products may use.
     */
    static void select(Backend backend, int threads) {
        Backend.select(backend, threads);
    }
}
