package io.lumenspark.model;

import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Mat;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Every attention variant as one computation: queries attend in a single softmax over up to two sets of keys,
 * <ul>
 *   <li>slots: keys compressed along the sequence into k rows, by a projection E (Linformer) or a strided
 *       convolution (Conv-Linformer); and</li>
 *   <li>a local block: raw keys of the query's own block of positions.</li>
 * </ul>
 * Bidirectional Linformer uses all slots and no block. Causal Linformer uses the slots that end before the
 * query's block (slot j covers positions up to (j+1)c-1) plus the raw keys of its block up to itself, so no
 * position sees the future and the cost stays O(n k d). Full attention is the case of no slots and one block
 * of n positions.
 *
 * <p>Keys have kv_heads heads: with one, all query heads share it (as published lumenspark), which lets all
 * heads' queries be stacked into one [n*heads, head_dim] matrix for the products.
 *
 * <p>Key padding (bidirectional variants): a row of the batch may hold fewer real tokens than n, padded at its end
 * ({@link Pass#length}). Padded keys contribute nothing: they are left out of the compression (as if zeroed before
 * it: E's first rows for the real positions), slots of the convolution made of padding alone are masked, and full
 * attention leaves them out of the softmax. A real position's output is then that of its sequence run alone,
 * whatever the padding holds. Causal variants need nothing: padding comes after every real position.
 */
final class Attention {
    private final ModelConfig cfg;
    private final int d, heads, hd, kvDim, groups, perGroup, block; // kv_dim = groups * hd; heads = groups * perGroup
    private final boolean causal, conv, full;
    private final int site;
    private final float alpha; // 1 / sqrt(hd)

    // parameters
    private LowRankLinear queryLow;                 // d -> d/2 through rank (Linformer variants)
    private Linear queryOut;                        // d/2 -> d (Linformer variants)
    private Linear query;                           // d -> d (full attention)
    private final Linear key, value;                // d -> kv_dim (value null: the values are the keys)
    private final Linear output;                    // d -> d
    private final Params.Param keyProj, valueProj;  // E, F [seq_length, k] (Linformer layers)
    private final Params.Param keyConv, valueConv;  // [kv_dim, kv_dim, c] strided convolutions (Conv-Linformer layers)

    // the pass: n positions per sequence, rows = batch * n; a query sees width = slots + local keys
    private int slots;        // compressed key rows: k (Linformer), ceil(n / c) (convolution), 0 (full)
    private int local;        // raw keys of the query's own block: c (causal Linformer), n (full), 0 (bidirectional)
    private int width;
    private boolean inChunks; // a forward-only pass of a Linformer variant: queries in chunks of rows

    // activations kept for backward (in a forward-only pass, one per role for all layers: Pass.activation)
    private MemorySegment q;              // [rows, d] queries, seen as [rows * heads, hd] with one key head
    private MemorySegment k, v;           // [rows, kv_dim] keys and values (the key and value layers' outputs)
    private MemorySegment kc, vc;         // [batch, slots, kv_dim] compressed keys and values (vc may be kc)
    private MemorySegment probs;          // [batch, groups, n * perGroup, width] softmax(alpha q k^T) over the
                                          // visible slots, then the visible raw keys of the block
    private MemorySegment attended;       // [rows, d] probs times the values, per head
    private MemorySegment maskedE, maskedF; // [n, k] E and F kept on each slot's causal span (causal Linformer)
    private MemorySegment convK, convV;   // [kv_dim, c * kv_dim] the convolutions as one product per block

    // forward-only chunks of up to chunk = rowsPerChunk() positions (q, probs and attended then hold one chunk)
    private MemorySegment queryLowRows;   // [chunk, rank]
    private MemorySegment queryMidRows;   // [chunk, d/2]
    private MemorySegment outRows;        // [chunk, d] the chunk's output
    private MemorySegment fullOutput;     // [rows, d] full attention's whole output, handed out by chunk

    // scratch: backward and dropout only, one per role for all layers
    private MemorySegment dropped;        // [n * perGroup, width] one group's probabilities after dropout
    private MemorySegment dProbs;         // [n * perGroup, width] their gradient, then the scores' gradient
    private MemorySegment dq;             // [rows, d]
    private MemorySegment dk, dv;         // [rows, kv_dim] (dv is dk without a value layer)
    private MemorySegment dkc, dvc;       // [slots, kv_dim] one batch row's compressed gradients (dvc may be dkc)
    private MemorySegment dConvK, dConvV; // [kv_dim, c * kv_dim] the permuted convolution gradients
    private MemorySegment dx;             // [rows, d] the input's gradient

    Attention(Params params, String name, ModelConfig cfg, int layer, Params.Param sharedE, Params.Param sharedF) {
        this.cfg = cfg;
        d = cfg.embedDim();
        heads = cfg.heads();
        hd = cfg.headDim();
        full = cfg.isFull();
        causal = cfg.causal();
        conv = cfg.usesConv(layer);
        groups = full ? heads : cfg.kvHeads();
        kvDim = groups * hd;
        perGroup = heads / groups;
        block = full ? 0 : cfg.blockSize();
        site = 2 * layer;
        alpha = (float) (1 / Math.sqrt(hd));
        if (full) {
            query = new Linear(params, name + ".query", d, d, true);
            key = new Linear(params, name + ".key", d, d, true);
            value = new Linear(params, name + ".value", d, d, true);
        } else {
            queryLow = new LowRankLinear(params, name + ".query_transform.0", d, d / 2, cfg.rank());
            queryOut = new Linear(params, name + ".query_transform.1", d / 2, d, true);
            key = new Linear(params, name + ".key_transform", d, kvDim, false);
            value = cfg.sharedKv() ? null : new Linear(params, name + ".value_transform", d, kvDim, false);
        }
        int c = cfg.blockSize();
        if (full) {
            keyProj = valueProj = keyConv = valueConv = null;
        } else if (conv) {
            keyProj = valueProj = null;
            keyConv = params.declare(name + ".key_conv.weight", kvDim, kvDim, c);
            valueConv = cfg.separateProj() ? params.declare(name + ".value_conv.weight", kvDim, kvDim, c) : null;
        } else {
            keyConv = valueConv = null;
            if (cfg.shareProjAcrossLayers()) {
                keyProj = sharedE;
                valueProj = sharedF;
            } else {
                keyProj = params.declare(name + ".key_proj", cfg.seqLength(), cfg.k());
                valueProj = cfg.separateProj() ? params.declare(name + ".value_proj", cfg.seqLength(), cfg.k()) : null;
            }
        }
        output = new Linear(params, name + ".output_transform", d, d, true);
    }

    /** The compressed values are the compressed keys: values are keys and one projection compresses both. */
    private boolean valuesAreKeys() {
        return value == null && !cfg.separateProj();
    }

    /**
     * Positions per chunk of a forward-only pass: Pass.CHUNK_ROWS, in whole blocks for causal Linformer so that a
     * chunk's queries find their block's raw keys in it.
     */
    int rowsPerChunk() {
        return local > 0 && local < Pass.CHUNK_ROWS ? Pass.CHUNK_ROWS / local * local : Pass.CHUNK_ROWS;
    }

    void allocate(Pass c) {
        int n = c.n;
        slots = full ? 0 : conv ? (n + block - 1) / block : cfg.k();
        local = full ? n : causal ? block : 0;
        width = slots + local;
        // Standard attention is the paper's baseline: it holds every head's n x n probabilities, in any pass.
        inChunks = c.forwardOnly && !full;
        key.allocate(c);
        if (value != null) value.allocate(c);
        long rows = c.rows;
        if (inChunks) {
            long chunk = Math.min(n, rowsPerChunk());
            queryLowRows = c.activation("attn.rows.query_low", chunk * cfg.rank());
            queryMidRows = c.activation("attn.rows.query_mid", chunk * d / 2);
            q = c.activation("attn.rows.query", chunk * d);
            probs = c.activation("attn.rows.probs", chunk * heads * width);
            attended = c.activation("attn.rows.attended", chunk * d);
            outRows = c.activation("attn.rows.out", chunk * d);
        } else {
            if (full) {
                query.allocate(c);
            } else {
                queryLow.allocate(c);
                queryOut.allocate(c);
            }
            output.allocate(c);
            probs = c.activation("attn.probs", (long) c.batch * n * heads * width);
            attended = c.activation("attn.attended", rows * d);
        }
        kc = c.activation("attn.kc", (long) c.batch * slots * kvDim);
        vc = valuesAreKeys() ? kc : c.activation("attn.vc", (long) c.batch * slots * kvDim);
        dropped = c.scratch("attn.dropped", (long) n * perGroup * width);
        dProbs = c.scratch("attn.d_probs", (long) n * perGroup * width);
        dq = c.scratch("attn.dq", rows * d);
        dk = c.scratch("attn.dk", rows * kvDim);
        dv = value == null ? dk : c.scratch("attn.dv", rows * kvDim);
        dkc = c.scratch("attn.dkc", (long) slots * kvDim);
        dvc = valuesAreKeys() ? dkc : c.scratch("attn.dvc", (long) slots * kvDim);
        dx = c.scratch("attn.dx", rows * d);
        if (conv) {
            convK = c.activation("attn.conv_k", (long) kvDim * block * kvDim);
            dConvK = c.scratch("attn.d_conv_k", (long) kvDim * block * kvDim);
            if (valueConv != null) {
                convV = c.activation("attn.conv_v", (long) kvDim * block * kvDim);
                dConvV = c.scratch("attn.d_conv_v", (long) kvDim * block * kvDim);
            }
        } else if (!full && causal) {
            maskedE = c.activation("attn.masked_e", (long) n * cfg.k());
            if (valueProj != null) maskedF = c.activation("attn.masked_f", (long) n * cfg.k());
        }
    }

    // ---- forward ----

    MemorySegment forward(Pass c, MemorySegment x) {
        int n = c.n;
        computeKeys(c, x);
        q = full ? query.forward(c, x) : queryOut.forward(c, queryLow.forward(c, x));
        for (int b = 0; b < c.batch; b++) {
            attend(c, b, 0, n, (long) b * n * d, (long) b * groups * n * perGroup * width);
        }
        return output.forward(c, attended);
    }

    /** The whole-sequence part of a chunked forward-only pass (see Block): keys; all of standard attention. */
    void prepareRows(Pass c, MemorySegment x) {
        if (inChunks) {
            computeKeys(c, x);
        } else {
            fullOutput = forward(c, x);
        }
    }

    /** The attention output of positions r0..r0+len-1 of batch row b, whose input rows are xs. */
    MemorySegment forwardRows(Pass c, int b, int r0, int len, MemorySegment xs) {
        if (!inChunks) return Floats.slice(fullOutput, ((long) b * c.n + r0) * d, (long) len * d);
        queryLow.forwardInto(c, xs, queryLowRows, queryMidRows, len);
        queryOut.forwardInto(c, queryMidRows, q, len);
        attend(c, b, r0, len, 0, 0);
        output.forwardInto(c, attended, outRows, len);
        return outRows;
    }

    /** Keys and values of every position, and their compression into slots. */
    private void computeKeys(Pass c, MemorySegment x) {
        k = key.forward(c, x);
        v = value == null ? k : value.forward(c, x);
        prepareCompression(c);
        for (int b = 0; b < c.batch; b++) compress(c, b);
    }

    /**
     * Attention for the queries of positions r0..r0+len-1 of batch row b: their rows of q and attended start at
     * qBase (d floats per position), their probabilities at pBase in probs, laid out [groups][len * perGroup][width].
     */
    private void attend(Pass c, int b, int r0, int len, long qBase, long pBase) {
        int n = c.n, real = realLength(c, b);
        for (int g = 0; g < groups; g++) {
            long qOff = qBase + (groups == 1 ? 0 : (long) g * hd);
            long pOff = pBase + (long) g * len * perGroup * width;
            long slotOff = (long) b * slots * kvDim + (long) g * hd;
            int qRows = len * perGroup;
            if (slots > 0) {
                c.blas.gemm(new Mat(q, qOff, qLd()), false, new Mat(kc, slotOff, kvDim), true,
                        new Mat(probs, pOff, width), qRows, slots, hd, alpha, 0f);
            }
            // The local blocks the chunk's queries fall in; each query sees the raw keys of its own block.
            for (int bs = local == 0 ? n : r0 / local * local; bs < r0 + len; bs += local) {
                int queries = Math.min(local, n - bs), keys = localKeys(bs, n, real);
                int from = Math.max(bs, r0), to = Math.min(bs + queries, r0 + len);
                c.blas.gemm(new Mat(q, qOff + (long) (from - r0) * d, qLd()), false,
                        new Mat(k, kvOffset(b, bs, g, n), kvDim), true,
                        new Mat(probs, pOff + (long) (from - r0) * perGroup * width + slots, width),
                        (to - from) * perGroup, keys, hd, alpha, 0f);
            }
            Parallel.rows(qRows, width, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int i = r0 + r / perGroup;
                    Kernels.maskedSoftmax(probs, pOff + (long) r * width, width, visibleSlots(i, real), slots,
                            visibleLocal(i, n, real));
                }
            });
            MemorySegment p = dropProbs(c, b, g, pOff, qRows);
            long p0 = p == probs ? pOff : 0;
            if (slots > 0) {
                c.blas.gemm(new Mat(p, p0, width), false, new Mat(vc, slotOff, kvDim), false,
                        new Mat(attended, qOff, qLd()), qRows, hd, slots, 1f, 0f);
            }
            for (int bs = local == 0 ? n : r0 / local * local; bs < r0 + len; bs += local) {
                int queries = Math.min(local, n - bs), keys = localKeys(bs, n, real);
                int from = Math.max(bs, r0), to = Math.min(bs + queries, r0 + len);
                c.blas.gemm(new Mat(p, p0 + (long) (from - r0) * perGroup * width + slots, width), false,
                        new Mat(v, kvOffset(b, bs, g, n), kvDim), false,
                        new Mat(attended, qOff + (long) (from - r0) * d, qLd()),
                        (to - from) * perGroup, hd, keys, 1f, slots > 0 ? 1f : 0f);
            }
        }
    }

    /**
     * Real tokens of batch row b whose keys are seen: the row's length when bidirectional (padding at its end is
     * left out), n when causal (padding comes after every real position, which never sees it).
     */
    private int realLength(Pass c, int b) {
        return causal ? c.n : c.length(b);
    }

    /**
     * Slots a query at position i sees, its row holding real tokens: all (the convolution's that hold a real
     * position) when bidirectional, those ending before its block when causal.
     */
    private int visibleSlots(int i, int real) {
        if (causal) return slots > 0 ? Math.min(slots, i / block) : 0;
        return conv ? (real + block - 1) / block : slots;
    }

    /** Raw keys of its own block a query at position i sees, its row holding real tokens. */
    private int visibleLocal(int i, int n, int real) {
        if (local == 0) return 0;
        int start = i / local * local;
        return causal ? i - start + 1 : Math.min(local, real - start);
    }

    /** Keys of the local block starting at bs that any of its queries sees (causal: all of them, up to n). */
    private int localKeys(int bs, int n, int real) {
        return Math.min(local, (causal ? n : real) - bs);
    }

    /** Query (and output) rows of group g in batch row b start here; see qLd. */
    private long qOffset(int b, int g, int n) {
        return (long) b * n * d + (groups == 1 ? 0 : (long) g * hd);
    }

    /** One shared key head: rows are (position, head) pairs of width hd; otherwise rows are positions. */
    private int qLd() {
        return groups == 1 ? hd : d;
    }

    private long probsOffset(int b, int g, int n) {
        return ((long) b * groups + g) * n * perGroup * width;
    }

    private long kvOffset(int b, int position, int g, int n) {
        return ((long) b * n + position) * kvDim + (long) g * hd;
    }

    /** Attention-probability dropout into the scratch buffer; returns the buffer to multiply with. */
    private MemorySegment dropProbs(Pass c, int b, int g, long pOff, int qRows) {
        if (!c.training || cfg.dropout() == 0) return probs;
        Dropout.apply(probs, pOff, dropped, 0, (long) qRows * width, cfg.dropout(), dropKey(c, b, g));
        return dropped;
    }

    private long dropKey(Pass c, int b, int g) {
        return Dropout.mix(c.dropoutKey(site) + (long) b * groups + g);
    }

    /** Per-forward preparation of the compression weights: E masked to each slot's causal span, conv permuted. */
    private void prepareCompression(Pass c) {
        int n = c.n;
        if (conv) {
            permuteConv(c.value(keyConv), convK);
            if (valueConv != null) permuteConv(c.value(valueConv), convV);
        } else if (!full && causal) {
            maskProjection(c.value(keyProj), maskedE, n);
            if (valueProj != null) maskProjection(c.value(valueProj), maskedF, n);
        }
    }

    /** E[t, j] kept where position t lies in slot j's span {@code t <= (j+1)c - 1}, zero elsewhere. */
    private void maskProjection(MemorySegment e, MemorySegment out, int n) {
        int kk = cfg.k();
        for (int t = 0; t < n; t++) {
            int firstSlot = t / block; // slots j >= t/c contain position t
            long row = (long) t * kk;
            Floats.zero(out, row, firstSlot);
            Floats.copy(e, row + firstSlot, out, row + firstSlot, kk - firstSlot);
        }
    }

    /** Conv1d weight [out, in, c] to [out, c*in], so a block of c positions times it is one product. */
    private void permuteConv(MemorySegment w, MemorySegment wp) {
        int c = block;
        for (int o = 0; o < kvDim; o++) {
            for (int i = 0; i < kvDim; i++) {
                for (int s = 0; s < c; s++) {
                    wp.setAtIndex(JAVA_FLOAT, ((long) o * c + s) * kvDim + i,
                            w.getAtIndex(JAVA_FLOAT, ((long) o * kvDim + i) * c + s));
                }
            }
        }
    }

    private MemorySegment projection(Pass c, boolean forValues) {
        Params.Param p = forValues && valueProj != null ? valueProj : keyProj;
        if (!causal) return c.value(p);
        return forValues && maskedF != null ? maskedF : maskedE;
    }

    /** Compressed keys (and values) of batch row b, from its real positions only. */
    private void compress(Pass c, int b) {
        if (full) return;
        int real = realLength(c, b);
        compressOne(c, b, k, kc, false, real);
        if (!valuesAreKeys()) compressOne(c, b, v, vc, true, real);
    }

    /** Slots of batch row b from the first real rows of src (keys or values; the rows after them are padding). */
    private void compressOne(Pass c, int b, MemorySegment src, MemorySegment dst, boolean forValues, int real) {
        int n = c.n;
        long srcOff = (long) b * n * kvDim;
        long dstOff = (long) b * slots * kvDim;
        if (conv) {
            MemorySegment wp = forValues && convV != null ? convV : convK;
            int fullBlocks = real / block, tail = real - fullBlocks * block, rowLen = block * kvDim;
            int made = fullBlocks + (tail > 0 ? 1 : 0); // slots of padding alone are masked; keep them zero
            Floats.zero(dst, dstOff + (long) made * kvDim, (long) (slots - made) * kvDim);
            c.blas.gemm(new Mat(src, srcOff, rowLen), false, new Mat(wp, rowLen), true, new Mat(dst, dstOff, kvDim),
                    fullBlocks, kvDim, rowLen, 1f, 0f);
            if (tail > 0) { // the last, partial block: as if zero-padded to c positions
                c.blas.gemm(new Mat(src, srcOff + (long) fullBlocks * rowLen, tail * kvDim), false,
                        new Mat(wp, rowLen), true, new Mat(dst, dstOff + (long) fullBlocks * kvDim, kvDim),
                        1, kvDim, tail * kvDim, 1f, 0f);
            }
        } else {
            c.blas.gemm(new Mat(projection(c, forValues), cfg.k()), true, new Mat(src, srcOff, kvDim), false,
                    new Mat(dst, dstOff, kvDim), slots, kvDim, real, 1f, 0f);
        }
    }

    // ---- incremental decoding (causal models): one position at a time, for any number of sequences ----

    /**
     * What one sequence keeps between positions: the k compressed slots (running sums over E for Linformer
     * layers, finished blocks for convolution layers) and the raw keys and values of the current block; full
     * attention keeps every position's (a KV cache). Its size does not depend on the position, except for full
     * attention.
     */
    final class StepState {
        final MemorySegment slotK, slotV;     // [k, kv_dim] the slots' sums so far (slotV may be slotK)
        final MemorySegment rawK, rawV;       // [c, kv_dim] the current block's keys, values; full: all positions'
        final MemorySegment wpK, wpV;         // [kv_dim, c * kv_dim] permuted convolutions (convolution layers)
        final MemorySegment scores;           // [k + c] (full: [seq_length]) a head's scores, then probabilities;
                                              // [heads, ...] when each head has its own keys (see attendEveryHead)
        private long convVersion = -1;        // the Params.version() wpK and wpV were copied from

        StepState(Arena a, Pass c) {
            int rows = full ? cfg.seqLength() : block;
            int kk = full ? 0 : cfg.k();
            slotK = Floats.allocate(a, (long) Math.max(1, kk) * kvDim);
            slotV = valuesAreKeys() ? slotK : Floats.allocate(a, (long) Math.max(1, kk) * kvDim);
            rawK = Floats.allocate(a, (long) rows * kvDim);
            rawV = value == null ? rawK : Floats.allocate(a, (long) rows * kvDim);
            if (conv) {
                wpK = Floats.allocate(a, (long) kvDim * block * kvDim);
                wpV = valueConv == null ? wpK : Floats.allocate(a, (long) kvDim * block * kvDim);
                refreshConvolutions(c);
            } else {
                wpK = wpV = null;
            }
            scores = Floats.allocate(a, (long) (groups == 1 ? 1 : heads) * (kk + rows));
        }

        /**
         * The permuted convolutions, copied again when the weights changed since the last copy (training between
         * a decoder's sequences): the version is read first, so a change during the copy is seen next time.
         */
        void refreshConvolutions(Pass c) {
            long version = c.params.version();
            if (version == convVersion) return;
            convVersion = version;
            permuteConv(c.value(keyConv), wpK);
            if (valueConv != null) permuteConv(c.value(valueConv), wpV);
        }

        /** Zero slots, as when made: a step adds its position's key into the slots' running sums. */
        void clear() {
            slotK.fill((byte) 0);
            slotV.fill((byte) 0);
        }
    }

    /** The rows of a decoding step, one per sequence, shared by every layer (they run one at a time). */
    record StepRows(MemorySegment low, MemorySegment mid, MemorySegment q, MemorySegment kt, MemorySegment vt,
                    MemorySegment attended, MemorySegment out) {
    }

    /** Buffers for decoding steps over up to rows sequences. */
    StepRows stepRows(Pass.Buffers alloc, int rows) {
        return new StepRows(alloc.floats("attn.step.low", (long) rows * cfg.rank()),
                alloc.floats("attn.step.mid", (long) rows * d / 2), alloc.floats("attn.step.q", (long) rows * d),
                alloc.floats("attn.step.k", (long) rows * kvDim), alloc.floats("attn.step.v", (long) rows * kvDim),
                alloc.floats("attn.step.attended", (long) rows * d), alloc.floats("attn.step.out", (long) rows * d));
    }

    /**
     * Sets the state to what stepping through positions 0..n-1 would leave, from the forward pass just run over
     * those n positions (batch 1): the forward's compressed keys are exactly the slot sums (the causal mask of E
     * keeps position t in slots j >= t / c), and the raw rows of the current block are the last n mod c keys.
     */
    void fillState(StepState s, int n) {
        if (!full) {
            Floats.copy(kc, 0, s.slotK, 0, (long) slots * kvDim);
            if (s.slotV != s.slotK) Floats.copy(vc, 0, s.slotV, 0, (long) slots * kvDim);
        }
        int first = full ? 0 : n / block * block; // the first position of the block that position n is in
        Floats.copy(k, (long) first * kvDim, s.rawK, 0, (long) (n - first) * kvDim);
        if (s.rawV != s.rawK) Floats.copy(v, (long) first * kvDim, s.rawV, 0, (long) (n - first) * kvDim);
    }

    /**
     * The attention output rows of a decoding step: row b of x is the input of the sequence whose state is s[b]
     * at position t[b], and the step updates that state. A sequence has one row in a step, or (feeding a prompt)
     * consecutive rows at consecutive positions, attended in order, each after the ones before it joined the
     * state. The projections are products over all the rows (each weight read once per step); attending is each
     * sequence's own, over its own state. Row b of the output depends only on the rows of its sequence up to b
     * and the state, bit for bit.
     */
    MemorySegment step(Pass c, MemorySegment x, int rows, StepState[] s, int[] t, StepRows r) {
        if (!causal) throw new IllegalStateException("incremental decoding needs a causal model");
        if (full) {
            query.forwardInto(c, x, r.q(), rows);
        } else {
            queryLow.forwardInto(c, x, r.low(), r.mid(), rows);
            queryOut.forwardInto(c, r.mid(), r.q(), rows);
        }
        key.forwardInto(c, x, r.kt(), rows);
        if (value != null) value.forwardInto(c, x, r.vt(), rows);
        int[] starts = sequenceStarts(s, rows);
        int sequences = starts.length - 1;
        long work = (long) (full ? cfg.seqLength() : cfg.k() + block) * d * rows / sequences;
        Parallel.chunks(sequences, work, (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int b = starts[i]; b < starts[i + 1]; b++) attendStep(c, s[b], t[b], r, b);
            }
        });
        output.forwardInto(c, r.attended(), r.out(), rows);
        return r.out();
    }

    /** The first row of each sequence's run of rows (rows of one state are consecutive), then rows. */
    private static int[] sequenceStarts(StepState[] s, int rows) {
        int[] starts = new int[rows + 1];
        int n = 0;
        for (int b = 0; b < rows; b++) if (b == 0 || s[b] != s[b - 1]) starts[n++] = b;
        starts[n] = rows;
        return n == rows ? starts : Arrays.copyOf(starts, n + 1);
    }

    /** Sequence b's state update and attention at position t, from its rows of r (q, k, v) into its attended row. */
    private void attendStep(Pass c, StepState s, int t, StepRows r, int b) {
        MemorySegment kt = r.kt(), vt = value == null ? kt : r.vt(), q = r.q(), att = r.attended();
        long kvRow = (long) b * kvDim, qRow = (long) b * d;
        int row = full ? t : t % block; // where position t's raw key goes
        Floats.copy(kt, kvRow, s.rawK, (long) row * kvDim, kvDim);
        if (s.rawV != s.rawK) Floats.copy(vt, kvRow, s.rawV, (long) row * kvDim, kvDim);
        if (!full && !conv) { // position t joins every slot whose span reaches it: j >= t / c
            addToSlots(c.value(keyProj), kt, kvRow, s.slotK, t);
            if (s.slotV != s.slotK) {
                addToSlots(c.value(valueProj != null ? valueProj : keyProj), vt, kvRow, s.slotV, t);
            }
        } else if (conv && row == block - 1) { // block t / c is complete: its convolution is slot t / c
            int rowLen = block * kvDim, j = t / block;
            s.refreshConvolutions(c);
            c.blas.gemm(new Mat(s.rawK, rowLen), false, new Mat(s.wpK, rowLen), true,
                    new Mat(s.slotK, (long) j * kvDim, kvDim), 1, kvDim, rowLen, 1f, 0f);
            if (s.slotV != s.slotK) {
                c.blas.gemm(new Mat(s.rawV, rowLen), false, new Mat(s.wpV, rowLen), true,
                        new Mat(s.slotV, (long) j * kvDim, kvDim), 1, kvDim, rowLen, 1f, 0f);
            }
        }
        int visible = full ? 0 : t / block, raw = row + 1, n = visible + raw;
        if (groups > 1) {
            attendEveryHead(s, q, qRow, att, visible, raw);
            return;
        }
        for (int h = 0; h < heads; h++) { // every head reads the one key head's rows, from cache after the first
            long qo = qRow + (long) h * hd;
            // scores: the slots' keys, then the raw keys of the current block, each q . key scaled by alpha
            Kernels.matVec(s.slotK, 0, kvDim, hd, q, qo, s.scores, 0, 0, visible);
            Kernels.matVec(s.rawK, 0, kvDim, hd, q, qo, s.scores, visible, 0, raw);
            Kernels.scale(s.scores, 0, n, alpha);
            Kernels.maskedSoftmax(s.scores, 0, n, n, n, 0);
            Floats.zero(att, qo, hd);
            Kernels.addWeightedRows(s.scores, 0, visible, s.slotV, 0, kvDim, att, qo, hd);
            Kernels.addWeightedRows(s.scores, visible, raw, s.rawV, 0, kvDim, att, qo, hd);
        }
    }

    /** Value rows a pass of {@link #attendEveryHead} takes for every head before the next rows. */
    private static final int VALUE_ROWS = 16;

    /**
     * One position's attention for every head when each head has its own keys and values (head h's are the h-th
     * slice of each row; full attention, or kv_heads = heads): the scores by one pass over the key rows, a dot
     * product per head (head h's into scores[h n, (h + 1) n)), the outputs by one pass over the value rows,
     * VALUE_ROWS rows at a time for every head. So the cache's rows are read in order, rather than one head's slice
     * (512 bytes in the presets) of every row at a time: 16 sequences' attention from memory at 48 positions took
     * 245 instead of 366 us (an isolated harness, 2026-11-30). Each score and output is the same chain of
     * multiply-adds, in the same order, as a head at a time (matVec's four-row blocks and dot compute a row alike),
     * so the same bits.
     */
    private void attendEveryHead(StepState s, MemorySegment q, long qRow, MemorySegment att, int visible, int raw) {
        int n = visible + raw;
        for (int j = 0; j < visible; j++) scoreRow(s.slotK, j, q, qRow, s.scores, (long) j, n);
        for (int j = 0; j < raw; j++) scoreRow(s.rawK, j, q, qRow, s.scores, (long) visible + j, n);
        for (int h = 0; h < heads; h++) {
            long o = (long) h * n;
            Kernels.scale(s.scores, o, n, alpha);
            Kernels.maskedSoftmax(s.scores, o, n, n, n, 0);
            Floats.zero(att, qRow + (long) h * hd, hd);
        }
        weighRows(s.scores, 0, visible, n, s.slotV, att, qRow);
        weighRows(s.scores, visible, raw, n, s.rawV, att, qRow);
    }

    /** scores[h n + at] = head h's query . head h's slice of keys' row j, for every head. */
    private void scoreRow(MemorySegment keys, int j, MemorySegment q, long qRow, MemorySegment scores, long at, int n) {
        for (int h = 0; h < heads; h++) {
            long ho = (long) h * hd;
            scores.setAtIndex(JAVA_FLOAT, h * n + at, Kernels.dot(keys, (long) j * kvDim + ho, q, qRow + ho, hd));
        }
    }

    /** att[head h] += the rows [0, rows) of values (head h's slices) weighted by p[h n + from, ...), every head. */
    private void weighRows(MemorySegment p, int from, int rows, int n, MemorySegment values, MemorySegment att,
                           long qRow) {
        for (int j0 = 0; j0 < rows; j0 += VALUE_ROWS) {
            int len = Math.min(VALUE_ROWS, rows - j0);
            for (int h = 0; h < heads; h++) {
                long ho = (long) h * hd;
                Kernels.addWeightedRows(p, (long) h * n + from + j0, len, values, (long) j0 * kvDim + ho, kvDim, att,
                        qRow + ho, hd);
            }
        }
    }

    /** slots[j] += e[t, j] * row (at ro of rows) for the slots j >= t / c, whose span contains position t. */
    private void addToSlots(MemorySegment e, MemorySegment rows, long ro, MemorySegment slots, int t) {
        int kk = cfg.k(), first = t / block;
        Kernels.addScaledRow(e, (long) t * kk + first, kk - first, rows, ro, slots, (long) first * kvDim, kvDim, kvDim);
    }

    // ---- backward ----

    MemorySegment backward(Pass c, MemorySegment dy) {
        int n = c.n;
        MemorySegment dAttended = output.backward(c, dy);
        dk.fill((byte) 0);
        if (dv != dk) dv.fill((byte) 0);
        if (conv) {
            dConvK.fill((byte) 0);
            if (dConvV != null) dConvV.fill((byte) 0);
        }
        for (int b = 0; b < c.batch; b++) {
            int real = realLength(c, b);
            if (slots > 0) {
                dkc.fill((byte) 0);
                if (dvc != dkc) dvc.fill((byte) 0);
            }
            for (int g = 0; g < groups; g++) {
                long qOff = qOffset(b, g, n);
                long pOff = probsOffset(b, g, n);
                int qRows = n * perGroup;
                MemorySegment p = dropProbs(c, b, g, pOff, qRows);
                long p0 = p == probs ? pOff : 0;
                // value side: d(compressed values) and d(raw values of the block)
                if (slots > 0) {
                    c.blas.gemm(new Mat(p, p0, width), true, new Mat(dAttended, qOff, qLd()), false,
                            new Mat(dvc, g * hd, kvDim), slots, hd, qRows, 1f, 1f);
                    c.blas.gemm(new Mat(dAttended, qOff, qLd()), false,
                            new Mat(vc, (long) b * slots * kvDim + g * hd, kvDim), true, new Mat(dProbs, width),
                            qRows, slots, hd, 1f, 0f);
                }
                for (int bs = 0; bs < n && local > 0; bs += local) {
                    int queries = Math.min(local, n - bs), keys = localKeys(bs, n, real);
                    long pb = (long) bs * perGroup * width + slots;
                    c.blas.gemm(new Mat(p, p0 + pb, width), true,
                            new Mat(dAttended, qOff + (long) bs * d, qLd()), false,
                            new Mat(dv, kvOffset(b, bs, g, n), kvDim), keys, hd, queries * perGroup, 1f, 1f);
                    c.blas.gemm(new Mat(dAttended, qOff + (long) bs * d, qLd()), false,
                            new Mat(v, kvOffset(b, bs, g, n), kvDim), true, new Mat(dProbs, pb, width),
                            queries * perGroup, keys, hd, 1f, 0f);
                }
                if (c.training && cfg.dropout() > 0) {
                    Dropout.apply(dProbs, 0, dProbs, 0, (long) qRows * width, cfg.dropout(), dropKey(c, b, g));
                }
                Parallel.rows(qRows, width, (from, to) -> {
                    for (int r = from; r < to; r++) {
                        int i = r / perGroup;
                        Kernels.maskedSoftmaxBackward(probs, pOff + (long) r * width, dProbs, (long) r * width, width,
                                visibleSlots(i, real), slots, visibleLocal(i, n, real));
                    }
                });
                // key side: dScores is in dProbs now
                if (slots > 0) {
                    c.blas.gemm(new Mat(dProbs, width), false,
                            new Mat(kc, (long) b * slots * kvDim + g * hd, kvDim), false, new Mat(dq, qOff, qLd()),
                            qRows, hd, slots, alpha, 0f);
                    c.blas.gemm(new Mat(dProbs, width), true, new Mat(q, qOff, qLd()), false,
                            new Mat(dkc, g * hd, kvDim), slots, hd, qRows, alpha, 1f);
                }
                for (int bs = 0; bs < n && local > 0; bs += local) {
                    int queries = Math.min(local, n - bs), keys = localKeys(bs, n, real);
                    long pb = (long) bs * perGroup * width + slots;
                    c.blas.gemm(new Mat(dProbs, pb, width), false, new Mat(k, kvOffset(b, bs, g, n), kvDim), false,
                            new Mat(dq, qOff + (long) bs * d, qLd()),
                            queries * perGroup, hd, keys, alpha, slots > 0 ? 1f : 0f);
                    c.blas.gemm(new Mat(dProbs, pb, width), true, new Mat(q, qOff + (long) bs * d, qLd()), false,
                            new Mat(dk, kvOffset(b, bs, g, n), kvDim), keys, hd, queries * perGroup, alpha, 1f);
                }
            }
            if (!full) {
                compressBackward(c, b, k, dk, dkc, false, real);
                if (!valuesAreKeys()) compressBackward(c, b, v, dv, dvc, true, real);
            }
        }
        finishCompressionGrads(c, n);
        MemorySegment dxq = full ? query.backward(c, dq) : queryLow.backward(c, queryOut.backward(c, dq));
        Floats.copy(dxq, 0, dx, 0, (long) c.rows * d);
        Kernels.add(key.backward(c, dk), 0, dx, 0, (long) c.rows * d);
        if (value != null) Kernels.add(value.backward(c, dv), 0, dx, 0, (long) c.rows * d);
        return dx;
    }

    /**
     * Gradients through the compression of batch row b (its first real rows): into the raw keys/values and the
     * E/conv weights.
     */
    private void compressBackward(Pass c, int b, MemorySegment src, MemorySegment dSrc, MemorySegment dComp,
                                  boolean forValues, int real) {
        long srcOff = (long) b * c.n * kvDim;
        if (conv) {
            MemorySegment wp = forValues && convV != null ? convV : convK;
            MemorySegment dWp = forValues && dConvV != null ? dConvV : dConvK;
            int fullBlocks = real / block, tail = real - fullBlocks * block, rowLen = block * kvDim;
            c.blas.gemm(new Mat(dComp, kvDim), false, new Mat(wp, rowLen), false, new Mat(dSrc, srcOff, rowLen),
                    fullBlocks, rowLen, kvDim, 1f, 1f);
            c.blas.gemm(new Mat(dComp, kvDim), true, new Mat(src, srcOff, rowLen), false, new Mat(dWp, rowLen),
                    kvDim, rowLen, fullBlocks, 1f, 1f);
            if (tail > 0) {
                long tailOff = srcOff + (long) fullBlocks * rowLen;
                c.blas.gemm(new Mat(dComp, (long) fullBlocks * kvDim, kvDim), false, new Mat(wp, rowLen), false,
                        new Mat(dSrc, tailOff, tail * kvDim), 1, tail * kvDim, kvDim, 1f, 1f);
                c.blas.gemm(new Mat(dComp, (long) fullBlocks * kvDim, kvDim), true,
                        new Mat(src, tailOff, tail * kvDim), false, new Mat(dWp, rowLen),
                        kvDim, tail * kvDim, 1, 1f, 1f);
            }
        } else {
            Params.Param p = forValues && valueProj != null ? valueProj : keyProj;
            c.blas.gemm(new Mat(projection(c, forValues), cfg.k()), false, new Mat(dComp, kvDim), false,
                    new Mat(dSrc, srcOff, kvDim), real, kvDim, slots, 1f, 1f);
            c.blas.gemm(new Mat(src, srcOff, kvDim), false, new Mat(dComp, kvDim), true, new Mat(c.grad(p), cfg.k()),
                    real, cfg.k(), kvDim, 1f, 1f);
        }
    }

    /** Masks the E gradients to the causal spans; scatters the permuted conv gradients back to [out, in, c]. */
    private void finishCompressionGrads(Pass c, int n) {
        if (conv) {
            unpermuteAdd(dConvK, c.grad(keyConv));
            if (valueConv != null) unpermuteAdd(dConvV, c.grad(valueConv));
        } else if (!full && causal) {
            maskGradient(c.grad(keyProj), n);
            if (valueProj != null) maskGradient(c.grad(valueProj), n);
        }
    }

    private void maskGradient(MemorySegment g, int n) {
        int kk = cfg.k();
        for (int t = 0; t < n; t++) Floats.zero(g, (long) t * kk, t / block);
    }

    private void unpermuteAdd(MemorySegment dwp, MemorySegment dw) {
        int c = block;
        for (int o = 0; o < kvDim; o++) {
            for (int i = 0; i < kvDim; i++) {
                for (int s = 0; s < c; s++) {
                    long at = ((long) o * kvDim + i) * c + s;
                    float add = dwp.getAtIndex(JAVA_FLOAT, ((long) o * c + s) * kvDim + i);
                    dw.setAtIndex(JAVA_FLOAT, at, dw.getAtIndex(JAVA_FLOAT, at) + add);
                }
            }
        }
    }
}
