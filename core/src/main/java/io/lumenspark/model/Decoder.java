package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Pages;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
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
     * Feeds a whole prompt from position 0 and returns the logits for the position after it: the prompt but its
     * last token as {@link #feed}, then the last as {@link #next}. (A prompt of more than
     * {@link DecodeBatch#STEP_FEED_TOKENS} tokens goes through one forward pass, logits included.)
     */
    public float[] prefill(int... ids) {
        checkPrompt(ids);
        if (ids.length > DecodeBatch.STEP_FEED_TOKENS) {
            float[] logits = new float[config.vocabSize()];
            prefillWhole(ids, logits);
            return logits;
        }
        if (ids.length > 1) feed(Arrays.copyOf(ids, ids.length - 1));
        return next(ids[ids.length - 1]);
    }

    /**
     * Feeds a prompt from position 0 without the logits after it, for a caller whose next decoding step computes
     * the position that matters (a prompt's last token fed as a step): the same state, bit for bit, as
     * {@link DecodeBatch#feed} with other prompts, and for up to {@link DecodeBatch#STEP_FEED_TOKENS} tokens as
     * feeding the ids one by one with {@link #next}, at the cost of one step of products over all the prompt's
     * positions (a longer prompt: one forward pass of the whole prompt, matrix products and attention over all its
     * positions at once, whose state agrees with stepping within float rounding).
     */
    public void feed(int... ids) {
        checkPrompt(ids);
        if (ids.length > DecodeBatch.STEP_FEED_TOKENS) prefillWhole(ids, null);
        else alone().feed(List.of(this), List.of(ids));
    }

    /** The prompt's forward pass into the state, and (unless null) the last position's logits into logits. */
    void prefillWhole(int[] ids, float[] logits) {
        if (logits == null) {
            model.prefill(ids, state, null);
        } else {
            try (Arena tmp = Arena.ofShared()) { // shared: the pool writes it
                MemorySegment row = tmp.allocate((long) config.vocabSize() * Float.BYTES, 64);
                model.prefill(ids, state, row);
                MemorySegment.copy(row, ValueLayout.JAVA_FLOAT, 0, logits, 0, logits.length);
            }
        }
        position = ids.length;
    }

    /** Moves past a prompt of tokens fed by {@link DecodeBatch#feed}'s steps. */
    void fed(int tokens) {
        position = tokens;
    }

    /** Checks that ids can start this sequence (called before anything is fed). */
    void checkPrompt(int[] ids) {
        if (closed) throw new IllegalStateException("the decoder is closed");
        if (position != 0) throw new IllegalStateException("prefill starts a sequence; call reset() first");
        if (ids.length == 0) throw new LumensparkException("the prompt is empty");
        if (ids.length > config.seqLength()) {
            throw new LumensparkException("the prompt has " + ids.length + " tokens; the context is "
                    + config.seqLength());
        }
        for (int id : ids) checkToken(id);
    }

    private void checkToken(int id) {
        if (id < 0 || id >= config.vocabSize()) {
            throw new LumensparkException("token id " + id + " is outside the vocabulary 0.." + (config.vocabSize() - 1));
        }
    }

    /** Forgets the sequence: the next token goes to position 0, as into a new decoder. */
    public void reset() {
        position = 0;
        state.clear();
    }

    /**
     * Feeds the token at the next position; returns the logits for the position after it. The same step as a
     * {@link DecodeBatch} runs for many sequences, here for this one alone: the logits are the same bit for bit.
     */
    public float[] next(int token) {
        float[][] out = {new float[config.vocabSize()]};
        alone().next(List.of(this), new int[]{token}, out);
        return out[0];
    }

    /** The batch of one that next() and feed() step in, made on first use. */
    private DecodeBatch alone() {
        if (closed) throw new IllegalStateException("the decoder is closed");
        if (alone == null) alone = new DecodeBatch(model, backbone, head, 1);
        return alone;
    }

    /** Checks that token can be fed at the next position (called before a step changes any state). */
    void checkNext(int token) {
        if (closed) throw new IllegalStateException("the decoder is closed");
        checkToken(token);
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
        /**
         * From this size (a KV cache layer's keys at seq_length 512) buffers are mapped untouched. Smaller ones come
         * from the allocator, which reuses the memory of closed decoders: a fresh mapping's first writes fault
         * page by page, which for lumenspark's 64 KiB slot buffers cost about 1 ms per new sequence here (fifteen
         * 31-token prompts fed together: 37 ms against 23).
         */
        private static final long UNTOUCHED = 1 << 20;
        private final Arena inner;
        private long bytes;

        CountingArena(Arena inner) {
            this.inner = inner;
        }

        /**
         * Large buffers (a full-attention layer's KV cache: 1 MiB per layer for keys, as much for values, at
         * seq_length 512) are mapped untouched, their pages made resident as positions are written, so a new
         * sequence costs no zeroing of memory its positions never reach (fifteen new `transformer` decoders: 0.4 ms
         * against 61).
         */
        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            bytes += byteSize;
            return byteSize >= UNTOUCHED && byteAlignment <= 64 ? Pages.allocateUntouched(byteSize, inner)
                    : inner.allocate(byteSize, byteAlignment);
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
