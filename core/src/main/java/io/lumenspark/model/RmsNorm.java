package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

/** y = scale * x / (sqrt(mean(x^2)) + eps), with eps outside the root as published lumenspark has it. */
final class RmsNorm {
    final Params.Param scale;           // [d]
    private final int d;
    private final float eps;
    private final String role;
    private MemorySegment x;            // [rows, d] the input, kept for backward (the caller's buffer)
    private MemorySegment y;            // [rows, d] the output
    private MemorySegment denom;        // [rows] sqrt(mean(x^2)) + eps of each row
    private MemorySegment dx;           // [rows, d] scratch: the input's gradient
    private MemorySegment scaleTerms;   // [rows, d] scratch: each row's share of the scale's gradient

    RmsNorm(Params params, String name, int d, double eps) {
        this.scale = params.declare(name + ".scale", d);
        this.d = d;
        this.eps = (float) eps;
        this.role = Pass.role(name);
    }

    void allocate(Pass c) {
        y = c.activation(role + ".y", (long) c.rows * d);
        dx = c.scratch(role + ".dx", (long) c.rows * d);
        scaleTerms = c.scratch(role + ".scale_terms", (long) c.rows * d);
        denom = c.activation(role + ".denom", c.rows);
    }

    MemorySegment forward(Pass c, MemorySegment input) {
        x = input;
        MemorySegment s = c.value(scale);
        Parallel.rows(c.rows, d, (from, to) -> Kernels.rmsNorm(x, s, 0, y, denom, d, eps, from, to));
        return y;
    }

    /** Rows outside the pass's own buffers (chunked inference, decoding): y = norm(x), one denom float per row. */
    void forwardRows(Pass c, MemorySegment x, MemorySegment y, MemorySegment denom, int rows) {
        MemorySegment s = c.value(scale);
        Parallel.rows(rows, d, (from, to) -> Kernels.rmsNorm(x, s, 0, y, denom, d, eps, from, to));
    }

    MemorySegment backward(Pass c, MemorySegment dy) {
        MemorySegment s = c.value(scale);
        Parallel.rows(c.rows, d, (from, to) -> Kernels.rmsNormBackward(x, s, 0, denom, dy, dx, scaleTerms, d, eps,
                from, to));
        c.blas.gemm(new Mat(c.ones, c.rows), false, new Mat(scaleTerms, d), false, new Mat(c.grad(scale), d),
                1, d, c.rows, 1f, 1f);
        return dx;
    }
}
