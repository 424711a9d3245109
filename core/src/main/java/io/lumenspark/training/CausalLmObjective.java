package io.lumenspark.training;

import io.lumenspark.Words;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokens.BatchSampler;
import io.lumenspark.tokens.TokenSplits;

/**
 * Next-token prediction: random windows of seq_length + 1 tokens of the training split ({@link BatchSampler}),
 * cross-entropy of every position's next token through the language model's output layer, and the validation loss
 * over evenly spread windows of the validation split ({@link Evaluator}).
 */
public final class CausalLmObjective implements Objective {
    /** The name trainer_state.json records. */
    public static final String NAME = "causal_lm";

    private final LanguageModel model;
    private final TokenSplits splits;
    private final BatchSampler sampler;
    private final int batch, n;
    private final long seed, evalTokens, validationUnits;
    private final int[] in, tg;

    /**
     * The objective over a model and token splits.
     *
     * @param batch      sequences per micro-batch
     * @param n          tokens per sequence
     * @param seed       the run's seed: batches and dropout follow (seed, step, micro-batch)
     * @param evalTokens validation tokens per evaluation (0: the whole split)
     */
    public CausalLmObjective(LanguageModel model, TokenSplits splits, int batch, int n, long seed, long evalTokens) {
        this.model = model;
        this.splits = splits;
        this.batch = batch;
        this.n = n;
        this.seed = seed;
        this.evalTokens = evalTokens;
        sampler = new BatchSampler(splits.train(), batch, n, seed);
        in = new int[batch * n];
        tg = new int[batch * n];
        validationUnits = Evaluator.targets(splits.val(), n, evalTokens);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public long tokensPerMicroBatch() {
        return (long) batch * n;
    }

    @Override
    public long lossUnits(long step, int micros) {
        return (long) batch * n * micros;
    }

    @Override
    public double trainMicroBatch(long step, int micro, float gradScale) {
        sampler.fill(step, micro, in, tg);
        return model.trainStep(in, tg, batch, n, gradScale, seed, step, micro);
    }

    @Override
    public Evaluator.Result validate() {
        return Evaluator.evaluate(model, splits.val(), batch, n, evalTokens);
    }

    @Override
    public long validationUnits() {
        return validationUnits;
    }

    @Override
    public long validationTotal() {
        return Math.max(0, splits.val().length() - 1);
    }

    @Override
    public String validationPlan() {
        long units = validationUnits, total = validationTotal();
        return units == total ? "all " + Words.count(total, "token")
                : String.format("%,d of %s (%s of %d spread evenly over the split)", units,
                Words.count(total, "token"), Words.count((units + n - 1) / n, "window"), n);
    }
}
