package io.lumenspark.training;

import io.lumenspark.Words;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokens.BatchSampler;
import io.lumenspark.tokens.TokenSplits;

/**
 * Masked-language-model training (objective masked_lm), as Hugging Face's Trainer with
 * {@code DataCollatorForLanguageModeling} runs it: batches of random windows of n tokens of the training split
 * (the corpus is one stream of documents separated by end-of-text, as {@code group_texts} concatenates and chunks
 * them, so every window is full and needs no padding), masked by {@link MlmMasking} as a function of (seed, step,
 * micro-batch, row, position); the loss is the mean cross-entropy over the selected positions of the step's
 * micro-batches (Hugging Face's num_items_in_batch), the output layer computed on those rows alone. Validation:
 * the loss over the tokens the fixed evaluation mask selects ({@link Evaluator#evaluateMasked}), whose exponential
 * is the pseudo-perplexity.
 */
public final class MaskedLmObjective implements Objective {
    /** The name trainer_state.json records. */
    public static final String NAME = "masked_lm";

    private final LanguageModel model;
    private final TokenSplits splits;
    private final MlmMasking masking;
    private final BatchSampler sampler;
    private final int batch, n;
    private final long seed, evalTokens, validationUnits;
    private final int[] window;
    // the micro-batches of the step lossUnits drew last: [micro][batch * n] inputs and labels
    private long drawnStep = -1;
    private int[][] inputs = new int[0][], labels = new int[0][];

    /**
     * The objective over a model and token splits.
     *
     * @param masking    the model tokenizer's masking
     * @param batch      sequences per micro-batch
     * @param n          tokens per sequence
     * @param seed       the run's seed: windows, masks and dropout follow (seed, step, micro-batch)
     * @param evalTokens validation tokens per evaluation (0: the whole split)
     */
    public MaskedLmObjective(LanguageModel model, TokenSplits splits, MlmMasking masking, int batch, int n, long seed,
                             long evalTokens) {
        this.model = model;
        this.splits = splits;
        this.masking = masking;
        this.batch = batch;
        this.n = n;
        this.seed = seed;
        this.evalTokens = evalTokens;
        sampler = new BatchSampler(splits.train(), batch, n, seed);
        window = new int[n];
        validationUnits = Evaluator.maskedWindows(splits.val(), n, evalTokens).stream().mapToLong(w -> w[1]).sum();
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public long tokensPerMicroBatch() {
        return (long) batch * n;
    }

    /** The positions the step's micro-batches select: drawing them all here, so the loss is their mean. */
    @Override
    public long lossUnits(long step, int micros) {
        if (inputs.length != micros) {
            inputs = new int[micros][batch * n];
            labels = new int[micros][batch * n];
        }
        long selected = 0;
        for (int micro = 0; micro < micros; micro++) selected += draw(step, micro, inputs[micro], labels[micro]);
        drawnStep = step;
        return selected;
    }

    /** Fills one micro-batch's inputs and labels; returns the positions selected. */
    private long draw(long step, int micro, int[] in, int[] lb) {
        long selected = 0;
        for (int r = 0; r < batch; r++) {
            splits.train().copy(sampler.windowStart(step, micro, r), n, window, 0);
            selected += masking.maskRow(window, 0, n, n, in, lb, r * n, seed, step, micro, r);
        }
        return selected;
    }

    @Override
    public double trainMicroBatch(long step, int micro, float gradScale) {
        if (step != drawnStep || micro >= inputs.length) lossUnits(step, micro + 1);
        return model.trainStep(inputs[micro], labels[micro], batch, n, gradScale, seed, step, micro);
    }

    @Override
    public Evaluator.Result validate() {
        return Evaluator.evaluateMasked(model, splits.val(), masking, batch, n, evalTokens, done -> {
        });
    }

    @Override
    public long validationUnits() {
        return validationUnits;
    }

    @Override
    public long validationTotal() {
        return splits.val().length();
    }

    @Override
    public String validationPlan() {
        long units = validationUnits, total = validationTotal();
        String masked = String.format("masked LM loss over the tokens a fixed mask selects (about %.0f %% of them)",
                100 * MlmMasking.SELECT);
        return (units == total ? "all " + Words.count(total, "token")
                : String.format("%,d of %s (%s of %d spread evenly over the split)", units,
                Words.count(total, "token"), Words.count((units + n - 1) / n, "window"), n)) + "; " + masked;
    }
}
