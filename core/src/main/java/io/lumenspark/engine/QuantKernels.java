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

import static io.lumenspark.engine.Kernels.L;
import static io.lumenspark.engine.Kernels.S;
import static io.lumenspark.engine.Kernels.get;
import static io.lumenspark.engine.Kernels.put;

/**
 * bf16 and int8 weights widened to float32 lanes in registers (a bf16 is the top half of a float32; an int8
 * converts exactly): the loads of {@link PanelMatrix}'s kernels and the rows {@link QuantizedMatrix#dequantize}
 * widens.
 */
final class QuantKernels {
    /** L bytes as a vector, where the hardware has one that small: not with 128-bit vectors (L = 4). */
    private static final VectorSpecies<Byte> BYTES = L * 8 >= 64
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;
    private static final VectorSpecies<Short> SHORTS = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> INTS = VectorSpecies.of(int.class, S.vectorShape());

    private QuantKernels() {
    }

    /** L int8 weights from byte offset i, as float32 lanes. */
    static FloatVector int8(MemorySegment q, long i) {
        if (BYTES == null) { // 128-bit vectors (NEON): no 32-bit byte vector to widen; the same values, slower
            float[] f = new float[L];
            for (int j = 0; j < L; j++) f[j] = q.get(ValueLayout.JAVA_BYTE, i + j);
            return FloatVector.fromArray(S, f, 0);
        }
        return (FloatVector) ByteVector.fromMemorySegment(BYTES, q, i, Kernels.NATIVE)
                .convertShape(VectorOperators.B2F, S, 0);
    }

    /** L bf16 weights from element i, as float32 lanes (shifted into the top half of each lane). */
    private static FloatVector bf16(MemorySegment w, long i) {
        return ((IntVector) ShortVector.fromMemorySegment(SHORTS, w, i * 2, Kernels.NATIVE)
                .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static float bf16At(MemorySegment w, long i) {
        return QuantizedMatrix.fromBf16(w.getAtIndex(ValueLayout.JAVA_SHORT, i));
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
}
