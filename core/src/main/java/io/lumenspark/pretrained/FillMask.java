package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Hugging Face's fill-mask pipeline on a masked LM ({@code objective: masked_lm}): for every {@code <mask>} in a
 * text, the most likely tokens there, each with its probability ({@code score}: the softmax over the whole
 * vocabulary at that position), id ({@code token}), text ({@code token_str}: the token decoded alone, its leading
 * space included) and the text with the mask filled ({@code sequence}: decoded without special tokens when the
 * text has one mask; with several, the other masks stay, as in the pipeline). Several texts run as one batch,
 * padded at the end of the shorter ones (the padding changes no real position's scores).
 *
 * <pre>{@code
 * try (LumensparkModel model = LumensparkModel.fromPretrained(Path.of("runs/mlm"))) {
 *     for (FillMask.Candidate c : model.fillMask("The <mask> of the Union is strong.", 5).masks().getFirst())
 *         System.out.println(c.score() + " " + c.tokenStr() + " -> " + c.sequence());
 * }
 * }</pre>
 */
public final class FillMask {
    /**
     * One candidate for a mask, with the fill-mask pipeline's keys.
     *
     * @param score    its probability at the mask
     * @param token    its id
     * @param tokenStr its text, decoded alone ({@code token_str})
     * @param sequence the text's tokens with the mask filled with it, decoded
     */
    public record Candidate(double score, int token, String tokenStr, String sequence) {
    }

    /**
     * What fill-mask found in one text.
     *
     * @param inputIds the text's token ids, as the model read them
     * @param masks    per mask, in the order of the text: its top-k candidates, most likely first
     */
    public record Result(int[] inputIds, List<List<Candidate>> masks) {
    }

    private FillMask() {
    }

    /**
     * The top-k candidates for every mask of each text, the texts in one batch.
     *
     * @throws LumensparkException for a model that is not a masked LM, a tokenizer without {@code <mask>}, top-k
     *                             below 1, or a text without a mask or longer than the model's seq_length
     */
    public static List<Result> fill(LumensparkModel model, List<String> texts, int topK) {
        ModelConfig cfg = model.config();
        if (cfg.isClassifier()) {
            throw new LumensparkException("this model is a sequence classifier (objective " + cfg.objective()
                    + "); fill-mask needs a masked LM (lumenspark train --objective mlm); classify with lumenspark"
                    + " classify predict");
        }
        if (!cfg.isMaskedLm()) {
            throw new LumensparkException("this model predicts the next token (objective " + cfg.objective()
                    + "); fill-mask needs a masked LM (lumenspark train --objective mlm)");
        }
        if (topK < 1) throw new LumensparkException("--top-k must be at least 1, got " + topK);
        if (texts.isEmpty()) throw new LumensparkException("no text to fill");
        Tokenizer tok = model.tokenizer();
        int maskId = tok.specialId(Tokenizer.MASK_TEXT).orElseThrow(() -> new LumensparkException("the model's"
                + " tokenizer (" + tok.name() + ") has no " + Tokenizer.MASK_TEXT + " token"));
        int[][] ids = new int[texts.size()][];
        int n = 0, maskCount = 0;
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tok.encode(texts.get(i));
            String which = texts.size() == 1 ? "the text" : "text " + (i + 1);
            int masks = (int) Arrays.stream(ids[i]).filter(id -> id == maskId).count();
            if (masks == 0) {
                throw new LumensparkException(which + " has no " + Tokenizer.MASK_TEXT + " token to fill");
            }
            if (ids[i].length > cfg.seqLength()) {
                throw new LumensparkException(which + " is " + ids[i].length + " tokens, more than the model reads"
                        + " (seq_length " + cfg.seqLength() + ")");
            }
            n = Math.max(n, ids[i].length);
            maskCount += masks;
        }
        int pad = tok.specialId(Tokenizer.PAD_TEXT).orElse(-1);
        int[] inputs = new int[ids.length * n], lengths = new int[ids.length], rows = new int[maskCount];
        Arrays.fill(inputs, pad >= 0 ? pad : maskId); // padding: what it holds changes nothing
        for (int i = 0, r = 0; i < ids.length; i++) {
            System.arraycopy(ids[i], 0, inputs, i * n, ids[i].length);
            lengths[i] = ids[i].length;
            for (int t = 0; t < ids[i].length; t++) if (ids[i][t] == maskId) rows[r++] = i * n + t;
        }
        float[][] logits = model.languageModel().logitsAt(inputs, lengths, ids.length, n, rows);
        List<Result> results = new ArrayList<>();
        for (int i = 0, r = 0; i < ids.length; i++) {
            List<List<Candidate>> masks = new ArrayList<>();
            boolean single = Arrays.stream(ids[i]).filter(id -> id == maskId).count() == 1;
            for (int t = 0; t < ids[i].length; t++) {
                if (ids[i][t] == maskId) masks.add(candidates(tok, ids[i], t, logits[r++], topK, single, pad));
            }
            results.add(new Result(ids[i].clone(), List.copyOf(masks)));
        }
        return results;
    }

    /** The top-k tokens of one mask's logits, with their sequences (pad: the padding id, -1 for none). */
    private static List<Candidate> candidates(Tokenizer tok, int[] ids, int at, float[] logits, int topK,
                                              boolean singleMask, int pad) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        // the k highest logits, ties to the lower id: a heap of k, its weakest on top
        int k = Math.min(topK, logits.length);
        PriorityQueue<Integer> best = new PriorityQueue<>(k, (a, b) -> logits[a] != logits[b]
                ? Float.compare(logits[a], logits[b]) : b - a);
        for (int id = 0; id < logits.length; id++) {
            best.add(id);
            if (best.size() > k) best.poll();
        }
        int[] order = new int[k];
        for (int j = k - 1; j >= 0; j--) order[j] = best.poll();
        int[] special = tok.specialIds();
        List<Candidate> out = new ArrayList<>();
        for (int id : order) {
            int[] filled = ids.clone();
            filled[at] = id;
            // the pipeline drops padding, and with a single mask decodes without special tokens
            int[] kept = Arrays.stream(filled).filter(x -> x != pad
                    && !(singleMask && Arrays.stream(special).anyMatch(s -> s == x))).toArray();
            out.add(new Candidate(Math.exp(logits[id] - max) / sum, id, tok.decode(new int[]{id}), tok.decode(kept)));
        }
        return List.copyOf(out);
    }
}
