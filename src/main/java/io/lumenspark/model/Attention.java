package io.lumenspark.model;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

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
 */
final class Attention {
    private final ModelConfig cfg;
    private final int d, heads, hd, kvDim, groups, perGroup, block;
    private final boolean causal, conv, full;
    private final int site;
    private final float alpha;
    // parameters
    private LowRankLinear queryLow;
    private Linear queryOut, query;
    private final Linear key, value, output;
    private final Params.Param keyProj, valueProj;   // E, F (Linformer layers)
    private final Params.Param keyConv, valueConv;   // convolution weights (Conv-Linformer layers)
    // activations for the current shape
    private int slots, local, width;
    private boolean inChunks; // a forward-only pass of a Linformer variant: queries in chunks of rows
    private MemorySegment queryLowRows, queryMidRows, outRows, fullOutput;
    private MemorySegment q, k, v, kc, vc, probs, dropped, dProbs, attended, dq, dk, dv, dkc, dvc, dx, maskedE,
            maskedF, convK, convV, dConvK, dConvV;

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
        if (!inChunks) return fullOutput.asSlice(((long) b * c.n + r0) * d * 4, (long) len * d * 4);
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
        int n = c.n;
        for (int g = 0; g < groups; g++) {
            long qOff = qBase + (groups == 1 ? 0 : (long) g * hd);
            long pOff = pBase + (long) g * len * perGroup * width;
            long slotOff = (long) b * slots * kvDim + (long) g * hd;
            int qRows = len * perGroup;
            if (slots > 0) {
                c.blas.sgemm(false, true, qRows, slots, hd, alpha, q, qOff, qLd(), kc, slotOff, kvDim, 0f, probs,
                        pOff, width);
            }
            // The local blocks the chunk's queries fall in; each query sees the raw keys of its own block.
            for (int bs = local == 0 ? n : r0 / local * local; bs < r0 + len; bs += local) {
                int keys = Math.min(local, n - bs), from = Math.max(bs, r0), to = Math.min(bs + keys, r0 + len);
                c.blas.sgemm(false, true, (to - from) * perGroup, keys, hd, alpha, q, qOff + (long) (from - r0) * d,
                        qLd(), k, kvOffset(b, bs, g, n), kvDim, 0f, probs,
                        pOff + (long) (from - r0) * perGroup * width + slots, width);
            }
            Parallel.rows(qRows, width, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int i = r0 + r / perGroup;
                    Kernels.maskedSoftmax(probs, pOff + (long) r * width, width, visibleSlots(i), slots,
                            visibleLocal(i, n));
                }
            });
            MemorySegment p = dropProbs(c, b, g, pOff, qRows);
            long p0 = p == probs ? pOff : 0;
            if (slots > 0) {
                c.blas.sgemm(false, false, qRows, hd, slots, 1f, p, p0, width, vc, slotOff, kvDim, 0f, attended,
                        qOff, qLd());
            }
            for (int bs = local == 0 ? n : r0 / local * local; bs < r0 + len; bs += local) {
                int keys = Math.min(local, n - bs), from = Math.max(bs, r0), to = Math.min(bs + keys, r0 + len);
                c.blas.sgemm(false, false, (to - from) * perGroup, hd, keys, 1f, p,
                        p0 + (long) (from - r0) * perGroup * width + slots, width, v, kvOffset(b, bs, g, n), kvDim,
                        slots > 0 ? 1f : 0f, attended, qOff + (long) (from - r0) * d, qLd());
            }
        }
    }

    /** Slots a query at position i sees: all when bidirectional, those ending before its block when causal. */
    private int visibleSlots(int i) {
        return causal && slots > 0 ? Math.min(slots, i / block) : slots;
    }

    /** Raw keys of its own block a query at position i sees. */
    private int visibleLocal(int i, int n) {
        if (local == 0) return 0;
        int start = i / local * local;
        return causal ? i - start + 1 : Math.min(local, n - start);
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
            out.asSlice(row * 4, firstSlot * 4L).fill((byte) 0);
            MemorySegment.copy(e, (row + firstSlot) * 4, out, (row + firstSlot) * 4, (long) (kk - firstSlot) * 4);
        }
    }

    /** Conv1d weight [out, in, c] to [out, c*in], so a block of c positions times it is one product. */
    private void permuteConv(MemorySegment w, MemorySegment wp) {
        int c = block;
        for (int o = 0; o < kvDim; o++) {
            for (int i = 0; i < kvDim; i++) {
                for (int s = 0; s < c; s++) {
                    wp.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, ((long) o * c + s) * kvDim + i,
                            w.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, ((long) o * kvDim + i) * c + s));
                }
            }
        }
    }

    private MemorySegment projection(Pass c, boolean forValues) {
        Params.Param p = forValues && valueProj != null ? valueProj : keyProj;
        if (!causal) return c.value(p);
        return forValues && maskedF != null ? maskedF : maskedE;
    }

    /** Compressed keys (and values) of batch row b. */
    private void compress(Pass c, int b) {
        if (full) return;
        int n = c.n;
        compressOne(c, b, k, kc, false, n);
        if (!valuesAreKeys()) compressOne(c, b, v, vc, true, n);
    }

    private void compressOne(Pass c, int b, MemorySegment src, MemorySegment dst, boolean forValues, int n) {
        long srcOff = (long) b * n * kvDim;
        long dstOff = (long) b * slots * kvDim;
        if (conv) {
            MemorySegment wp = forValues && convV != null ? convV : convK;
            int fullBlocks = n / block, tail = n - fullBlocks * block, rowLen = block * kvDim;
            c.blas.sgemm(false, true, fullBlocks, kvDim, rowLen, 1f, src, srcOff, rowLen, wp, 0, rowLen, 0f, dst,
                    dstOff, kvDim);
            if (tail > 0) { // the last, partial block: as if zero-padded to c positions
                c.blas.sgemm(false, true, 1, kvDim, tail * kvDim, 1f, src, srcOff + (long) fullBlocks * rowLen,
                        tail * kvDim, wp, 0, rowLen, 0f, dst, dstOff + (long) fullBlocks * kvDim, kvDim);
            }
        } else {
            c.blas.sgemm(true, false, slots, kvDim, n, 1f, projection(c, forValues), 0, cfg.k(), src, srcOff,
                    kvDim, 0f, dst, dstOff, kvDim);
        }
    }

    // ---- incremental decoding (causal models): one position at a time ----

    /**
     * What one sequence keeps between positions: the k compressed slots (running sums over E for Linformer
     * layers, finished blocks for convolution layers) and the raw keys and values of the current block; full
     * attention keeps every position's (a KV cache). Its size does not depend on the position, except for full
     * attention.
     */
    final class StepState {
        final MemorySegment slotK, slotV, rawK, rawV, wpK, wpV, low, mid, q, kt, vt, scores, attendedRow, out;

        StepState(java.lang.foreign.Arena a, Pass c) {
            int rows = full ? cfg.seqLength() : block;
            int kk = full ? 0 : cfg.k();
            slotK = a.allocate(4L * Math.max(1, kk) * kvDim, 64);
            slotV = valuesAreKeys() ? slotK : a.allocate(4L * Math.max(1, kk) * kvDim, 64);
            rawK = a.allocate(4L * rows * kvDim, 64);
            rawV = value == null ? rawK : a.allocate(4L * rows * kvDim, 64);
            if (conv) {
                wpK = a.allocate(4L * kvDim * block * kvDim, 64);
                permuteConv(c.value(keyConv), wpK);
                wpV = valueConv == null ? wpK : a.allocate(4L * kvDim * block * kvDim, 64);
                if (valueConv != null) permuteConv(c.value(valueConv), wpV);
            } else {
                wpK = wpV = null;
            }
            low = a.allocate(4L * cfg.rank(), 64);
            mid = a.allocate(4L * d / 2, 64);
            q = a.allocate(4L * d, 64);
            kt = a.allocate(4L * kvDim, 64);
            vt = value == null ? kt : a.allocate(4L * kvDim, 64);
            scores = a.allocate(4L * (kk + rows), 64);
            attendedRow = a.allocate(4L * d, 64);
            out = a.allocate(4L * d, 64);
        }
    }

    /**
     * Sets the state to what stepping through positions 0..n-1 would leave, from the forward pass just run over
     * those n positions (batch 1): the forward's compressed keys are exactly the slot sums (the causal mask of E
     * keeps position t in slots j >= t / c), and the raw rows of the current block are the last n mod c keys.
     */
    void fillState(StepState s, int n) {
        if (!full) {
            MemorySegment.copy(kc, 0, s.slotK, 0, (long) slots * kvDim * 4);
            if (s.slotV != s.slotK) MemorySegment.copy(vc, 0, s.slotV, 0, (long) slots * kvDim * 4);
        }
        int first = full ? 0 : n / block * block; // the first position of the block that position n is in
        MemorySegment.copy(k, (long) first * kvDim * 4, s.rawK, 0, (long) (n - first) * kvDim * 4);
        if (s.rawV != s.rawK) MemorySegment.copy(v, (long) first * kvDim * 4, s.rawV, 0, (long) (n - first) * kvDim * 4);
    }

    /** The attention output for position t, given its input row x; updates the state. */
    MemorySegment step(Pass c, MemorySegment x, StepState s, int t) {
        if (!causal) throw new IllegalStateException("incremental decoding needs a causal model");
        if (full) {
            query.forwardInto(c, x, s.q, 1);
        } else {
            queryLow.u.forwardInto(c, x, s.low, 1);
            queryLow.v.forwardInto(c, s.low, s.mid, 1);
            queryOut.forwardInto(c, s.mid, s.q, 1);
        }
        key.forwardInto(c, x, s.kt, 1);
        if (value != null) value.forwardInto(c, x, s.vt, 1);
        int row = full ? t : t % block; // where position t's raw key goes
        MemorySegment.copy(s.kt, 0, s.rawK, (long) row * kvDim * 4, kvDim * 4L);
        if (s.rawV != s.rawK) MemorySegment.copy(s.vt, 0, s.rawV, (long) row * kvDim * 4, kvDim * 4L);
        if (!full && !conv) { // position t joins every slot whose span reaches it: j >= t / c
            addToSlots(c.value(keyProj), s.kt, s.slotK, t);
            if (s.slotV != s.slotK) {
                addToSlots(c.value(valueProj != null ? valueProj : keyProj), s.vt, s.slotV, t);
            }
        } else if (conv && row == block - 1) { // block t / c is complete: its convolution is slot t / c
            int rowLen = block * kvDim, j = t / block;
            c.blas.sgemm(false, true, 1, kvDim, rowLen, 1f, s.rawK, 0, rowLen, s.wpK, 0, rowLen, 0f, s.slotK,
                    (long) j * kvDim, kvDim);
            if (s.slotV != s.slotK) {
                c.blas.sgemm(false, true, 1, kvDim, rowLen, 1f, s.rawV, 0, rowLen, s.wpV, 0, rowLen, 0f, s.slotV,
                        (long) j * kvDim, kvDim);
            }
        }
        int visible = full ? 0 : t / block, raw = row + 1, n = visible + raw;
        for (int h = 0; h < heads; h++) {
            long g = groups == 1 ? 0 : h, qo = (long) h * hd;
            for (int j = 0; j < visible; j++) {
                s.scores.setAtIndex(JAVA_FLOAT, j, alpha * Kernels.dot(s.q, qo, s.slotK, j * kvDim + g * hd, hd));
            }
            for (int r = 0; r < raw; r++) {
                s.scores.setAtIndex(JAVA_FLOAT, visible + r,
                        alpha * Kernels.dot(s.q, qo, s.rawK, r * kvDim + g * hd, hd));
            }
            Kernels.maskedSoftmax(s.scores, 0, n, n, n, 0);
            s.attendedRow.asSlice(qo * 4, hd * 4L).fill((byte) 0);
            for (int j = 0; j < visible; j++) {
                Kernels.axpy(s.scores.getAtIndex(JAVA_FLOAT, j), s.slotV, j * kvDim + g * hd, s.attendedRow, qo, hd);
            }
            for (int r = 0; r < raw; r++) {
                Kernels.axpy(s.scores.getAtIndex(JAVA_FLOAT, visible + r), s.rawV, r * kvDim + g * hd,
                        s.attendedRow, qo, hd);
            }
        }
        output.forwardInto(c, s.attendedRow, s.out, 1);
        return s.out;
    }

    /** slots[j] += e[t, j] * row for the slots j >= t / c, whose span contains position t. */
    private void addToSlots(MemorySegment e, MemorySegment row, MemorySegment slots, int t) {
        int kk = cfg.k();
        for (int j = t / block; j < kk; j++) {
            Kernels.axpy(e.getAtIndex(JAVA_FLOAT, (long) t * kk + j), row, 0, slots, (long) j * kvDim, kvDim);
        }
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
                    c.blas.sgemm(true, false, slots, hd, qRows, 1f, p, p0, width, dAttended, qOff, qLd(), 1f, dvc,
                            g * hd, kvDim);
                    c.blas.sgemm(false, true, qRows, slots, hd, 1f, dAttended, qOff, qLd(), vc,
                            (long) b * slots * kvDim + g * hd, kvDim, 0f, dProbs, 0, width);
                }
                for (int bs = 0; bs < n && local > 0; bs += local) {
                    int len = Math.min(local, n - bs);
                    long pb = (long) bs * perGroup * width + slots;
                    c.blas.sgemm(true, false, len, hd, len * perGroup, 1f, p, p0 + pb, width, dAttended,
                            qOff + (long) bs * d, qLd(), 1f, dv, kvOffset(b, bs, g, n), kvDim);
                    c.blas.sgemm(false, true, len * perGroup, len, hd, 1f, dAttended, qOff + (long) bs * d, qLd(), v,
                            kvOffset(b, bs, g, n), kvDim, 0f, dProbs, pb, width);
                }
                if (c.training && cfg.dropout() > 0) {
                    Dropout.apply(dProbs, 0, dProbs, 0, (long) qRows * width, cfg.dropout(), dropKey(c, b, g));
                }
                Parallel.rows(qRows, width, (from, to) -> {
                    for (int r = from; r < to; r++) {
                        int i = r / perGroup;
                        Kernels.maskedSoftmaxBackward(probs, pOff + (long) r * width, dProbs, (long) r * width, width,
                                visibleSlots(i), slots, visibleLocal(i, n));
                    }
                });
                // key side: dScores is in dProbs now
                if (slots > 0) {
                    c.blas.sgemm(false, false, qRows, hd, slots, alpha, dProbs, 0, width, kc,
                            (long) b * slots * kvDim + g * hd, kvDim, 0f, dq, qOff, qLd());
                    c.blas.sgemm(true, false, slots, hd, qRows, alpha, dProbs, 0, width, q, qOff, qLd(), 1f, dkc,
                            g * hd, kvDim);
                }
                for (int bs = 0; bs < n && local > 0; bs += local) {
                    int len = Math.min(local, n - bs);
                    long pb = (long) bs * perGroup * width + slots;
                    c.blas.sgemm(false, false, len * perGroup, hd, len, alpha, dProbs, pb, width, k,
                            kvOffset(b, bs, g, n), kvDim, slots > 0 ? 1f : 0f, dq, qOff + (long) bs * d, qLd());
                    c.blas.sgemm(true, false, len, hd, len * perGroup, alpha, dProbs, pb, width, q,
                            qOff + (long) bs * d, qLd(), 1f, dk, kvOffset(b, bs, g, n), kvDim);
                }
            }
            if (!full) {
                compressBackward(c, b, k, dk, dkc, false, n);
                if (!valuesAreKeys()) compressBackward(c, b, v, dv, dvc, true, n);
            }
        }
        finishCompressionGrads(c, n);
        MemorySegment dxq = full ? query.backward(c, dq) : queryLow.backward(c, queryOut.backward(c, dq));
        MemorySegment.copy(dxq, 0, dx, 0, (long) c.rows * d * 4);
        Kernels.add(key.backward(c, dk), 0, dx, 0, (long) c.rows * d);
        if (value != null) Kernels.add(value.backward(c, dv), 0, dx, 0, (long) c.rows * d);
        return dx;
    }

    /** Gradients through the compression of batch row b: into the raw keys/values and the E/conv weights. */
    private void compressBackward(Pass c, int b, MemorySegment src, MemorySegment dSrc, MemorySegment dComp,
                                  boolean forValues, int n) {
        long srcOff = (long) b * n * kvDim;
        if (conv) {
            MemorySegment wp = forValues && convV != null ? convV : convK;
            MemorySegment dWp = forValues && dConvV != null ? dConvV : dConvK;
            int fullBlocks = n / block, tail = n - fullBlocks * block, rowLen = block * kvDim;
            c.blas.sgemm(false, false, fullBlocks, rowLen, kvDim, 1f, dComp, 0, kvDim, wp, 0, rowLen, 1f, dSrc,
                    srcOff, rowLen);
            c.blas.sgemm(true, false, kvDim, rowLen, fullBlocks, 1f, dComp, 0, kvDim, src, srcOff, rowLen, 1f, dWp,
                    0, rowLen);
            if (tail > 0) {
                long tailOff = srcOff + (long) fullBlocks * rowLen;
                c.blas.sgemm(false, false, 1, tail * kvDim, kvDim, 1f, dComp, (long) fullBlocks * kvDim, kvDim, wp,
                        0, rowLen, 1f, dSrc, tailOff, tail * kvDim);
                c.blas.sgemm(true, false, kvDim, tail * kvDim, 1, 1f, dComp, (long) fullBlocks * kvDim, kvDim, src,
                        tailOff, tail * kvDim, 1f, dWp, 0, rowLen);
            }
        } else {
            Params.Param p = forValues && valueProj != null ? valueProj : keyProj;
            c.blas.sgemm(false, false, n, kvDim, slots, 1f, projection(c, forValues), 0, cfg.k(), dComp, 0,
                    kvDim, 1f, dSrc, srcOff, kvDim);
            c.blas.sgemm(false, true, n, cfg.k(), kvDim, 1f, src, srcOff, kvDim, dComp, 0, kvDim, 1f, c.grad(p), 0,
                    cfg.k());
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
        for (int t = 0; t < n; t++) g.asSlice((long) t * kk * 4, (long) (t / block) * 4).fill((byte) 0);
    }

    private void unpermuteAdd(MemorySegment dwp, MemorySegment dw) {
        var F = java.lang.foreign.ValueLayout.JAVA_FLOAT;
        int c = block;
        for (int o = 0; o < kvDim; o++) {
            for (int i = 0; i < kvDim; i++) {
                for (int s = 0; s < c; s++) {
                    long at = ((long) o * kvDim + i) * c + s;
                    dw.setAtIndex(F, at, dw.getAtIndex(F, at) + dwp.getAtIndex(F, ((long) o * c + s) * kvDim + i));
                }
            }
        }
    }
}
