package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The float32 {@link DecodeMatrix} whose products run in oneDNN's matmul kernels on weights packed once in oneDNN's
 * own layout ({@link PackedMatmul}, kind F32), for the large matrices (the output layer): its kernels prefetch the
 * weights they will read next, which Java cannot ask for. On lumenspark's output layer (50,257 x 512, 2 threads,
 * Debian's oneDNN 2.6.3 on AVX-512) it took about 17 % less time than the Vector API panels of {@link PanelMatrix}
 * for 16 rows and 10-18 % less for one (the README's Precision section has the figures).
 *
 * <p>Every output must stay the chain of fused multiply-adds over the columns in order from zero, plus the bias,
 * that {@link PanelMatrix} computes, so that a sequence's logits are the same bits whichever path runs, alone or in
 * any batch. oneDNN 2.6.3's AVX-512 kernels computed exactly that in every shape tried with up to 512 columns (the
 * model's width), not in some with 1,024 and none with 1,536 (they sum blocks of columns apart), and nothing in its
 * documentation promises it, so it is checked here rather than assumed: when a matrix is made, the one-row product
 * of a slice of each width against that chain on the weights themselves ({@link #of} gives null on a difference,
 * and the caller keeps the panels); once per row count m, before its first use, oneDNN's m-row product against
 * its one-row products of the same fixed pseudo-random rows ({@link #exact}), and the rows of a product whose
 * m-row results differ (or whose m-row primitive cannot be made) go through the one-row primitive one by one.
 * Both checks rest on oneDNN summing in an order that depends on the shapes, not on the values.
 */
final class PackedFloatMatrix implements DecodeMatrix {
    /** System property: false keeps every float32 matrix on the Vector API panels. */
    static final String PROPERTY = "lumenspark.onednn.f32";
    /**
     * Weights from which a matrix is packed for oneDNN (4 MB of float32): below it a call's fixed cost (its memory
     * objects, the native call) weighs on products that take microseconds, and the panels stay.
     */
    static final long MIN_WEIGHTS = 1 << 20;
    /** Output rows per slice, the unit the threads share: a 2048 x 512 float32 slice is 4 MB. */
    private static final int SLICE = 2048;
    /** Rows of X per call (as {@link PanelMatrix}'s units), so that the primitives made stay few: m in 1..64. */
    private static final int ROW_BLOCK = PanelMatrix.ROW_BLOCK;
    /** Why oneDNN failed on the last matrix it failed on (which kept the panels), for {@link #describe}; or null. */
    private static volatile String failure;
    /** Each thread's buffer for a call's results (see {@link #results}). */
    private static final ThreadLocal<MemorySegment> RESULTS = new ThreadLocal<>();

    private final int rows, columns, size; // size: output rows per slice
    private final MemorySegment packed;    // the weights, slice after slice, each packed for oneDNN
    private final long[] offsets;          // [slices + 1] each slice's first byte in packed
    private final MemorySegment bias;      // [rows] from biasOffset, or null
    private final long biasOffset;
    private final PackedMatmul matmul;
    /** Per row count m and slice width n (key m * 2^32 + n): whether oneDNN's m-row product is its one-row one. */
    private final Map<Long, Boolean> exact = new ConcurrentHashMap<>();

    private PackedFloatMatrix(int rows, int columns, int size, MemorySegment packed, long[] offsets,
                              MemorySegment bias, long biasOffset, PackedMatmul matmul) {
        this.rows = rows;
        this.columns = columns;
        this.size = size;
        this.packed = packed;
        this.offsets = offsets;
        this.bias = bias;
        this.biasOffset = biasOffset;
        this.matmul = matmul;
    }

    /** oneDNN's float32 products where they can be used here ({@link PackedMatmul#find}), unless turned off. */
    private static PackedMatmul matmul() {
        if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) return null;
        return PackedMatmul.find(PackedMatmul.Kind.F32).orElse(null);
    }

    /** What float32 decoding products of large matrices run on here, for {@link Kernels#describe}. */
    static String describe() {
        if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
            return "Vector API panels (-D" + PROPERTY + "=false)";
        }
        return PackedMatmul.find(PackedMatmul.Kind.F32)
                .map(m -> m.version() + " matmul f32 on packed weights (" + m.implementation()
                        + ") for each matrix whose check shows the panels' sums bit for bit, else the panels"
                        + (failure == null ? "" : " (oneDNN failed on " + failure + ")"))
                .orElseGet(() -> "Vector API panels ("
                        + PackedMatmul.unavailableReason(PackedMatmul.Kind.F32) + ")");
    }

    /**
     * Float32 W [rows, columns] from float offset of w packed for oneDNN into arena, the bias [rows] from its offset
     * (or null) used in place; null where oneDNN's products cannot be used here or are not the chain {@link
     * PanelMatrix} computes (checked on these weights: with oneDNN 2.6.3, wider rows than 512 may fail it), or where
     * the matrix is smaller than {@link #MIN_WEIGHTS}. When w is a read-only file mapping (fromFile, and the system
     * says so) its pages are given back as they are packed, as {@link PanelMatrix#f32} does.
     */
    static PackedFloatMatrix of(MemorySegment w, long offset, int rows, int columns, MemorySegment bias,
                                long biasOffset, Arena arena, boolean fromFile) {
        if ((long) rows * columns < MIN_WEIGHTS) return null;
        PackedMatmul matmul = matmul();
        if (matmul == null) return null;
        try {
            return pack(matmul, w, offset, rows, columns, bias, biasOffset, arena, fromFile);
        } catch (RuntimeException e) { // the panels compute the same; describe() tells why they were kept
            failure = rows + "x" + columns + ": " + (e.getMessage() != null ? e.getMessage() : e.toString());
            return null;
        }
    }

    /** {@link #of} once oneDNN is found: null where the check fails; an exception where oneDNN fails. */
    private static PackedFloatMatrix pack(PackedMatmul matmul, MemorySegment w, long offset, int rows, int columns,
                                         MemorySegment bias, long biasOffset, Arena arena, boolean fromFile) {
        int size = Math.min(rows, Math.min(SLICE, Math.max(64, (rows / (4 * Parallel.threads()) + 63) / 64 * 64)));
        int slices = (rows + size - 1) / size;
        // the one-row product of the first and the last slice (the two widths) against the chain, before packing
        if (!chainsMatch(matmul, w, offset, 0, size, columns)
                || !chainsMatch(matmul, w, offset, (slices - 1) * size, rows - (slices - 1) * size, columns)) {
            return null;
        }
        long[] offsets = new long[slices + 1];
        for (int s = 0; s < slices; s++) {
            offsets[s + 1] = offsets[s] + (matmul.packedBytes(Math.min(size, rows - s * size), columns) + 63) / 64 * 64;
        }
        MemorySegment packed = Pages.allocateUntouched(offsets[slices], arena);
        long first = offset * 4, last = (offset + (long) rows * columns) * 4;
        boolean mapped = fromFile && Pages.readOnlyFileMapping(w, first, last);
        Parallel.chunks(slices, (long) size * columns, (from, to) -> {
            for (int s = from; s < to; s++) {
                int r0 = s * size, n = Math.min(size, rows - r0);
                long at = (offset + (long) r0 * columns) * 4, bytes = (long) n * columns * 4;
                matmul.pack(w.asSlice(at, bytes), n, columns, packed.asSlice(offsets[s], offsets[s + 1] - offsets[s]));
                if (mapped) Pages.releaseMapped(w, at, at + bytes);
            }
        });
        return new PackedFloatMatrix(rows, columns, size, packed, offsets, bias, biasOffset, matmul);
    }

    /**
     * Whether oneDNN's one-row product of rows [r0, r0 + n) of W, packed on their own, is for every output the
     * chain of fused multiply-adds over the columns in order from zero, on an input of fixed pseudo-random values.
     */
    private static boolean chainsMatch(PackedMatmul matmul, MemorySegment w, long offset, int r0, int n,
                                       int columns) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment x = tmp.allocate((long) columns * 4, 64), y = tmp.allocate((long) n * 4, 64),
                    packed = tmp.allocate(matmul.packedBytes(n, columns), 64);
            float[] xs = inputs(1, columns);
            MemorySegment.copy(xs, 0, x, ValueLayout.JAVA_FLOAT, 0, columns);
            MemorySegment rowsOfW = w.asSlice((offset + (long) r0 * columns) * 4, (long) n * columns * 4);
            matmul.pack(rowsOfW, n, columns, packed);
            matmul.multiply(1, n, columns, x, packed, y);
            for (int j = 0; j < n; j++) {
                float chain = 0;
                for (int k = 0; k < columns; k++) {
                    chain = Math.fma(rowsOfW.getAtIndex(ValueLayout.JAVA_FLOAT, (long) j * columns + k), xs[k], chain);
                }
                float got = y.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                if (Float.floatToRawIntBits(chain) != Float.floatToRawIntBits(got)) return false;
            }
            return true;
        }
    }

    /** m rows of columns fixed pseudo-random values in [-1, 1), for the checks. */
    private static float[] inputs(int m, int columns) {
        Random random = new Random(m * 31L + columns);
        float[] x = new float[m * columns];
        for (int i = 0; i < x.length; i++) x[i] = random.nextFloat() * 2 - 1;
        return x;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    /** Bytes of the packed weights. */
    long bytes() {
        return packed.byteSize();
    }

    @Override
    public void multiply(MemorySegment x, int batch, MemorySegment y) {
        int slices = offsets.length - 1, rowBlocks = (batch + ROW_BLOCK - 1) / ROW_BLOCK;
        // whether each row count used here is exact, settled on this thread before the workers share the units
        boolean full = batch < ROW_BLOCK || exact(ROW_BLOCK), tail = batch % ROW_BLOCK == 0 || exact(batch % ROW_BLOCK);
        Parallel.chunks(slices * rowBlocks, (long) size * columns * Math.min(batch, ROW_BLOCK), (from, to) -> {
            MemorySegment c = results();
            for (int u = from; u < to; u++) {
                int s = u / rowBlocks, b = u % rowBlocks * ROW_BLOCK, m = Math.min(ROW_BLOCK, batch - b);
                int r0 = s * size, n = Math.min(size, rows - r0);
                MemorySegment a = x.asSlice((long) b * columns * 4, (long) m * columns * 4),
                        weights = packed.asSlice(offsets[s], offsets[s + 1] - offsets[s]);
                if (m == ROW_BLOCK ? full : tail) matmul.multiply(m, n, columns, a, weights, c);
                else matmul.multiplyRowByRow(m, n, columns, a, weights, c);
                for (int r = 0; r < m; r++) { // into y's rows, which are longer than a slice's
                    long at = ((long) (b + r) * rows + r0) * 4;
                    MemorySegment.copy(c, (long) r * n * 4, y, at, n * 4L);
                    if (bias != null) Kernels.add(bias, biasOffset + r0, y, at / 4, n);
                }
            }
        });
    }

    /**
     * The calling thread's buffer for one unit's results, [ROW_BLOCK, size] float32: oneDNN writes them contiguous (with
     * rows further apart it packs float32 weights otherwise and multiplies 16 rows with slower kernels).
     */
    private MemorySegment results() {
        MemorySegment c = RESULTS.get();
        if (c == null) {
            c = Arena.ofAuto().allocate((long) ROW_BLOCK * SLICE * 4, 64); // freed with the thread
            RESULTS.set(c);
        }
        return c;
    }

    /**
     * Whether oneDNN's product of m rows gives, for every slice width of this matrix, the bits of its one-row
     * product (checked once per m, on the first slice of each width and fixed pseudo-random rows).
     */
    private boolean exact(int m) {
        int slices = offsets.length - 1;
        boolean all = true;
        for (int s : new int[]{0, slices - 1}) {
            int n = Math.min(size, rows - s * size);
            all &= exact.computeIfAbsent(((long) m << 32) + n, key -> {
                try {
                    return sameAsOneRow(m, s, n);
                } catch (RuntimeException e) {
                    return false; // no m-row primitive here: the rows go one by one through the checked one
                }
            });
        }
        return all;
    }

    private boolean sameAsOneRow(int m, int s, int n) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment x = tmp.allocate((long) m * columns * 4, 64), many = tmp.allocate((long) m * n * 4, 64),
                    one = tmp.allocate((long) m * n * 4, 64),
                    weights = packed.asSlice(offsets[s], offsets[s + 1] - offsets[s]);
            MemorySegment.copy(inputs(m, columns), 0, x, ValueLayout.JAVA_FLOAT, 0, m * columns);
            // false: oneDNN packs m rows otherwise, and multiply took them one by one already
            if (!matmul.multiply(m, n, columns, x, weights, many)) return false;
            matmul.multiplyRowByRow(m, n, columns, x, weights, one);
            return many.mismatch(one) < 0;
        }
    }
}
