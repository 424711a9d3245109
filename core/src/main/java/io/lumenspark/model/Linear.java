package io.lumenspark.model;

import io.lumenspark.engine.DecodeMatrix;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;
import io.lumenspark.engine.QuantizedMatrix;

import java.lang.foreign.Arena;

import java.lang.foreign.MemorySegment;

/** y = x W^T (+ b), W stored [out, in] as in PyTorch. */
final class Linear {
    /** Floats of float32 weights a quantized layer widens at a time for a product over many rows: 4 MB. */
    private static final int WIDENED_FLOATS = 1 << 20;
    /**
     * Products of up to this many rows in a prefill's forward pass (the last chunk of a long prompt) go through
     * the decoding products: faster than sgemm on so few rows (31 rows of lumenspark: 2.6 ms against 4.2-5.0),
     * slower from about a hundred (448: 30 ms against 25). Shorter prompts are fed by decoding steps
     * ({@link DecodeBatch#feed}).
     */
    private static final int PREFILL_DECODE_ROWS = 64;
    final Params.Param weight;  // [out, in]
    final Params.Param bias;    // [out], or null
    final int in, out;
    private final String role;
    /**
     * Whether decoding steps may run this layer's int8 products in integers, activations rounded to int8 too
     * ({@link QuantizedMatrix#integerDecodeMatrix}): the output layer, which is most of a batched step's work.
     */
    boolean integerDecoding;
    private MemorySegment x;    // [rows, in] the input, kept for backward (the caller's buffer)
    private MemorySegment y;    // [rows, out] the output
    private MemorySegment dx;   // [rows, in] scratch: the input's gradient
    private volatile Decoding decode; // the weights (and bias) as decoding steps read them, made on first use

    /** A decoding copy of the weights and the {@link Params#version()} it was made from. */
    private record Decoding(DecodeMatrix matrix, long version) {
    }

    Linear(Params params, String name, int in, int out, boolean withBias) {
        this.in = in;
        this.out = out;
        this.role = Pass.role(name);
        this.weight = params.declareMatrix(name + ".weight", out, in);
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
        if ((c.decoding || c.prefill && rows <= PREFILL_DECODE_ROWS) && withBias) {
            decodeInto(c, input, output, rows);
            return;
        }
        QuantizedMatrix q = c.params.quantized(weight);
        if (q != null) {
            widenedProduct(c, q, input, output, rows);
        } else if (rows == 1) {
            c.blas.matVec(out, in, c.value(weight), 0, in, input, 0, output, 0);
        } else {
            gemm(c, new Mat(input, in), false, new Mat(c.value(weight), in), true, new Mat(output, out),
                    rows, out, in, 0f);
        }
        if (bias != null && withBias) {
            MemorySegment b = c.value(bias);
            Parallel.rows(rows, out, (from, to) -> {
                for (int r = from; r < to; r++) Kernels.add(b, 0, output, (long) r * out, out);
            });
        }
    }

    /**
     * The product for a few rows through the decoding copy of the weights (with the bias): what a decoding step
     * computes, bit for bit, for rows that are not part of one (a prompt's last position).
     */
    void decodeInto(Pass c, MemorySegment input, MemorySegment output, int rows) {
        c.params.beginDecoding(); // the copy read here stays open even if the weights change meanwhile
        try {
            decodeMatrix(c).multiply(input, rows, output);
        } finally {
            c.params.endDecoding();
        }
    }

    /**
     * Y = X W^T for weights held in bf16 or int8, over many rows (prefill, evaluation): a slice of W's rows at a
     * time widened to float32 and multiplied by the backend's sgemm, so the product runs at sgemm's speed while
     * only a slice is ever held in float32.
     */
    private void widenedProduct(Pass c, QuantizedMatrix q, MemorySegment input, MemorySegment output, int rows) {
        int slice = Math.max(1, Math.min(out, WIDENED_FLOATS / in));
        try (Arena tmp = Arena.ofShared()) { // shared: the pool's threads write it
            MemorySegment w = tmp.allocate((long) slice * in * Float.BYTES, 64);
            for (int r0 = 0; r0 < out; r0 += slice) {
                int n = Math.min(slice, out - r0);
                q.dequantize(r0, r0 + n, w);
                c.blas.gemm(new Mat(input, in), false, new Mat(w, in), true, new Mat(output, r0, out),
                        rows, n, in, 1f, 0f);
            }
        }
    }

    /**
     * W (and b) for decoding steps: one product over all the sequences' rows, each output rounded alike whatever
     * their number (see {@link DecodeMatrix}). The weights are copied once into the kernels' layout, and again
     * only after they may have changed (training between generations).
     */
    private DecodeMatrix decodeMatrix(Pass c) {
        long version = c.params.version();
        Decoding d = decode;
        if (d != null && d.version >= version) return d.matrix;
        synchronized (this) {
            d = decode;
            if (d != null && d.version >= version) return d.matrix; // made meanwhile, of these weights or newer
            Arena arena = c.params.decodingArena(version);
            QuantizedMatrix q = c.params.quantized(weight);
            MemorySegment b = bias == null ? null : c.value(bias);
            boolean fromFile = c.params.isMapped();
            DecodeMatrix m = q != null && integerDecoding && c.params.integerProducts()
                    ? q.integerDecodeMatrix(b, 0, arena, fromFile) : null;
            if (m == null) {
                m = q != null ? q.decodeMatrix(b, 0, arena, fromFile)
                        : DecodeMatrix.f32(c.value(weight), 0, out, in, b, 0, arena, fromFile);
            }
            decode = new Decoding(m, version);
            return m;
        }
    }

    /** Accumulates dW, db and returns dx (owned by this layer, overwritten). */
    MemorySegment backward(Pass c, MemorySegment dy) {
        gemm(c, new Mat(dy, out), true, new Mat(x, in), false, new Mat(c.grad(weight), in), out, in, c.rows, 1f);
        if (bias != null) {
            c.blas.gemm(new Mat(c.ones, c.rows), false, new Mat(dy, out), false, new Mat(c.grad(bias), out),
                    1, out, c.rows, 1f, 1f);
        }
        gemm(c, new Mat(dy, out), false, new Mat(c.value(weight), in), false, new Mat(dx, in), c.rows, in, out, 0f);
        return dx;
    }

    /** A product of the layer's: in bf16 with float32 accumulation when the pass says so, else float32. */
    private static void gemm(Pass c, Mat a, boolean transA, Mat b, boolean transB, Mat y, int m, int n, int k,
                             float beta) {
        if (c.bf16 != null) c.bf16.gemm(a, transA, b, transB, y, m, n, k, 1f, beta);
        else c.blas.gemm(a, transA, b, transB, y, m, n, k, 1f, beta);
    }
}
