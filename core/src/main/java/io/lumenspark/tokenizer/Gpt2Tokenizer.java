package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/**
 * GPT-2's byte-level BPE (OpenAI's {@code r50k_base}: 50,257 ids, {@code <|endoftext|>} = 50256) on our own
 * {@link BpeTokenizer}. The token ranks come from the r50k_base.tiktoken file that the jtokkit library ships; the
 * merges follow from them (see {@link BpeTokenizer#fromRanks}). Tests check every encoding against jtokkit's.
 */
public final class Gpt2Tokenizer {

    private static final String RANKS = "/com/knuddels/jtokkit/r50k_base.tiktoken";
    private static final int VOCAB_SIZE = 50257;
    private static final int EOS_ID = 50256;

    private Gpt2Tokenizer() {
    }

    // Deriving the merges takes a moment, so do it once, on first use.
    private static final class Holder {
        static final BpeTokenizer INSTANCE = load();
    }

    /** The shared instance, named {@code "gpt2"}. */
    public static BpeTokenizer instance() {
        return Holder.INSTANCE;
    }

    private static BpeTokenizer load() {
        byte[][] tokens = new byte[VOCAB_SIZE][];
        try (InputStream in = Gpt2Tokenizer.class.getResourceAsStream(RANKS)) {
            if (in == null) throw new LumensparkException("cannot find " + RANKS + " (is jtokkit on the class path?)");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            Base64.Decoder base64 = Base64.getDecoder();
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank()) continue;
                int space = line.indexOf(' ');
                tokens[Integer.parseInt(line.substring(space + 1))] = base64.decode(line.substring(0, space));
            }
        } catch (IOException | RuntimeException e) {
            throw new LumensparkException("cannot read GPT-2's ranks from " + RANKS + ": " + e.getMessage(), e);
        }
        return BpeTokenizer.fromRanks("gpt2", tokens, Map.of(Tokenizer.EOS_TEXT, EOS_ID), Tokenizer.EOS_TEXT);
    }
}
