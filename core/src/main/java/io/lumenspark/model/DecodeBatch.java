package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Pages;

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
 * <p>It also feeds prompts ({@link #feed}): a prompt of up to {@link #STEP_FEED_TOKENS} tokens goes through the
 * same steps, its positions in order, many prompts' positions as the rows of one step, so that the weights are
 * read once for all of them and a prompt's state is the same bit for bit whatever it was fed with.
 *
 * <p>Its buffers are about capacity x (vocab + 10 d) floats, made with it, and for feeding a step's row buffers
 * for up to {@link #FEED_ROWS} rows, mapped on the first feed and resident as far as prompts reach. Not
 * thread-safe: one thread runs the steps and feeds. After a step returns, {@link #logits} may copy its rows from
 * several threads at once (each handed the work with a happens-before edge, as a thread pool's hand-off gives), all
 * done before the next step or feed. Close it when done.
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
    private int stepped; // rows of logits the last step left in logits (0 after a feed)
    /**
     * Prompts up to this many tokens are fed through decoding steps; longer ones through one forward pass of the
     * whole prompt (sgemm's products and attention), which is faster from about a hundred tokens.
     */
    public static final int STEP_FEED_TOKENS = 64;
    /** The most prompt positions in one feeding step (a batch of capacity c: at most 64 c). */
    static final int FEED_ROWS = 256;
    private Backbone.StepRows feedRows; // [feedCapacity, ...] rows of feeding steps, made on first use
    private final int feedCapacity;

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
        feedCapacity = (int) Math.min(FEED_ROWS, (long) capacity * STEP_FEED_TOKENS);
    }

    /** The most sequences one step takes. */
    public int capacity() {
        return capacity;
    }

    /**
     * One decoding step: feeds tokens[b] to decoders.get(b) at its next position and writes the logits of the
     * position after it into out[b] (vocab floats each): {@link #step}, then {@link #logits} for each.
     *
     * @throws LumensparkException      as {@link #step}
     * @throws IllegalArgumentException as {@link #step}, or for fewer outputs than decoders or one shorter than the
     *                                  vocabulary (nothing is changed then)
     */
    public void next(List<Decoder> decoders, int[] tokens, float[][] out) {
        if (out.length < decoders.size()) throw new IllegalArgumentException("an output per decoder");
        for (int b = 0; b < decoders.size(); b++) {
            if (out[b].length < vocab) {
                throw new IllegalArgumentException("an output of " + vocab + " logits, got " + out[b].length);
            }
        }
        step(decoders, tokens);
        for (int b = 0; b < decoders.size(); b++) logits(b, out[b]);
    }

    /**
     * One decoding step: feeds tokens[b] to decoders.get(b) at its next position; the logits of the position after
     * it stay in the batch until its next step or feed, row b for decoders.get(b) ({@link #logits}). A step refused
     * leaves the last step's rows.
     *
     * @throws LumensparkException      for more decoders than the capacity, a token outside the vocabulary or a full
     *                                  context (nothing is changed then)
     * @throws IllegalArgumentException for fewer tokens than decoders, a decoder of another model or twice in the
     *                                  step (nothing is changed then)
     */
    public void step(List<Decoder> decoders, int[] tokens) {
        int n = decoders.size();
        if (n > capacity) throw new LumensparkException(n + " sequences in a step of at most " + capacity);
        if (tokens.length < n) throw new IllegalArgumentException("a token per decoder");
        Map<Decoder, Boolean> seen = new IdentityHashMap<>();
        for (int b = 0; b < n; b++) {
            Decoder d = decoders.get(b);
            if (d.model() != model) throw new IllegalArgumentException("a decoder of another model");
            if (seen.put(d, Boolean.TRUE) != null) throw new IllegalArgumentException("a decoder twice in one step");
            d.checkNext(tokens[b]);
            positions[b] = d.position();
            states[b] = d.state;
        }
        stepped = 0;
        if (n == 0) return;
        MemorySegment hidden = backbone.step(c, tokens, positions, states, n, rows);
        head.logits(c, hidden, 0, n, logits);
        for (int b = 0; b < n; b++) {
            decoders.get(b).advance();
            states[b] = null;
        }
        stepped = n;
    }

    /**
     * Copies row b of the last {@link #step}'s logits (its b-th decoder's) into out[0, vocab). Several threads may
     * copy rows at once, between a step and the next step or feed (see the class's comment).
     *
     * @throws IndexOutOfBoundsException for a row the last step did not make (none after a feed or an empty step)
     */
    public void logits(int b, float[] out) {
        if (b < 0 || b >= stepped) throw new IndexOutOfBoundsException("row " + b + " of a step of " + stepped);
        MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT, (long) b * vocab * Float.BYTES, out, 0, vocab);
    }

    /**
     * Feeds each decoder its prompt from position 0 ({@link Decoder#feed}): prompts of up to {@link #STEP_FEED_TOKENS}
     * tokens together, every position of every prompt a row of the same decoding steps (each prompt's positions
     * in order, so each sees the state its earlier positions left), longer ones through one forward pass each.
     * Which prompts are fed together never changes any decoder's state, bit for bit.
     *
     * @throws LumensparkException      for an empty prompt, one longer than the context or a token outside the
     *                                  vocabulary (nothing is fed then)
     * @throws IllegalArgumentException for a decoder of another model or twice, or not one prompt per decoder
     * @throws IllegalStateException    for a closed decoder or one not at position 0; a failure while feeding
     *                                  leaves every decoder of the call back at position 0, as {@link Decoder#reset}
     */
    public void feed(List<Decoder> decoders, List<int[]> prompts) {
        if (prompts.size() != decoders.size()) throw new IllegalArgumentException("a prompt per decoder");
        Map<Decoder, Boolean> seen = new IdentityHashMap<>();
        int rows = 0;
        for (int i = 0; i < decoders.size(); i++) {
            Decoder d = decoders.get(i);
            if (d.model() != model) throw new IllegalArgumentException("a decoder of another model");
            if (seen.put(d, Boolean.TRUE) != null) throw new IllegalArgumentException("a decoder twice in one feed");
            d.checkPrompt(prompts.get(i));
            if (prompts.get(i).length <= STEP_FEED_TOKENS) rows += prompts.get(i).length;
        }
        stepped = 0;
        synchronized (model) { // a prompt's prefill takes turns with the model's other whole-sequence passes
            try {
                for (int i = 0; i < decoders.size(); i++) {
                    if (prompts.get(i).length > STEP_FEED_TOKENS) decoders.get(i).prefillWhole(prompts.get(i), null);
                }
                if (rows > 0) feedSteps(decoders, prompts);
            } catch (RuntimeException | Error e) { // no decoder is left half fed: each starts over
                decoders.forEach(Decoder::reset);
                throw e;
            }
        }
    }

    /** The prompts of up to STEP_FEED_TOKENS tokens, as rows of steps of up to feedCapacity rows. */
    private void feedSteps(List<Decoder> decoders, List<int[]> prompts) {
        if (feedRows == null) {
            // mapped untouched: a batch of one (a decoder's own) holds only the rows its prompts reach
            feedRows = backbone.stepRows((role, count) -> Pages.allocateUntouched(Math.max(1, count) * 4L, arena),
                    feedCapacity);
        }
        int[] ids = new int[feedCapacity], at = new int[feedCapacity];
        Backbone.DecodeState[] s = new Backbone.DecodeState[feedCapacity];
        int n = 0;
        for (int i = 0; i < decoders.size(); i++) {
            int[] prompt = prompts.get(i);
            if (prompt.length > STEP_FEED_TOKENS) continue;
            for (int t = 0; t < prompt.length; t++) {
                ids[n] = prompt[t];
                at[n] = t;
                s[n++] = decoders.get(i).state;
                if (n == feedCapacity) {
                    backbone.step(c, ids, at, s, n, feedRows);
                    n = 0;
                }
            }
        }
        if (n > 0) backbone.step(c, ids, at, s, n, feedRows);
        for (int i = 0; i < decoders.size(); i++) {
            if (prompts.get(i).length <= STEP_FEED_TOKENS) decoders.get(i).fed(prompts.get(i).length);
        }
    }

    @Override
    public void close() {
        c.close();
        arena.close();
    }
}
