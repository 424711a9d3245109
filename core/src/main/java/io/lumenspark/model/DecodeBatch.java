package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Floats;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decoding steps over several sequences at once (continuous batching): one step feeds one token to each of up to
 * {@link #capacity()} {@link Decoder}s, each at its own position with its own state, and reads every weight
 * matrix once for all of them, block matrices and the output layer alike (a product over the rows, not one
 * matrix-vector product per sequence). Attention stays each sequence's own. A sequence's logits are the same bit
 * for bit whatever else is in the step, alone included ({@link Decoder#next} is a step of one), so which requests
 * share a batch never changes what any of them generates.
 *
 * <p>Its buffers (about capacity x (vocab + 10 d) floats) are fixed when it is made. Not thread-safe: one thread
 * runs the steps; close it when done.
 */
public final class DecodeBatch implements AutoCloseable {
    private final LanguageModel model;
    private final Backbone backbone;
    private final LmHead head;
    private final int capacity, vocab;
    private final Arena arena = Arena.ofShared(); // shared: the pool's threads write the buffers
    private final Pass c;
    private final Backbone.StepRows rows;
    private final MemorySegment logits; // [capacity, vocab]
    private final int[] positions;
    private final Backbone.DecodeState[] states;

    DecodeBatch(LanguageModel model, Backbone backbone, LmHead head, int capacity) {
        if (capacity < 1) throw new LumensparkException("a decoding batch holds at least 1 sequence, got " + capacity);
        this.model = model;
        this.backbone = backbone;
        this.head = head;
        this.capacity = capacity;
        vocab = model.config().vocabSize();
        c = Pass.forDecoding(Blas.get(), model.params(), capacity);
        rows = backbone.stepRows((role, count) -> Floats.allocate(arena, Math.max(1, count)), capacity);
        logits = Floats.allocate(arena, (long) capacity * vocab);
        positions = new int[capacity];
        states = new Backbone.DecodeState[capacity];
    }

    /** The most sequences one step takes. */
    public int capacity() {
        return capacity;
    }

    /**
     * One decoding step: feeds tokens[b] to decoders.get(b) at its next position and writes the logits of the
     * position after it into out[b] (vocab floats each).
     *
     * @throws LumensparkException for more decoders than the capacity, a decoder of another model or twice in the
     *                             step, a token outside the vocabulary or a full context (nothing is changed then)
     */
    public void next(List<Decoder> decoders, int[] tokens, float[][] out) {
        int n = decoders.size();
        if (n > capacity) throw new LumensparkException(n + " sequences in a step of at most " + capacity);
        if (tokens.length < n || out.length < n) throw new IllegalArgumentException("a token and an output per decoder");
        if (n == 0) return;
        Map<Decoder, Boolean> seen = new IdentityHashMap<>();
        for (int b = 0; b < n; b++) {
            Decoder d = decoders.get(b);
            if (d.model() != model) throw new IllegalArgumentException("a decoder of another model");
            if (seen.put(d, Boolean.TRUE) != null) throw new IllegalArgumentException("a decoder twice in one step");
            d.checkNext(tokens[b]);
            positions[b] = d.position();
            states[b] = d.state;
        }
        MemorySegment hidden = backbone.step(c, tokens, positions, states, n, rows);
        head.logits(c, hidden, 0, n, logits);
        for (int b = 0; b < n; b++) {
            MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT, (long) b * vocab * Float.BYTES, out[b], 0, vocab);
            decoders.get(b).advance();
            states[b] = null;
        }
    }

    @Override
    public void close() {
        c.close();
        arena.close();
    }
}
