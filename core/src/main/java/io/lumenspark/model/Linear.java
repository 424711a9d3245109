package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

/** y = x W^T (+ b), W stored [out, in] as in PyTorch. */
final class Linear {
    final Params.Param weight;  // [out, in]
    final Params.Param bias;    // [out], or null
    final int in, out;
    private final String role;
    private MemorySegment x;    // [rows, in] the input, kept for backward (the caller's buffer)
    private MemorySegment y;    // [rows, out] the output
    private MemorySegment dx;   // [rows, in] scratch: the input's gradient

    Linear(Params params, String name, int in, int out, boolean withBias) {
        this.in = in;
        this.out = out;
        this.role = Pass.role(name);
        this.weight = params.declare(name + ".weight", out, in);
        this.bias = withBias ? params.declare(name + ".bias", out) : null;
    }

    void allocate(Pass c) {
        y = c.activation(role + ".y", (long) c.rows * out);
        dx = c.scratch(role + ".dx", (long) c.rows * in);
    }

    MemorySegment forward(Pass c, MemorySegment input) {
        x = input;
        forwardInto(c, input, y, c.rows);
        return y;
    }

    /** The product for any number of rows into a caller's buffer (used by generation and the LM head). */
    void forwardInto(Pass c, MemorySegment input, MemorySegment output, int rows) {
        forwardInto(c, input, output, rows, true);
    }

    /** As above; withBias = false leaves the bias for the caller to fuse into its own pass over the output. */
    void forwardInto(Pass c, MemorySegment input, MemorySegment output, int rows, boolean withBias) {
        if (rows == 1) {
            c.blas.matVec(out, in, c.value(weight), 0, in, input, 0, output, 0);
        } else {
            c.blas.gemm(new Mat(input, in), false, new Mat(c.value(weight), in), true, new Mat(output, out),
                    rows, out, in, 1f, 0f);
        }
        if (bias != null && withBias) {
            MemorySegment b = c.value(bias);
            Parallel.rows(rows, out, (from, to) -> {
                for (int r = from; r < to; r++) Kernels.add(b, 0, output, (long) r * out, out);
            });
        }
    }

    /** Accumulates dW, db and returns dx (owned by this layer, overwritten). */
    MemorySegment backward(Pass c, MemorySegment dy) {
        c.blas.gemm(new Mat(dy, out), true, new Mat(x, in), false, new Mat(c.grad(weight), in),
                out, in, c.rows, 1f, 1f);
        if (bias != null) {
            c.blas.gemm(new Mat(c.ones, c.rows), false, new Mat(dy, out), false, new Mat(c.grad(bias), out),
                    1, out, c.rows, 1f, 1f);
        }
        c.blas.gemm(new Mat(dy, out), false, new Mat(c.value(weight), in), false, new Mat(dx, in),
                c.rows, in, out, 1f, 0f);
        return dx;
    }
}
