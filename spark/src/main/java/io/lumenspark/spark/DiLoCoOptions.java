package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.training.TrainOptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Everything that defines a DiLoCo run; saved in the checkpoint's diloco_state.json, so --resume continues with
 * exactly these settings. The inner optimizer and its schedule are the single-machine trainer's, over
 * rounds x innerSteps steps.
 *
 * @param data          the prepared token folder
 * @param tokenizer     tokenizer folder or name (null: GPT-2)
 * @param preset        model preset
 * @param overrides     config keys changed from the preset
 * @param batch         sequences per micro-batch, per worker
 * @param seqLength     tokens per sequence (0: the model's seq_length)
 * @param accumulation  micro-batches per inner step
 * @param lr            peak inner learning rate
 * @param minLr         floor of the inner cosine decay
 * @param warmupFraction fraction of the rounds x inner steps spent warming up
 * @param weightDecay   AdamW weight decay on matrices
 * @param gradClip      inner gradient clipping norm
 * @param evalTokens    validation tokens per evaluation, after each round (0: the whole split)
 * @param seed          seeds initialization, batches and dropout
 * @param out           the run folder
 * @param workers       N: replicas, one Spark partition each
 * @param innerSteps    H: inner steps per round
 * @param rounds        T: rounds (outer steps)
 * @param outerLr       the outer learning rate
 * @param outerMomentum the outer Nesterov momentum (0: plain SGD on the averaged change)
 */
public record DiLoCoOptions(String data, String tokenizer, String preset, Map<String, String> overrides, int batch,
                            int seqLength, int accumulation, double lr, double minLr, double warmupFraction,
                            double weightDecay, double gradClip, long evalTokens, long seed, String out, int workers,
                            int innerSteps, int rounds, double outerLr, double outerMomentum) {
    /** Checks the DiLoCo settings, naming the flag at fault. */
    public DiLoCoOptions {
        overrides = new TreeMap<>(overrides);
        require(workers >= 1 && workers <= 65_536, "--workers must be between 1 and 65536");
        require(innerSteps >= 1, "--inner-steps must be at least 1");
        require(rounds >= 1, "--rounds must be at least 1");
        require((long) rounds * innerSteps <= Integer.MAX_VALUE, "--rounds x --inner-steps is too large");
        require(outerLr > 0 && Double.isFinite(outerLr), "--outer-lr must be positive");
        require(outerMomentum >= 0 && outerMomentum < 1, "--outer-momentum must be in [0, 1)");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new LumensparkException(message);
    }

    /**
     * The DiLoCo options over single-machine training options (their data's first entry, a prepared token folder;
     * their steps are ignored: a run takes rounds x innerSteps inner steps).
     */
    public static DiLoCoOptions of(TrainOptions t, int workers, int innerSteps, int rounds, double outerLr,
                                   double outerMomentum) {
        if (t.init() != null) throw new LumensparkException("spark train starts from a new model; --init is not supported");
        if (t.data().size() != 1) {
            throw new LumensparkException("spark train takes one --data folder, prepared with `lumenspark data prepare`"
                    + " or `lumenspark spark prepare`");
        }
        // the data and a tokenizer folder as absolute paths: the executors read them (their working folder is not
        // the driver's), and a resume may start elsewhere
        String tokenizer = t.tokenizer() != null && Files.isDirectory(Path.of(t.tokenizer()))
                ? Path.of(t.tokenizer()).toAbsolutePath().normalize().toString() : t.tokenizer();
        return new DiLoCoOptions(t.data().getFirst().toAbsolutePath().normalize().toString(), tokenizer,
                t.preset(), t.overrides(), t.batch(), t.seqLength(), t.accumulation(), t.lr(), t.minLr(),
                t.warmupFraction(), t.weightDecay(), t.gradClip(), t.evalTokens(), t.seed(), t.out().toString(),
                workers, innerSteps, rounds, outerLr, outerMomentum);
    }

    /** These options with the run folder {@code folder}: where a resumed run is now, whatever its state says. */
    public DiLoCoOptions withOut(Path folder) {
        return new DiLoCoOptions(data, tokenizer, preset, overrides, batch, seqLength, accumulation, lr, minLr,
                warmupFraction, weightDecay, gradClip, evalTokens, seed, folder.toString(), workers, innerSteps,
                rounds, outerLr, outerMomentum);
    }

    /** Inner steps of the whole run: rounds x innerSteps. */
    public long totalSteps() {
        return (long) rounds * innerSteps;
    }

    /** Inner warm-up steps: warmupFraction of all inner steps, rounded up (as the trainer counts them). */
    public long warmupSteps() {
        return (long) Math.ceil(warmupFraction * totalSteps());
    }
}
