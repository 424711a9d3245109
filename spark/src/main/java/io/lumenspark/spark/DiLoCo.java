package io.lumenspark.spark;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.io.WeightFiles;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenSplits;
import io.lumenspark.training.Evaluator;
import io.lumenspark.training.Trainer;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * DiLoCo (Douillard et al., 2023, arXiv 2311.08105) on Spark: one Spark job per round. The driver broadcasts the
 * outer parameters; each of N partitions trains its replica H inner steps with AdamW on its shard of the training
 * tokens ({@link Replicas}); {@code treeAggregate} sums their parameter changes; the driver applies the mean change
 * with Nesterov-momentum SGD (PyTorch's form: v = mu v + g; theta -= lr (g + mu v)), evaluates, and checkpoints.
 * <p>
 * Every round is a function of the checkpoint before it, so a task that Spark re-runs gives the same change, and a
 * job killed at any point and resumed ({@code resume}) repeats the uninterrupted run bit for bit (for a given
 * thread count per task). With one worker, outer learning rate 1 and no momentum, the run is the single-machine
 * trainer's H x T steps exactly.
 */
public final class DiLoCo {
    /** Names in the run folder: the checkpoint's state, outer momentum, and the replicas' moments. */
    static final String STATE = "diloco_state.json", MOMENTUM = "outer_momentum.bin", INNER = "inner",
            CHECKPOINT = "checkpoint", TMP = ".checkpoint.tmp", OLD = ".checkpoint.old", METRICS = "metrics.jsonl";

    /**
     * What a run reports.
     *
     * @param rounds        rounds done
     * @param trainLoss     the workers' mean training loss at the last inner step
     * @param valLoss       the validation loss after the last round
     * @param bytesPerRound bytes one round moves: N broadcasts of the parameters (float32) and N changes (float64)
     * @param out           the run folder
     */
    public record Result(int rounds, double trainLoss, double valLoss, long bytesPerRound, Path out) {
    }

    private final DiLoCoOptions opt;
    private final PrintStream log;
    private int stopAfter = Integer.MAX_VALUE;
    private int failRound = -1, failPartition = -1;

    /** A run with these options; {@code log} receives one line per round. */
    public DiLoCo(DiLoCoOptions options, PrintStream log) {
        this.opt = options;
        this.log = log;
    }

    /** Ends the run after this round, with its checkpoint, as if killed there (to test --resume). */
    public DiLoCo stopAfter(int round) {
        this.stopAfter = round;
        return this;
    }

    /**
     * Makes partition {@code partition}'s task of round {@code round} (0-based) fail on its first attempt, after
     * half its inner steps: Spark retries it (given a master that allows retries, e.g. local[N,2]) and the round's
     * result must not change.
     */
    public DiLoCo injectFailure(int round, int partition) {
        this.failRound = round;
        this.failPartition = partition;
        return this;
    }

    /** The options a run saved in its checkpoint, with {@code out} as its folder now, for --resume. */
    public static DiLoCoOptions savedOptions(Path out) {
        Path state = checkpoint(out).resolve(STATE);
        try {
            return Json.mapper().treeToValue(Json.read(state).path("options"), DiLoCoOptions.class).withOut(out);
        } catch (IOException | RuntimeException e) {
            throw new LumensparkException(state + ": not a DiLoCo state (" + Json.oneLine(e.getMessage()) + ")");
        }
    }

    /** The thread count per task a run's checkpoint was made with: resuming with another changes its numbers. */
    public static int savedThreads(Path out) {
        Path state = checkpoint(out).resolve(STATE);
        int threads = Json.read(state).path("threads").asInt(0);
        if (threads < 1) throw new LumensparkException(state + ": threads must be a positive integer");
        return threads;
    }

    /**
     * Runs the rounds (from the checkpoint's with resume) on the cluster behind {@code sc}, then saves the final
     * model in the run folder.
     *
     * @throws LumensparkException for bad data or options, a folder holding other files, a missing or damaged
     *                             checkpoint, or a diverging loss
     */
    public Result run(JavaSparkContext sc, boolean resume) {
        Path out = Path.of(opt.out());
        if (resume && !Files.isDirectory(out)) checkpoint(out);
        FolderLock lock = FolderLock.acquire(out, false, "training in");
        boolean done = false;
        try {
            Result r = runLocked(sc, resume, out);
            done = true;
            return r;
        } finally {
            if (done) lock.closeAndRemove(); // a finished run's folder (its model's) holds no lock file, as train's
            else lock.closeAndUndo(); // a run refused before it wrote anything leaves no folder
        }
    }

    private Result runLocked(JavaSparkContext sc, boolean resume, Path out) {
        if (!resume && hasFiles(out)) {
            if (!stoppedBeforeCheckpoint(out)) {
                throw new LumensparkException(out + " is not empty: choose a new --out, or --resume the run there");
            }
            for (String name : List.of(METRICS, INNER, TMP)) AtomicFiles.deleteTree(out.resolve(name));
        }
        Tokenizer tok = resume ? Tokenizer.fromPretrained(checkpoint(out))
                : opt.tokenizer() == null ? Tokenizer.byName("gpt2") : Tokenizer.load(opt.tokenizer());
        ModelConfig cfg = ModelConfig.preset(opt.preset()).with(opt.overrides());
        if (!opt.overrides().containsKey("vocab_size")) cfg = cfg.with("vocab_size", Integer.toString(tok.vocabSize()));
        int n = opt.seqLength() == 0 ? cfg.seqLength() : opt.seqLength();
        if (n > cfg.seqLength()) {
            throw new LumensparkException("--seq-length " + n + " exceeds the model's seq_length " + cfg.seqLength());
        }
        MemoryPlan.forTraining(cfg, opt.batch(), n).check();
        try (TokenSplits splits = TokenCorpus.openPrepared(Path.of(opt.data()), tok, tok);
             LumensparkModel model = resume ? ModelFolder.loadTrainable(checkpoint(out), cfg)
                     : new LumensparkModel(fresh(cfg), tok)) {
            long shard = splits.train().length() / opt.workers();
            if (shard < n + 1L) {
                throw new LumensparkException(opt.data() + ": " + Words.count(splits.train().length(), "training token")
                        + " make shards of " + shard + " tokens for " + Words.count(opt.workers(), "worker")
                        + ", fewer than a window of " + (n + 1) + ": use fewer workers or more data");
            }
            Params params = model.languageModel().params();
            int size = Math.toIntExact(params.flatSize());
            double[] momentum = new double[size];
            int start = 0;
            String runId = HexFormat.of().toHexDigits(new SecureRandom().nextLong());
            if (resume) {
                Map<?, ?> state = Json.mapper().convertValue(Json.read(checkpoint(out).resolve(STATE)), Map.class);
                start = ((Number) state.get("round")).intValue();
                readMomentum(checkpoint(out).resolve(MOMENTUM), momentum);
                MetricsLog.truncateAfterStep(out.resolve(METRICS), (long) start * opt.innerSteps());
                if (start >= opt.rounds()) { // nothing to train; its model is saved, or is the checkpoint's
                    if (!Files.isRegularFile(out.resolve(WeightFiles.SAFETENSORS))) { // stopped before saving it
                        model.save(out);
                        AtomicFiles.deleteTree(out.resolve(INNER));
                        log.printf("saved the final model of the run in %s (stopped before it saved it)%n", out);
                    }
                    log.printf("the run in %s is finished (round %d of %d): nothing to train%n", out, start,
                            opt.rounds());
                    List<Map<String, Object>> logged = MetricsLog.read(out.resolve(METRICS));
                    Map<String, Object> last = logged.isEmpty() ? Map.of() : logged.getLast();
                    return new Result(start, number(last.get("train_loss")), number(last.get("val_loss")),
                            (long) opt.workers() * size * (Float.BYTES + Double.BYTES), out);
                }
                log.printf("resuming after round %d of %d%n", start, opt.rounds());
            }
            InnerSpec spec = new InnerSpec(opt.data(), opt.tokenizer(), InnerSpec.configMap(cfg), opt.batch(), n,
                    opt.accumulation(), opt.seed(), opt.lr(), opt.minLr(), opt.warmupSteps(), opt.totalSteps(),
                    opt.gradClip(), opt.weightDecay(), opt.innerSteps(), opt.workers(),
                    out.resolve(INNER).toAbsolutePath().toString(), out.toAbsolutePath() + "#" + runId,
                    Parallel.threads(), Blas.get().name(), failRound, failPartition);
            long bytes = (long) opt.workers() * size * (Float.BYTES + Double.BYTES);
            log.printf("DiLoCo: %s x %s of %s (%s per worker), %s; outer lr %s, momentum %s; %s, %s per round%n",
                    Words.count(opt.rounds(), "round"), Words.count(opt.innerSteps(), "inner step"),
                    Words.count(opt.workers(), "worker"), Words.count(shard, "training token"),
                    Words.count(params.count(), "parameter"), opt.outerLr(), opt.outerMomentum(),
                    Words.count(Parallel.threads(), "thread"), bytesText(bytes));
            double trainLoss = Double.NaN, valLoss = Double.NaN;
            List<Integer> partitions = IntStream.range(0, opt.workers()).boxed().toList();
            try (MetricsLog metrics = new MetricsLog(out.resolve(METRICS))) {
                for (int round = start; round < opt.rounds(); round++) {
                    long t0 = System.nanoTime();
                    float[] theta = new float[size];
                    MemorySegment.copy(params.values(), ValueLayout.JAVA_FLOAT, 0, theta, 0, size);
                    Broadcast<float[]> shared = sc.broadcast(theta);
                    int r = round;
                    // a failed round is reported once every worker's task has ended (they write inner checkpoints)
                    Replicas.Delta sum = SettledJobs.run(sc.sc(), () -> sc.parallelize(partitions, opt.workers())
                            .treeAggregate(new Replicas.Delta(),
                                    (acc, p) -> acc.plus(Replicas.train(spec, r, p, shared.value())),
                                    Replicas.Delta::plus));
                    shared.destroy();
                    if (sum.replicas() != opt.workers()) {
                        throw new IllegalStateException("round " + (round + 1) + " got " + sum.replicas()
                                + " changes for " + opt.workers() + " workers");
                    }
                    outerStep(params, theta, sum.sum(), momentum);
                    trainLoss = sum.meanLoss();
                    valLoss = Evaluator.evaluate(model.languageModel(), splits.val(), opt.batch(), n,
                            opt.evalTokens()).loss();
                    if (!Double.isFinite(valLoss)) {
                        throw new LumensparkException("training diverged in round " + (round + 1)
                                + " (validation loss " + valLoss + "); try a lower --lr or --outer-lr");
                    }
                    saveCheckpoint(out, model, momentum, round + 1);
                    AtomicFiles.deleteTree(out.resolve(INNER).resolve(Replicas.roundFolder(round - 1)));
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("round", round + 1);
                    rec.put("step", (long) (round + 1) * opt.innerSteps());
                    rec.put("train_loss", trainLoss);
                    rec.put("val_loss", valLoss);
                    rec.put("val_ppl", Math.exp(valLoss));
                    rec.put("bytes", bytes);
                    rec.put("seconds", Math.round(seconds * 100) / 100.0);
                    metrics.log(rec);
                    log.printf("round %d/%d: train loss %.4f, validation loss %.4f, %.1f s%n", round + 1,
                            opt.rounds(), trainLoss, valLoss, seconds);
                    Trainer.writeLossChart(out, MetricsLog.read(out.resolve(METRICS)));
                    if (round + 1 == stopAfter && round + 1 < opt.rounds()) {
                        return new Result(round + 1, trainLoss, valLoss, bytes, out);
                    }
                }
            } finally {
                evict(sc, partitions, spec);
            }
            model.save(out);
            AtomicFiles.deleteTree(out.resolve(INNER));
            return new Result(opt.rounds(), trainLoss, valLoss, bytes, out);
        }
    }

    /**
     * Drops the run's replicas from the executors' memory; best effort: a job cancelled by a stop (Ctrl-C, which
     * ends the executors too) or failed with the round is no reason to lose the final model or the round's error.
     */
    private static void evict(JavaSparkContext sc, List<Integer> partitions, InnerSpec spec) {
        try {
            sc.parallelize(partitions, partitions.size()).foreach(p -> Replicas.evict(spec.runKey()));
        } catch (Exception e) { // Spark's SparkException too
            // the executors keep the replicas until they end, or until the next run of the key (none)
        }
    }

    private static double number(Object value) {
        return value instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private LanguageModel fresh(ModelConfig cfg) {
        LanguageModel m = new LanguageModel(cfg);
        m.initialize(opt.seed());
        return m;
    }

    /**
     * The outer step on the mean change g = sum / N: v = mu v + g, theta = start - lr (g + mu v), in double
     * precision and rounded to float once. With lr 1 and mu 0 over one worker, theta is the worker's end exactly.
     */
    private void outerStep(Params params, float[] start, double[] sum, double[] momentum) {
        double mu = opt.outerMomentum(), lr = opt.outerLr(), workers = opt.workers();
        MemorySegment w = params.values();
        for (int i = 0; i < start.length; i++) {
            double g = sum[i] / workers;
            momentum[i] = mu * momentum[i] + g;
            w.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (start[i] - lr * (g + mu * momentum[i])));
        }
    }

    /**
     * The line for a run whose Spark context was stopped under it (Ctrl-C, SIGTERM: Spark's shutdown hook stops
     * it), as {@code train} says it: the round it was in, its last checkpoint and the command that resumes it, or
     * that it has none yet and the same command starts it again.
     */
    public static String stoppedMessage(Path out, int rounds) {
        int done = 0;
        for (String name : new String[]{CHECKPOINT, OLD}) {
            Path state = out.resolve(name).resolve(STATE);
            if (Files.isRegularFile(state)) {
                done = Json.read(state).path("round").asInt(0);
                break;
            }
        }
        if (done >= rounds) { // its last checkpoint was written, the final model not yet
            return "stopped after round " + done + " of " + rounds + ", before the final model was saved; save it"
                    + " with: " + Home.command() + " spark train --resume --out " + Words.shellWord(out.toString());
        }
        String at = "stopped in round " + (done + 1) + " of " + rounds;
        if (done == 0) return at + "; this run has no checkpoint yet, so there is nothing to resume; the same command"
                + " starts it again";
        return at + "; last checkpoint: round " + done + " in " + out.resolve(CHECKPOINT) + "; continue with: "
                + Home.command() + " spark train --resume --out " + Words.shellWord(out.toString());
    }

    /** The newest complete checkpoint folder of a run (the previous one if a save died between its renames). */
    static Path checkpoint(Path out) {
        for (String name : new String[]{CHECKPOINT, OLD}) {
            if (Files.isRegularFile(out.resolve(name).resolve(STATE))) return out.resolve(name);
        }
        if (stoppedBeforeCheckpoint(out)) {
            throw new LumensparkException(out + " has no checkpoint yet: its run stopped before round 1 finished;"
                    + " the same command without --resume starts it again");
        }
        throw new LumensparkException("no DiLoCo checkpoint to resume in " + out + " (expected " + out.resolve(CHECKPOINT)
                + "/" + STATE + ")");
    }

    /** The model, the outer momentum and the state (written last), into a temporary folder renamed into place. */
    private void saveCheckpoint(Path out, LumensparkModel model, double[] momentum, int round) {
        Path tmp = out.resolve(TMP), dir = out.resolve(CHECKPOINT), old = out.resolve(OLD);
        AtomicFiles.deleteTree(tmp);
        model.save(tmp);
        ByteBuffer b = ByteBuffer.allocate(momentum.length * Double.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.asDoubleBuffer().put(momentum);
        AtomicFiles.writeBytes(tmp.resolve(MOMENTUM), b.array());
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("round", round);
        state.put("step", (long) round * opt.innerSteps());
        state.put("threads", Parallel.threads());
        state.put("options", opt);
        Json.write(tmp.resolve(STATE), state);
        try {
            AtomicFiles.deleteTree(old);
            if (Files.exists(dir)) Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.deleteTree(old);
        } catch (IOException e) {
            throw new LumensparkException("cannot write checkpoint in " + out + ": " + e.getMessage(), e);
        }
    }

    private static void readMomentum(Path file, double[] momentum) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            if (bytes.length != momentum.length * Double.BYTES) {
                throw new LumensparkException(file + " has " + bytes.length + " bytes, expected "
                        + momentum.length * Double.BYTES + " (one float64 per parameter)");
            }
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(momentum);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Whether the folder holds a run that stopped before its first checkpoint: its metrics log, and perhaps replicas'
     * moments or a checkpoint being written, and nothing else. A new run takes such a folder over.
     */
    private static boolean stoppedBeforeCheckpoint(Path out) {
        if (!Files.isRegularFile(out.resolve(METRICS))) return false;
        try (var entries = Files.list(out)) {
            return entries.map(p -> p.getFileName().toString())
                    .allMatch(n -> List.of(METRICS, INNER, TMP, FolderLock.FILE).contains(n));
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean hasFiles(Path out) {
        try (var entries = Files.list(out)) {
            return entries.anyMatch(p -> !p.getFileName().toString().equals(FolderLock.FILE));
        } catch (IOException e) {
            return false;
        }
    }

    /** A byte count for people: "1.6 MB", "443.0 MB", "2.10 GB". */
    public static String bytesText(long bytes) {
        if (bytes < 1_000_000) return String.format("%.1f kB", bytes / 1e3);
        if (bytes < 1_000_000_000) return String.format("%.1f MB", bytes / 1e6);
        return String.format("%.2f GB", bytes / 1e9);
    }
}
