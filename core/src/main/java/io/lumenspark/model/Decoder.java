package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Floats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The incremental decoding of one sequence by a causal {@link LanguageModel} (see {@link LanguageModel#decoder()}):
 * a prompt's prefill, then one position at a time. Its memory is fixed when it is made (for the Linformer variants
 * about k x kv_dim floats per layer and one row of logits; a full-attention KV cache holds seq_length positions).
 * Not thread-safe: one decoder per sequence; close it when done.
 */
public final class Decoder implements AutoCloseable {
    private final LanguageModel model;
    private final Backbone backbone;
    private final LmHead head;
    private final ModelConfig config;
    private final CountingArena arena = new CountingArena(Arena.ofShared()); // shared: the pool writes it
    private final Pass c;
    private final Backbone.DecodeState state;
    private final MemorySegment logitsRow; // [vocab] the logits of the next token
    private final long stateBytes;
    private int position;

    Decoder(LanguageModel model, Backbone backbone, LmHead head) {
        this.model = model;
        this.backbone = backbone;
        this.head = head;
        this.config = model.config();
        c = new Pass(Blas.get(), model.params(), 1, 1, true);
        state = backbone.new DecodeState(arena, c);
        logitsRow = Floats.allocate(arena, config.vocabSize());
        stateBytes = arena.bytes;
    }

    /** Positions fed so far. */
    public int position() {
        return position;
    }

    /** Native bytes this decoder holds (its state and buffers), whatever the position. */
    public long stateBytes() {
        return stateBytes;
    }

    /**
     * Feeds a whole prompt in one batched forward pass, from position 0, and returns the logits for the
     * position after it: the same state and logits as feeding the ids one by one with {@link #next}, at the
     * cost of one pass of matrix products instead of ids.length row-by-row ones.
     */
    public float[] prefill(int... ids) {
        if (position != 0) throw new IllegalStateException("prefill starts a sequence; call reset() first");
        if (ids.length == 0) throw new LumensparkException("the prompt is empty");
        if (ids.length > config.seqLength()) {
            throw new LumensparkException("the prompt has " + ids.length + " tokens; the context is "
                    + config.seqLength());
        }
        model.prefill(ids, state, logitsRow);
        position = ids.length;
        return logitsRow.toArray(ValueLayout.JAVA_FLOAT);
    }

    /** Forgets the sequence: the next token goes to position 0. */
    public void reset() {
        position = 0;
    }

    /** Feeds the token at the next position; returns the logits for the position after it. */
    public float[] next(int token) {
        if (token < 0 || token >= config.vocabSize()) {
            throw new LumensparkException("token id " + token + " is outside the vocabulary 0.."
                    + (config.vocabSize() - 1));
        }
        if (position >= config.seqLength()) {
            throw new LumensparkException("the context is full: " + config.seqLength() + " positions");
        }
        MemorySegment row = backbone.step(c, token, position, state);
        head.logits(c, row, 0, 1, logitsRow);
        position++;
        return logitsRow.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Override
    public void close() {
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
