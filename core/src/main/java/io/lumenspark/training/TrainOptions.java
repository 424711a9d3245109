package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.LmObjective;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything that defines a training run. Saved in trainer_state.json, so --resume continues with exactly the
 * same settings.
 *
 * @param data           text files or folders
 * @param valFraction    the tail fraction of each file used for validation
 * @param preset         model preset (ignored when init names a model folder)
 * @param overrides      config keys changed from the preset (vocab_size follows the tokenizer)
 * @param init           a model folder to start from instead of a fresh initialization, or null
 * @param batch          sequences per micro-batch
 * @param seqLength      tokens per sequence (0: the model's seq_length)
 * @param steps          optimizer steps
 * @param accumulation   micro-batches per optimizer step
 * @param lr             peak learning rate
 * @param minLr          learning-rate floor of the cosine decay
 * @param warmupFraction fraction of the steps spent warming up linearly
 * @param weightDecay    AdamW decoupled weight decay, applied to matrices only
 * @param gradClip       maximum global L2 norm of the gradient; larger gradients are scaled down to it
 * @param evalEvery      steps between validation passes (and loss-curve refreshes)
 * @param evalTokens     validation tokens per pass (0: the whole split)
 * @param checkpointEvery steps between checkpoints
 * @param seed           seeds initialization, batch sampling and dropout
 * @param out            output folder: the final model, checkpoint/, metrics.jsonl, loss.png
 * @param tokenizer      a tokenizer folder or name (see {@link io.lumenspark.tokenizer.Tokenizer#load}), or null for the
 *                       init model's tokenizer, or GPT-2's; a resumed run uses the copy saved in its checkpoint
 * @param objective      what the model learns to predict: causal_lm (the next token) or masked_lm (masked tokens,
 *                       bidirectional models); null (options saved before it existed) means causal_lm
 * @param precision      the matrix products' arithmetic: fp32, or bf16 with fp32 accumulation (fp32 where bf16 is
 *                       unavailable); null (options saved before it existed) means fp32
 */
public record TrainOptions(List<Path> data, double valFraction, String preset, Map<String, String> overrides,
                           Path init, int batch, int seqLength, long steps, int accumulation, double lr, double minLr,
                           double warmupFraction, double weightDecay, double gradClip, long evalEvery,
                           long evalTokens, long checkpointEvery, long seed, Path out, String tokenizer,
                           LmObjective objective, Precision precision) {

    /**
     * Checks every option, naming the command-line flag at fault in a {@link LumensparkException}, and copies
     * data and overrides into immutable collections.
     */
    public TrainOptions {
        overrides = Map.copyOf(overrides);
        data = List.copyOf(data);
        if (objective == null) objective = LmObjective.CAUSAL_LM;
        if (precision == null) precision = Precision.FP32;
        if (data.isEmpty()) throw new LumensparkException("no training data: pass --data FILE (text files or folders)");
        require(batch >= 1, "--batch must be at least 1");
        require(seqLength >= 0, "--seq-length must not be negative");
        require(steps >= 1, "--steps must be at least 1");
        require(accumulation >= 1, "--grad-accum must be at least 1");
        require(lr > 0 && Double.isFinite(lr), "--lr must be positive");
        require(minLr >= 0 && minLr <= lr, "--min-lr must be in [0, lr]");
        require(warmupFraction >= 0 && warmupFraction < 1, "--warmup must be in [0, 1)");
        require(weightDecay >= 0, "--weight-decay must not be negative");
        require(gradClip > 0, "--grad-clip must be positive");
        require(evalEvery >= 1, "--eval-every must be at least 1");
        require(evalTokens >= 0, "--eval-tokens must not be negative");
        require(checkpointEvery >= 1, "--checkpoint-every must be at least 1");
        require(valFraction > 0 && valFraction <= 0.5, "--val-fraction must be in (0, 0.5]");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new LumensparkException(message);
    }

    /** The same run with its output in another folder (a run resumed after being moved or copied). */
    public TrainOptions withOut(Path folder) {
        return toBuilder().out(folder).build();
    }

    /** The same run with another step budget (a resumed run trained longer); checked like --steps. */
    public TrainOptions withSteps(long total) {
        return toBuilder().steps(total).build();
    }

    /** The same run with its products in another precision (a resumed run switched with --precision). */
    public TrainOptions withPrecision(Precision p) {
        return toBuilder().precision(p).build();
    }

    /** Warm-up length in steps: warmupFraction of the steps, rounded up. */
    public long warmupSteps() {
        return (long) Math.ceil(warmupFraction * steps);
    }

    /** A builder with the defaults of {@code lumenspark train}; at least the data must be set. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        return new Builder().data(data).valFraction(valFraction).preset(preset).overrides(overrides).init(init)
                .batch(batch).seqLength(seqLength).steps(steps).accumulation(accumulation).lr(lr).minLr(minLr)
                .warmupFraction(warmupFraction).weightDecay(weightDecay).gradClip(gradClip).evalEvery(evalEvery)
                .evalTokens(evalTokens).checkpointEvery(checkpointEvery).seed(seed).out(out).tokenizer(tokenizer)
                .objective(objective).precision(precision);
    }

    /**
     * Training options by name, starting from the defaults (the one place they are written down; the command
     * line shows them). Each setter's value is checked by {@link #build}; the getters give what is set, the
     * default when nothing is.
     */
    public static final class Builder {
        private List<Path> data = List.of();
        private double valFraction = 0.1;
        private String preset = "lumenspark";
        private Map<String, String> overrides = Map.of();
        private Path init;
        private int batch = 8;
        private int seqLength;
        private long steps = 1000;
        private int accumulation = 1;
        private double lr = 1e-3;
        private Double minLr; // null: lr / 10
        private double warmupFraction = 0.05;
        private double weightDecay = 0.01;
        private double gradClip = 1.0;
        private long evalEvery = 100;
        private long evalTokens = 65536;
        private long checkpointEvery = 250;
        private long seed = 1337;
        private Path out = Path.of("runs", "train");
        private String tokenizer;
        private LmObjective objective = LmObjective.CAUSAL_LM;
        private Precision precision = Precision.FP32;

        private Builder() {
        }

        /** The options; see the record's parameters for each one's meaning. */
        public TrainOptions build() {
            return new TrainOptions(data, valFraction, preset, overrides, init, batch, seqLength, steps, accumulation,
                    lr, minLr != null ? minLr : lr / 10, warmupFraction, weightDecay, gradClip, evalEvery, evalTokens,
                    checkpointEvery, seed, out, tokenizer, objective, precision);
        }

        /** Sets --data: text files or folders, or one prepared token folder. */
        public Builder data(List<Path> data) {
            this.data = data;
            return this;
        }

        /** Sets --val-fraction: the tail of each file held out for validation. */
        public Builder valFraction(double valFraction) {
            this.valFraction = valFraction;
            return this;
        }

        /** Sets --preset: the model preset. */
        public Builder preset(String preset) {
            this.preset = preset;
            return this;
        }

        /** Sets --config and --set: config keys changed from the preset. */
        public Builder overrides(Map<String, String> overrides) {
            this.overrides = overrides;
            return this;
        }

        /** Sets --init: a model folder to start from, or null for a new model. */
        public Builder init(Path init) {
            this.init = init;
            return this;
        }

        /** Sets --batch: sequences per micro-batch. */
        public Builder batch(int batch) {
            this.batch = batch;
            return this;
        }

        /** Sets --seq-length: tokens per sequence, 0 for the model's seq_length. */
        public Builder seqLength(int seqLength) {
            this.seqLength = seqLength;
            return this;
        }

        /** Sets --steps: optimizer steps. */
        public Builder steps(long steps) {
            this.steps = steps;
            return this;
        }

        /** Sets --grad-accum: micro-batches per step. */
        public Builder accumulation(int accumulation) {
            this.accumulation = accumulation;
            return this;
        }

        /** Sets --lr: the peak learning rate. */
        public Builder lr(double lr) {
            this.lr = lr;
            return this;
        }

        /** The learning-rate floor; null (the default) for lr / 10. */
        public Builder minLr(Double minLr) {
            this.minLr = minLr;
            return this;
        }

        /** Sets --warmup: the fraction of the steps spent warming up. */
        public Builder warmupFraction(double warmupFraction) {
            this.warmupFraction = warmupFraction;
            return this;
        }

        /** Sets --weight-decay: AdamW's weight decay on matrices. */
        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        /** Sets --grad-clip: the largest global gradient norm. */
        public Builder gradClip(double gradClip) {
            this.gradClip = gradClip;
            return this;
        }

        /** Sets --eval-every: steps between validation passes. */
        public Builder evalEvery(long evalEvery) {
            this.evalEvery = evalEvery;
            return this;
        }

        /** Sets --eval-tokens: validation tokens per pass, 0 for all. */
        public Builder evalTokens(long evalTokens) {
            this.evalTokens = evalTokens;
            return this;
        }

        /** Sets --checkpoint-every: steps between checkpoints. */
        public Builder checkpointEvery(long checkpointEvery) {
            this.checkpointEvery = checkpointEvery;
            return this;
        }

        /** Sets --seed: seeds initialization, batches and dropout. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Sets --out: the run folder. */
        public Builder out(Path out) {
            this.out = out;
            return this;
        }

        /** Sets --tokenizer: a tokenizer folder or name, or null for the init model's or GPT-2's. */
        public Builder tokenizer(String tokenizer) {
            this.tokenizer = tokenizer;
            return this;
        }

        /** Sets --objective: causal_lm (the default) or masked_lm. */
        public Builder objective(LmObjective objective) {
            this.objective = objective;
            return this;
        }

        /** Sets --precision: fp32 (the default) or bf16. */
        public Builder precision(Precision precision) {
            this.precision = precision;
            return this;
        }

        /** The value of --val-fraction set so far, or its default. */
        public double valFraction() {
            return valFraction;
        }

        /** The value of --preset set so far, or its default. */
        public String preset() {
            return preset;
        }

        /** The value of --batch set so far, or its default. */
        public int batch() {
            return batch;
        }

        /** The value of --steps set so far, or its default. */
        public long steps() {
            return steps;
        }

        /** The value of --grad-accum set so far, or its default. */
        public int accumulation() {
            return accumulation;
        }

        /** The value of --lr set so far, or its default. */
        public double lr() {
            return lr;
        }

        /** The value of --warmup set so far, or its default. */
        public double warmupFraction() {
            return warmupFraction;
        }

        /** The value of --weight-decay set so far, or its default. */
        public double weightDecay() {
            return weightDecay;
        }

        /** The value of --grad-clip set so far, or its default. */
        public double gradClip() {
            return gradClip;
        }

        /** The value of --eval-every set so far, or its default. */
        public long evalEvery() {
            return evalEvery;
        }

        /** The value of --eval-tokens set so far, or its default. */
        public long evalTokens() {
            return evalTokens;
        }

        /** The value of --checkpoint-every set so far, or its default. */
        public long checkpointEvery() {
            return checkpointEvery;
        }

        /** The value of --seed set so far, or its default. */
        public long seed() {
            return seed;
        }

        /** The value of --out set so far, or its default. */
        public Path out() {
            return out;
        }
    }
}
