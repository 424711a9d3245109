package io.lumenspark.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.lumenspark.engine.Kernels.L;
import static io.lumenspark.engine.Kernels.S;
import static io.lumenspark.engine.Kernels.get;
import static io.lumenspark.engine.Kernels.load;

/**
 * The {@link DecodeMatrix} of every dtype: W [rows, columns] copied once into panels of {@link #GROUP} output rows
 * (four vectors' lanes) whose weights for one input column lie side by side, [groups, columns, GROUP] (in float32 a
 * last group of at most {@link #HALF} rows is HALF wide); rows past the last are zero. A product then needs no
 * reduction across lanes: for each input column the kernel loads the group's weights for that column and multiplies
 * them by the column's value of each row of X, broadcast, into one accumulator lane per output. Every y[b][r] is
 * thus a chain of fused multiply-adds over the columns in order, started at zero, then plus bias[r]: the same
 * operations whatever the number of rows of X, their values, the tiles they are taken in or the threads the groups
 * and blocks of rows go to, so a sequence's logits do not depend on its batch. Four rows of X share each load of
 * weights (sixteen accumulators), so a batched step reads each weight from memory once and computes at the FMA
 * units' pace rather than the reduction's.
 *
 * <p>bf16 weights are widened to float32 lanes exactly; int8 weights are converted exactly and multiplied by their
 * block's scale (one rounding, the same value {@link QuantizedMatrix#dequantize} gives), then used as float32.
 * Layout of the copy ({@code g} a group, {@code k} a column, {@code j} a lane of the group):
 * <pre>
 * f32   data[g][k][j]   float32; a last group of at most HALF outputs is HALF wide, j in [0, HALF)
 * bf16  data[g][k][bf16Slot(j)]   bfloat16 (pairs of outputs L apart share a 32-bit word)
 * int8  data[g][k][j]   int8, scales[g][k / block][j] float32
 * </pre>
 * The kernels repeat their block of sixteen FMAs, and their stores, per dtype rather than share them: a method
 * taking or returning vectors that C2 does not inline boxes them, these kernels are too large to be inlined into
 * one another, and even a store helper without vector arguments (reading the accumulators back from an array)
 * was compiled with boxed vectors inside the server (JFR: 1.3 GB of garbage in 20 s at 16 streams).
 */
final class PanelMatrix implements DecodeMatrix {
    /** Output rows per panel: four vectors. */
    static final int GROUP = 4 * L;
    /**
     * Output rows of a float32 matrix's last panel when it has no more than this many: two vectors, half the
     * others' width (a low-rank layer's 32-output half would otherwise be half zeros, weights and multiply-adds).
     */
    static final int HALF = 2 * L;
    private static final VectorSpecies<Integer> WORDS = S.withLanes(int.class);

    private final WeightDtype dtype;
    private final int rows, columns, groups, block, blocks;
    private final int halfGroup; // the group stored HALF wide (float32, the last when it has at most HALF rows), or -1
    private final MemorySegment data;   // [groups, columns, GROUP] in dtype (f32: the half group [columns, HALF])
    private final MemorySegment scales; // int8: [groups, blocks, GROUP] float32; else null
    private final MemorySegment bias;   // [rows] from biasOffset, or null
    private final long biasOffset;

    private PanelMatrix(WeightDtype dtype, int rows, int columns, int block, MemorySegment data, MemorySegment scales,
                        MemorySegment bias, long biasOffset) {
        this.dtype = dtype;
        this.rows = rows;
        this.columns = columns;
        this.groups = (rows + GROUP - 1) / GROUP;
        this.block = block;
        this.blocks = block == 0 ? 0 : QuantizedMatrix.blocks(columns, block);
        this.halfGroup = halfTail(dtype, rows) ? groups - 1 : -1;
        this.data = data;
        this.scales = scales;
        this.bias = bias;
        this.biasOffset = biasOffset;
    }

    /** Rows of X per unit of a product's work (a multiple of four: the kernels' tile). */
    static final int ROW_BLOCK = 64;
    /** Columns copied at a time per group of rows, so that the scattered writes of a copy stay in L1. */
    private static final int TILE = 16;
    /** Groups packed between releases of the source's pages: about 2 MB of float32 source at 512 columns. */
    private static final int RELEASE_GROUPS = 16;

    /**
     * Float32 W [rows, columns] from float offset of w, copied into panels in arena. When w may be a file mapping
     * (fromFile) and the operating system says it is one, read-only, its pages are given back as they are copied
     * ({@link Pages}).
     */
    static PanelMatrix f32(MemorySegment w, long offset, int rows, int columns, MemorySegment bias, long biasOffset,
                           Arena arena, boolean fromFile) {
        int groups = (rows + GROUP - 1) / GROUP;
        boolean mapped = fromFile && Pages.readOnlyFileMapping(w, offset * 4, (offset + (long) rows * columns) * 4);
        int lastWidth = halfTail(WeightDtype.F32, rows) ? HALF : GROUP;
        MemorySegment p = Pages.allocateUntouched(((long) (groups - 1) * GROUP + lastWidth) * columns * 4, arena);
        pack(groups, columns, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                int width = g == groups - 1 ? lastWidth : GROUP;
                for (int k0 = 0; k0 < columns; k0 += TILE) { // a tile of columns: its writes stay in L1
                    int k1 = Math.min(columns, k0 + TILE);
                    for (int r = g * GROUP, end = Math.min(rows, r + GROUP); r < end; r++) {
                        long src = offset + (long) r * columns, dst = (long) g * columns * GROUP + r % GROUP;
                        for (int k = k0; k < k1; k++) {
                            p.setAtIndex(ValueLayout.JAVA_FLOAT, dst + (long) k * width, get(w, src + k));
                        }
                    }
                }
            }
            if (mapped) {
                Pages.releaseMapped(w, (offset + (long) g0 * GROUP * columns) * 4,
                        (offset + (long) Math.min(rows, g1 * GROUP) * columns) * 4);
            }
        });
        return new PanelMatrix(WeightDtype.F32, rows, columns, 0, p, null, bias, biasOffset);
    }

    /** A bf16 or int8 matrix copied into panels in arena; its data's pages given back as {@link #f32}'s. */
    static PanelMatrix of(QuantizedMatrix m, MemorySegment bias, long biasOffset, Arena arena, boolean fromFile) {
        int rows = m.rows(), columns = m.columns(), groups = (rows + GROUP - 1) / GROUP;
        boolean int8 = m.dtype() == WeightDtype.INT8;
        int size = int8 ? 1 : 2;
        boolean mapped = fromFile && Pages.readOnlyFileMapping(m.data(), 0, (long) rows * columns * size);
        int block = int8 ? m.block() : 0, blocks = int8 ? QuantizedMatrix.blocks(columns, block) : 0;
        MemorySegment p = Pages.allocateUntouched((long) groups * columns * GROUP * size, arena);
        MemorySegment d = int8 ? arena.allocate((long) groups * blocks * GROUP * 4, 64) : null;
        pack(groups, columns, (g0, g1) -> {
            for (int g = g0; g < g1; g++) {
                for (int k0 = 0; k0 < columns; k0 += TILE) { // a tile of columns: its writes stay in L1
                    int k1 = Math.min(columns, k0 + TILE);
                    for (int r = g * GROUP, end = Math.min(rows, r + GROUP); r < end; r++) {
                        long src = (long) r * columns;
                        long dst = (long) g * columns * GROUP + (int8 ? r % GROUP : bf16Slot(r % GROUP));
                        for (int k = k0; k < k1; k++) {
                            long at = dst + (long) k * GROUP;
                            if (int8) p.set(ValueLayout.JAVA_BYTE, at, m.data().get(ValueLayout.JAVA_BYTE, src + k));
                            else p.setAtIndex(ValueLayout.JAVA_SHORT, at,
                                    m.data().getAtIndex(ValueLayout.JAVA_SHORT, src + k));
                        }
                    }
                }
                for (int r = g * GROUP, end = Math.min(rows, r + GROUP); r < end; r++) {
                    for (int j = 0; j < blocks; j++) {
                        d.setAtIndex(ValueLayout.JAVA_FLOAT, ((long) g * blocks + j) * GROUP + r % GROUP,
                                get(m.scales(), (long) r * blocks + j));
                    }
                }
            }
            if (mapped) {
                Pages.releaseMapped(m.data(), (long) g0 * GROUP * columns * size,
                        (long) Math.min(rows, g1 * GROUP) * columns * size);
            }
        });
        return new PanelMatrix(m.dtype(), rows, columns, block, p, d, bias, biasOffset);
    }

    /**
     * Where output j of a group (0..GROUP-1) keeps its bf16 weight among the group's GROUP for one column: the
     * group's two runs of L 32-bit words each hold outputs [2Lc, 2Lc + L) in their low halves and [2Lc + L,
     * 2Lc + 2L) in their high halves (c the run), so a word load gives two float32 vectors by a shift and a mask.
     */
    static int bf16Slot(int j) {
        int run = j / (2 * L), within = j % (2 * L);
        return run * 2 * L + (within < L ? 2 * within : 2 * (within - L) + 1);
    }

    /** Whether a matrix of this dtype and number of rows keeps its last group HALF wide (float32 only). */
    private static boolean halfTail(WeightDtype dtype, int rows) {
        return dtype == WeightDtype.F32 && rows % GROUP != 0 && rows % GROUP <= HALF;
    }

    /** Runs body over the groups, split across threads, RELEASE_GROUPS groups per call. */
    private static void pack(int groups, int columns, Parallel.RangeBody body) {
        Parallel.rows(groups, (long) GROUP * columns, (from, to) -> {
            for (int g = from; g < to; g += RELEASE_GROUPS) body.run(g, Math.min(to, g + RELEASE_GROUPS));
        });
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    /** Bytes of the copy: weights and scales. */
    long bytes() {
        return data.byteSize() + (scales == null ? 0 : scales.byteSize());
    }

    @Override
    public void multiply(MemorySegment x, int batch, MemorySegment y) {
        // units of work: a group of outputs for a block of up to ROW_BLOCK rows, so that a product with few groups
        // and many rows (a prompt fed through decoding steps) still keeps every core busy; consecutive units share
        // a group, whose weights then stay in cache from one block of rows to the next
        int rowBlocks = (batch + ROW_BLOCK - 1) / ROW_BLOCK;
        long work = (long) GROUP * columns * Math.min(batch, ROW_BLOCK);
        // one lambda per dtype, each calling its own kernels: C2 compiles a kernel well only when it is not
        // inlined beside the others (their sixteen accumulators and four weight vectors fill the registers)
        switch (dtype) {
            case F32 -> Parallel.chunks(groups * rowBlocks, work, (from, to) -> {
                for (int u = from; u < to; u++) {
                    int g = u / rowBlocks, b = u % rowBlocks * ROW_BLOCK, end = Math.min(batch, b + ROW_BLOCK);
                    if (g == halfGroup) {
                        for (; b + 4 <= end; b += 4) f32HalfRows4(g, x, b, y);
                        for (; b < end; b++) f32HalfRow(g, x, b, y);
                    } else {
                        for (; b + 4 <= end; b += 4) f32Rows4(g, x, b, y);
                        for (; b < end; b++) f32Row(g, x, b, y);
                    }
                }
            });
            case BF16 -> Parallel.chunks(groups * rowBlocks, work, (from, to) -> {
                for (int u = from; u < to; u++) {
                    int g = u / rowBlocks, b = u % rowBlocks * ROW_BLOCK, end = Math.min(batch, b + ROW_BLOCK);
                    for (; b + 4 <= end; b += 4) bf16Rows4(g, x, b, y);
                    for (; b < end; b++) bf16Row(g, x, b, y);
                }
            });
            case INT8 -> Parallel.chunks(groups * rowBlocks, work, (from, to) -> {
                for (int u = from; u < to; u++) {
                    int g = u / rowBlocks, b = u % rowBlocks * ROW_BLOCK, end = Math.min(batch, b + ROW_BLOCK);
                    for (; b + 4 <= end; b += 4) int8Rows4(g, x, b, y);
                    for (; b < end; b++) int8Row(g, x, b, y);
                }
            });
        }
    }

    /** Row b of X's value at column k, in every lane. */
    private static FloatVector column(MemorySegment x, long at) {
        return FloatVector.broadcast(S, get(x, at));
    }

    /** Group g's float32 outputs for rows b..b+3 of X. */
    private void f32Rows4(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP, x0 = (long) b * columns, x1 = x0 + columns, x2 = x1 + columns,
                x3 = x2 + columns;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int k = 0; k < columns; k++, p += GROUP) {
            FloatVector w0 = load(data, p), w1 = load(data, p + L), w2 = load(data, p + 2 * L),
                    w3 = load(data, p + 3 * L);
            // written out, not looped over arrays: an array of vectors would box them
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a00 = w0.fma(u, a00); a01 = w1.fma(u, a01); a02 = w2.fma(u, a02); a03 = w3.fma(u, a03);
            u = FloatVector.broadcast(S, get(x, x1 + k));
            a10 = w0.fma(u, a10); a11 = w1.fma(u, a11); a12 = w2.fma(u, a12); a13 = w3.fma(u, a13);
            u = FloatVector.broadcast(S, get(x, x2 + k));
            a20 = w0.fma(u, a20); a21 = w1.fma(u, a21); a22 = w2.fma(u, a22); a23 = w3.fma(u, a23);
            u = FloatVector.broadcast(S, get(x, x3 + k));
            a30 = w0.fma(u, a30); a31 = w1.fma(u, a31); a32 = w2.fma(u, a32); a33 = w3.fma(u, a33);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a00 = a00.add(c0); a01 = a01.add(c1); a02 = a02.add(c2); a03 = a03.add(c3);
                a10 = a10.add(c0); a11 = a11.add(c1); a12 = a12.add(c2); a13 = a13.add(c3);
                a20 = a20.add(c0); a21 = a21.add(c1); a22 = a22.add(c2); a23 = a23.add(c3);
                a30 = a30.add(c0); a31 = a31.add(c1); a32 = a32.add(c2); a33 = a33.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a00.intoMemorySegment(y, o, Kernels.NATIVE);
            a01.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a02.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a03.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a10.intoMemorySegment(y, o, Kernels.NATIVE);
            a11.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a12.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a13.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a20.intoMemorySegment(y, o, Kernels.NATIVE);
            a21.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a22.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a23.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a30.intoMemorySegment(y, o, Kernels.NATIVE);
            a31.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a32.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a33.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[4 * GROUP];
            a00.intoArray(t, 0);
            a01.intoArray(t, L);
            a02.intoArray(t, 2 * L);
            a03.intoArray(t, 3 * L);
            a10.intoArray(t, GROUP);
            a11.intoArray(t, GROUP + L);
            a12.intoArray(t, GROUP + 2 * L);
            a13.intoArray(t, GROUP + 3 * L);
            a20.intoArray(t, 2 * GROUP);
            a21.intoArray(t, 2 * GROUP + L);
            a22.intoArray(t, 2 * GROUP + 2 * L);
            a23.intoArray(t, 2 * GROUP + 3 * L);
            a30.intoArray(t, 3 * GROUP);
            a31.intoArray(t, 3 * GROUP + L);
            a32.intoArray(t, 3 * GROUP + 2 * L);
            a33.intoArray(t, 3 * GROUP + 3 * L);
            storePart(t, 4, r, b, y);
        }
    }

    /**
     * Group g's float32 outputs for row b of X: one row of {@link #f32Rows4}, the same chain of FMAs per output.
     * Four columns per iteration, their sixteen loads first, written out: the one-column loop streamed the
     * weights at 10-12 GB/s per core, this one at about 17 (measured: 3.0 against 4.2-4.9 ms on 2 cores for the
     * 50,257 x 512 output layer).
     */
    private void f32Row(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP, x0 = (long) b * columns;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 4 <= columns; k += 4, p += 4 * GROUP) {
            long q1 = p + GROUP, q2 = q1 + GROUP, q3 = q2 + GROUP;
            FloatVector w00 = load(data, p), w01 = load(data, p + L), w02 = load(data, p + 2 * L),
                    w03 = load(data, p + 3 * L);
            FloatVector w10 = load(data, q1), w11 = load(data, q1 + L), w12 = load(data, q1 + 2 * L),
                    w13 = load(data, q1 + 3 * L);
            FloatVector w20 = load(data, q2), w21 = load(data, q2 + L), w22 = load(data, q2 + 2 * L),
                    w23 = load(data, q2 + 3 * L);
            FloatVector w30 = load(data, q3), w31 = load(data, q3 + L), w32 = load(data, q3 + 2 * L),
                    w33 = load(data, q3 + 3 * L);
            FloatVector u0 = FloatVector.broadcast(S, get(x, x0 + k)),
                    u1 = FloatVector.broadcast(S, get(x, x0 + k + 1)),
                    u2 = FloatVector.broadcast(S, get(x, x0 + k + 2)),
                    u3 = FloatVector.broadcast(S, get(x, x0 + k + 3));
            a0 = w30.fma(u3, w20.fma(u2, w10.fma(u1, w00.fma(u0, a0))));
            a1 = w31.fma(u3, w21.fma(u2, w11.fma(u1, w01.fma(u0, a1))));
            a2 = w32.fma(u3, w22.fma(u2, w12.fma(u1, w02.fma(u0, a2))));
            a3 = w33.fma(u3, w23.fma(u2, w13.fma(u1, w03.fma(u0, a3))));
        }
        for (; k < columns; k++, p += GROUP) {
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a0 = load(data, p).fma(u, a0);
            a1 = load(data, p + L).fma(u, a1);
            a2 = load(data, p + 2 * L).fma(u, a2);
            a3 = load(data, p + 3 * L).fma(u, a3);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a0 = a0.add(c0); a1 = a1.add(c1); a2 = a2.add(c2); a3 = a3.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a0.intoMemorySegment(y, o, Kernels.NATIVE);
            a1.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a2.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a3.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[GROUP];
            a0.intoArray(t, 0);
            a1.intoArray(t, L);
            a2.intoArray(t, 2 * L);
            a3.intoArray(t, 3 * L);
            storePart(t, 1, r, b, y);
        }
    }

    /** {@link #f32Rows4} for the HALF-wide last group: two vectors of outputs, the same chain of FMAs per output. */
    private void f32HalfRows4(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP, x0 = (long) b * columns, x1 = x0 + columns, x2 = x1 + columns,
                x3 = x2 + columns;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
                a31 = a00;
        for (int k = 0; k < columns; k++, p += HALF) {
            FloatVector w0 = load(data, p), w1 = load(data, p + L);
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a00 = w0.fma(u, a00); a01 = w1.fma(u, a01);
            u = FloatVector.broadcast(S, get(x, x1 + k));
            a10 = w0.fma(u, a10); a11 = w1.fma(u, a11);
            u = FloatVector.broadcast(S, get(x, x2 + k));
            a20 = w0.fma(u, a20); a21 = w1.fma(u, a21);
            u = FloatVector.broadcast(S, get(x, x3 + k));
            a30 = w0.fma(u, a30); a31 = w1.fma(u, a31);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + HALF == rows) { // a low-rank layer's 32 outputs: whole vectors
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE);
                a00 = a00.add(c0); a01 = a01.add(c1); a10 = a10.add(c0); a11 = a11.add(c1);
                a20 = a20.add(c0); a21 = a21.add(c1); a30 = a30.add(c0); a31 = a31.add(c1);
            }
            long o = ((long) b * rows + r) * 4;
            a00.intoMemorySegment(y, o, Kernels.NATIVE);
            a01.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            o += 4L * rows;
            a10.intoMemorySegment(y, o, Kernels.NATIVE);
            a11.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            o += 4L * rows;
            a20.intoMemorySegment(y, o, Kernels.NATIVE);
            a21.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            o += 4L * rows;
            a30.intoMemorySegment(y, o, Kernels.NATIVE);
            a31.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[4 * GROUP];
            a00.intoArray(t, 0);
            a01.intoArray(t, L);
            a10.intoArray(t, GROUP);
            a11.intoArray(t, GROUP + L);
            a20.intoArray(t, 2 * GROUP);
            a21.intoArray(t, 2 * GROUP + L);
            a30.intoArray(t, 3 * GROUP);
            a31.intoArray(t, 3 * GROUP + L);
            storePart(t, 4, r, b, y);
        }
    }

    /** One row of {@link #f32HalfRows4}, four columns per iteration as {@link #f32Row}. */
    private void f32HalfRow(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP, x0 = (long) b * columns;
        FloatVector a0 = FloatVector.zero(S), a1 = a0;
        int k = 0;
        for (; k + 4 <= columns; k += 4, p += 4 * HALF) {
            FloatVector w00 = load(data, p), w01 = load(data, p + L), w10 = load(data, p + HALF),
                    w11 = load(data, p + HALF + L), w20 = load(data, p + 2 * HALF), w21 = load(data, p + 2 * HALF + L),
                    w30 = load(data, p + 3 * HALF), w31 = load(data, p + 3 * HALF + L);
            FloatVector u0 = FloatVector.broadcast(S, get(x, x0 + k)),
                    u1 = FloatVector.broadcast(S, get(x, x0 + k + 1)),
                    u2 = FloatVector.broadcast(S, get(x, x0 + k + 2)),
                    u3 = FloatVector.broadcast(S, get(x, x0 + k + 3));
            a0 = w30.fma(u3, w20.fma(u2, w10.fma(u1, w00.fma(u0, a0))));
            a1 = w31.fma(u3, w21.fma(u2, w11.fma(u1, w01.fma(u0, a1))));
        }
        for (; k < columns; k++, p += HALF) {
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a0 = load(data, p).fma(u, a0);
            a1 = load(data, p + L).fma(u, a1);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + HALF == rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                a0 = a0.add(FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE));
                a1 = a1.add(FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE));
            }
            long o = ((long) b * rows + r) * 4;
            a0.intoMemorySegment(y, o, Kernels.NATIVE);
            a1.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[GROUP];
            a0.intoArray(t, 0);
            a1.intoArray(t, L);
            storePart(t, 1, r, b, y);
        }
    }

    private void bf16Rows4(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP * 2, x0 = (long) b * columns, x1 = x0 + columns, x2 = x1 + columns,
                x3 = x2 + columns;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int k = 0; k < columns; k++, p += GROUP * 2) {
            IntVector v = words(data, p), v2 = words(data, p + 4 * L);
            FloatVector w0 = low(v), w1 = high(v), w2 = low(v2), w3 = high(v2);
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a00 = w0.fma(u, a00); a01 = w1.fma(u, a01); a02 = w2.fma(u, a02); a03 = w3.fma(u, a03);
            u = FloatVector.broadcast(S, get(x, x1 + k));
            a10 = w0.fma(u, a10); a11 = w1.fma(u, a11); a12 = w2.fma(u, a12); a13 = w3.fma(u, a13);
            u = FloatVector.broadcast(S, get(x, x2 + k));
            a20 = w0.fma(u, a20); a21 = w1.fma(u, a21); a22 = w2.fma(u, a22); a23 = w3.fma(u, a23);
            u = FloatVector.broadcast(S, get(x, x3 + k));
            a30 = w0.fma(u, a30); a31 = w1.fma(u, a31); a32 = w2.fma(u, a32); a33 = w3.fma(u, a33);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a00 = a00.add(c0); a01 = a01.add(c1); a02 = a02.add(c2); a03 = a03.add(c3);
                a10 = a10.add(c0); a11 = a11.add(c1); a12 = a12.add(c2); a13 = a13.add(c3);
                a20 = a20.add(c0); a21 = a21.add(c1); a22 = a22.add(c2); a23 = a23.add(c3);
                a30 = a30.add(c0); a31 = a31.add(c1); a32 = a32.add(c2); a33 = a33.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a00.intoMemorySegment(y, o, Kernels.NATIVE);
            a01.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a02.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a03.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a10.intoMemorySegment(y, o, Kernels.NATIVE);
            a11.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a12.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a13.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a20.intoMemorySegment(y, o, Kernels.NATIVE);
            a21.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a22.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a23.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a30.intoMemorySegment(y, o, Kernels.NATIVE);
            a31.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a32.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a33.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[4 * GROUP];
            a00.intoArray(t, 0);
            a01.intoArray(t, L);
            a02.intoArray(t, 2 * L);
            a03.intoArray(t, 3 * L);
            a10.intoArray(t, GROUP);
            a11.intoArray(t, GROUP + L);
            a12.intoArray(t, GROUP + 2 * L);
            a13.intoArray(t, GROUP + 3 * L);
            a20.intoArray(t, 2 * GROUP);
            a21.intoArray(t, 2 * GROUP + L);
            a22.intoArray(t, 2 * GROUP + 2 * L);
            a23.intoArray(t, 2 * GROUP + 3 * L);
            a30.intoArray(t, 3 * GROUP);
            a31.intoArray(t, 3 * GROUP + L);
            a32.intoArray(t, 3 * GROUP + 2 * L);
            a33.intoArray(t, 3 * GROUP + 3 * L);
            storePart(t, 4, r, b, y);
        }
    }

    /**
     * One row of {@link #bf16Rows4}. Not unrolled as {@link #f32Row}: unrolled, C2 compiles it three times
     * slower (measured).
     */
    private void bf16Row(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        long p = (long) g * columns * GROUP * 2, x0 = (long) b * columns;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 2 <= columns; k += 2, p += 2 * GROUP * 2) {
            IntVector v0 = words(data, p), v02 = words(data, p + 4 * L), v1 = words(data, p + GROUP * 2),
                    v12 = words(data, p + GROUP * 2 + 4 * L);
            FloatVector u0 = FloatVector.broadcast(S, get(x, x0 + k)),
                    u1 = FloatVector.broadcast(S, get(x, x0 + k + 1));
            a0 = low(v1).fma(u1, low(v0).fma(u0, a0));
            a1 = high(v1).fma(u1, high(v0).fma(u0, a1));
            a2 = low(v12).fma(u1, low(v02).fma(u0, a2));
            a3 = high(v12).fma(u1, high(v02).fma(u0, a3));
        }
        for (; k < columns; k++, p += GROUP * 2) {
            IntVector v = words(data, p), v2 = words(data, p + 4 * L);
            FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
            a0 = low(v).fma(u, a0);
            a1 = high(v).fma(u, a1);
            a2 = low(v2).fma(u, a2);
            a3 = high(v2).fma(u, a3);
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a0 = a0.add(c0); a1 = a1.add(c1); a2 = a2.add(c2); a3 = a3.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a0.intoMemorySegment(y, o, Kernels.NATIVE);
            a1.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a2.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a3.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[GROUP];
            a0.intoArray(t, 0);
            a1.intoArray(t, L);
            a2.intoArray(t, 2 * L);
            a3.intoArray(t, 3 * L);
            storePart(t, 1, r, b, y);
        }
    }

    /** L 32-bit words of bf16 pairs from byte offset i. */
    private static IntVector words(MemorySegment data, long i) {
        return IntVector.fromMemorySegment(WORDS, data, i, Kernels.NATIVE);
    }

    /** The bf16 values in the low halves of the words, as float32 (shifted into the top half). */
    private static FloatVector low(IntVector v) {
        return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** The bf16 values in the high halves of the words, as float32 (the low half cleared). */
    private static FloatVector high(IntVector v) {
        return v.and(0xFFFF0000).reinterpretAsFloats();
    }

    /** int8: per block of columns, the block's four scale vectors held while its weights are widened and scaled. */
    private void int8Rows4(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        MemorySegment scales = this.scales;
        int block = this.block, blocks = this.blocks;
        long p = (long) g * columns * GROUP, d = (long) g * blocks * GROUP, x0 = (long) b * columns,
                x1 = x0 + columns, x2 = x1 + columns, x3 = x2 + columns;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int start = 0; start < columns; start += block, d += GROUP) {
            FloatVector d0 = load(scales, d), d1 = load(scales, d + L), d2 = load(scales, d + 2 * L),
                    d3 = load(scales, d + 3 * L);
            for (int k = start, end = Math.min(columns, start + block); k < end; k++, p += GROUP) {
                FloatVector w0 = QuantKernels.int8(data, p).mul(d0), w1 = QuantKernels.int8(data, p + L).mul(d1),
                        w2 = QuantKernels.int8(data, p + 2 * L).mul(d2),
                        w3 = QuantKernels.int8(data, p + 3 * L).mul(d3);
                FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
                a00 = w0.fma(u, a00); a01 = w1.fma(u, a01); a02 = w2.fma(u, a02); a03 = w3.fma(u, a03);
                u = FloatVector.broadcast(S, get(x, x1 + k));
                a10 = w0.fma(u, a10); a11 = w1.fma(u, a11); a12 = w2.fma(u, a12); a13 = w3.fma(u, a13);
                u = FloatVector.broadcast(S, get(x, x2 + k));
                a20 = w0.fma(u, a20); a21 = w1.fma(u, a21); a22 = w2.fma(u, a22); a23 = w3.fma(u, a23);
                u = FloatVector.broadcast(S, get(x, x3 + k));
                a30 = w0.fma(u, a30); a31 = w1.fma(u, a31); a32 = w2.fma(u, a32); a33 = w3.fma(u, a33);
            }
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a00 = a00.add(c0); a01 = a01.add(c1); a02 = a02.add(c2); a03 = a03.add(c3);
                a10 = a10.add(c0); a11 = a11.add(c1); a12 = a12.add(c2); a13 = a13.add(c3);
                a20 = a20.add(c0); a21 = a21.add(c1); a22 = a22.add(c2); a23 = a23.add(c3);
                a30 = a30.add(c0); a31 = a31.add(c1); a32 = a32.add(c2); a33 = a33.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a00.intoMemorySegment(y, o, Kernels.NATIVE);
            a01.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a02.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a03.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a10.intoMemorySegment(y, o, Kernels.NATIVE);
            a11.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a12.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a13.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a20.intoMemorySegment(y, o, Kernels.NATIVE);
            a21.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a22.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a23.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
            o += 4L * rows;
            a30.intoMemorySegment(y, o, Kernels.NATIVE);
            a31.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a32.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a33.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[4 * GROUP];
            a00.intoArray(t, 0);
            a01.intoArray(t, L);
            a02.intoArray(t, 2 * L);
            a03.intoArray(t, 3 * L);
            a10.intoArray(t, GROUP);
            a11.intoArray(t, GROUP + L);
            a12.intoArray(t, GROUP + 2 * L);
            a13.intoArray(t, GROUP + 3 * L);
            a20.intoArray(t, 2 * GROUP);
            a21.intoArray(t, 2 * GROUP + L);
            a22.intoArray(t, 2 * GROUP + 2 * L);
            a23.intoArray(t, 2 * GROUP + 3 * L);
            a30.intoArray(t, 3 * GROUP);
            a31.intoArray(t, 3 * GROUP + L);
            a32.intoArray(t, 3 * GROUP + 2 * L);
            a33.intoArray(t, 3 * GROUP + 3 * L);
            storePart(t, 4, r, b, y);
        }
    }

    private void int8Row(int g, MemorySegment x, int b, MemorySegment y) {
        MemorySegment data = this.data;
        int columns = this.columns, r = g * GROUP;
        MemorySegment scales = this.scales;
        int block = this.block, blocks = this.blocks;
        long p = (long) g * columns * GROUP, d = (long) g * blocks * GROUP, x0 = (long) b * columns;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int start = 0; start < columns; start += block, d += GROUP) {
            FloatVector d0 = load(scales, d), d1 = load(scales, d + L), d2 = load(scales, d + 2 * L),
                    d3 = load(scales, d + 3 * L);
            int k = start, end = Math.min(columns, start + block);
            for (; k + 2 <= end; k += 2, p += 2 * GROUP) {
                FloatVector w00 = QuantKernels.int8(data, p), w01 = QuantKernels.int8(data, p + L),
                        w02 = QuantKernels.int8(data, p + 2 * L), w03 = QuantKernels.int8(data, p + 3 * L),
                        w10 = QuantKernels.int8(data, p + GROUP), w11 = QuantKernels.int8(data, p + GROUP + L),
                        w12 = QuantKernels.int8(data, p + GROUP + 2 * L),
                        w13 = QuantKernels.int8(data, p + GROUP + 3 * L);
                FloatVector u0 = FloatVector.broadcast(S, get(x, x0 + k)),
                        u1 = FloatVector.broadcast(S, get(x, x0 + k + 1));
                a0 = w10.mul(d0).fma(u1, w00.mul(d0).fma(u0, a0));
                a1 = w11.mul(d1).fma(u1, w01.mul(d1).fma(u0, a1));
                a2 = w12.mul(d2).fma(u1, w02.mul(d2).fma(u0, a2));
                a3 = w13.mul(d3).fma(u1, w03.mul(d3).fma(u0, a3));
            }
            for (; k < end; k++, p += GROUP) {
                FloatVector u = FloatVector.broadcast(S, get(x, x0 + k));
                a0 = QuantKernels.int8(data, p).mul(d0).fma(u, a0);
                a1 = QuantKernels.int8(data, p + L).mul(d1).fma(u, a1);
                a2 = QuantKernels.int8(data, p + 2 * L).mul(d2).fma(u, a2);
                a3 = QuantKernels.int8(data, p + 3 * L).mul(d3).fma(u, a3);
            }
        }
        // stored here, not by a helper: a vector passed to a method C2 does not inline is boxed
        if (r + GROUP <= rows) {
            if (bias != null) {
                long c = (biasOffset + r) * 4;
                FloatVector c0 = FloatVector.fromMemorySegment(S, bias, c, Kernels.NATIVE),
                        c1 = FloatVector.fromMemorySegment(S, bias, c + 4L * L, Kernels.NATIVE),
                        c2 = FloatVector.fromMemorySegment(S, bias, c + 8L * L, Kernels.NATIVE),
                        c3 = FloatVector.fromMemorySegment(S, bias, c + 12L * L, Kernels.NATIVE);
                a0 = a0.add(c0); a1 = a1.add(c1); a2 = a2.add(c2); a3 = a3.add(c3);
            }
            long o = ((long) b * rows + r) * 4;
            a0.intoMemorySegment(y, o, Kernels.NATIVE);
            a1.intoMemorySegment(y, o + 4L * L, Kernels.NATIVE);
            a2.intoMemorySegment(y, o + 8L * L, Kernels.NATIVE);
            a3.intoMemorySegment(y, o + 12L * L, Kernels.NATIVE);
        } else {
            float[] t = new float[GROUP];
            a0.intoArray(t, 0);
            a1.intoArray(t, L);
            a2.intoArray(t, 2 * L);
            a3.intoArray(t, 3 * L);
            storePart(t, 1, r, b, y);
        }
    }

    /**
     * The last group's outputs that exist (rows r.. up to the matrix's last), for tile rows of X from b, from t
     * ([tile][GROUP] accumulators), plus the bias.
     */
    private void storePart(float[] t, int tile, int r, int b, MemorySegment y) {
        for (int i = 0; i < tile; i++) {
            for (int j = 0; r + j < rows; j++) {
                float v = t[i * GROUP + j];
                Kernels.put(y, (long) (b + i) * rows + r + j, bias == null ? v : v + get(bias, biasOffset + r + j));
            }
        }
    }
}
