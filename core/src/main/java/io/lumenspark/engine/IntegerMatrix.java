package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The int8 {@link DecodeMatrix} whose products run in integers: W [rows, columns] as int8 q with one float32 scale
 * ws per row (w = q * ws), and each row of X quantized the same way when it comes (xq = round(x / xs),
 * xs = max |x| / 127), so y[b][r] = (float) S * ws[r] * xs[b] (+ bias[r]) with S = sum over k of q[r][k] xq[b][k]
 * an exact integer, from oneDNN's matmul primitive on q packed once in its own layout ({@link PackedMatmul}; AVX512
 * VNNI: four int8 multiply-adds per lane and instruction, where the float32 kernels do one). S does not depend on
 * how the sums were blocked, and the same float32 operations make y from it, so a sequence's logits are the same
 * bits alone or in any batch, as {@link DecodeMatrix} promises.
 *
 * <p>The price is the rounding of the activations to int8. Used for the output layer only (see {@code Linear}):
 * most of a batched step's products.
 */
final class IntegerMatrix implements DecodeMatrix {
    /**
     * The most columns: every sum of oneDNN's (A = xq + 128 up to 255, times |q| up to 127) stays within int32.
     * Past 1,040 columns (float32's 24 bits) S may round when it becomes a float32, always the same way.
     */
    static final int MAX_COLUMNS = 65_536;
    /**
     * The most output rows per slice, the unit the threads share (a 2048 x 512 slice of int8 weights is 1 MB);
     * fewer where that would leave fewer than four slices per thread.
     */
    private static final int SLICE = 2048;
    /** System property: true or false overrides each model's choice of integer products (see Params). */
    static final String PROPERTY = "lumenspark.int8.integer";

    private final int rows, columns, size; // size: output rows per slice
    private final MemorySegment packed;    // q, slice after slice, each packed for oneDNN
    private final long[] offsets;          // [slices + 1] each slice's first byte in packed
    private final float[] scales;          // [rows]
    private final int[] rowSums;           // [rows] the sum of each row of q
    private final float[] bias;            // [rows] or null (a copy: decoding copies are remade when weights change)
    private final PackedMatmul matmul;
    /** The calling thread's quantized rows of X: [batch, columns] as oneDNN's uint8 (xq + 128), their scales. */
    private final ThreadLocal<Scratch> inputs = new ThreadLocal<>();
    /** Each thread's buffers for one slice. */
    private final ThreadLocal<Slice> slice = new ThreadLocal<>();

    /** oneDNN's sums for a slice ([batch, size] int32), then one row of them as int32 and float32, and the outputs. */
    private record Slice(int batch, MemorySegment sums, int[] ints, float[] floats, float[] out) {
    }

    private record Scratch(int batch, float[] row, byte[] bytes, MemorySegment unsigned, float[] scales) {
    }

    private IntegerMatrix(int rows, int columns, int size, MemorySegment packed, long[] offsets, float[] scales,
                          int[] rowSums, float[] bias, PackedMatmul matmul) {
        this.rows = rows;
        this.columns = columns;
        this.size = size;
        this.packed = packed;
        this.offsets = offsets;
        this.scales = scales;
        this.rowSums = rowSums;
        this.bias = bias;
        this.matmul = matmul;
    }

    /** Whether int8 layers can run in integers here (oneDNN 2 with AVX512 VNNI, see {@link PackedMatmul#find}). */
    static boolean available() {
        return PackedMatmul.find(PackedMatmul.Kind.INT8).isPresent();
    }

    /** What int8 output layers decode with here, for {@link Kernels#describe}. */
    static String describe() {
        Boolean forced = QuantizedMatrix.integerProductsForced();
        if (forced == Boolean.FALSE) return "float32 after widening (-D" + PROPERTY + "=false)";
        return PackedMatmul.find(PackedMatmul.Kind.INT8).map(m -> "integer products " + (forced == Boolean.TRUE
                        ? "for every model (-D" + PROPERTY + "=true; " : "where asked (serve; ") + m.version()
                        + " matmul u8 x s8 on packed weights, " + m.implementation() + ")")
                .orElseGet(() -> "float32 after widening ("
                        + PackedMatmul.unavailableReason(PackedMatmul.Kind.INT8) + ")");
    }

    /**
     * m's weights requantized with one scale per row (each row widened to float32, then rounded to int8 again) and
     * packed for oneDNN into arena; m's data's pages are given back afterwards when they are a read-only file
     * mapping (fromFile). At most {@link #MAX_COLUMNS} columns.
     */
    static IntegerMatrix of(QuantizedMatrix m, MemorySegment bias, long biasOffset, Arena arena, boolean fromFile,
                            PackedMatmul matmul) {
        if (m.dtype() != WeightDtype.INT8) throw new IllegalArgumentException("integer products need int8 weights");
        int rows = m.rows(), columns = m.columns();
        if (columns > MAX_COLUMNS) {
            throw new IllegalArgumentException(columns + " columns: int32 holds the sums of at most " + MAX_COLUMNS
                    + " int8 products");
        }
        int size = Math.min(SLICE, Math.max(64, (rows / (4 * Parallel.threads()) + 63) / 64 * 64));
        int slices = (rows + size - 1) / size;
        long[] offsets = new long[slices + 1];
        for (int s = 0; s < slices; s++) {
            offsets[s + 1] = offsets[s] + (matmul.packedBytes(Math.min(size, rows - s * size), columns) + 63) / 64 * 64;
        }
        MemorySegment packed = Pages.allocateUntouched(offsets[slices], arena);
        float[] scales = new float[rows];
        int[] rowSums = new int[rows]; // oneDNN's sums come with 128 x each row's sum on top (its A is xq + 128)
        Parallel.chunks(slices, (long) size * columns, (from, to) -> {
            float[] row = new float[columns];
            byte[] qs = new byte[columns];
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment w = tmp.allocate((long) columns * 4, 64), q = tmp.allocate((long) size * columns, 64);
                for (int s = from; s < to; s++) {
                    int r0 = s * size, n = Math.min(size, rows - r0);
                    for (int r = r0; r < r0 + n; r++) {
                        QuantKernels.widenRow(m, r, w, 0);
                        MemorySegment.copy(w, ValueLayout.JAVA_FLOAT, 0, row, 0, columns);
                        scales[r] = QuantizedMatrix.quantizeRun(row, 0, columns, qs, 0);
                        int sum = 0;
                        for (byte v : qs) sum += v;
                        rowSums[r] = sum;
                        MemorySegment.copy(qs, 0, q, ValueLayout.JAVA_BYTE, (long) (r - r0) * columns, columns);
                    }
                    matmul.pack(q, n, columns, packed.asSlice(offsets[s], offsets[s + 1] - offsets[s]));
                }
            }
        });
        if (fromFile) Pages.releaseIfFileMapped(m.data().asSlice(0, (long) rows * columns));
        float[] b = null;
        if (bias != null) {
            b = new float[rows];
            MemorySegment.copy(bias, ValueLayout.JAVA_FLOAT, biasOffset * 4, b, 0, rows);
        }
        return new IntegerMatrix(rows, columns, size, packed, offsets, scales, rowSums, b, matmul);
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    /** Bytes held: the packed weights and the scales. */
    long bytes() {
        return packed.byteSize() + scales.length * 4L;
    }

    @Override
    public void multiply(MemorySegment x, int batch, MemorySegment y) {
        Scratch in = quantizeInputs(x, batch);
        int slices = offsets.length - 1;
        Parallel.chunks(slices, (long) size * columns * batch, (from, to) -> {
            Slice t = slice(batch);
            int[] rowSums = this.rowSums;
            for (int s = from; s < to; s++) {
                int r0 = s * size, n = Math.min(size, rows - r0);
                matmul.multiply(batch, n, columns, in.unsigned, packed.asSlice(offsets[s], offsets[s + 1] - offsets[s]),
                        t.sums);
                for (int b = 0; b < batch; b++) {
                    MemorySegment.copy(t.sums, ValueLayout.JAVA_INT, (long) b * n * 4, t.ints, 0, n);
                    for (int i = 0; i < n; i++) t.floats[i] = t.ints[i] - 128 * rowSums[r0 + i];
                    finish(t.floats, t.out, in.scales[b], r0, n);
                    MemorySegment.copy(t.out, 0, y, ValueLayout.JAVA_FLOAT, ((long) b * rows + r0) * 4, n);
                }
            }
        });
    }

    /** Each row of X as int8 and its scale, the bytes as oneDNN's uint8 (q + 128). */
    private Scratch quantizeInputs(MemorySegment x, int batch) {
        Scratch s = inputs.get();
        int n = batch * columns;
        if (s == null || s.batch < batch) {
            s = new Scratch(batch, new float[columns], new byte[n], Arena.ofAuto().allocate(n, 64), new float[batch]);
            inputs.set(s); // freed with the thread
        }
        byte[] q = s.bytes;
        for (int b = 0; b < batch; b++) {
            int at = b * columns;
            MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, (long) at * 4, s.row, 0, columns);
            s.scales[b] = QuantizedMatrix.quantizeRun(s.row, 0, columns, q, at);
            for (int i = at; i < at + columns; i++) q[i] ^= (byte) 0x80; // q + 128 as an unsigned byte
        }
        MemorySegment.copy(q, 0, s.unsigned, ValueLayout.JAVA_BYTE, 0, n);
        return s;
    }

    /** This thread's buffers for a slice of batch rows. */
    private Slice slice(int batch) {
        Slice t = slice.get();
        if (t == null || t.batch < batch) {
            t = new Slice(batch, Arena.ofAuto().allocate((long) batch * SLICE * 4, 64), new int[SLICE],
                    new float[SLICE], new float[SLICE]);
            slice.set(t); // freed with the thread
        }
        return t;
    }

    /**
     * out[i] = S[i] * ws[r0 + i] * xs (+ bias[r0 + i]) for i in [0, n), S exact integers as float32. On arrays: the
     * loop compiles to vector code whatever the caller (segment accesses one at a time did not, inside the lambda
     * that also calls oneDNN).
     */
    private void finish(float[] s, float[] out, float xs, int r0, int n) {
        float[] scales = this.scales, bias = this.bias;
        if (bias == null) {
            for (int i = 0; i < n; i++) out[i] = s[i] * scales[r0 + i] * xs;
        } else {
            for (int i = 0; i < n; i++) out[i] = s[i] * scales[r0 + i] * xs + bias[r0 + i];
        }
    }
}
