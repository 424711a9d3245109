package io.lumenspark.data;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import io.lumenspark.LumensparkException;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level BPE (OpenAI's {@code r50k_base}: 50,257 ids, {@code <|endoftext|>} = 50256), backed by jtokkit.
 * One immutable instance, safe to use from many threads.
 */
public final class Gpt2Tokenizer implements Tokenizer {

    private static final int VOCAB_SIZE = 50257;
    private static final int EOS_ID = 50256;

    // Loading the BPE ranks takes a moment, so do it once, on first use.
    private static final class Holder {
        static final Gpt2Tokenizer INSTANCE = new Gpt2Tokenizer(
                Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE));
    }

    private final Encoding encoding;

    private Gpt2Tokenizer(Encoding encoding) {
        this.encoding = encoding;
    }

    /** The shared instance. */
    public static Gpt2Tokenizer instance() {
        return Holder.INSTANCE;
    }

    @Override
    public String name() {
        return "gpt2";
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int eosId() {
        return EOS_ID;
    }

    @Override
    public int[] encode(String text) {
        // jtokkit refuses special tokens in encode(), so split on them and encode the pieces as ordinary text;
        // that is exactly what tiktoken does with allowed_special="all".
        if (!text.contains(EOS_TEXT)) {
            return encoding.encodeOrdinary(text).toArray();
        }
        IntArrayList out = new IntArrayList();
        int from = 0;
        for (int at = text.indexOf(EOS_TEXT); at >= 0; at = text.indexOf(EOS_TEXT, from)) {
            appendOrdinary(out, text.substring(from, at));
            out.add(EOS_ID);
            from = at + EOS_TEXT.length();
        }
        appendOrdinary(out, text.substring(from));
        return out.toArray();
    }

    private void appendOrdinary(IntArrayList out, String piece) {
        if (piece.isEmpty()) {
            return;
        }
        IntArrayList ids = encoding.encodeOrdinary(piece);
        for (int i = 0; i < ids.size(); i++) {
            out.add(ids.get(i));
        }
    }

    @Override
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        IntArrayList list = new IntArrayList(ids.length);
        for (int id : ids) {
            // Models often pad their output layer past the vocabulary; such ids have no text.
            if (id < 0 || id >= VOCAB_SIZE) {
                throw new LumensparkException("token id " + id + " is outside the gpt2 vocabulary (0.."
                        + (VOCAB_SIZE - 1) + ")");
            }
            list.add(id);
        }
        return encoding.decodeBytes(list);
    }

    @Override
    public String toString() {
        return name();
    }
}
