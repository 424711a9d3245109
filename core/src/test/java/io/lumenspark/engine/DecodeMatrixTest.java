package io.lumenspark.engine;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decoding products ({@link PanelMatrix}) against a scalar reference of the operations they promise: for every
 * output, a chain of fused multiply-adds over the columns in order from zero (each weight as float32: bf16
 * widened, int8 times its block's scale), plus the bias. Bit for bit, for every dtype, shapes around the panel and
 * block sizes, any batch and any thread count; and within float32's rounding of the exact product.
 */
class DecodeMatrixTest {
    /**
     * Last groups (with AVX-512: GROUP 64, HALF 32) of 1, 5, 32 (float32's HALF-wide kind, whole), 63, 64, 3, 24
     * (HALF wide, past its first vector), 33 (the first full-width one past HALF) and 8 rows.
     */
    private static final int[] ROWS = {1, 5, PanelMatrix.HALF, PanelMatrix.GROUP - 1, PanelMatrix.GROUP,
            PanelMatrix.GROUP + 3, PanelMatrix.GROUP + 3 * PanelMatrix.HALF / 4,
            PanelMatrix.GROUP + PanelMatrix.HALF + 1, 200};
    private static final int[] COLUMNS = {1, 7, 32, 33, 100};

    @AfterEach
    void threads() {
        Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
    }

    @Test
    void everyOutputIsTheFmaChainOfItsRowWhateverTheBatchAndThreads() {
        Random random = new Random(7);
        for (int threads : new int[]{1, 3}) {
            Blas.select(Backend.AUTO, threads);
            for (int rows : ROWS) {
                for (int columns : COLUMNS) {
                    for (String kind : new String[]{"f32", "bf16", "int8/32", "int8/row"}) {
                        check(kind, rows, columns, 9, true, random);
                        check(kind, rows, columns, 9, false, random);
                    }
                }
            }
        }
    }

    /**
     * More rows than a unit of work takes ({@link PanelMatrix#ROW_BLOCK}): a product of few groups is split by
     * blocks of rows as well, across threads, and each output is still its row's chain.
     */
    @Test
    void rowsBeyondOneBlockAreSplitWithoutChangingABit() {
        Random random = new Random(11);
        for (int threads : new int[]{1, 3}) {
            Blas.select(Backend.AUTO, threads);
            for (int rows : new int[]{5, PanelMatrix.GROUP + 3}) {
                for (String kind : new String[]{"f32", "bf16", "int8/32", "int8/row"}) {
                    // whole blocks; a last block of a 4-row tile and 3 single rows; one of 2 single rows
                    for (int batch : new int[]{PanelMatrix.ROW_BLOCK, 2 * PanelMatrix.ROW_BLOCK + 7,
                            2 * PanelMatrix.ROW_BLOCK + 2}) {
                        check(kind, rows, 100, batch, random.nextBoolean(), random);
                    }
                }
            }
        }
    }

    private static void check(String kind, int rows, int columns, int batch, boolean withBias, Random random) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = filled(arena, (long) rows * columns, random, 0.5f);
            MemorySegment bias = withBias ? filled(arena, rows + 3, random, 1f) : null;
            MemorySegment x = filled(arena, (long) batch * columns, random, 2f);
            DecodeMatrix m;
            float[] weights = new float[rows * columns]; // as the kernels use them
            if (kind.equals("f32")) {
                m = DecodeMatrix.f32(w, 0, rows, columns, bias, 3, arena, false);
                for (int i = 0; i < weights.length; i++) weights[i] = w.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            } else {
                WeightDtype dtype = kind.equals("bf16") ? WeightDtype.BF16 : WeightDtype.INT8;
                int block = kind.equals("int8/row") ? Integer.MAX_VALUE : QuantizedMatrix.BLOCK;
                QuantizedMatrix q = QuantizedMatrix.quantize(dtype, w, rows, columns, block, arena);
                m = q.decodeMatrix(bias, 3, arena, false);
                MemorySegment widened = arena.allocate((long) rows * columns * 4, 64);
                q.dequantize(0, rows, widened);
                for (int i = 0; i < weights.length; i++) weights[i] = widened.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            }
            assertEquals(rows, m.rows());
            assertEquals(columns, m.columns());
            String what = kind + " " + rows + "x" + columns + " batch " + batch + (withBias ? " with bias" : "");

            MemorySegment y = arena.allocate((long) batch * rows * 4 + 64, 64);
            y.fill((byte) 0x7f); // NaN-free garbage past the end must stay untouched
            m.multiply(x, batch, y);
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    float acc = 0;
                    double exact = 0, magnitude = 0;
                    for (int k = 0; k < columns; k++) {
                        float xv = x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * columns + k);
                        acc = Math.fma(weights[r * columns + k], xv, acc);
                        exact += (double) weights[r * columns + k] * xv;
                        magnitude += Math.abs((double) weights[r * columns + k] * xv);
                    }
                    float want = bias == null ? acc : acc + bias.getAtIndex(ValueLayout.JAVA_FLOAT, 3 + r);
                    float got = y.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * rows + r);
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got),
                            what + ": y[" + b + "][" + r + "] = " + got + ", the chain gives " + want);
                    assertTrue(Math.abs(acc - exact) <= 1e-6 * columns * magnitude + 1e-30,
                            what + ": " + acc + " against the exact " + exact);
                }
            }
            assertEquals(0x7f7f7f7f, y.get(ValueLayout.JAVA_INT, (long) batch * rows * 4), what + ": wrote past Y");

            assertBatchInvariant(m, x, batch, y, arena, what);
        }
    }

    /**
     * Each row of x alone, and the rows in reverse order, give the same bits as y, m's product of the batch of
     * them.
     */
    static void assertBatchInvariant(DecodeMatrix m, MemorySegment x, int batch, MemorySegment y, Arena arena,
                                     String what) {
        int rows = m.rows(), columns = m.columns();
        MemorySegment one = arena.allocate((long) rows * 4, 64);
        MemorySegment reversed = arena.allocate((long) batch * columns * 4, 64);
        for (int b = 0; b < batch; b++) {
            MemorySegment.copy(x, (long) b * columns * 4, reversed, (long) (batch - 1 - b) * columns * 4,
                    (long) columns * 4);
        }
        MemorySegment yr = arena.allocate((long) batch * rows * 4, 64);
        m.multiply(reversed, batch, yr);
        for (int b = 0; b < batch; b++) {
            m.multiply(x.asSlice((long) b * columns * 4), 1, one);
            for (int r = 0; r < rows; r++) {
                int inBatch = y.getAtIndex(ValueLayout.JAVA_INT, (long) b * rows + r);
                assertEquals(inBatch, one.getAtIndex(ValueLayout.JAVA_INT, r), what + ": row " + b + " alone");
                assertEquals(inBatch, yr.getAtIndex(ValueLayout.JAVA_INT, (long) (batch - 1 - b) * rows + r),
                        what + ": row " + b + " in reversed order");
            }
        }
    }

    @Test
    void theCopyTakesTheBytesOfItsDtype() {
        try (Arena arena = Arena.ofShared()) {
            int rows = 3 * PanelMatrix.GROUP, columns = 64;
            MemorySegment w = filled(arena, (long) rows * columns, new Random(1), 1f);
            assertEquals((long) rows * columns * 4, ((PanelMatrix) DecodeMatrix.f32(w, 0, rows, columns, null, 0, arena, false)).bytes());
            int halfTail = PanelMatrix.GROUP + PanelMatrix.HALF; // float32: the last group HALF wide
            assertEquals((long) halfTail * columns * 4,
                    ((PanelMatrix) DecodeMatrix.f32(w, 0, halfTail, columns, null, 0, arena, false)).bytes());
            QuantizedMatrix q = QuantizedMatrix.quantize(WeightDtype.INT8, w, rows, columns, 32, arena);
            assertEquals(q.bytes(), ((PanelMatrix) q.decodeMatrix(null, 0, arena, false)).bytes());
        }
    }

    /** n floats of N(0, scale^2) in arena. */
    static MemorySegment filled(Arena arena, long n, Random random, float scale) {
        MemorySegment m = arena.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian() * scale);
        return m;
    }
}
