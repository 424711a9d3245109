package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The int8 {@link DecodeMatrix} whose products run in integers: W [rows, columns] as int8 q with one float32 scale
 * ws per row (w = q * ws), and each row of X quantized the same way when it comes (xq = round(x / xs),
 * xs = max |x| / 127), so y[b][r] = S * ws[r] * xs[b] (+ bias[r]) with S = sum over k of q[r][k] xq[b][k] an exact
 * integer. Batches of {@link #ONEDNN_ROWS} rows or more go to oneDNN's {@code dnnl_gemm_u8s8s32} on a row-major
 * copy of q (AVX512 VNNI: four int8 multiply-adds per lane and instruction, where the float32 kernels do one);
 * fewer rows to {@link PanelMatrix}'s int8 kernel on a panel copy of q with scales of 1, whose chain of
 * float32 multiply-adds is exact on integers while every partial sum stays below 2^24 (at most
 * {@link #EXACT_COLUMNS} products of at most 127 x 127). Both give the same S, and the same float32 operations make
 * y from it, so a sequence's logits are the same bits alone or in any batch, as {@link DecodeMatrix} promises.
 *
 * <p>The price is the rounding of the activations to int8, and a second copy of the weights (the panel kernel is
 * what keeps batch-1 decoding at int8's speed: a loop of our own over the row-major copy ran 1.7-2.8x slower
 * inside the generate command than on its own). Used for the output layer only (see {@code Linear}): most of a
 * batched step's products.
 */
final class IntegerMatrix implements DecodeMatrix {
    /**
     * Batches of at least this many rows go to oneDNN: for lumenspark's output layer (50,257 x 512, 2 threads) it
     * takes 1.4 ms for 2 rows, 1.5 for 4 and 2.5 for 16; the panel kernel 0.63 ms for one row, 1.4 for 2, 1.5 for 4
     * and 5.5 for 16.
     */
    static final int ONEDNN_ROWS = 2;
    /** The most columns whose products a float32 chain sums exactly: 1024 x 127 x 127 is below 2^24. */
    static final int EXACT_COLUMNS = 1024;
    /**
     * The most output rows per oneDNN call or chunk (a 2048 x 512 slice of int8 weights is 1 MB); fewer where that
     * would leave fewer than four chunks per thread.
     */
    private static final int SLICE = 2048;
    /** System property: true or false overrides each model's choice of integer products (see Params). */
    static final String PROPERTY = "lumenspark.int8.integer";

    private final int rows, columns;
    private final MemorySegment q;      // [rows, columns] int8, row-major (oneDNN's)
    private final PanelMatrix panel;    // q in panels with scales of 1 (fewer rows, or no oneDNN)
    private final float[] scales;       // [rows]
    private final int[] rowSums;        // [rows] the sum of each row of q
    private final float[] bias;         // [rows] (a copy: decoding copies are made again when weights change), or null
    private final OneDnn dnnl;          // null: the panel kernel for every batch
    /** The calling thread's quantized rows of X: [batch, columns] as oneDNN's uint8 and as float32, their scales. */
    private final ThreadLocal<Scratch> inputs = new ThreadLocal<>();
    /** Each thread's integer sums for one slice: [batch, SLICE] int32. */
    private final ThreadLocal<MemorySegment[]> sums = ThreadLocal.withInitial(() -> new MemorySegment[1]);
    /** Each thread's buffers for one row of a slice. */
    private final ThreadLocal<Slice> slice = ThreadLocal.withInitial(Slice::new);

    /** oneDNN's sums, the sums as float32 and the outputs, for one row of a slice. */
    private record Slice(int[] ints, float[] sums, float[] out) {
        Slice() {
            this(new int[SLICE], new float[SLICE], new float[SLICE]);
        }
    }

    private record Scratch(int batch, float[] row, byte[] bytes, byte[] unsignedBytes, MemorySegment unsigned,
                           MemorySegment floats, float[] scales) {
    }

    private IntegerMatrix(int rows, int columns, MemorySegment q, PanelMatrix panel, float[] scales, int[] rowSums,
                          float[] bias, OneDnn dnnl) {
        this.rows = rows;
        this.columns = columns;
        this.q = q;
        this.panel = panel;
        this.scales = scales;
        this.rowSums = rowSums;
        this.bias = bias;
        this.dnnl = dnnl;
    }

    /**
     * oneDNN when it loads and its int8 sums are exact on this CPU (AVX512 VNNI), else null: without it the
     * integer products would only be slower than {@link PanelMatrix}'s, so callers use those instead.
     */
    static OneDnn library() {
        OneDnn d = OneDnn.system().library();
        return d != null && d.vnni() ? d : null;
    }

    /** What int8 output layers decode with here, for {@link Kernels#describe}. */
    static String describe() {
        Boolean forced = QuantizedMatrix.integerProductsForced();
        if (forced == Boolean.FALSE) return "float32 after widening (-D" + PROPERTY + "=false)";
        OneDnn.Loaded l = OneDnn.system();
        if (library() != null) {
            return "integer products " + (forced == Boolean.TRUE ? "for every model (-D" + PROPERTY + "=true; "
                    : "where asked (serve; ") + l.library().version() + " u8s8s32, avx512_core_vnni, from "
                    + ONEDNN_ROWS + " rows; output layers of up to " + EXACT_COLUMNS + " inputs)";
        }
        return "float32 after widening (" + (l.library() == null ? l.reason() : l.library().version()
                + " found, but its int8 sums are not exact on this CPU without AVX512 VNNI (oneDNN's ISA here: "
                + l.library().isa() + ")") + ")";
    }

    /**
     * m's weights requantized with one scale per row (each row widened to float32, then rounded to int8 again)
     * into arena, row-major and in panels; m's data's pages are given back afterwards when they are a read-only
     * file mapping (fromFile). At most {@link #EXACT_COLUMNS} columns.
     *
     * @param dnnl the library for batches of {@link #ONEDNN_ROWS} rows or more, or null for the panel kernel alone
     */
    static IntegerMatrix of(QuantizedMatrix m, MemorySegment bias, long biasOffset, Arena arena, boolean fromFile,
                            OneDnn dnnl) {
        if (m.dtype() != WeightDtype.INT8) throw new IllegalArgumentException("integer products need int8 weights");
        int rows = m.rows(), columns = m.columns();
        if (columns > EXACT_COLUMNS) {
            throw new IllegalArgumentException(columns + " columns: a float32 chain sums at most " + EXACT_COLUMNS
                    + " int8 products exactly");
        }
        MemorySegment q = Pages.allocateUntouched((long) rows * columns, arena);
        float[] scales = new float[rows];
        int[] rowSums = new int[rows]; // oneDNN's sums come with 128 x each row's sum on top (its A is xq + 128)
        Parallel.rows(rows, columns, (from, to) -> {
            float[] row = new float[columns];
            byte[] qs = new byte[columns];
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment w = tmp.allocate((long) columns * 4, 64);
                for (int r = from; r < to; r++) {
                    QuantKernels.widenRow(m, r, w, 0);
                    MemorySegment.copy(w, ValueLayout.JAVA_FLOAT, 0, row, 0, columns);
                    scales[r] = QuantizedMatrix.quantizeRun(row, 0, columns, qs, 0);
                    int sum = 0;
                    for (byte v : qs) sum += v;
                    rowSums[r] = sum;
                    MemorySegment.copy(qs, 0, q, ValueLayout.JAVA_BYTE, (long) r * columns, columns);
                }
            }
        });
        if (fromFile) Pages.releaseIfFileMapped(m.data().asSlice(0, (long) rows * columns));
        float[] b = null;
        if (bias != null) {
            b = new float[rows];
            MemorySegment.copy(bias, ValueLayout.JAVA_FLOAT, biasOffset * 4, b, 0, rows);
        }
        // scales of 1 per block of QuantizedMatrix.BLOCK, as every other int8 layer has: the kernel then runs with
        // the same loop counts everywhere (one scale per row here made C2 compile it 1.2-6x slower in some runs)
        int blocks = QuantizedMatrix.blocks(columns, QuantizedMatrix.BLOCK);
        PanelMatrix panel;
        try (Arena tmp = Arena.ofShared()) { // the panel keeps a copy of the scales
            MemorySegment ones = tmp.allocate((long) rows * blocks * 4, 64);
            for (long i = 0; i < (long) rows * blocks; i++) ones.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
            panel = PanelMatrix.of(new QuantizedMatrix(WeightDtype.INT8, q, ones, QuantizedMatrix.BLOCK, rows,
                    columns), null, 0, arena, false);
        }
        return new IntegerMatrix(rows, columns, q, panel, scales, rowSums, b, dnnl);
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    /** Bytes held: the two copies of the weights and the scales. */
    long bytes() {
        return q.byteSize() + panel.bytes() + scales.length * 4L;
    }

    @Override
    public void multiply(MemorySegment x, int batch, MemorySegment y) {
        Scratch in = quantizeInputs(x, batch);
        boolean withDnnl = dnnl != null && batch >= ONEDNN_ROWS;
        if (!withDnnl) panel.multiply(in.floats, batch, y); // y holds the sums S, as float32
        int size = Math.min(SLICE, Math.max(64, (rows / (4 * Parallel.threads()) + 63) / 64 * 64));
        int slices = (rows + size - 1) / size;
        Parallel.chunks(slices, (long) size * (withDnnl ? columns : 1) * batch, (from, to) -> {
            MemorySegment c = withDnnl ? sums(batch) : null;
            Slice t = slice.get();
            for (int s = from; s < to; s++) {
                int r0 = s * size, n = Math.min(size, rows - r0);
                if (withDnnl) {
                    dnnl.gemmU8S8S32(batch, n, columns, in.unsigned, columns, q.asSlice((long) r0 * columns),
                            columns, c, SLICE);
                }
                for (int b = 0; b < batch; b++) {
                    long at = (long) b * rows + r0;
                    if (withDnnl) {
                        MemorySegment.copy(c, ValueLayout.JAVA_INT, (long) b * SLICE * 4, t.ints, 0, n);
                        int[] rowSums = this.rowSums;
                        for (int i = 0; i < n; i++) t.sums[i] = t.ints[i] - 128 * rowSums[r0 + i]; // exact: |S| < 2^24
                    } else {
                        MemorySegment.copy(y, ValueLayout.JAVA_FLOAT, at * 4, t.sums, 0, n);
                    }
                    finish(t.sums, t.out, in.scales[b], r0, n);
                    MemorySegment.copy(t.out, 0, y, ValueLayout.JAVA_FLOAT, at * 4, n);
                }
            }
        });
    }

    /** Each row of X as int8 and its scale; the bytes also as oneDNN's uint8 (q + 128) and as float32. */
    private Scratch quantizeInputs(MemorySegment x, int batch) {
        Scratch s = inputs.get();
        int n = batch * columns;
        if (s == null || s.batch < batch) {
            Arena arena = Arena.ofAuto(); // freed with the thread's scratch
            s = new Scratch(batch, new float[columns], new byte[n], new byte[n], arena.allocate(n, 64),
                    arena.allocate(n * 4L, 64), new float[batch]);
            inputs.set(s);
        }
        byte[] q = s.bytes, unsigned = s.unsignedBytes;
        for (int b = 0; b < batch; b++) {
            int at = b * columns;
            MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, (long) at * 4, s.row, 0, columns);
            s.scales[b] = QuantizedMatrix.quantizeRun(s.row, 0, columns, q, at);
            for (int i = 0; i < columns; i++) {
                unsigned[at + i] = (byte) (q[at + i] ^ 0x80); // q + 128 as an unsigned byte
                s.row[i] = q[at + i];
            }
            MemorySegment.copy(s.row, 0, s.floats, ValueLayout.JAVA_FLOAT, (long) at * 4, columns);
        }
        MemorySegment.copy(unsigned, 0, s.unsigned, ValueLayout.JAVA_BYTE, 0, n);
        return s;
    }

    /** This thread's int32 buffer for a slice's sums, [batch, SLICE]. */
    private MemorySegment sums(int batch) {
        MemorySegment[] c = sums.get();
        if (c[0] == null || c[0].byteSize() < (long) batch * SLICE * 4) {
            c[0] = Arena.ofAuto().allocate((long) batch * SLICE * 4, 64);
        }
        return c[0];
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
