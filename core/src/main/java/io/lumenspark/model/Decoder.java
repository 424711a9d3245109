package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The incremental decoding of one sequence by a causal {@link LanguageModel} (see {@link LanguageModel#decoder()}):
 * a prompt's prefill, then one position at a time, alone ({@link #next}) or in a {@link DecodeBatch} step with
 * other sequences, which gives the same logits bit for bit. Its state is fixed in size when it is made (for the
 * Linformer variants about k x kv_dim floats per layer; a full-attention KV cache holds seq_length positions).
 * Not thread-safe: one decoder per sequence; close it when done.
 */
public final class Decoder implements AutoCloseable {
    private final LanguageModel model;
    private final Backbone backbone;
    private final LmHead head;
    private final ModelConfig config;
    private final CountingArena arena = new CountingArena(Arena.ofShared()); // shared: the pool writes it
    private final Pass c;
    final Backbone.DecodeState state;
    private final long stateBytes;
    private DecodeBatch alone; // the batch of one that next() steps in, made on first use
    private int position;
    private boolean closed;

    Decoder(LanguageModel model, Backbone backbone, LmHead head) {
        this.model = model;
        this.backbone = backbone;
        this.head = head;
        this.config = model.config();
        c = Pass.forDecoding(Blas.get(), model.params(), 1);
        state = backbone.new DecodeState(arena, c);
        stateBytes = arena.bytes;
    }

    /** The model this decoder belongs to. */
    LanguageModel model() {
        return model;
    }

    /** Positions fed so far. */
    public int position() {
        return position;
    }

    /** Native bytes of this decoder's state, whatever the position. */
    public long stateBytes() {
        return stateBytes;
    }

    /**
     * Feeds a whole prompt in one batched forward pass, from position 0, and returns the logits for the
     * position after it: the same state and logits as feeding the ids one by one with {@link #next}, at the
     * cost of one pass of matrix products instead of ids.length row-by-row ones.
     */
    public float[] prefill(int... ids) {
        checkPrompt(ids);
        float[] logits = new float[config.vocabSize()];
        try (Arena tmp = Arena.ofShared()) { // shared: the pool writes it
            MemorySegment row = tmp.allocate((long) config.vocabSize() * Float.BYTES, 64);
            model.prefill(ids, state, row);
            MemorySegment.copy(row, ValueLayout.JAVA_FLOAT, 0, logits, 0, logits.length);
        }
        position = ids.length;
        return logits;
    }

    /**
     * {@link #prefill} without the logits after the prompt, for a caller whose next decoding step computes the
     * position that matters (a prompt's last token fed as a step): the output layer is not run.
     */
    public void feed(int... ids) {
        checkPrompt(ids);
        model.prefill(ids, state, null);
        position = ids.length;
    }

    private void checkPrompt(int[] ids) {
        if (position != 0) throw new IllegalStateException("prefill starts a sequence; call reset() first");
        if (ids.length == 0) throw new LumensparkException("the prompt is empty");
        if (ids.length > config.seqLength()) {
            throw new LumensparkException("the prompt has " + ids.length + " tokens; the context is "
                    + config.seqLength());
        }
    }

    /** Forgets the sequence: the next token goes to position 0. */
    public void reset() {
        position = 0;
    }

    /**
     * Feeds the token at the next position; returns the logits for the position after it. The same step as a
     * {@link DecodeBatch} runs for many sequences, here for this one alone: the logits are the same bit for bit.
     */
    public float[] next(int token) {
        if (alone == null) alone = new DecodeBatch(model, backbone, head, 1);
        float[][] out = {new float[config.vocabSize()]};
        alone.next(List.of(this), new int[]{token}, out);
        return out[0];
    }

    /** Checks that token can be fed at the next position (called before a step changes any state). */
    void checkNext(int token) {
        if (closed) throw new IllegalStateException("the decoder is closed");
        if (token < 0 || token >= config.vocabSize()) {
            throw new LumensparkException("token id " + token + " is outside the vocabulary 0.."
                    + (config.vocabSize() - 1));
        }
        if (position >= config.seqLength()) {
            throw new LumensparkException("the context is full: " + config.seqLength() + " positions");
        }
    }

    /** Moves to the next position (after a step fed it). */
    void advance() {
        position++;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (alone != null) alone.close();
        c.close();
        arena.close();
    }

    /** An arena that counts what it hands out (a decoder's memory, for benchmarks and capacity planning). */
    private static final class CountingArena implements Arena {
        private final Arena inner;
        private long bytes;

        CountingArena(Arena inner) {
            this.inner = inner;
        }

        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            bytes += byteSize;
            return inner.allocate(byteSize, byteAlignment);
        }

        @Override
        public MemorySegment.Scope scope() {
            return inner.scope();
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
