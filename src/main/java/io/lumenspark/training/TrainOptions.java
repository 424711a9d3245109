package io.lumenspark.training;

import io.lumenspark.LumensparkException;

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
 */
public record TrainOptions(List<Path> data, double valFraction, String preset, Map<String, String> overrides,
                           Path init, int batch, int seqLength, long steps, int accumulation, double lr, double minLr,
                           double warmupFraction, double weightDecay, double gradClip, long evalEvery,
                           long evalTokens, long checkpointEvery, long seed, Path out, String tokenizer) {

    /**
     * Checks every option, naming the command-line flag at fault in a {@link LumensparkException}, and copies
     * data and overrides into immutable collections.
     */
    public TrainOptions {
        overrides = Map.copyOf(overrides);
        data = List.copyOf(data);
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

    /** Options with the default tokenizer (the init model's, or GPT-2's). */
    public TrainOptions(List<Path> data, double valFraction, String preset, Map<String, String> overrides, Path init,
                        int batch, int seqLength, long steps, int accumulation, double lr, double minLr,
                        double warmupFraction, double weightDecay, double gradClip, long evalEvery, long evalTokens,
                        long checkpointEvery, long seed, Path out) {
        this(data, valFraction, preset, overrides, init, batch, seqLength, steps, accumulation, lr, minLr,
                warmupFraction, weightDecay, gradClip, evalEvery, evalTokens, checkpointEvery, seed, out, null);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new LumensparkException(message);
    }

    /** The same run with its output in another folder (a run resumed after being moved or copied). */
    public TrainOptions withOut(Path folder) {
        return new TrainOptions(data, valFraction, preset, overrides, init, batch, seqLength, steps, accumulation, lr,
                minLr, warmupFraction, weightDecay, gradClip, evalEvery, evalTokens, checkpointEvery, seed, folder,
                tokenizer);
    }

    /** The same run with another step budget (a resumed run trained longer); checked like --steps. */
    public TrainOptions withSteps(long total) {
        return new TrainOptions(data, valFraction, preset, overrides, init, batch, seqLength, total, accumulation, lr,
                minLr, warmupFraction, weightDecay, gradClip, evalEvery, evalTokens, checkpointEvery, seed, out,
                tokenizer);
    }

    /** Warm-up length in steps: warmupFraction of the steps, rounded up. */
    public long warmupSteps() {
        return (long) Math.ceil(warmupFraction * steps);
    }
}
