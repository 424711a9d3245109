package io.lumenspark.engine;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Pure-Java matrix products with the Vector API: the fallback when OpenBLAS cannot load, and the independent
 * implementation the OpenBLAS path is tested against. Packs op(A) and op(B) into padded row-major arrays, then
 * runs a 4-row x 2-vector register-blocked kernel over row blocks in parallel.
 */
final class JavaBlas implements Blas {
    private static final int MR = 4;
    private static final int L = Kernels.L;
    private static final int NR = 2 * L;

    @Override
    public String name() {
        return "java (Vector API, " + L * 32 + "-bit)";
    }

    @Override
    public void matVec(int m, int n, MemorySegment a, long aOffset, int lda, MemorySegment x, long xOffset,
                       MemorySegment y, long yOffset) {
        Parallel.rows(m, n, (from, to) -> Kernels.matVec(a, aOffset, lda, n, x, xOffset, y, yOffset, from, to));
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        if (m == 0 || n == 0) return;
        int mp = (m + MR - 1) / MR * MR;
        int np = (n + NR - 1) / NR * NR;
        float[] ap = new float[mp * k];
        float[] bp = new float[k * np];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k; p++) {
                ap[i * k + p] = a.getAtIndex(JAVA_FLOAT, aOffset + (transA ? (long) p * lda + i : (long) i * lda + p));
            }
        }
        for (int p = 0; p < k; p++) {
            for (int j = 0; j < n; j++) {
                bp[p * np + j] = b.getAtIndex(JAVA_FLOAT, bOffset + (transB ? (long) j * ldb + p : (long) p * ldb + j));
            }
        }
        Parallel.rows(mp / MR, (long) MR * np * k, (from, to) -> {
            float[] block = new float[MR * np];
            for (int ib = from; ib < to; ib++) {
                int i0 = ib * MR;
                kernel(ap, bp, block, i0, k, np);
                for (int r = 0; r < MR && i0 + r < m; r++) {
                    long crow = cOffset + (long) (i0 + r) * ldc;
                    for (int j = 0; j < n; j++) {
                        float prev = beta == 0f ? 0f : beta * c.getAtIndex(JAVA_FLOAT, crow + j);
                        c.setAtIndex(JAVA_FLOAT, crow + j, prev + alpha * block[r * np + j]);
                    }
                }
            }
        });
    }

    /** block[MR x np] = ap[i0 .. i0+MR) x bp. */
    private static void kernel(float[] ap, float[] bp, float[] block, int i0, int k, int np) {
        for (int j = 0; j < np; j += NR) {
            FloatVector c00 = FloatVector.zero(Kernels.S), c01 = c00, c10 = c00, c11 = c00,
                    c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int p = 0; p < k; p++) {
                FloatVector b0 = FloatVector.fromArray(Kernels.S, bp, p * np + j);
                FloatVector b1 = FloatVector.fromArray(Kernels.S, bp, p * np + j + L);
                FloatVector a0 = FloatVector.broadcast(Kernels.S, ap[i0 * k + p]);
                FloatVector a1 = FloatVector.broadcast(Kernels.S, ap[(i0 + 1) * k + p]);
                FloatVector a2 = FloatVector.broadcast(Kernels.S, ap[(i0 + 2) * k + p]);
                FloatVector a3 = FloatVector.broadcast(Kernels.S, ap[(i0 + 3) * k + p]);
                c00 = a0.fma(b0, c00);
                c01 = a0.fma(b1, c01);
                c10 = a1.fma(b0, c10);
                c11 = a1.fma(b1, c11);
                c20 = a2.fma(b0, c20);
                c21 = a2.fma(b1, c21);
                c30 = a3.fma(b0, c30);
                c31 = a3.fma(b1, c31);
            }
            c00.intoArray(block, j);
            c01.intoArray(block, j + L);
            c10.intoArray(block, np + j);
            c11.intoArray(block, np + j + L);
            c20.intoArray(block, 2 * np + j);
            c21.intoArray(block, 2 * np + j + L);
            c30.intoArray(block, 3 * np + j);
            c31.intoArray(block, 3 * np + j + L);
        }
    }
}
