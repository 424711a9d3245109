package io.lumenspark.model;

import io.lumenspark.engine.Kernels;

import java.lang.foreign.MemorySegment;

/** A post-norm block, as published lumenspark: x = norm1(x + attn(x)); x = norm2(x + ffn(x)). */
final class Block {
    final Attention attn;
    private final RmsNorm norm1, norm2;
    private final FeedForward ffn;
    private final int d, layer;
    private MemorySegment sum1, sum2, dMid, dx;

    Block(Params params, ModelConfig cfg, int layer, Params.Param sharedE, Params.Param sharedF) {
        String name = "layers." + layer;
        d = cfg.embedDim();
        this.layer = layer;
        attn = new Attention(params, name + ".attn", cfg, layer, sharedE, sharedF);
        norm1 = new RmsNorm(params, name + ".norm1", d, cfg.normEps());
        ffn = new FeedForward(params, name + ".ffn", cfg, layer);
        norm2 = new RmsNorm(params, name + ".norm2", d, cfg.normEps());
    }

    void allocate(Ctx c) {
        attn.allocate(c);
        norm1.allocate(c);
        ffn.allocate(c);
        norm2.allocate(c);
        long size = (long) c.rows * d;
        sum1 = c.activation("block.sum1", size);
        sum2 = c.activation("block.sum2", size);
        dMid = c.scratch("block.d_mid", size);
        dx = c.scratch("block.dx." + layer % 2, size); // alternates: a block's dx is the next one's input
    }

    MemorySegment forward(Ctx c, MemorySegment x) {
        long size = (long) c.rows * d;
        Kernels.sum(x, 0, attn.forward(c, x), 0, sum1, 0, size);
        MemorySegment mid = norm1.forward(c, sum1);
        Kernels.sum(mid, 0, ffn.forward(c, mid), 0, sum2, 0, size);
        return norm2.forward(c, sum2);
    }

    /** One sequence's decoding state for this block. */
    final class StepState {
        final Attention.StepState attention;
        final FeedForward.StepBuffers ffnBuffers;
        final MemorySegment sum1, mid, sum2, y, denom;

        StepState(java.lang.foreign.Arena a, Ctx c, ModelConfig cfg) {
            attention = attn.new StepState(a, c);
            ffnBuffers = ffn.stepBuffers(a, cfg.rank());
            sum1 = a.allocate(4L * d, 64);
            mid = a.allocate(4L * d, 64);
            sum2 = a.allocate(4L * d, 64);
            y = a.allocate(4L * d, 64);
            denom = a.allocate(4, 4);
        }
    }

    /** The block's output row for position t (incremental decoding). */
    MemorySegment step(Ctx c, MemorySegment x, StepState s, int t) {
        Kernels.sum(x, 0, attn.step(c, x, s.attention, t), 0, s.sum1, 0, d);
        norm1.step(c, s.sum1, s.mid, s.denom);
        Kernels.sum(s.mid, 0, ffn.step(c, s.mid, s.ffnBuffers), 0, s.sum2, 0, d);
        norm2.step(c, s.sum2, s.y, s.denom);
        return s.y;
    }

    /** Sets the decoding state from the forward pass just run over positions 0..n-1 (see Attention.fillState). */
    void fillState(StepState s, int n) {
        attn.fillState(s.attention, n);
    }

    MemorySegment backward(Ctx c, MemorySegment dy) {
        long size = (long) c.rows * d;
        MemorySegment dSum2 = norm2.backward(c, dy);
        Kernels.sum(dSum2, 0, ffn.backward(c, dSum2), 0, dMid, 0, size);
        MemorySegment dSum1 = norm1.backward(c, dMid);
        Kernels.sum(dSum1, 0, attn.backward(c, dSum1), 0, dx, 0, size);
        return dx;
    }
}
