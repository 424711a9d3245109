package io.lumenspark.engine;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The int8 products in integers ({@link IntegerMatrix}) against a scalar reference of what they promise: the
 * weights requantized with one scale per row, each row of X quantized to int8 with its own scale, the integer sum
 * S exact (in long arithmetic here), y = (float) S * ws * xs (+ bias) in float32. Bit for bit through oneDNN's
 * matmul on packed weights (where oneDNN 2 loads and the CPU has VNNI), for any batch, order and thread count; within
 * the rounding of X and W of the float32 product. (PackedMatmulTest checks the integer products themselves.)
 */
class IntegerMatrixTest {
    /**
     * Rows around the slice sizes and oneDNN's blocks of 16 and 64; columns around its groups of 4 and 64 bytes, and
     * past 1,040 (where S may round as a float32).
     */
    private static final int[][] SHAPES = {{1, 1}, {5, 7}, {3, 64}, {70, 100}, {2049, 33}, {9, 1024}, {17, 1500},
            {300, 512}};

    @AfterEach
    void threads() {
        Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
    }

    @Test
    void everyOutputIsTheExactIntegerSumScaledWhateverTheBatchAndThreads() {
        Random random = new Random(11);
        PackedMatmul matmul = PackedMatmul.find(PackedMatmul.Kind.INT8).orElse(null);
        assumeTrue(matmul != null, "no integer products here: "
                + PackedMatmul.unavailableReason(PackedMatmul.Kind.INT8));
        for (int threads : new int[]{1, 3}) {
            Blas.select(Backend.AUTO, threads);
            for (int[] shape : SHAPES) check(shape[0], shape[1], random.nextBoolean(), random, matmul);
        }
    }

    private static void check(int rows, int columns, boolean withBias, Random random, PackedMatmul matmul) {
        try (Arena arena = Arena.ofShared()) {
            int batch = 9;
            MemorySegment w = DecodeMatrixTest.filled(arena, (long) rows * columns, random, 0.5f);
            MemorySegment bias = withBias ? DecodeMatrixTest.filled(arena, rows + 3, random, 1f) : null;
            MemorySegment x = DecodeMatrixTest.filled(arena, (long) batch * columns, random, 2f);
            for (int k = 0; k < columns; k++) x.setAtIndex(ValueLayout.JAVA_FLOAT, columns + k, 0f); // row 1 all zero: scale 0
            QuantizedMatrix blocks = QuantizedMatrix.quantize(WeightDtype.INT8, w, rows, columns, QuantizedMatrix.BLOCK,
                    arena);
            // the reference: the block-quantized weights widened, then one scale per row
            MemorySegment widened = arena.allocate((long) rows * columns * 4, 64);
            blocks.dequantize(0, rows, widened);
            byte[] q = new byte[rows * columns];
            float[] ws = new float[rows];
            for (int r = 0; r < rows; r++) ws[r] = quantize(widened, (long) r * columns, columns, q, r * columns);
            byte[] xq = new byte[batch * columns];
            float[] xs = new float[batch];
            for (int b = 0; b < batch; b++) xs[b] = quantize(x, (long) b * columns, columns, xq, b * columns);

            IntegerMatrix m = IntegerMatrix.of(blocks, bias, 3, arena, false, matmul);
            String what = rows + "x" + columns + (withBias ? " with bias" : "") + ", " + Parallel.threads()
                    + " threads";
            assertEquals(rows, m.rows());
            assertEquals(columns, m.columns());
            assertTrue(m.bytes() >= (long) rows * columns + rows * 4L, what + ": the packed weights");
            MemorySegment alone = arena.allocate((long) rows * 4, 64);
            m.multiply(x, 1, alone); // this thread's buffers made for one row, then grown for the batch below
            MemorySegment y = arena.allocate((long) batch * rows * 4 + 64, 64);
            y.fill((byte) 0x7f); // NaN-free garbage past the end must stay untouched
            m.multiply(x, batch, y);
            assertEquals(-1L, alone.mismatch(y.asSlice(0, alone.byteSize())), what + ": row 0 alone, then batched");
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    long s = 0;
                    double exact = 0, magnitude = 0;
                    for (int k = 0; k < columns; k++) {
                        s += (long) q[r * columns + k] * xq[b * columns + k];
                        double p = (double) widened.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * columns + k)
                                * x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * columns + k);
                        exact += p;
                        magnitude += Math.abs(p);
                    }
                    float want = (float) s * ws[r] * xs[b];
                    if (bias != null) want += bias.getAtIndex(ValueLayout.JAVA_FLOAT, 3 + r);
                    float got = y.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * rows + r);
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got),
                            what + ": y[" + b + "][" + r + "] = " + got + ", S = " + s + " gives " + want);
                    // rounding each factor to int8 moves a product by at most about 1/127 of its size
                    double b0 = bias == null ? 0 : bias.getAtIndex(ValueLayout.JAVA_FLOAT, 3 + r);
                    assertTrue(Math.abs(got - b0 - exact) <= 0.02 * magnitude + 1e-6,
                            what + ": " + (got - b0) + " against the float32 product " + exact);
                }
            }
            assertEquals(0x7f7f7f7f, y.get(ValueLayout.JAVA_INT, (long) batch * rows * 4), what + ": wrote past Y");

            DecodeMatrixTest.assertBatchInvariant(m, x, batch, y, arena, what);
        }
    }

    @Test
    void onlyInt8WeightsWithExactIntegerProductsGetThem() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = DecodeMatrixTest.filled(arena, 64, new Random(2), 1f);
            QuantizedMatrix bf16 = QuantizedMatrix.quantize(WeightDtype.BF16, w, 8, 8, 0, arena);
            assertNull(bf16.integerDecodeMatrix(null, 0, arena, false));
            QuantizedMatrix int8 = QuantizedMatrix.quantize(WeightDtype.INT8, w, 8, 8, 32, arena);
            assertEquals(IntegerMatrix.available(), int8.integerDecodeMatrix(null, 0, arena, false) != null);
            int wide = IntegerMatrix.MAX_COLUMNS + 1; // past what int32 sums hold
            QuantizedMatrix tooWide = QuantizedMatrix.quantize(WeightDtype.INT8, DecodeMatrixTest.filled(arena, wide, new Random(3), 1f),
                    1, wide, 32, arena);
            assertNull(tooWide.integerDecodeMatrix(null, 0, arena, false));
        }
    }

    @Test
    void infoSaysWhatInt8OutputLayersDecodeWith() {
        String line = Kernels.describe();
        assertTrue(line.contains("int8 output layer in decoding: " + (IntegerMatrix.available()
                ? "integer products where asked (serve; " : "float32 after widening (")), line);
        System.setProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY, "false");
        try {
            assertTrue(Kernels.describe().contains("int8 output layer in decoding: float32 after widening (-D"
                    + QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY + "=false)"), Kernels.describe());
        } finally {
            System.clearProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY);
        }
    }

    /** The scalar rule: d = max |v| / 127, q = round(v / d) clamped to 127 (0 where d is 0); returns d. */
    private static float quantize(MemorySegment v, long from, int n, byte[] q, int at) {
        float max = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, Math.abs(v.getAtIndex(ValueLayout.JAVA_FLOAT, from + i)));
        float d = max / 127, inv = d == 0 ? 0 : 1 / d;
        for (int i = 0; i < n; i++) {
            q[at + i] = (byte) Math.max(-127, Math.min(127, Math.round(v.getAtIndex(ValueLayout.JAVA_FLOAT, from + i) * inv)));
        }
        return d;
    }
}
