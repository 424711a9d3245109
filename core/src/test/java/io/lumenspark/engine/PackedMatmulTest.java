package io.lumenspark.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * oneDNN's matmul on packed weights ({@link PackedMatmul}) for row counts around oneDNN's blocks and the weights
 * packed once for all of them, both through the m-row primitive and row by row (the path taken where oneDNN would
 * pack differently for m rows): int8 against exact integer sums (uint8 A times int8 B in int32, with extreme
 * values), float32 against the chain of fused multiply-adds over k in order that the decoding products promise.
 */
class PackedMatmulTest {
    @Test
    void int8ProductsAreTheExactIntegerSumsForAnyRowCountAndEitherPath() {
        PackedMatmul matmul = PackedMatmul.find(PackedMatmul.Kind.INT8).orElse(null);
        assumeTrue(matmul != null, "no integer products here: "
                + PackedMatmul.unavailableReason(PackedMatmul.Kind.INT8));
        Random random = new Random(21);
        for (int[] nk : new int[][]{{1, 1}, {64, 64}, {100, 37}, {2048, 512}, {130, 1500}}) {
            int n = nk[0], k = nk[1];
            try (Arena arena = Arena.ofConfined()) {
                byte[] q = new byte[n * k];
                for (int i = 0; i < q.length; i++) { // random, or the extremes
                    q[i] = (byte) (random.nextBoolean() ? random.nextInt(255) - 127 : i % 2 == 0 ? 127 : -127);
                }
                MemorySegment plain = arena.allocate(q.length, 64);
                MemorySegment.copy(q, 0, plain, ValueLayout.JAVA_BYTE, 0, q.length);
                MemorySegment packed = pack(matmul, plain, n, k, arena);
                for (int m : new int[]{1, 3, 16, 17, 65}) {
                    byte[] a = new byte[m * k];
                    for (int i = 0; i < a.length; i++) a[i] = (byte) (random.nextBoolean() ? random.nextInt(256) : 255);
                    MemorySegment as = arena.allocate(a.length, 64);
                    MemorySegment.copy(a, 0, as, ValueLayout.JAVA_BYTE, 0, a.length);
                    MemorySegment[] paths = bothPaths(matmul, m, n, k, as, packed, arena);
                    MemorySegment c = paths[0], rows = paths[1];
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            long want = 0;
                            for (int l = 0; l < k; l++) want += (long) (a[i * k + l] & 0xff) * q[j * k + l];
                            String at = m + "x" + k + " times " + k + "x" + n + ", C[" + i + "][" + j + "]";
                            assertEquals(want, c.getAtIndex(ValueLayout.JAVA_INT, (long) i * n + j), at);
                            assertEquals(want, rows.getAtIndex(ValueLayout.JAVA_INT, (long) i * n + j),
                                    at + " row by row");
                        }
                    }
                }
            }
        }
    }

    @Test
    void float32ProductsAreTheFmaChainForAnyRowCountAndEitherPath() {
        PackedMatmul matmul = PackedMatmul.find(PackedMatmul.Kind.F32).orElse(null);
        assumeTrue(matmul != null, "no float32 products here: "
                + PackedMatmul.unavailableReason(PackedMatmul.Kind.F32));
        Random random = new Random(23);
        // not past 512 columns: oneDNN's sums then need not be the chain (PackedFloatMatrix checks it)
        for (int[] nk : new int[][]{{1, 1}, {100, 37}, {2048, 512}, {130, 512}}) {
            int n = nk[0], k = nk[1];
            try (Arena arena = Arena.ofConfined()) {
                float[] w = new float[n * k];
                for (int i = 0; i < w.length; i++) w[i] = random.nextFloat() * 2 - 1;
                MemorySegment plain = arena.allocate(w.length * 4L, 64);
                MemorySegment.copy(w, 0, plain, ValueLayout.JAVA_FLOAT, 0, w.length);
                MemorySegment packed = pack(matmul, plain, n, k, arena);
                for (int m : new int[]{1, 3, 16, 17, 65}) {
                    float[] a = new float[m * k];
                    for (int i = 0; i < a.length; i++) a[i] = random.nextFloat() * 2 - 1;
                    MemorySegment as = arena.allocate(a.length * 4L, 64);
                    MemorySegment.copy(a, 0, as, ValueLayout.JAVA_FLOAT, 0, a.length);
                    MemorySegment[] paths = bothPaths(matmul, m, n, k, as, packed, arena);
                    MemorySegment c = paths[0], rows = paths[1];
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            float want = 0;
                            for (int l = 0; l < k; l++) want = Math.fma(w[j * k + l], a[i * k + l], want);
                            String at = m + "x" + k + " times " + k + "x" + n + ", C[" + i + "][" + j + "]";
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(
                                    c.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j)), at);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(
                                    rows.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j)), at + " row by row");
                        }
                    }
                }
            }
        }
    }

    /** Weights n x k (row-major) packed for matmul. */
    private static MemorySegment pack(PackedMatmul matmul, MemorySegment plain, int n, int k, Arena arena) {
        MemorySegment packed = arena.allocate(matmul.packedBytes(n, k), 64);
        matmul.pack(plain, n, k, packed);
        return packed;
    }

    /** C [m, n] through the m-row primitive, then row by row through the one-row primitive. */
    private static MemorySegment[] bothPaths(PackedMatmul matmul, int m, int n, int k, MemorySegment a,
                                             MemorySegment packed, Arena arena) {
        MemorySegment c = arena.allocate((long) m * n * 4, 64), rows = arena.allocate((long) m * n * 4, 64);
        matmul.multiply(m, n, k, a, packed, c);
        matmul.multiplyRowByRow(m, n, k, a, packed, rows);
        return new MemorySegment[]{c, rows};
    }
}
