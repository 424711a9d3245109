package io.lumenspark.engine;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;

import static io.lumenspark.engine.Kernels.L;
import static io.lumenspark.engine.Kernels.S;
import static io.lumenspark.engine.Kernels.get;
import static io.lumenspark.engine.Kernels.load;
import static io.lumenspark.engine.Kernels.put;
import static io.lumenspark.engine.Kernels.sum;

/**
 * The float32 kernel of {@link DecodeMatrix}. It is not in {@link Kernels}, whose methods the launcher forces
 * C2 to inline into their callers: these loops hold twenty vectors in registers, and inlined into one another
 * C2 runs out of registers and gives up compiling them (measured: 3-5x slower).
 */
final class DecodeKernels {
    private DecodeKernels() {
    }

    /**
     * Y = X W^T for rows [from, to) of W ([rows, n], rows ld apart) and batch rows of X ([batch, n], contiguous),
     * into Y [batch, rows] (contiguous): the products of a decoding step over several sequences, each weight read
     * once for all of them. Every y[b][r] is accumulated and rounded exactly as {@link Kernels#dot} rounds dot(W[r], x[b])
     * (lanes in index order, a fixed reduction tree, the tail in order), plus bias[r] when bias is not null, so it
     * does not depend on batch, on the other rows of X, or on how the rows are split across threads. Four rows of W
     * meet two rows of X in eight accumulators, so a block of W stays in registers and cache while every row of X
     * uses it.
     */
    static void matMulRows(MemorySegment w, long wo, int ld, int n, MemorySegment x, int batch,
                                  MemorySegment bias, long bo, MemorySegment y, int rows, int from, int to) {
        int r = from;
        for (; r + 4 <= to; r += 4) {
            long w0 = wo + (long) r * ld, w1 = w0 + ld, w2 = w1 + ld, w3 = w2 + ld;
            int b = 0;
            for (; b + 2 <= batch; b += 2) rowsTimes2(w, w0, w1, w2, w3, n, x, b, bias, bo, y, rows, r);
            for (; b < batch; b++) rowsTimes1(w, w0, w1, w2, w3, n, x, b, bias, bo, y, rows, r);
        }
        for (; r < to; r++) {
            for (int b = 0; b < batch; b++) {
                float s = Kernels.dot(w, wo + (long) r * ld, x, (long) b * n, n);
                put(y, (long) b * rows + r, bias == null ? s : s + get(bias, bo + r));
            }
        }
    }

    /** Four rows of W (starting at w0..w3) times rows b and b+1 of X. */
    private static void rowsTimes2(MemorySegment w, long w0, long w1, long w2, long w3, int n, MemorySegment x,
                                   int b, MemorySegment bias, long bo, MemorySegment y, int rows, int r) {
        long x0 = (long) b * n, x1 = x0 + n;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
                a31 = a00;
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector v0 = load(w, w0 + i), v1 = load(w, w1 + i), v2 = load(w, w2 + i), v3 = load(w, w3 + i);
            FloatVector u = load(x, x0 + i);
            a00 = v0.fma(u, a00);
            a10 = v1.fma(u, a10);
            a20 = v2.fma(u, a20);
            a30 = v3.fma(u, a30);
            u = load(x, x1 + i);
            a01 = v0.fma(u, a01);
            a11 = v1.fma(u, a11);
            a21 = v2.fma(u, a21);
            a31 = v3.fma(u, a31);
        }
        // written out, not looped over arrays: an array of vectors would box them
        long y0 = (long) b * rows + r, y1 = y0 + rows;
        put(y, y0, end(sum(a00), w, w0, x, x0, i, n, bias, bo, r));
        put(y, y0 + 1, end(sum(a10), w, w1, x, x0, i, n, bias, bo, r + 1));
        put(y, y0 + 2, end(sum(a20), w, w2, x, x0, i, n, bias, bo, r + 2));
        put(y, y0 + 3, end(sum(a30), w, w3, x, x0, i, n, bias, bo, r + 3));
        put(y, y1, end(sum(a01), w, w0, x, x1, i, n, bias, bo, r));
        put(y, y1 + 1, end(sum(a11), w, w1, x, x1, i, n, bias, bo, r + 1));
        put(y, y1 + 2, end(sum(a21), w, w2, x, x1, i, n, bias, bo, r + 2));
        put(y, y1 + 3, end(sum(a31), w, w3, x, x1, i, n, bias, bo, r + 3));
    }

    /** Four rows of W (starting at w0..w3) times row b of X. */
    private static void rowsTimes1(MemorySegment w, long w0, long w1, long w2, long w3, int n, MemorySegment x,
                                   int b, MemorySegment bias, long bo, MemorySegment y, int rows, int r) {
        long x0 = (long) b * n;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector u = load(x, x0 + i);
            a0 = load(w, w0 + i).fma(u, a0);
            a1 = load(w, w1 + i).fma(u, a1);
            a2 = load(w, w2 + i).fma(u, a2);
            a3 = load(w, w3 + i).fma(u, a3);
        }
        long yo = (long) b * rows + r;
        put(y, yo, end(sum(a0), w, w0, x, x0, i, n, bias, bo, r));
        put(y, yo + 1, end(sum(a1), w, w1, x, x0, i, n, bias, bo, r + 1));
        put(y, yo + 2, end(sum(a2), w, w2, x, x0, i, n, bias, bo, r + 2));
        put(y, yo + 3, end(sum(a3), w, w3, x, x0, i, n, bias, bo, r + 3));
    }

    /**
     * The end of one dot product as {@link Kernels#dot} ends it: its lane sum s, then the tail from element i, then the bias.
     * Scalars only: a vector argument to a method C2 does not inline would be boxed.
     */
    private static float end(float s, MemorySegment w, long wRow, MemorySegment x, long xRow, int i, int n,
                             MemorySegment bias, long bo, int r) {
        for (; i < n; i++) s += get(w, wRow + i) * get(x, xRow + i);
        return bias == null ? s : s + get(bias, bo + r);
    }

}
