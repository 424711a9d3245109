package io.lumenspark.engine;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static io.lumenspark.engine.Kernels.L;
import static io.lumenspark.engine.Kernels.S;
import static io.lumenspark.engine.Kernels.get;
import static io.lumenspark.engine.Kernels.load;
import static io.lumenspark.engine.Kernels.put;
import static io.lumenspark.engine.Kernels.sum;

/**
 * The kernels of {@link QuantizedMatrix#decodeMatrix}: bf16 and int8 weights widened to float32 lanes in registers
 * (a bf16 is the top half of a float32; an int8 converts exactly) and multiplied with float32 inputs, accumulated
 * in float32. Four rows of W at a time meet each row of X in turn, so the rows' few KB stay in L1 while every row
 * of X uses them. Every y[b][r] is computed by the same operations in the same order whatever the batch, the
 * other rows of X, or the split across threads. Not in {@link Kernels} for the reason {@link DecodeKernels} is not.
 */
final class QuantKernels {
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorSpecies<Byte> BYTES = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final VectorSpecies<Short> SHORTS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, S.vectorShape());

    private QuantKernels() {
    }

    /** L int8 weights from byte offset i, as float32 lanes. */
    private static FloatVector int8(MemorySegment q, long i) {
        return (FloatVector) ByteVector.fromMemorySegment(BYTES, q, i, NATIVE).convertShape(VectorOperators.B2F, S, 0);
    }

    /** L bf16 weights from element i, as float32 lanes (shifted into the top half of each lane). */
    private static FloatVector bf16(MemorySegment w, long i) {
        return ((IntVector) ShortVector.fromMemorySegment(SHORTS, w, i * 2, NATIVE)
                .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static float bf16At(MemorySegment w, long i) {
        return QuantizedMatrix.fromBf16(w.getAtIndex(ValueLayout.JAVA_SHORT, i));
    }

    /**
     * Y = X W^T (+ bias) for rows [from, to) of m and batch rows of X ([batch, columns], contiguous) into Y
     * [batch, m.rows()].
     */
    static void matMulRows(QuantizedMatrix m, MemorySegment x, int batch, MemorySegment bias, long bo, MemorySegment y,
                           int from, int to) {
        boolean int8 = m.dtype() == WeightDtype.INT8;
        int r = from;
        for (; r + 4 <= to; r += 4) {
            for (int b = 0; b < batch; b++) {
                if (int8) int8Rows4(m, r, x, b, bias, bo, y);
                else bf16Rows4(m, r, x, b, bias, bo, y);
            }
        }
        for (; r < to; r++) {
            for (int b = 0; b < batch; b++) {
                if (int8) int8Row(m, r, x, b, bias, bo, y);
                else bf16Row(m, r, x, b, bias, bo, y);
            }
        }
    }

    /** Rows r..r+3 of bf16 W times row b of X: as {@link Kernels#dot} of the widened weights. */
    private static void bf16Rows4(QuantizedMatrix m, int r, MemorySegment x, int b, MemorySegment bias, long bo,
                                  MemorySegment y) {
        MemorySegment w = m.data();
        int n = m.columns();
        long w0 = (long) r * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n, x0 = (long) b * n;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector u = load(x, x0 + i);
            a0 = bf16(w, w0 + i).fma(u, a0);
            a1 = bf16(w, w1 + i).fma(u, a1);
            a2 = bf16(w, w2 + i).fma(u, a2);
            a3 = bf16(w, w3 + i).fma(u, a3);
        }
        long yo = (long) b * m.rows() + r;
        put(y, yo, bf16End(sum(a0), w, w0, x, x0, i, n, bias, bo, r));
        put(y, yo + 1, bf16End(sum(a1), w, w1, x, x0, i, n, bias, bo, r + 1));
        put(y, yo + 2, bf16End(sum(a2), w, w2, x, x0, i, n, bias, bo, r + 2));
        put(y, yo + 3, bf16End(sum(a3), w, w3, x, x0, i, n, bias, bo, r + 3));
    }

    /** Row r of bf16 W times row b of X: the same operations as one row of {@link #bf16Rows4}. */
    private static void bf16Row(QuantizedMatrix m, int r, MemorySegment x, int b, MemorySegment bias, long bo,
                                MemorySegment y) {
        MemorySegment w = m.data();
        int n = m.columns();
        long w0 = (long) r * n, x0 = (long) b * n;
        FloatVector a0 = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) a0 = bf16(w, w0 + i).fma(load(x, x0 + i), a0);
        put(y, (long) b * m.rows() + r, bf16End(sum(a0), w, w0, x, x0, i, n, bias, bo, r));
    }

    private static float bf16End(float s, MemorySegment w, long wRow, MemorySegment x, long xRow, int i, int n,
                                 MemorySegment bias, long bo, int r) {
        for (; i < n; i++) s += bf16At(w, wRow + i) * get(x, xRow + i);
        return bias == null ? s : s + get(bias, bo + r);
    }

    /**
     * Rows r..r+3 of int8 W times row b of X. Per block of the row: the products of the bytes (as floats) and X
     * summed in L lanes, then multiplied by the block's scale into the row's lanes (a fused multiply-add); the
     * elements of a block past its last whole vector go to a scalar sum, scaled likewise; the row's result is
     * the lane sum plus the scalar one.
     */
    private static void int8Rows4(QuantizedMatrix m, int r, MemorySegment x, int b, MemorySegment bias, long bo,
                                  MemorySegment y) {
        MemorySegment q = m.data(), d = m.scales();
        int n = m.columns(), block = m.block(), nb = QuantizedMatrix.blocks(n, block);
        long q0 = (long) r * n, q1 = q0 + n, q2 = q1 + n, q3 = q2 + n, x0 = (long) b * n;
        long d0 = (long) r * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (int j = 0, start = 0; j < nb; j++, start += block) {
            int end = Math.min(start + block, n), i = start;
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (; i + L <= end; i += L) {
                FloatVector u = load(x, x0 + i);
                s0 = int8(q, q0 + i).fma(u, s0);
                s1 = int8(q, q1 + i).fma(u, s1);
                s2 = int8(q, q2 + i).fma(u, s2);
                s3 = int8(q, q3 + i).fma(u, s3);
            }
            float e0 = get(d, d0 + j), e1 = get(d, d1 + j), e2 = get(d, d2 + j), e3 = get(d, d3 + j);
            a0 = s0.fma(FloatVector.broadcast(S, e0), a0);
            a1 = s1.fma(FloatVector.broadcast(S, e1), a1);
            a2 = s2.fma(FloatVector.broadcast(S, e2), a2);
            a3 = s3.fma(FloatVector.broadcast(S, e3), a3);
            if (i < end) {
                t0 = int8Tail(q, q0, x, x0, i, end, e0, t0);
                t1 = int8Tail(q, q1, x, x0, i, end, e1, t1);
                t2 = int8Tail(q, q2, x, x0, i, end, e2, t2);
                t3 = int8Tail(q, q3, x, x0, i, end, e3, t3);
            }
        }
        long yo = (long) b * m.rows() + r;
        put(y, yo, withBias(sum(a0) + t0, bias, bo, r));
        put(y, yo + 1, withBias(sum(a1) + t1, bias, bo, r + 1));
        put(y, yo + 2, withBias(sum(a2) + t2, bias, bo, r + 2));
        put(y, yo + 3, withBias(sum(a3) + t3, bias, bo, r + 3));
    }

    /** Row r of int8 W times row b of X: the same operations as one row of {@link #int8Rows4}. */
    private static void int8Row(QuantizedMatrix m, int r, MemorySegment x, int b, MemorySegment bias, long bo,
                                MemorySegment y) {
        MemorySegment q = m.data(), d = m.scales();
        int n = m.columns(), block = m.block(), nb = QuantizedMatrix.blocks(n, block);
        long q0 = (long) r * n, x0 = (long) b * n, d0 = (long) r * nb;
        FloatVector a0 = FloatVector.zero(S);
        float t0 = 0;
        for (int j = 0, start = 0; j < nb; j++, start += block) {
            int end = Math.min(start + block, n), i = start;
            FloatVector s0 = FloatVector.zero(S);
            for (; i + L <= end; i += L) s0 = int8(q, q0 + i).fma(load(x, x0 + i), s0);
            float e0 = get(d, d0 + j);
            a0 = s0.fma(FloatVector.broadcast(S, e0), a0);
            if (i < end) t0 = int8Tail(q, q0, x, x0, i, end, e0, t0);
        }
        put(y, (long) b * m.rows() + r, withBias(sum(a0) + t0, bias, bo, r));
    }

    /** t + scale * (the products of elements [i, end) in order). */
    private static float int8Tail(MemorySegment q, long qRow, MemorySegment x, long xRow, int i, int end, float scale,
                                  float t) {
        float s = 0;
        for (; i < end; i++) s += q.get(ValueLayout.JAVA_BYTE, qRow + i) * get(x, xRow + i);
        return Math.fma(s, scale, t);
    }

    /**
     * Row r of m as float32 into out from float offset o: bf16 widened exactly, int8 times its block's scale (one
     * rounding, as the scalar q * d).
     */
    static void widenRow(QuantizedMatrix m, int r, MemorySegment out, long o) {
        int n = m.columns();
        long w0 = (long) r * n;
        if (m.dtype() == WeightDtype.BF16) {
            int i = 0;
            for (int bound = n - L; i <= bound; i += L) Kernels.store(bf16(m.data(), w0 + i), out, o + i);
            for (; i < n; i++) put(out, o + i, bf16At(m.data(), w0 + i));
            return;
        }
        int block = m.block(), nb = QuantizedMatrix.blocks(n, block);
        long d0 = (long) r * nb;
        for (int j = 0, start = 0; j < nb; j++, start += block) {
            int end = Math.min(start + block, n), i = start;
            float scale = get(m.scales(), d0 + j);
            for (; i + L <= end; i += L) Kernels.store(int8(m.data(), w0 + i).mul(scale), out, o + i);
            for (; i < end; i++) put(out, o + i, m.data().get(ValueLayout.JAVA_BYTE, w0 + i) * scale);
        }
    }

    private static float withBias(float s, MemorySegment bias, long bo, int r) {
        return bias == null ? s : s + get(bias, bo + r);
    }
}
