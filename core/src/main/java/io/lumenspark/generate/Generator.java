package io.lumenspark.generate;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Text generation to the end in one call: a prompt (or a batch of prompts, each with num_return_sequences
 * samples) in, ids and text out, optionally streaming each piece of text as it is produced. Token by token
 * control is {@link Generation}.
 */
public final class Generator {
    /**
     * The outcome of one sequence.
     *
     * @param ids                the new token ids (an end-of-text token that ended the sequence is not included;
     *                           the token that completed a stop string is, as in Hugging Face)
     * @param text               their text (with a stop string that ended it, and the rest of its last token)
     * @param finishReason       eos, stop (a stop string), length (the token limit), context (seq_length
     *                           reached) or cancelled (closed early)
     * @param promptTokens       prompt tokens the model saw
     * @param droppedTokens      prompt tokens dropped from the front by prompt_truncation "left"
     * @param firstTokenSeconds  time to the first new token (prefill included)
     * @param seconds            time for the whole sequence
     */
    public record Result(int[] ids, String text, FinishReason finishReason, int promptTokens, int droppedTokens,
                         double firstTokenSeconds, double seconds) {
        /** New tokens per second after the first (the decoding rate), or NaN with fewer than two. */
        public double decodeTokensPerSecond() {
            return ids.length < 2 ? Double.NaN : (ids.length - 1) / (seconds - firstTokenSeconds);
        }
    }

    /** Receives the text of each new token as soon as it is complete (UTF-8 sequences are never split). */
    @FunctionalInterface
    public interface Listener {
        void onText(String piece);
    }

    private Generator() {
    }

    /** Generates one sequence from prompt ids, streaming its text to listener (may be null). */
    public static Result generate(LanguageModel model, Tokenizer tok, int[] prompt, GenerationConfig cfg,
                                  Listener listener) {
        return new Generation(model, tok, prompt, cfg, null).finish(listener);
    }

    /**
     * Generates num_return_sequences sequences for each prompt, prompt by prompt: result i * num + j is sequence
     * j of prompt i, seeded by {@link #sequenceSeed}.
     */
    public static List<Result> generateAll(LanguageModel model, Tokenizer tok, List<int[]> prompts,
                                           GenerationConfig cfg) {
        int per = cfg.numReturnSequences();
        List<Result> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            for (int j = 0; j < per; j++) {
                out.add(new Generation(model, tok, prompts.get(i), cfg, sequenceSeed(cfg, i * per + j)).finish(null));
            }
        }
        return out;
    }

    /**
     * The seed of sequence s of a batch: the config's own for s = 0 (so it equals a single generation with that
     * seed), one derived from (seed, s) after it; null (random) when the config has no seed.
     */
    public static Long sequenceSeed(GenerationConfig cfg, int s) {
        return cfg.seed() == null || s == 0 ? cfg.seed() : Long.valueOf(new SplittableRandom(cfg.seed() + s).nextLong());
    }
}
