package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

/** LowRankLinear(d -> d/2) -> exact GELU -> LowRankLinear(d/2 -> d) -> dropout (module names ffn.0 and ffn.2). */
final class FeedForward {
    private final LowRankLinear up, down;
    private final int hidden, d, site;
    private final double dropout;
    private MemorySegment pre, act, out;

    FeedForward(Params params, String name, ModelConfig cfg, int layer) {
        d = cfg.embedDim();
        hidden = d / 2;
        up = new LowRankLinear(params, name + ".0", d, hidden, cfg.rank());
        down = new LowRankLinear(params, name + ".2", hidden, d, cfg.rank());
        dropout = cfg.dropout();
        site = 2 * layer + 1;
    }

    void allocate(Ctx c) {
        up.allocate(c);
        down.allocate(c);
        act = c.activation("ffn.act", (long) c.rows * hidden);
        out = c.scratch("ffn.out", (long) c.rows * d);
    }

    MemorySegment forward(Ctx c, MemorySegment x) {
        pre = up.forward(c, x);
        Parallel.rows(c.rows, hidden, (from, to) -> Kernels.gelu(pre, act, (long) from * hidden, (long) to * hidden));
        MemorySegment y = down.forward(c, act);
        if (!c.training || dropout == 0) return y;
        Dropout.apply(y, 0, out, 0, (long) c.rows * d, dropout, c.dropoutKey(site));
        return out;
    }

    /** Per-sequence buffers of one row for incremental decoding. */
    record StepBuffers(MemorySegment low, MemorySegment pre, MemorySegment act, MemorySegment out) {
    }

    StepBuffers stepBuffers(java.lang.foreign.Arena a, int rank) {
        return new StepBuffers(a.allocate(4L * rank, 64), a.allocate(4L * hidden, 64), a.allocate(4L * hidden, 64),
                a.allocate(4L * d, 64));
    }

    /** One row, for incremental decoding (no dropout); returns b.out(). */
    MemorySegment step(Ctx c, MemorySegment x, StepBuffers b) {
        up.u.forwardInto(c, x, b.low(), 1);
        up.v.forwardInto(c, b.low(), b.pre(), 1);
        Kernels.gelu(b.pre(), b.act(), 0, hidden);
        down.u.forwardInto(c, b.act(), b.low(), 1);
        down.v.forwardInto(c, b.low(), b.out(), 1);
        return b.out();
    }

    MemorySegment backward(Ctx c, MemorySegment dy) {
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
