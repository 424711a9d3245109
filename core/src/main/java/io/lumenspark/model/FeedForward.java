package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

/** LowRankLinear(d -> d/2) -> exact GELU -> LowRankLinear(d/2 -> d) -> dropout (module names ffn.0 and ffn.2). */
final class FeedForward {
    private final LowRankLinear up;     // d -> d/2 (ffn.0)
    private final LowRankLinear down;   // d/2 -> d (ffn.2)
    private final int hidden, d, site;  // hidden = d/2
    private final double dropout;
    private MemorySegment pre;          // [rows, d/2] up's output (up's own buffer), kept for GELU's backward
    private MemorySegment act;          // [rows, d/2] GELU(pre)
    private MemorySegment out;          // [rows, d] scratch: the output after dropout, then its gradient

    FeedForward(Params params, String name, ModelConfig cfg, int layer) {
        d = cfg.embedDim();
        hidden = d / 2;
        up = new LowRankLinear(params, name + ".0", d, hidden, cfg.rank());
        down = new LowRankLinear(params, name + ".2", hidden, d, cfg.rank());
        dropout = cfg.dropout();
        site = 2 * layer + 1;
    }

    void allocate(Pass c) {
        up.allocate(c);
        down.allocate(c);
        act = c.activation("ffn.act", (long) c.rows * hidden);
        out = c.scratch("ffn.out", (long) c.rows * d);
    }

    MemorySegment forward(Pass c, MemorySegment x) {
        pre = up.forward(c, x);
        Parallel.rows(c.rows, hidden, (from, to) -> Kernels.gelu(pre, act, (long) from * hidden, (long) to * hidden));
        MemorySegment y = down.forward(c, act);
        if (!c.training || dropout == 0) return y;
        Dropout.apply(y, 0, out, 0, (long) c.rows * d, dropout, c.dropoutKey(site));
        return out;
    }

    /** Buffers for up to {@code rows} rows outside the pass (chunked inference, decoding). */
    record RowBuffers(MemorySegment low, MemorySegment pre, MemorySegment act, MemorySegment out) {
    }

    RowBuffers rowBuffers(Pass.Buffers alloc, int rows) {
        return new RowBuffers(alloc.floats("ffn.rows.low", (long) rows * up.u.out),
                alloc.floats("ffn.rows.pre", (long) rows * hidden), alloc.floats("ffn.rows.act", (long) rows * hidden),
                alloc.floats("ffn.rows.out", (long) rows * d));
    }

    /**
     * Inference over rows in the given buffers (no dropout); returns b.out(). GELU runs row by row, so which of a
     * row's elements take the vector or the scalar path does not depend on the number of rows (decoding steps
     * give a sequence the same bits in any batch).
     */
    MemorySegment forwardRows(Pass c, MemorySegment x, RowBuffers b, int rows) {
        up.forwardInto(c, x, b.low(), b.pre(), rows);
        Parallel.rows(rows, hidden, (from, to) -> {
            for (int r = from; r < to; r++) Kernels.gelu(b.pre(), b.act(), (long) r * hidden, (long) (r + 1) * hidden);
        });
        down.forwardInto(c, b.act(), b.low(), b.out(), rows);
        return b.out();
    }

    MemorySegment backward(Pass c, MemorySegment dy) {
        if (c.training && dropout > 0) {
            Dropout.apply(dy, 0, out, 0, (long) c.rows * d, dropout, c.dropoutKey(site));
            dy = out;
        }
        MemorySegment dAct = down.backward(c, dy);
        Parallel.rows(c.rows, hidden, (from, to) -> Kernels.geluBackward(pre, dAct, dAct, (long) from * hidden,
                (long) to * hidden));
        return up.backward(c, dAct);
    }
}
