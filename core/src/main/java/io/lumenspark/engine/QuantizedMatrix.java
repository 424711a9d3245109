package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A weight matrix W [rows, columns] held in fewer bits than float32 ({@link WeightDtype#BF16} or
 * {@link WeightDtype#INT8}), for inference. bf16: data holds rows x columns little-endian bfloat16 values. int8:
 * data holds rows x columns signed bytes q, and scales (float32) one scale d per block of {@code block} columns of
 * each row ([rows, blocks]), the weight being q * d; d = max |w| / 127 over the block, q = round(w / d).
 *
 * @param scales float32 [rows, ceil(columns / block)] for int8; null for bf16
 * @param block  columns per scale for int8 ({@link #BLOCK}, or columns for one scale per row); 0 for bf16
 */
public record QuantizedMatrix(WeightDtype dtype, MemorySegment data, MemorySegment scales, int block, int rows,
                              int columns) {
    /**
     * System property: true or false decides for every model whether decoding runs int8 output layers in integers
     * where it can ({@link #integerDecodeMatrix}); unset (or any other value), each model's own choice holds (off
     * unless asked for, as {@code serve} does). Read when a model's decoding copies are made: its first step after
     * loading, {@code quantize} or {@code useIntegerProducts}.
     */
    public static final String INTEGER_PRODUCTS_PROPERTY = IntegerMatrix.PROPERTY;

    /** {@link #INTEGER_PRODUCTS_PROPERTY} when it says true or false, else null. */
    public static Boolean integerProductsForced() {
        String v = System.getProperty(INTEGER_PRODUCTS_PROPERTY);
        return "true".equalsIgnoreCase(v) ? Boolean.TRUE : "false".equalsIgnoreCase(v) ? Boolean.FALSE : null;
    }

    /** Weights per int8 scale: 32, as llama.cpp's Q8_0. */
    public static final int BLOCK = 32;

    public QuantizedMatrix {
        if (dtype == WeightDtype.F32) throw new IllegalArgumentException("float32 weights are not quantized");
        long want = (long) rows * columns * (dtype == WeightDtype.INT8 ? 1 : 2);
        if (data.byteSize() < want) throw new IllegalArgumentException("data holds " + data.byteSize() + " bytes, need " + want);
        if (dtype == WeightDtype.INT8 && (block < 1 || scales == null
                || scales.byteSize() < (long) rows * blocks(columns, block) * 4)) {
            throw new IllegalArgumentException("int8 weights need a block size and a scale per block");
        }
    }

    /** Scales per row: ceil(columns / block). */
    public static int blocks(int columns, int block) {
        return (columns + block - 1) / block;
    }

    /**
     * W (float32, [rows, columns] from float offset 0 of w) quantized into new memory of arena: bf16 rounded to
     * nearest even, or int8 with a scale per block of block columns (at most a row: a larger block is one scale per
     * row). The rows are split across threads. When W is memory mapped read-only from a file, its pages are given
     * back to the system afterwards ({@link Pages}): a model quantized as it loads keeps only the quantized copy.
     */
    public static QuantizedMatrix quantize(WeightDtype dtype, MemorySegment w, int rows, int columns, int block,
                                           Arena arena) {
        QuantizedMatrix q = quantizeRows(dtype, w, rows, columns, block, arena);
        Pages.releaseIfFileMapped(w.asSlice(0, (long) rows * columns * 4));
        return q;
    }

    private static QuantizedMatrix quantizeRows(WeightDtype dtype, MemorySegment w, int rows, int columns, int block,
                                                Arena arena) {
        if (dtype == WeightDtype.BF16) {
            MemorySegment out = arena.allocate((long) rows * columns * 2, 64);
            Parallel.rows(rows, columns, (from, to) -> {
                for (long i = (long) from * columns, end = (long) to * columns; i < end; i++) {
                    out.setAtIndex(ValueLayout.JAVA_SHORT, i, toBf16(w.getAtIndex(ValueLayout.JAVA_FLOAT, i)));
                }
            });
            return new QuantizedMatrix(dtype, out, null, 0, rows, columns);
        }
        int size = Math.min(block, columns), nb = blocks(columns, size);
        MemorySegment q = arena.allocate((long) rows * columns, 64);
        MemorySegment d = arena.allocate((long) rows * nb * 4, 64);
        Parallel.rows(rows, columns, (from, to) -> {
            float[] row = new float[columns];
            byte[] qs = new byte[columns];
            for (int r = from; r < to; r++) {
                MemorySegment.copy(w, ValueLayout.JAVA_FLOAT, (long) r * columns * 4, row, 0, columns);
                for (int j = 0; j < nb; j++) {
                    int start = j * size, end = Math.min(columns, start + size);
                    d.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * nb + j, quantizeRun(row, start, end, qs, start));
                }
                MemorySegment.copy(qs, 0, q, ValueLayout.JAVA_BYTE, (long) r * columns, columns);
            }
        });
        return new QuantizedMatrix(dtype, q, d, size, rows, columns);
    }

    /**
     * w[from, to) as int8 into q from index at: q = round(w / d), d = max |w| / 127 over the run (q = 0 where d
     * is 0). Returns d.
     */
    static float quantizeRun(float[] w, int from, int to, byte[] q, int at) {
        float max = 0;
        for (int i = from; i < to; i++) max = Math.max(max, Math.abs(w[i]));
        float scale = max / 127;
        float inv = scale == 0 ? 0 : 1 / scale;
        for (int i = from; i < to; i++) q[at + i - from] = (byte) Math.max(-127, Math.min(127, Math.round(w[i] * inv)));
        return scale;
    }

    /** The bfloat16 nearest to a finite float32 (ties to even): its top 16 bits after rounding. */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The float32 value of a bfloat16. */
    public static float fromBf16(short h) {
        return Float.intBitsToFloat(h << 16);
    }

    /** Bytes held: data and scales. */
    public long bytes() {
        return data.byteSize() + (scales == null ? 0 : scales.byteSize());
    }

    /** Rows [from, to) of W as float32 into out ([to - from, columns] from float 0), split across threads. */
    public void dequantize(int from, int to, MemorySegment out) {
        Parallel.rows(to - from, columns, (a, b) -> {
            for (int r = from + a; r < from + b; r++) QuantKernels.widenRow(this, r, out, (long) (r - from) * columns);
        });
    }

    /**
     * Y = X W^T (+ bias) for a few rows of X, as {@link DecodeMatrix} promises: every output rounded alike
     * whatever the number of rows. The weights are copied into arena in the kernels' layout ({@link PanelMatrix});
     * bias (float32 [rows] from biasOffset, or null) is used in place. Data mapped read-only from a file has its
     * pages given back as they are copied (as {@link DecodeMatrix#f32}, fromFile likewise).
     */
    public DecodeMatrix decodeMatrix(MemorySegment bias, long biasOffset, Arena arena, boolean fromFile) {
        return PanelMatrix.of(this, bias, biasOffset, arena, fromFile);
    }

    /** Whether {@link #integerDecodeMatrix} can give int8 weights integer products here (oneDNN 2, AVX512 VNNI). */
    public static boolean integerProducts() {
        return IntegerMatrix.available();
    }

    /**
     * For int8 weights of at most {@link IntegerMatrix#MAX_COLUMNS} columns where oneDNN multiplies int8 exactly
     * (oneDNN 2, AVX512 VNNI): a {@link DecodeMatrix} whose products run in integers, the weights requantized with
     * one scale per row and each row of X quantized to int8 as it comes ({@link IntegerMatrix}); faster than
     * {@link #decodeMatrix} on a batch, at the cost of rounding X. Otherwise null. Data mapped read-only from a file
     * has its pages given back afterwards (fromFile).
     */
    public DecodeMatrix integerDecodeMatrix(MemorySegment bias, long biasOffset, Arena arena, boolean fromFile) {
        if (dtype != WeightDtype.INT8 || columns > IntegerMatrix.MAX_COLUMNS) return null;
        return PackedMatmul.find(PackedMatmul.Kind.INT8)
                .map(m -> IntegerMatrix.of(this, bias, biasOffset, arena, fromFile, m)).orElse(null);
    }
}
