package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * What every model of a config shares, whatever head sits on top (as Hugging Face's XModel under XForCausalLM):
 * token + learned position embeddings, dropout, and the post-norm blocks, with their decoding state. A forward
 * pass turns token ids into hidden states [rows, d]; the backward pass takes their gradient and accumulates the
 * parameter gradients. Nothing here knows which head reads the hidden states. Its parameters are declared in the
 * model's {@link Params} under the published names.
 */
final class Backbone {
    /** The parameters declared before the layers: the embeddings and the projections all layers share. */
    record Shared(Params.Param tokens, Params.Param positions, Params.Param sharedE, Params.Param sharedF) {
        static Shared declare(Params params, ModelConfig config) {
            int d = config.embedDim();
            Params.Param tokens = params.declare("token_embedding.weight", config.vocabSize(), d);
            Params.Param positions = params.declare("position_embedding.weight", config.seqLength(), d);
            Params.Param sharedE = null, sharedF = null;
            if (config.shareProjAcrossLayers() && !config.isFull() && !config.usesConv(0)) {
                sharedE = params.declare("shared_key_proj", config.seqLength(), config.k());
                if (config.separateProj()) {
                    sharedF = params.declare("shared_value_proj", config.seqLength(), config.k());
                }
            }
            return new Shared(tokens, positions, sharedE, sharedF);
        }
    }

    private final ModelConfig config;
    // parameters
    private final Params.Param tokens;    // [vocab_size, d] token embeddings
    private final Params.Param positions; // [seq_length, d] position embeddings
    private final List<Block> blocks = new ArrayList<>();
    // activations kept for backward
    private MemorySegment embedded;  // [rows, d] token + position embedding (after dropout): the first block's input
    // scratch
    private MemorySegment dEmbedded; // [rows, d] the gradient of the embeddings before dropout

    Backbone(Params params, ModelConfig config) {
        this.config = config;
        Shared shared = Shared.declare(params, config);
        tokens = shared.tokens();
        positions = shared.positions();
        for (int i = 0; i < config.depth(); i++) {
            blocks.add(new Block(params, config, i, shared.sharedE(), shared.sharedF()));
        }
    }

    /** Makes the buffers of a pass (see {@link Pass}); the head allocates its own. */
    void allocate(Pass c) {
        embedded = c.floats((long) c.rows * config.embedDim());
        dEmbedded = c.forwardOnly ? null : c.floats((long) c.rows * config.embedDim());
        for (Block b : blocks) b.allocate(c);
    }

    /** The hidden states [rows, d] of the pass's token ids, every row n real tokens. */
    MemorySegment forward(Pass c, int[] inputs) {
        c.setLengths(null);
        return run(c, inputs, null);
    }

    /**
     * The hidden states [rows, d] of token ids padded at the end of each batch row: row b holds lengths[b] real
     * tokens (null: n), the pass remembers them ({@link Pass#length}) for its backward pass and for a head that
     * pools over each sequence's real rows. The hidden rows of real positions do not depend on the padding ids.
     */
    MemorySegment forward(Pass c, int[] inputs, int[] lengths) {
        c.setLengths(lengths);
        return run(c, inputs, null);
    }

    /**
     * The embeddings and every block; with a decoding state, each block's state is set as soon as it has run
     * (prefill: the same state as feeding the ids one by one).
     */
    MemorySegment forward(Pass c, int[] inputs, DecodeState state) {
        c.setLengths(null);
        return run(c, inputs, state);
    }

    /** The embeddings and every block over the pass's rows (its lengths set), filling state when given. */
    private MemorySegment run(Pass c, int[] inputs, DecodeState state) {
        if (inputs.length != c.rows) throw new IllegalArgumentException("expected " + c.rows + " token ids");
        int d = config.embedDim(), v = config.vocabSize();
        MemorySegment tok = c.value(tokens), pos = c.value(positions);
        for (int id : inputs) {
            if (id < 0 || id >= v) throw new LumensparkException("token id " + id + " is outside the vocabulary 0.." + (v - 1));
        }
        Parallel.rows(c.rows, d, (from, to) -> {
            for (int r = from; r < to; r++) {
                long o = (long) r * d;
                Kernels.sum(tok, (long) inputs[r] * d, pos, (long) (r % c.n) * d, embedded, o, d);
            }
        });
        if (c.training && config.dropout() > 0) {
            Dropout.apply(embedded, 0, embedded, 0, (long) c.rows * d, config.dropout(), c.dropoutKey(-1));
        }
        MemorySegment x = embedded;
        for (int i = 0; i < blocks.size(); i++) {
            x = blocks.get(i).forward(c, x);
            if (state != null) blocks.get(i).fillState(state.blocks.get(i), c.n); // before the next layer reuses buffers
        }
        return x;
    }

    /** The backward pass of dHidden ([rows, d], the head's gradient) into every parameter gradient. */
    void backward(Pass c, int[] inputs, MemorySegment dHidden) {
        MemorySegment dy = dHidden;
        for (int i = blocks.size() - 1; i >= 0; i--) dy = blocks.get(i).backward(c, dy);
        int d = config.embedDim();
        if (config.dropout() > 0) {
            Dropout.apply(dy, 0, dEmbedded, 0, (long) c.rows * d, config.dropout(), c.dropoutKey(-1));
            dy = dEmbedded;
        }
        MemorySegment gTok = c.grad(tokens), gPos = c.grad(positions);
        // rows in order: the same token's gradients always add up in the same order
        for (int r = 0; r < c.rows; r++) {
            long o = (long) r * d;
            Kernels.add(dy, o, gTok, (long) inputs[r] * d, d);
            Kernels.add(dy, o, gPos, (long) (r % c.n) * d, d);
        }
    }

    /** One sequence's decoding state: each block's. */
    final class DecodeState {
        final List<Block.StepState> blocks = new ArrayList<>();

        DecodeState(Arena arena, Pass c) {
            for (Block b : Backbone.this.blocks) blocks.add(b.new StepState(arena, c));
        }

        /** Back to the state before any position (steps add positions into the Linformer slots' sums). */
        void clear() {
            for (Block.StepState s : blocks) s.attention.clear();
        }
    }

    /** The rows of a decoding step over up to some number of sequences: the hidden rows and every block's. */
    record StepRows(MemorySegment x, Block.StepRows block) {
    }

    /** Buffers for decoding steps over up to rows sequences (all blocks share them: they run one at a time). */
    StepRows stepRows(Pass.Buffers alloc, int rows) {
        return new StepRows(alloc.floats("step.x", (long) rows * config.embedDim()),
                blocks.getFirst().stepRows(alloc, rows));
    }

    /**
     * The hidden states [rows, d] of one token for each of rows sequences (incremental decoding): sequence b feeds
     * ids[b] at position at[b] and its state s[b] is updated. Row b depends only on sequence b's token, position
     * and state, bit for bit, whatever the other rows hold.
     */
    MemorySegment step(Pass c, int[] ids, int[] at, DecodeState[] s, int rows, StepRows r) {
        int d = config.embedDim();
        MemorySegment tok = c.value(tokens), pos = c.value(positions);
        for (int b = 0; b < rows; b++) {
            Kernels.sum(tok, (long) ids[b] * d, pos, (long) at[b] * d, r.x(), (long) b * d, d);
        }
        Block.StepState[] layer = new Block.StepState[rows];
        for (int i = 0; i < blocks.size(); i++) {
            for (int b = 0; b < rows; b++) layer[b] = s[b].blocks.get(i);
            blocks.get(i).step(c, r.x(), rows, layer, at, r.block(), r.x());
        }
        return r.x();
    }
}
