package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

/** y = x W^T (+ b), W stored [out, in] as in PyTorch. */
final class Linear {
    final Params.Param weight, bias;
    final int in, out;
    private final String role;
    private MemorySegment x, y, dx;

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
            c.blas.sgemm(false, true, rows, out, in, 1f, input, 0, in, c.value(weight), 0, in, 0f, output, 0, out);
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
        c.blas.sgemm(true, false, out, in, c.rows, 1f, dy, 0, out, x, 0, in, 1f, c.grad(weight), 0, in);
        if (bias != null) {
            c.blas.sgemm(false, false, 1, out, c.rows, 1f, c.ones, 0, c.rows, dy, 0, out, 1f, c.grad(bias), 0, out);
        }
        c.blas.sgemm(false, false, c.rows, in, out, 1f, dy, 0, out, c.value(weight), 0, in, 0f, dx, 0, in);
        return dx;
    }
}
