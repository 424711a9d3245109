package io.lumenspark.model;

import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A post-norm block, as published lumenspark: x = norm1(x + attn(x)); x = norm2(x + ffn(x)). */
final class Block {
    final Attention attn;
    private final RmsNorm norm1, norm2;
    private final FeedForward ffn;
    private final int d, layer;
    private MemorySegment sum1;     // [rows, d] x + attn(x)
    private MemorySegment sum2;     // [rows, d] mid + ffn(mid), mid = norm1(sum1)
    private MemorySegment dMid;     // [rows, d] scratch: the gradient of mid
    private MemorySegment dx;       // [rows, d] scratch: the input's gradient (two, alternating between layers)
    private RowBuffers rows;        // [chunkRows, ...] forward-only passes, a chunk of positions at a time
    private int chunkRows;

    Block(Params params, ModelConfig cfg, int layer, Params.Param sharedE, Params.Param sharedF) {
        String name = "layers." + layer;
        d = cfg.embedDim();
        this.layer = layer;
        attn = new Attention(params, name + ".attn", cfg, layer, sharedE, sharedF);
        norm1 = new RmsNorm(params, name + ".norm1", d, cfg.normEps());
        ffn = new FeedForward(params, name + ".ffn", cfg, layer);
        norm2 = new RmsNorm(params, name + ".norm2", d, cfg.normEps());
    }

    void allocate(Pass c) {
        attn.allocate(c);
        if (c.forwardOnly) {
            chunkRows = Math.min(c.n, attn.rowsPerChunk());
            rows = rowBuffers(c::activation, chunkRows);
            return;
        }
        norm1.allocate(c);
        ffn.allocate(c);
        norm2.allocate(c);
        long size = (long) c.rows * d;
        sum1 = c.activation("block.sum1", size);
        sum2 = c.activation("block.sum2", size);
        dMid = c.scratch("block.d_mid", size);
        dx = c.scratch("block.dx." + layer % 2, size); // alternates: a block's dx is the next one's input
    }

    MemorySegment forward(Pass c, MemorySegment x) {
        if (c.forwardOnly) return forwardInChunks(c, x);
        long size = (long) c.rows * d;
        Kernels.sum(x, 0, attn.forward(c, x), 0, sum1, 0, size);
        MemorySegment mid = norm1.forward(c, sum1);
        Kernels.sum(mid, 0, ffn.forward(c, mid), 0, sum2, 0, size);
        return norm2.forward(c, sum2);
    }

    /**
     * Inference in chunks of positions. Once the attention's whole-sequence part has run (keys and their
     * compression; all of standard attention), each chunk goes through the rest of the block on its own, so the
     * pass holds buffers for a chunk instead of for all n positions. The output overwrites x: a chunk's input rows
     * are dead once it is done.
     */
    private MemorySegment forwardInChunks(Pass c, MemorySegment x) {
        attn.prepareRows(c, x);
        for (int b = 0; b < c.batch; b++) {
            for (int r0 = 0; r0 < c.n; r0 += chunkRows) {
                int len = Math.min(chunkRows, c.n - r0);
                MemorySegment xs = Floats.slice(x, ((long) b * c.n + r0) * d, (long) len * d);
                finishRows(c, xs, attn.forwardRows(c, b, r0, len, xs), rows, len, xs);
            }
        }
        return x;
    }

    /** Buffers for the position-wise part of the block over up to some number of rows. */
    record RowBuffers(MemorySegment sum1, MemorySegment mid, MemorySegment sum2, MemorySegment denom,
                      FeedForward.RowBuffers ffn) {
    }

    private RowBuffers rowBuffers(Pass.Buffers alloc, int rows) {
        return new RowBuffers(alloc.floats("block.rows.sum1", (long) rows * d),
                alloc.floats("block.rows.mid", (long) rows * d), alloc.floats("block.rows.sum2", (long) rows * d),
                alloc.floats("block.rows.denom", rows), ffn.rowBuffers(alloc, rows));
    }

    /** y = norm2(m + ffn(m)) with m = norm1(x + a), for rows of x and of the attention output a; y may be x. */
    private void finishRows(Pass c, MemorySegment x, MemorySegment a, RowBuffers s, int rows, MemorySegment y) {
        long size = (long) rows * d;
        Kernels.sum(x, 0, a, 0, s.sum1(), 0, size);
        norm1.forwardRows(c, s.sum1(), s.mid(), s.denom(), rows);
        Kernels.sum(s.mid(), 0, ffn.forwardRows(c, s.mid(), s.ffn(), rows), 0, s.sum2(), 0, size);
        norm2.forwardRows(c, s.sum2(), y, s.denom(), rows);
    }

    /** One sequence's decoding state for this block. */
    final class StepState {
        final Attention.StepState attention;

        StepState(Arena a, Pass c) {
            attention = attn.new StepState(a, c);
        }
    }

    /** The rows of a decoding step (one per sequence), shared by every block: the attention's and the rest's. */
    record StepRows(Attention.StepRows attention, RowBuffers rows) {
    }

    /** Buffers for decoding steps over up to rows sequences. */
    StepRows stepRows(Pass.Buffers alloc, int rows) {
        return new StepRows(attn.stepRows(alloc, rows), rowBuffers(alloc, rows));
    }

    /**
     * The block's output rows for one position of each of rows sequences (incremental decoding): row b of x is
     * sequence b's input at position t[b], s[b] its state. Writes y (which may be x).
     */
    void step(Pass c, MemorySegment x, int rows, StepState[] s, int[] t, StepRows r, MemorySegment y) {
        Attention.StepState[] a = new Attention.StepState[rows];
        for (int b = 0; b < rows; b++) a[b] = s[b].attention;
        finishRows(c, x, attn.step(c, x, rows, a, t, r.attention()), r.rows(), rows, y);
    }

    /** Sets the decoding state from the forward pass just run over positions 0..n-1 (see Attention.fillState). */
    void fillState(StepState s, int n) {
        attn.fillState(s.attention, n);
    }

    MemorySegment backward(Pass c, MemorySegment dy) {
        long size = (long) c.rows * d;
        MemorySegment dSum2 = norm2.backward(c, dy);
        Kernels.sum(dSum2, 0, ffn.backward(c, dSum2), 0, dMid, 0, size);
        MemorySegment dSum1 = norm1.backward(c, dMid);
        Kernels.sum(dSum1, 0, attn.backward(c, dSum1), 0, dx, 0, size);
        return dx;
    }
}
