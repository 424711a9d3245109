package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.model.LumensparkModel;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Text generation: prompt ids in, new ids and text out, token by token. Causal models decode incrementally
 * (constant work per token for the Linformer variants); the bidirectional lumenspark-v0.1 recomputes the whole
 * sequence for every token, as its definition requires.
 */
public final class Generator {
    /** Why generation ended: "eos", "stop" (a stop string), "length" (the token limit) or "context" (seq_length). */
    public record Result(int[] ids, String text, String finishReason, int promptTokens, double seconds) {
    }

    /** Receives the text of each new token as soon as it is complete (UTF-8 sequences are never split). */
    @FunctionalInterface
    public interface Listener {
        void onText(String piece);
    }

    private Generator() {
    }

    public static Result generate(LumensparkModel model, Tokenizer tok, int[] prompt, GenerationConfig cfg,
                                  Listener listener) {
        int n = model.config().seqLength();
        if (prompt.length == 0) throw new LumensparkException("the prompt is empty");
        if (prompt.length >= n) {
            throw new LumensparkException("the prompt has " + prompt.length + " tokens; this model's context is " + n
                    + " and leaves no room to generate");
        }
        int limit = cfg.maxNewTokens() != null ? cfg.maxNewTokens() : Math.max(0, cfg.maxLength() - prompt.length);
        if (cfg.maxNewTokens() != null && cfg.maxLength() != null) limit = Math.min(limit, cfg.maxLength() - prompt.length);
        int eos = cfg.eosTokenId() != null ? cfg.eosTokenId() : tok.eosId();
        SplittableRandom random = cfg.seed() != null ? new SplittableRandom(cfg.seed()) : new SplittableRandom();
        long t0 = System.nanoTime();
        int[] context = Arrays.copyOf(prompt, n);
        int length = prompt.length;
        String finish = "length", text = "";
        int emitted = 0; // characters of text already passed to the listener
        LumensparkModel.Decoder decoder = model.config().causal() ? model.decoder() : null;
        try {
            float[] logits = null;
            if (decoder != null) for (int id : prompt) logits = decoder.next(id);
            while (length - prompt.length < limit) {
                if (length == n) {
                    finish = "context";
                    break;
                }
                if (decoder == null) logits = lastLogits(model, context, length);
                Sampling.process(logits, context, length, length - prompt.length, cfg);
                int next = Sampling.choose(logits, cfg, random);
                if (next == eos) {
                    finish = "eos";
                    break;
                }
                context[length++] = next;
                text = tok.decode(Arrays.copyOfRange(context, prompt.length, length));
                int stop = stopIndex(text, cfg);
                if (stop >= 0) {
                    text = text.substring(0, stop);
                    finish = "stop";
                }
                // hold back a trailing replacement character: the next token may complete its UTF-8 sequence
                int ready = finish.equals("stop") || !text.endsWith("\uFFFD") ? text.length() : text.length() - 1;
                if (listener != null && ready > emitted) listener.onText(text.substring(emitted, ready));
                emitted = Math.max(emitted, ready);
                if (finish.equals("stop")) break;
                if (decoder != null && length < n && length - prompt.length < limit) logits = decoder.next(next);
            }
        } finally {
            if (decoder != null) decoder.close();
        }
        if (listener != null && text.length() > emitted) listener.onText(text.substring(emitted));
        return new Result(Arrays.copyOfRange(context, prompt.length, length), text, finish, prompt.length,
                (System.nanoTime() - t0) / 1e9);
    }

    private static float[] lastLogits(LumensparkModel model, int[] context, int length) {
        int v = model.config().vocabSize();
        float[] all = model.logits(Arrays.copyOf(context, length), 1, length);
        return Arrays.copyOfRange(all, (length - 1) * v, length * v);
    }

    /** Where the first stop string starts in text, or -1. */
    private static int stopIndex(String text, GenerationConfig cfg) {
        int best = -1;
        for (String s : cfg.stopStrings()) {
            int i = s.isEmpty() ? -1 : text.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }
}
