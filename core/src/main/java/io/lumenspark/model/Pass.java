package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Floats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * What every layer needs during one forward/backward pass: the matrix backend, the parameters, the batch shape,
 * the activation arena for that shape, and the dropout stream of the current step.
 */
final class Pass {
    final Blas blas;
    /**
     * The bf16 products of a training step's Linear layers and output layer (see
     * {@link LanguageModel#useBf16Products}), or null: float32 through blas.
     */
    Bf16Gemm bf16;
    final Params params;
    final int batch, n, rows;
    /** Inference only (prefill, scoring): the backward buffers are never allocated. */
    final boolean forwardOnly;
    /**
     * Decoding steps: batch rows are sequences at one position each, and Linear layers multiply them with their
     * {@link io.lumenspark.engine.DecodeMatrix}, whose results do not depend on how many rows there are.
     */
    final boolean decoding;
    /**
     * A prompt's prefill: Linear layers multiply a short chunk's rows with their decoding products, which run
     * such small products faster than sgemm and read the copies decoding reads (see {@link Linear}).
     */
    boolean prefill;
    private final Arena arena;
    /** A column of ones: bias and scale gradients are column sums, done as a matrix product (deterministic). */
    final MemorySegment ones;
    boolean training;
    private long dropoutKey, bytes;
    private int[] lengths; // real tokens of each batch row (padding at its end); null: all n

    /** Makes nothing: {@link #floats} only counts (see {@link #counting}). */
    private final boolean counting;
    private long sharedBytes;

    Pass(Blas blas, Params params, int batch, int n, boolean forwardOnly) {
        this(blas, params, batch, n, forwardOnly, false, false);
    }

    /** The context of decoding steps over up to rows sequences (see {@link #decoding}). */
    static Pass forDecoding(Blas blas, Params params, int rows) {
        return new Pass(blas, params, rows, 1, true, false, true);
    }

    /**
     * A context that allocates nothing: layers "allocate" into it as usual, each buffer an empty segment, and
     * {@link #bytes()} then says what a real context of this shape would hold. Memory planning runs layers'
     * allocate on it before anything is allocated for real. Callers keep batch x n within an int.
     */
    static Pass counting(Params params, int batch, int n, boolean forwardOnly) {
        return new Pass(null, params, batch, n, forwardOnly, true, false);
    }

    private Pass(Blas blas, Params params, int batch, int n, boolean forwardOnly, boolean counting,
                 boolean decoding) {
        this.blas = blas;
        this.forwardOnly = forwardOnly;
        this.decoding = decoding;
        this.params = params;
        this.batch = batch;
        this.n = n;
        this.rows = batch * n;
        this.counting = counting;
        this.arena = counting ? null : Arena.ofShared();
        this.ones = floats(rows);
        if (!counting) {
            ones.elements(ValueLayout.JAVA_FLOAT).forEach(s -> s.set(
                    ValueLayout.JAVA_FLOAT, 0, 1f));
        }
    }

    /** Where buffers for a number of rows come from: a pass's shared activations, or a decoder's own arena. */
    interface Buffers {
        MemorySegment floats(String role, long count);
    }

    /**
     * Rows per chunk of a forward-only pass (see Block): large enough for efficient matrix products, small enough
     * that the chunk's buffers stay a fraction of the n-row ones.
     */
    static final int CHUNK_ROWS = 256;

    private final Map<String, MemorySegment> scratch = new HashMap<>();
    private final Map<String, Long> sharedSizes = new HashMap<>();

    /**
     * A buffer shared by every layer under the same role name (e.g. "attn.dq"): layers run one at a time, and
     * what a layer keeps only between its own calls (gradients it returns, temporaries) need not exist once
     * per layer. Contents are undefined on entry. Scratch is for backward and training-only passes (gradients,
     * dropout): in a forward-only context it is an empty segment, so a use would fail loudly.
     */
    MemorySegment scratch(String role, long count) {
        return forwardOnly ? MemorySegment.NULL : shared(role, count);
    }

    /**
     * A layer's activation: its own buffer when the backward pass will need it; in a forward-only pass one
     * buffer per role shared by all layers, since a layer's activations are dead once the next layer has read its
     * output. Inference then holds one layer's activations, not depth of them.
     */
    MemorySegment activation(String role, long count) {
        return forwardOnly ? shared("activation." + role, count) : floats(count);
    }

    private MemorySegment shared(String role, long count) {
        long size = Math.max(1, count) * 4;
        Long have = sharedSizes.get(role);
        if (have == null || have < size) {
            scratch.put(role, floats(count));
            sharedSizes.put(role, size);
            sharedBytes += size;
        }
        MemorySegment s = scratch.get(role);
        return counting ? s : s.asSlice(0, size);
    }

    /** The role of a named module inside any layer: "layers.3.attn.key_transform" becomes "attn.key_transform". */
    static String role(String name) {
        return name.replaceFirst("^layers\\.\\d+\\.", "");
    }

    /** A zeroed buffer that lives as long as this shape is in use. */
    MemorySegment floats(long count) {
        long size;
        try {
            size = Math.multiplyExact(Math.max(1, count), 4);
            bytes = Math.addExact(bytes, size);
        } catch (ArithmeticException overflow) {
            throw new LumensparkException("the buffers of a pass of " + batch + " x " + n
                    + " tokens are too large to hold");
        }
        return counting ? MemorySegment.NULL : arena.allocate(size, 64);
    }

    /** Bytes of every buffer made for this shape: the pass's activation memory. */
    long bytes() {
        return bytes;
    }

    /** Bytes of the buffers that layers share by role (made once however many layers use them). */
    long sharedBytes() {
        return sharedBytes;
    }

    MemorySegment value(Params.Param p) {
        return params.segment(p);
    }

    MemorySegment grad(Params.Param p) {
        return Floats.slice(params.grads(), p.offset(), p.size());
    }

    /**
     * Sets how many real tokens each batch row holds, for the pass about to run: row b's first lengths[b] positions
     * are tokens, the rest padding, which bidirectional attention leaves out of every real position's output (see
     * Attention). null: every row is n real tokens.
     *
     * @throws LumensparkException for a length outside 1..n or a count other than batch
     */
    void setLengths(int[] lengths) {
        if (lengths != null) {
            if (lengths.length != batch) {
                throw new LumensparkException("expected " + batch + " sequence lengths, got " + lengths.length);
            }
            for (int len : lengths) {
                if (len < 1 || len > n) {
                    throw new LumensparkException("a sequence length of " + len + " is outside 1.." + n);
                }
            }
        }
        this.lengths = lengths;
    }

    /**
     * Real tokens of batch row b: its hidden rows b*n .. b*n + length(b) - 1 are the sequence's, the rest padding
     * (a head pooling over a sequence reads these rows).
     */
    int length(int b) {
        return lengths == null ? n : lengths[b];
    }

    /** Sets the dropout stream for one (seed, step, micro-step); eval passes disable dropout. */
    void setStep(boolean training, long seed, long step, int micro) {
        this.training = training;
        this.dropoutKey = Dropout.mix(Dropout.mix(seed ^ 0x5DEECE66DL) + step * 0x9E3779B97F4A7C15L + micro);
    }

    /** The dropout key of one site (a layer's attention probabilities, its feed-forward output, ...). */
    long dropoutKey(int site) {
        return Dropout.mix(dropoutKey + site * 0xBF58476D1CE4E5B9L);
    }

    void close() {
        if (arena != null) arena.close();
    }
}
