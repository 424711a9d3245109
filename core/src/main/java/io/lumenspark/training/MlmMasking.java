package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.BatchSampler;

import java.util.List;

/**
 * Which tokens a masked LM is asked to restore, as Hugging Face's {@code DataCollatorForLanguageModeling} chooses
 * them ({@code torch_mask_tokens}, mlm_probability 0.15): each position that holds a real, non-special token is
 * selected with probability 0.15 (a Bernoulli draw per position, so about 15 % of them); a selected position
 * becomes the mask token with probability 0.8, otherwise a random token with probability 0.5 (so 10 % of the
 * selected), drawn uniformly over the whole vocabulary (Hugging Face's {@code len(tokenizer)}), otherwise it stays
 * (10 %). The label of a selected position is its original token; every other position's is -1 (Hugging Face's
 * -100): no loss. Special tokens (end-of-text, {@code <mask>}, {@code <pad>}, any other added token) and padding
 * are never selected.
 *
 * <p>Every draw is a pure function of (seed, step, micro-batch, row, position), so a resumed run masks exactly as
 * the uninterrupted one did, whatever the thread count: with SplitMix64's {@link BatchSampler#mix},
 * {@code h = mix(mix(mix(mix(mix(seed ^ SALT) ^ step) ^ micro) ^ row) ^ position)}; draw j (1: selected, 2: mask,
 * 3: random) is {@code u_j = (mix(h ^ j) >>> 11) * 2^-53}, uniform in [0, 1), compared with 0.15, 0.8 and 0.5;
 * the random token is {@code floor(mix(h ^ 4) * vocab / 2^64)} (unsigned). reference/lumenspark_ref.py
 * ({@code mlm_mask}) computes the same masks. Evaluation masks with the fixed {@link #EVAL_SEED}, each window
 * keyed by its first token's offset in the split, so every evaluation of every run masks the same tokens.
 */
public final class MlmMasking {
    /** Hugging Face's mlm_probability: the chance that a real, non-special token is selected. */
    public static final double SELECT = 0.15;
    /** The chance that a selected token becomes the mask token. */
    public static final double MASK = 0.8;
    /** The chance that a selected token not masked becomes a random token (so 10 % of the selected). */
    public static final double RANDOM = 0.5;
    /** The seed of the evaluation mask, the same for every run. */
    public static final long EVAL_SEED = 0x4D4C4D5F4556414CL; // "MLM_EVAL"
    private static final long SALT = 0x6D61736B6564L; // "masked"

    private final boolean[] special; // by id
    private final int maskId, padId, vocab;

    /**
     * Masking for a tokenizer that has {@code <mask>}: its special tokens are never selected, and random tokens
     * are drawn over its whole vocabulary.
     *
     * @throws LumensparkException when the tokenizer has no {@code <mask>} token
     */
    public MlmMasking(Tokenizer tokenizer) {
        this(tokenizer.specialIds(), tokenizer.specialId(Tokenizer.MASK_TEXT).orElseThrow(() ->
                        new LumensparkException("tokenizer " + tokenizer.name() + " has no " + Tokenizer.MASK_TEXT
                                + " token: a masked LM needs one (train --objective mlm adds it)")),
                tokenizer.specialId(Tokenizer.PAD_TEXT).orElse(-1), tokenizer.vocabSize());
    }

    /**
     * Masking over a vocabulary of the given size.
     *
     * @param specialIds ids never selected (they include the mask and padding ids)
     * @param maskId     what a masked position becomes
     * @param padId      what fills padded positions (-1: the mask id; they are never read)
     * @param vocab      random tokens are drawn from 0..vocab-1
     */
    public MlmMasking(int[] specialIds, int maskId, int padId, int vocab) {
        if (maskId < 0 || maskId >= vocab) throw new IllegalArgumentException("mask id " + maskId + " outside the vocabulary");
        special = new boolean[vocab];
        for (int id : specialIds) special[id] = true;
        special[maskId] = true;
        if (padId >= 0) special[padId] = true;
        this.maskId = maskId;
        this.padId = padId < 0 ? maskId : padId;
        this.vocab = vocab;
    }

    /** The special tokens a masked LM's tokenizer has, in the order training adds those it lacks. */
    public static final List<String> SPECIAL_TOKENS = List.of(Tokenizer.MASK_TEXT, Tokenizer.PAD_TEXT);

    /**
     * The tokenizer that encodes a masked LM's training and evaluation text: the model's without its appended
     * {@code <mask>} and {@code <pad>} (GPT-2's own, for GPT-2 with them), so that token caches and prepared folders
     * of that tokenizer serve, and a literal "&lt;mask&gt;" in a corpus is text, not a mask.
     */
    public static Tokenizer textTokenizer(Tokenizer modelTokenizer) {
        return modelTokenizer.withoutSpecialTokens(SPECIAL_TOKENS);
    }

    /** The id of the mask token. */
    public int maskId() {
        return maskId;
    }

    /** The id that fills padded positions. */
    public int padId() {
        return padId;
    }

    /**
     * Masks one row: tokens[from .. from + length - 1] are its real tokens, positions length..n-1 are padding.
     * Writes the row's n inputs (masked tokens, padding as {@link #padId}) and n labels (the original token where
     * selected, else -1) at offset out, and returns how many positions were selected.
     */
    public int maskRow(int[] tokens, int from, int length, int n, int[] inputs, int[] labels, int out, long seed,
                       long step, int micro, int row) {
        long key = BatchSampler.mix(BatchSampler.mix(BatchSampler.mix(BatchSampler.mix(seed ^ SALT) ^ step)
                ^ micro) ^ row);
        int selected = 0;
        for (int t = 0; t < n; t++) {
            if (t >= length) {
                inputs[out + t] = padId;
                labels[out + t] = -1;
                continue;
            }
            int token = tokens[from + t];
            inputs[out + t] = token;
            labels[out + t] = -1;
            if (special[token]) continue;
            long h = BatchSampler.mix(key ^ t);
            if (uniform(h, 1) >= SELECT) continue;
            selected++;
            labels[out + t] = token;
            if (uniform(h, 2) < MASK) {
                inputs[out + t] = maskId;
            } else if (uniform(h, 3) < RANDOM) {
                inputs[out + t] = (int) Math.unsignedMultiplyHigh(BatchSampler.mix(h ^ 4), vocab);
            }
        }
        return selected;
    }

    /** Draw j of a position: uniform in [0, 1) from the top 53 bits of its hash. */
    private static double uniform(long h, int j) {
        return (BatchSampler.mix(h ^ j) >>> 11) * 0x1p-53;
    }
}
