package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.model.LumensparkModel;

import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * One sequence being generated, as an iterator of tokens: each {@link #next()} chooses one token and returns it
 * with the text it completes. The prompt is prefilled in one batched pass; then causal models decode one
 * position at a time (constant work per token for the Linformer variants), while the bidirectional
 * lumenspark-v0.1 recomputes the whole window for every token, as its definition requires.
 *
 * <p>The pieces of text concatenate to {@link #result()}'s text: a piece ending in an incomplete UTF-8
 * character is held back until the next token completes it, and the last token (the end-of-text token when the
 * sequence ends there) carries whatever was held. Not thread-safe; run one generation per thread, as many as
 * wanted on one model. Close it (or exhaust it) to free its decoder.
 */
public final class Generation implements Iterator<Generation.Token>, AutoCloseable {
    /** A chosen token and the text it adds (possibly empty; see the class comment). */
    public record Token(int id, String text) {
    }

    private final LumensparkModel model;
    private final Tokenizer tokenizer;
    private final GenerationConfig cfg;
    private final SplittableRandom random;
    private final LumensparkModel.Decoder decoder; // null: recompute (bidirectional model)
    private final int n, promptTokens, droppedTokens, limit, eos;
    private final long start = System.nanoTime();
    private long end;
    private int[] context; // the prompt (after truncation) and every token generated
    private int length, windowStart, emitted, pending = -1;
    private double firstTokenSeconds = Double.NaN;
    private String text = "", finish;

    /**
     * Starts a generation; seed, when not null, overrides the config's (batches derive one per sequence).
     *
     * @throws LumensparkException for an empty prompt, one that leaves no room in the context (unless
     *                             prompt_truncation is "left"), or ids outside the model's vocabulary
     */
    public Generation(LumensparkModel model, Tokenizer tokenizer, int[] prompt, GenerationConfig cfg, Long seed) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.cfg = cfg;
        n = model.config().seqLength();
        if (prompt.length == 0) throw new LumensparkException("the prompt is empty");
        int lengthLimit = cfg.maxLength() == null ? Integer.MAX_VALUE : cfg.maxLength() - prompt.length;
        int newLimit = cfg.maxNewTokens() == null ? Integer.MAX_VALUE : cfg.maxNewTokens();
        limit = Math.max(0, Math.min(lengthLimit, newLimit));
        int dropped = 0;
        if (prompt.length >= n) {
            if (!cfg.promptTruncation().equals("left")) {
                throw new LumensparkException("the prompt has " + prompt.length + " tokens; this model's context is "
                        + n + " and leaves no room to generate (prompt_truncation=left keeps its end)");
            }
            dropped = prompt.length - (n - Math.min(Math.max(limit, 1), n / 2));
        }
        droppedTokens = dropped;
        context = Arrays.copyOfRange(prompt, dropped, prompt.length);
        promptTokens = length = context.length;
        int vocab = model.config().vocabSize();
        for (int id : context) {
            if (id < 0 || id >= vocab) {
                throw new LumensparkException("token id " + id + " is outside the model's vocabulary 0.." + (vocab - 1));
            }
        }
        eos = cfg.eosTokenId() != null ? cfg.eosTokenId() : tokenizer.eosId();
        Long s = seed != null ? seed : cfg.seed();
        random = s != null ? new SplittableRandom(s) : new SplittableRandom();
        decoder = model.config().causal() ? model.decoder() : null;
        if (limit == 0) finish("length");
    }

    @Override
    public boolean hasNext() {
        return finish == null;
    }

    /** Chooses the next token; after it, {@link #hasNext()} says whether there will be another. */
    @Override
    public Token next() {
        if (finish != null) throw new NoSuchElementException("the generation has finished: " + finish);
        float[] logits = logitsForNext();
        if (Double.isNaN(firstTokenSeconds)) firstTokenSeconds = (System.nanoTime() - start) / 1e9;
        Sampling.process(logits, context, length, generated(), cfg);
        int id = Sampling.choose(logits, cfg, random);
        if (id == eos) {
            finish("eos");
            return new Token(id, flush());
        }
        if (length == context.length) context = Arrays.copyOf(context, Math.max(16, 2 * length));
        context[length++] = id;
        pending = id;
        text = tokenizer.decode(Arrays.copyOfRange(context, promptTokens, length));
        int stop = stopIndex(text);
        if (stop >= 0) {
            text = text.substring(0, stop);
            finish("stop");
        } else if (generated() == limit) {
            finish("length");
        } else if (length - windowStart == n && cfg.contextOverflow().equals("stop")) {
            finish("context");
        }
        if (finish != null) return new Token(id, flush());
        // hold back a trailing replacement character: the next token may complete its UTF-8 sequence
        int ready = text.endsWith("\uFFFD") ? text.length() - 1 : text.length();
        String piece = ready > emitted ? text.substring(emitted, ready) : "";
        emitted = Math.max(emitted, ready);
        return new Token(id, piece);
    }

    /** The logits for the next position: prefill, one decoding step, a slide, or a recomputation. */
    private float[] logitsForNext() {
        if (length - windowStart == n) { // full: continue from the most recent half of the context
            windowStart = length - n / 2;
            if (decoder != null) decoder.reset();
        }
        int[] window = Arrays.copyOfRange(context, windowStart, length);
        if (decoder == null) return model.lastLogits(window);
        if (decoder.position() == 0) return decoder.prefill(window);
        return decoder.next(pending);
    }

    private int generated() {
        return length - promptTokens;
    }

    private void finish(String reason) {
        finish = reason;
        end = System.nanoTime();
        if (decoder != null) decoder.close();
    }

    /** The text not yet handed out. */
    private String flush() {
        String piece = text.substring(Math.min(emitted, text.length()));
        emitted = text.length();
        return piece;
    }

    /** Where the first stop string starts in text, or -1. */
    private int stopIndex(String s) {
        int best = -1;
        for (String stop : cfg.stopStrings()) {
            int i = stop.isEmpty() ? -1 : s.indexOf(stop);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /** Runs the generation to its end, passing each piece of text to listener (may be null). */
    public Generator.Result finish(Generator.Listener listener) {
        try {
            while (hasNext()) {
                Token t = next();
                if (listener != null && !t.text().isEmpty()) listener.onText(t.text());
            }
        } finally {
            close();
        }
        return result();
    }

    /** The outcome once the generation has finished. */
    public Generator.Result result() {
        if (finish == null) throw new IllegalStateException("the generation has not finished");
        return new Generator.Result(Arrays.copyOfRange(context, promptTokens, length), text, finish, promptTokens,
                droppedTokens, firstTokenSeconds, (end - start) / 1e9);
    }

    /** Frees the decoder; a generation closed before its end finishes with reason "cancelled". */
    @Override
    public void close() {
        if (finish == null) finish("cancelled");
    }
}
