package io.lumenspark.engine;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The float32 decoding products on weights packed for oneDNN ({@link PackedFloatMatrix}) against the Vector API
 * panels ({@link PanelMatrix}) and the scalar chain of fused multiply-adds both promise: bit for bit, for matrices
 * whose slices come in two widths, with and without a bias, for batches below, at and past the 64 rows of a call,
 * on 1 and 3 threads. Where oneDNN's sums are not that chain (1,536 columns with oneDNN 2.6.3) the matrix must not
 * be packed at all.
 */
class PackedFloatMatrixTest {
    @AfterEach
    void threads() {
        Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
    }

    @Test
    void packedProductsAreThePanelsAndTheChainBitForBit() {
        assumeTrue(PackedMatmul.find(PackedMatmul.Kind.F32).isPresent(),
                "no oneDNN float32 products here: " + PackedMatmul.unavailableReason(PackedMatmul.Kind.F32));
        Random random = new Random(5);
        // 2,100 x 512: slices of two widths; 16,389 x 64: a vocabulary-sized layer of a small model
        for (int[] shape : new int[][]{{2100, 512}, {16_389, 64}}) {
            for (int threads : new int[]{1, 3}) {
                Blas.select(Backend.AUTO, threads);
                for (boolean withBias : new boolean[]{false, true}) {
                    check(shape[0], shape[1], withBias, random, true);
                }
            }
        }
    }

    /**
     * oneDNN 2.6.3 sums rows of 1,536 columns in blocks, not as one chain: the check when a matrix is made must
     * catch that and leave the matrix on the panels; whichever path is taken, every output is the chain.
     */
    @Test
    void sumsThatAreNotTheChainKeepThePanels() {
        assumeTrue(PackedMatmul.find(PackedMatmul.Kind.F32).isPresent(),
                "no oneDNN float32 products here: " + PackedMatmul.unavailableReason(PackedMatmul.Kind.F32));
        Random random = new Random(9);
        check(700, 1536, false, random, false);
    }

    /** Fewer output rows than a slice's least (64) and long rows: no read past the matrix, the chain's bits. */
    @Test
    void aFewLongRowsAreMultipliedWithinTheMatrix() {
        check(32, 32_768, true, new Random(17), null);
        assertFalse(PackedFloatMatrix.describe().contains("failed"), PackedFloatMatrix.describe());
    }

    /**
     * Weights mapped read-only from a file have their pages given back as they are packed (read from the file again
     * when used later): the products are those of the same weights in allocated memory, and the file's values
     * read back unchanged.
     */
    @Test
    void weightsMappedFromAFileArePackedAlikeAndStayReadable(@TempDir Path dir) throws IOException {
        assumeTrue(PackedMatmul.find(PackedMatmul.Kind.F32).isPresent(),
                "no oneDNN float32 products here: " + PackedMatmul.unavailableReason(PackedMatmul.Kind.F32));
        int rows = 2100, columns = 512;
        float[] values = new float[rows * columns];
        Random random = new Random(13);
        for (int i = 0; i < values.length; i++) values[i] = random.nextFloat() * 2 - 1;
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.nativeOrder());
        buffer.asFloatBuffer().put(values);
        Path file = dir.resolve("w.bin");
        Files.write(file, buffer.array());
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, values.length * 4L, arena);
            MemorySegment allocated = arena.allocate(values.length * 4L, 64);
            MemorySegment.copy(values, 0, allocated, ValueLayout.JAVA_FLOAT, 0, values.length);
            DecodeMatrix a = DecodeMatrix.f32(mapped, 0, rows, columns, null, 0, arena, true);
            DecodeMatrix b = DecodeMatrix.f32(allocated, 0, rows, columns, null, 0, arena, true);
            assertInstanceOf(PackedFloatMatrix.class, a);
            MemorySegment x = arena.allocate(3L * columns * 4, 64), ya = arena.allocate(3L * rows * 4, 64),
                    yb = arena.allocate(3L * rows * 4, 64);
            for (int i = 0; i < 3 * columns; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat());
            a.multiply(x, 3, ya);
            b.multiply(x, 3, yb);
            assertEquals(-1, ya.mismatch(yb), "the same outputs");
            for (int i = 0; i < values.length; i += 97) {
                assertEquals(values[i], mapped.getAtIndex(ValueLayout.JAVA_FLOAT, i), "the file's value " + i);
            }
        }
    }

    @Test
    void smallMatricesKeepThePanels() {
        try (Arena arena = Arena.ofShared()) { // shared: the pool's threads copy the panels
            int rows = 1000, columns = 512; // below MIN_WEIGHTS
            MemorySegment w = arena.allocate((long) rows * columns * 4, 64);
            assertNull(PackedFloatMatrix.of(w, 0, rows, columns, null, 0, arena, false));
            assertInstanceOf(PanelMatrix.class, DecodeMatrix.f32(w, 0, rows, columns, null, 0, arena, false));
        }
    }

    /**
     * Random W (and bias), DecodeMatrix.f32's choice (packed where expectPacked, panels where not, either where
     * null) against the panels and the scalar chain, for several batches on the same matrix.
     */
    private static void check(int rows, int columns, boolean withBias, Random random, Boolean expectPacked) {
        try (Arena arena = Arena.ofShared()) { // shared: the pool's threads read it
            MemorySegment w = arena.allocate((long) rows * columns * 4, 64);
            for (long i = 0; i < (long) rows * columns; i++) {
                w.setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat() * 2 - 1);
            }
            MemorySegment bias = null;
            if (withBias) {
                bias = arena.allocate((long) (rows + 3) * 4, 64); // used from an offset of 3
                for (int i = 0; i < rows + 3; i++) bias.setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat());
            }
            DecodeMatrix chosen = DecodeMatrix.f32(w, 0, rows, columns, bias, 3, arena, false);
            if (expectPacked == null) { // either, as oneDNN's sums come out
                assertTrue(chosen instanceof PackedFloatMatrix || chosen instanceof PanelMatrix, chosen.toString());
            } else if (expectPacked) {
                long bytes = assertInstanceOf(PackedFloatMatrix.class, chosen, rows + "x" + columns).bytes();
                assertTrue(bytes >= (long) rows * columns * 4 && bytes < (long) (rows + 64 * 64) * columns * 4,
                        bytes + " bytes packed for " + rows + "x" + columns);
            } else {
                assertInstanceOf(PanelMatrix.class, chosen, rows + "x" + columns);
            }
            DecodeMatrix panels = PanelMatrix.f32(w, 0, rows, columns, bias, 3, arena, false);
            for (int batch : new int[]{1, 2, 16, 64, 65, 130}) {
                MemorySegment x = arena.allocate((long) batch * columns * 4, 64),
                        y = arena.allocate((long) batch * rows * 4, 64),
                        want = arena.allocate((long) batch * rows * 4, 64);
                for (long i = 0; i < (long) batch * columns; i++) {
                    x.setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat() * 2 - 1);
                }
                chosen.multiply(x, batch, y);
                panels.multiply(x, batch, want);
                String what = rows + "x" + columns + (withBias ? " with bias" : "") + ", batch " + batch + ", "
                        + Parallel.threads() + " threads";
                assertEquals(-1, y.mismatch(want), what + ": the panels' bits");
                for (int b : new int[]{0, batch - 1}) { // the chain itself, on the first and the last row
                    for (int r = 0; r < rows; r += 7) {
                        float chain = 0;
                        for (int k = 0; k < columns; k++) {
                            chain = Math.fma(w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) r * columns + k),
                                    x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * columns + k), chain);
                        }
                        if (bias != null) chain += bias.getAtIndex(ValueLayout.JAVA_FLOAT, 3 + r);
                        assertEquals(Float.floatToRawIntBits(chain),
                                Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * rows + r)),
                                what + ", y[" + b + "][" + r + "]");
                    }
                }
            }
        }
    }
}
