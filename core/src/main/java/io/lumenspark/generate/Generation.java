package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.DecodeBatch;
import io.lumenspark.model.Decoder;
import io.lumenspark.model.DecoderPool;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * One sequence being generated, as an iterator of tokens: each {@link #next()} chooses one token and returns it
 * with the text it completes. The prompt but its last token is prefilled in one batched pass, and its last
 * token is the first decoding step (the step a server batches with other sequences); then causal models decode one
 * position at a time (constant work per token for the Linformer variants), while the bidirectional
 * lumenspark-v0.1 recomputes the whole window for every token, as its definition requires.
 *
 * <p>The pieces of text concatenate to {@link #result()}'s text: a piece ending in an incomplete UTF-8
 * character is held back until the next token completes it, and the last token (the end-of-text token when the
 * sequence ends there) carries whatever was held. Each token's text is decoded once, as it comes, and stop
 * strings are looked for only where it can complete one, so the work per token does not grow with the text.
 * Not thread-safe; run one generation per thread, as many as wanted on one model. Close it (or exhaust it) to free
 * its decoder.
 *
 * <p>A server batches many generations' decoding steps: while {@link #stepsNext()} holds, the logits of the next
 * position are one step of {@link #decoder()} fed {@link #pendingToken()}, which the caller can run in a
 * {@link io.lumenspark.model.DecodeBatch} with other sequences and hand to {@link #next(float[])}; the tokens are
 * the same as {@link #next()} chooses.
 */
public final class Generation implements Iterator<Generation.Token>, AutoCloseable {
    /**
     * A chosen token, the text it adds (possibly empty; see the class comment) and, when asked for
     * ({@link #withLogprobs}), its log-probabilities (else null).
     */
    public record Token(int id, String text, TokenLogprobs logprobs) {
    }

    private final LanguageModel model;
    private final GenerationConfig cfg;
    private final SplittableRandom random;
    private final Decoder decoder; // null: recompute (bidirectional model)
    private final DecoderPool pool; // where the decoder goes back at the end; null: it is closed
    private final int n, promptTokens, droppedTokens, limit;
    private final int[] eos;
    private final GeneratedText text;
    private final long start = System.nanoTime();
    private long end;
    private int[] context; // the prompt (after truncation) and every token generated
    private int length, windowStart, pending = -1;
    private boolean primed; // the prompt is prefilled but for its last token, which the next step feeds
    private double firstTokenSeconds = Double.NaN;
    private FinishReason finish;
    private int topLogprobs = -1; // -1: no log-probabilities

    /**
     * Starts a generation; seed, when not null, overrides the config's (batches derive one per sequence).
     *
     * @throws LumensparkException for an empty prompt, one that leaves no room in the context (unless
     *                             prompt_truncation is "left"), or ids (of the prompt or end of text) outside the
     *                             model's vocabulary
     */
    public Generation(LanguageModel model, Tokenizer tokenizer, int[] prompt, GenerationConfig cfg, Long seed) {
        this(model, tokenizer, prompt, cfg, seed, null);
    }

    /**
     * A generation whose decoder comes from pool and goes back to it at the end (a server's sequences, one after
     * another); pool null: a decoder of its own, closed at the end.
     */
    public Generation(LanguageModel model, Tokenizer tokenizer, int[] prompt, GenerationConfig cfg, Long seed,
                      DecoderPool pool) {
        this.model = model;
        this.pool = pool;
        // no end-of-text ids of its own: the tokenizer's, for min_new_tokens as for stopping
        this.cfg = cfg.eosTokenIds().isEmpty() ? cfg.toBuilder().eosTokenId(tokenizer.eosId()).build() : cfg;
        n = model.config().seqLength();
        int vocab = model.config().vocabSize();
        this.cfg.checkVocabulary(vocab);
        eos = this.cfg.eosTokenIds().stream().mapToInt(Integer::intValue).toArray();
        text = new GeneratedText(tokenizer, this.cfg.stopStrings());
        if (prompt.length == 0) throw new LumensparkException("the prompt is empty");
        int lengthLimit = cfg.maxLength() == null ? Integer.MAX_VALUE : cfg.maxLength() - prompt.length;
        int newLimit = cfg.maxNewTokens() == null ? Integer.MAX_VALUE : cfg.maxNewTokens();
        limit = Math.max(0, Math.min(lengthLimit, newLimit));
        checkRoom(prompt.length, n, cfg, "prompt_truncation=left");
        int dropped = 0;
        if (prompt.length >= n) dropped = prompt.length - (n - Math.min(Math.max(limit, 1), n / 2));
        droppedTokens = dropped;
        context = Arrays.copyOfRange(prompt, dropped, prompt.length);
        promptTokens = length = context.length;
        for (int id : context) {
            if (id < 0 || id >= vocab) {
                throw new LumensparkException("token id " + id + " is outside the model's vocabulary 0.." + (vocab - 1));
            }
        }
        Long s = seed != null ? seed : cfg.seed();
        random = s != null ? new SplittableRandom(s) : new SplittableRandom();
        decoder = !model.config().causal() ? null : pool != null ? pool.take() : model.decoder();
        if (limit == 0) finish(FinishReason.LENGTH);
    }

    /**
     * Checks that a prompt of promptTokens tokens leaves room to generate in a context of seqLength, unless
     * cfg's prompt_truncation is "left" (then its oldest tokens are dropped).
     *
     * @param truncate how the caller turns truncation on, for the message (e.g. "prompt_truncation=left" or a
     *                 command-line option)
     * @throws LumensparkException when the prompt fills the context
     */
    public static void checkRoom(int promptTokens, int seqLength, GenerationConfig cfg, String truncate) {
        if (promptTokens >= seqLength && cfg.promptTruncation() != PromptTruncation.LEFT) {
            throw new LumensparkException("the prompt has " + promptTokens + " tokens; this model's context is "
                    + seqLength + " and leaves no room to generate (" + truncate + " keeps its end)");
        }
    }

    /**
     * Reports each token's log-probability and the top most likely alternatives' (0 to 20) with it; call before
     * the first token.
     */
    public Generation withLogprobs(int top) {
        if (top < 0 || top > 20) throw new LumensparkException("top log-probabilities must be in 0..20, got " + top);
        topLogprobs = top;
        return this;
    }

    /**
     * Whether the next token's logits are one decoding step of {@link #decoder()} fed {@link #pendingToken()}
     * (false before the prompt's prefill, when the context slides, for a model without a decoder, and at the end).
     */
    public boolean stepsNext() {
        return finish == null && decoder != null && (decoder.position() > 0 || primed) && length - windowStart < n;
    }

    /**
     * Prefills the prompt but for its last token and leaves that token pending, so the prompt's last position
     * is computed by the next decoding step (a server's batched step, where the output layer's weights are
     * read once for every sequence) rather than by a prefill of its own; {@link #next()} starts the same way, so
     * the tokens do not depend on which of the two ran the step. A one-token prompt is not prefilled at all.
     * Afterwards {@link #stepsNext()} holds; call before the first token, or not at all.
     *
     * @throws LumensparkException as a prefill
     */
    public void prefillButLast() {
        if (finish != null || decoder == null) return;
        checkUnprimed();
        prefillWindowButLast();
    }

    /**
     * {@link #prefillButLast()} for several generations at once, their prompts fed together through batch's
     * steps ({@link DecodeBatch#feed}): each generation's state, and so its tokens, are the same as when it is
     * prefilled alone. Generations without a decoder or already finished are skipped.
     *
     * @throws LumensparkException as a prefill (then none is prefilled)
     */
    public static void prefillButLast(DecodeBatch batch, List<Generation> generations) {
        List<Generation> feeding = new ArrayList<>();
        for (Generation g : generations) {
            if (g.finish != null || g.decoder == null) continue;
            g.checkUnprimed();
            feeding.add(g);
        }
        List<Decoder> decoders = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        for (Generation g : feeding) {
            if (g.length - g.windowStart < 2) continue;
            decoders.add(g.decoder);
            prompts.add(g.windowButLast());
        }
        batch.feed(decoders, prompts);
        for (Generation g : feeding) g.primeLast();
    }

    private void checkUnprimed() {
        if (decoder.position() != 0 || length != promptTokens || primed) {
            throw new IllegalStateException("prefillButLast comes before the first token");
        }
    }

    /** The context window but its last token into the (reset) decoder; the last token is the next step's. */
    private void prefillWindowButLast() {
        if (length - windowStart > 1) decoder.feed(windowButLast());
        primeLast();
    }

    private int[] windowButLast() {
        return Arrays.copyOfRange(context, windowStart, length - 1);
    }

    /** The window's last token is the next step's. */
    private void primeLast() {
        pending = context[length - 1];
        primed = true;
    }

    /**
     * The decoder of this sequence (null for a bidirectional model, which recomputes every token, and once the
     * generation has finished: its decoder may then serve another sequence).
     */
    public Decoder decoder() {
        return finish == null ? decoder : null;
    }

    /** The last token chosen, which the next decoding step feeds (see {@link #stepsNext()}). */
    public int pendingToken() {
        return pending;
    }

    /** Prompt tokens the model sees (after truncation). */
    public int promptTokens() {
        return promptTokens;
    }

    @Override
    public boolean hasNext() {
        return finish == null;
    }

    /** Chooses the next token; after it, {@link #hasNext()} says whether there will be another. */
    @Override
    public Token next() {
        if (finish != null) throw new NoSuchElementException("the generation has finished: " + finish);
        return next(logitsForNext());
    }

    /**
     * Chooses the next token from the logits of the next position, computed by the caller: one decoding step of
     * {@link #decoder()} fed {@link #pendingToken()} while {@link #stepsNext()} holds (a batched step gives the
     * same logits). The array is changed (the logits processors run in place).
     */
    public Token next(float[] logits) {
        if (finish != null) throw new NoSuchElementException("the generation has finished: " + finish);
        if (Double.isNaN(firstTokenSeconds)) firstTokenSeconds = (System.nanoTime() - start) / 1e9;
        primed = false;
        int bad = Sampling.firstNonFinite(logits, false);
        if (bad >= 0) throw notFinite("the model's logit", logits, bad, "its weights or activations are broken");
        float[] raw = topLogprobs >= 0 ? logits.clone() : null; // the model's distribution, before processing
        Sampling.process(logits, context, length, generated(), cfg);
        bad = Sampling.firstNonFinite(logits, true);
        if (bad >= 0) {
            throw notFinite("the processed logit", logits, bad, "temperature " + cfg.temperature()
                    + " or repetition_penalty " + cfg.repetitionPenalty() + " overflows it");
        }
        int id = Sampling.choose(logits, cfg, random);
        if (logits[id] == Float.NEGATIVE_INFINITY) {
            throw failure("no token is left to choose: the logits processors removed every one");
        }
        TokenLogprobs lp = raw == null ? null : Sampling.logprobs(raw, id, topLogprobs);
        for (int e : eos) {
            if (id == e) {
                finish(FinishReason.EOS);
                return new Token(id, text.rest(), lp);
            }
        }
        if (length == context.length) context = Arrays.copyOf(context, Math.max(16, 2 * length));
        context[length++] = id;
        pending = id;
        if (text.add(id)) { // the token that completed a stop string stays, in ids and text, as in Hugging Face
            finish(FinishReason.STOP);
        } else if (generated() == limit) {
            finish(FinishReason.LENGTH);
        } else if (length - windowStart == n && cfg.contextOverflow() == ContextOverflow.STOP) {
            finish(FinishReason.CONTEXT);
        }
        return new Token(id, finish != null ? text.rest() : text.piece(), lp);
    }

    /** The logits for the next position: prefill, one decoding step, a slide, or a recomputation. */
    private float[] logitsForNext() {
        if (length - windowStart == n) { // full: continue from the most recent half of the context
            windowStart = length - n / 2;
            if (decoder != null) decoder.reset();
        }
        if (decoder == null) return model.lastLogits(Arrays.copyOfRange(context, windowStart, length));
        if (decoder.position() == 0 && !primed) prefillWindowButLast();
        return decoder.next(pending);
    }

    private int generated() {
        return length - promptTokens;
    }

    private void finish(FinishReason reason) {
        finish = reason;
        try {
            text.finish();
            end = System.nanoTime();
        } finally { // the decoder is given back or closed whatever happens here
            if (decoder != null) {
                if (pool != null) pool.give(decoder);
                else decoder.close();
            }
        }
    }

    /** An error about the token at the current position, which ends the generation. */
    private LumensparkException failure(String what) {
        close();
        return new LumensparkException("at position " + length + " (new token " + (generated() + 1) + "): " + what);
    }

    private LumensparkException notFinite(String which, float[] logits, int id, String cause) {
        return failure(which + " of token " + id + " is " + logits[id] + " (" + cause + ")");
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
        return new Generator.Result(Arrays.copyOfRange(context, promptTokens, length), text.finish(), finish, promptTokens,
                droppedTokens, firstTokenSeconds, (end - start) / 1e9);
    }

    /** Frees the decoder; a generation closed before its end finishes with reason "cancelled". */
    @Override
    public void close() {
        if (finish == null) finish(FinishReason.CANCELLED);
    }
}
