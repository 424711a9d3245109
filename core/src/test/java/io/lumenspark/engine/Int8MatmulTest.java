package io.lumenspark.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * oneDNN's int8 matmul on packed weights ({@link Int8Matmul}) against exact integer sums: uint8 A times int8 B in
 * int32, for row counts around oneDNN's blocks and the weights packed once for all of them, both through the m-row
 * primitive and row by row (the path taken where oneDNN would pack differently for m rows), with extreme values.
 */
class Int8MatmulTest {
    @Test
    void productsAreTheExactIntegerSumsForAnyRowCountAndEitherPath() {
        Int8Matmul matmul = Int8Matmul.find().orElse(null);
        assumeTrue(matmul != null, "no integer products here: " + Int8Matmul.unavailableReason());
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
                MemorySegment packed = arena.allocate(matmul.packedBytes(n, k), 64);
                matmul.pack(plain, n, k, packed);
                for (int m : new int[]{1, 3, 16, 17, 65}) {
                    byte[] a = new byte[m * k];
                    for (int i = 0; i < a.length; i++) a[i] = (byte) (random.nextBoolean() ? random.nextInt(256) : 255);
                    MemorySegment as = arena.allocate(a.length, 64);
                    MemorySegment.copy(a, 0, as, ValueLayout.JAVA_BYTE, 0, a.length);
                    MemorySegment c = arena.allocate((long) m * n * 4, 64);
                    MemorySegment rows = arena.allocate((long) m * n * 4, 64);
                    matmul.multiply(m, n, k, as, packed, c);
                    matmul.multiplyRowByRow(m, n, k, as, packed, rows);
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
}
