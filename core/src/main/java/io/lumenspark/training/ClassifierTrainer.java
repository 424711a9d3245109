package io.lumenspark.training;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Charts;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Hashes;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.SplittableRandom;

/**
 * Trains a sequence classifier on labeled texts: from scratch (a preset) or on a pretrained model's backbone with
 * a new head. Each epoch visits the training texts in an order drawn from (seed, epoch), a batch of texts per step
 * padded at their ends (key-padding masks: padding changes nothing); the loss is {@link ClassificationLoss}'s mean
 * over the step's texts; AdamW with warm-up and cosine decay, gradient clipping. Every validation (once per epoch
 * by default) logs loss, accuracy and macro-F1 (regression: the loss) to metrics.jsonl and the chart, writes a
 * checkpoint (model, AdamW moments, trainer_state.json) for an exact --resume, and saves the model to the run
 * folder when the validation metric improved: the folder's model is the best one seen. With a patience, training
 * stops after that many validations without improvement. The run folder follows {@link RunFolder}'s rules, as
 * {@link Trainer}'s does ({@link #replace} for --force).
 */
public final class ClassifierTrainer {
    /** The kind trainer_state.json records, which {@code lumenspark train --resume} does not read. */
    static final String KIND = "sequence_classification";
    /** The best validation's confusion matrix in the run folder. */
    public static final String CONFUSION = "confusion_matrix.png";

    /**
     * What a run reports.
     *
     * @param steps       the steps run (the last one reached)
     * @param bestStep    the step of the best validation, whose model the folder holds
     * @param metricName  what chose it: val_macro_f1 (classification) or val_loss (regression)
     * @param bestMetric  its value there
     * @param best        the best validation's metrics (classification; null for regression or multi-label)
     * @param truncated   texts cut to fit the window (training and validation)
     * @param stoppedEarly whether the patience ran out before the last epoch
     * @param seconds     wall time of this call's steps and validations
     */
    public record Result(long steps, long bestStep, String metricName, double bestMetric,
                         ClassificationMetrics best, long truncated, boolean stoppedEarly, double seconds) {
    }

    /**
     * The share of the records held out for validation unless told otherwise (--val-fraction), and the one that
     * runs whose checkpoints do not record it used ({@link #savedValFraction}).
     */
    public static final double DEFAULT_VAL_FRACTION = 0.1;
    /** trainer_state.json's record of how the validation records were chosen. */
    private static final String VAL_FRACTION = "val_fraction";

    private final ClassifierOptions opt;
    private final PrintStream log;
    private long stopAfter = Long.MAX_VALUE;
    private boolean replace;
    /** The share of the records held out by {@link #split} for this run, or null for separate validation records. */
    private Double valFraction;

    /** A trainer for one run; log receives its one-line reports (the progress bar goes to stderr). */
    public ClassifierTrainer(ClassifierOptions options, PrintStream log) {
        this.opt = options;
        this.log = log;
    }

    /** Ends the run after this step with a checkpoint, as if killed right after it (tests of --resume). */
    public ClassifierTrainer stopAfter(long step) {
        this.stopAfter = step;
        return this;
    }

    /**
     * Records in the checkpoints of a new run that its validation records are this share of the data, held out by
     * {@link #split} with the options' seed (without it: separate validation records), so that --resume can
     * rebuild the same split ({@link #savedValFraction}). A resumed run keeps what its checkpoint records.
     */
    public ClassifierTrainer valFraction(double fraction) {
        this.valFraction = fraction;
        return this;
    }

    /**
     * How the run in out chose its validation records: the share of the records that {@link #split} held out
     * (0.1 for checkpoints written before it was recorded), or empty when they were given separately.
     *
     * @throws LumensparkException when out has no classifier's checkpoint, or it records something else
     */
    public static OptionalDouble savedValFraction(Path out) {
        JsonNode state = readState(out);
        JsonNode v = state.get(VAL_FRACTION);
        if (v == null) return OptionalDouble.of(DEFAULT_VAL_FRACTION);
        if (v.isNull()) return OptionalDouble.empty();
        if (!v.isNumber() || !(v.asDouble() > 0 && v.asDouble() < 1)) {
            throw new LumensparkException(Checkpoint.find(out).resolve(Checkpoint.STATE) + ": \"" + VAL_FRACTION
                    + "\" must be a number in (0, 1) or null, got " + v);
        }
        return OptionalDouble.of(v.asDouble());
    }

    /**
     * The records split into training and validation: a shuffle drawn from seed, its last fraction held out
     * (at least one record each).
     */
    public static List<List<LabeledText>> split(List<LabeledText> records, double fraction, long seed) {
        if (!(fraction > 0 && fraction < 1)) throw new LumensparkException("--val-fraction must be in (0, 1)");
        if (records.size() < 2) throw new LumensparkException("need at least two records to hold some out");
        int[] order = permutation(records.size(), seed, -1);
        int val = (int) Math.max(1, Math.min(records.size() - 1, Math.round(records.size() * fraction)));
        List<LabeledText> train = new ArrayList<>(), held = new ArrayList<>();
        for (int i = 0; i < order.length; i++) (i < order.length - val ? train : held).add(records.get(order[i]));
        return List.of(train, held);
    }

    /** 0..size-1 shuffled by (seed, epoch) (Fisher-Yates). */
    private static int[] permutation(int size, long seed, long epoch) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        int[] p = new int[size];
        for (int i = 0; i < size; i++) p[i] = i;
        for (int i = size - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** The options a run saved in its checkpoint (with out as its folder now), for --resume. */
    public static ClassifierOptions savedOptions(Path out) {
        JsonNode state = readState(out);
        try {
            Map<String, Object> map = Json.mapper().convertValue(state.get("options"), new TypeReference<>() {
            });
            map.put("out", out.toUri().toString());
            return Json.mapper().treeToValue(Json.mapper().valueToTree(map), ClassifierOptions.class);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof LumensparkException bad) throw bad;
            }
            throw new LumensparkException(Checkpoint.find(out).resolve(Checkpoint.STATE) + ": bad \"options\" ("
                    + Json.oneLine(e.getMessage()) + ")");
        }
    }

    /** The thread count a run's checkpoint was made with: resuming with another would change its numbers. */
    public static int savedThreads(Path out) {
        return (int) TrainerState.whole(Checkpoint.find(out).resolve(Checkpoint.STATE), readState(out), "threads", 1,
                Parallel.MAX_THREADS, " (what --threads allows)", "");
    }

    private static JsonNode readState(Path out) {
        Path file = Checkpoint.find(out).resolve(Checkpoint.STATE);
        JsonNode state = Json.read(file);
        if (!KIND.equals(state.path("kind").asText()) || !state.path("options").isObject()
                || !state.path("step").canConvertToLong()) {
            throw new LumensparkException(file + " is not a classifier's training state (resume a language model"
                    + " with lumenspark train --resume)");
        }
        return state;
    }

    /**
     * Lets a new run start in a folder that is not empty (--force), as {@link Trainer#replace} does: an earlier run
     * there stays as it is, loadable and resumable, until this run's first checkpoint replaces it; other files are
     * left alone.
     */
    public ClassifierTrainer replace(boolean allowed) {
        this.replace = allowed;
        return this;
    }

    /**
     * Trains (or, with resume, continues the run in the folder, whose data must be unchanged) and leaves the best
     * model in the run folder. Holds the folder's lock throughout, and first removes what killed runs left there.
     * A new run refuses a folder that holds a run or other files unless {@link #replace} allows it (one that holds
     * only the metrics of a run stopped before its first checkpoint is taken over).
     *
     * @throws LumensparkException for bad data or options, a folder that holds files (new runs, without
     *                             {@link #replace}), a damaged checkpoint, or a diverging loss
     */
    public Result run(List<LabeledText> train, List<LabeledText> val, boolean resume) {
        Path out = opt.out();
        if (Files.exists(out) && !Files.isDirectory(out)) throw new LumensparkException("--out " + out + " is a file");
        if (train.isEmpty() || val.isEmpty()) {
            throw new LumensparkException("no " + (train.isEmpty() ? "training" : "validation") + " records");
        }
        FolderLock lock = FolderLock.acquire(out, false, "training in");
        boolean done = false;
        try {
            Result r = runLocked(train, val, resume);
            done = true;
            return r;
        } finally {
            if (done) lock.closeAndRemove(); // a finished run's folder holds no lock file
            else lock.closeAndUndo(); // a refused or failed run leaves no lock file (nor a folder) it made
        }
    }

    private Result runLocked(List<LabeledText> train, List<LabeledText> val, boolean resume) {
        Path out = opt.out();
        // everything is checked before anything in the folder changes
        RunFolder.Contents found = RunFolder.inspect(out);
        if (!resume && !found.isFree() && !replace) throw refusal(out, found);
        JsonNode state = resume ? readState(out) : null;
        Path ckpt = resume ? Checkpoint.find(out) : null;
        if (resume) {
            OptionalDouble saved = savedValFraction(out);
            valFraction = saved.isPresent() ? saved.getAsDouble() : null;
        }
        Tokenizer tokenizer = resume ? Tokenizer.fromPretrained(ckpt)
                : opt.base() != null ? Tokenizer.fromPretrained(opt.base()) : Tokenizer.load(opt.tokenizer());
        ClassificationTargets targets = ClassificationTargets.of(opt.problemType(), opt.separator(), train);
        String dataKey = dataKey(train, val);
        if (resume && !dataKey.equals(state.path("data_key").asText())) {
            throw new LumensparkException("the training or validation data changed since the checkpoint in " + out
                    + " was written; resuming would not continue the same run");
        }
        ModelConfig cfg = resume ? ModelWeights.readConfig(ckpt) : config(targets, tokenizer);
        int n = cfg.seqLength();
        MemoryPlan.forTraining(cfg, opt.batch(), n).check();
        float[][] trainY = new float[train.size()][], valY = new float[val.size()][];
        for (int i = 0; i < trainY.length; i++) trainY[i] = targets.vector(train.get(i));
        for (int i = 0; i < valY.length; i++) valY[i] = targets.vector(val.get(i));
        double[] weights = opt.classWeights() == ClassWeights.BALANCED ? targets.balancedWeights(train)
                : targets.unitWeights();
        int[][] trainIds = new int[train.size()][], valIds = new int[val.size()][];
        long truncated = encode(tokenizer, train, n, trainIds) + encode(tokenizer, val, n, valIds);
        log.printf("data: %s, %s; %s: %s%s%n", Words.count(train.size(), "training text"),
                Words.count(val.size(), "validation text"), opt.problemType(),
                Words.count(targets.labels().size(), "label"),
                truncated == 0 ? "" : String.format("; %s cut to %d tokens (--truncate %s)",
                        Words.count(truncated, "text"), n, opt.truncation()));
        long perEpoch = (train.size() + opt.batch() - 1) / opt.batch(), total = perEpoch * opt.epochs();
        long evalEvery = opt.evalEvery() == 0 ? perEpoch : opt.evalEvery();
        RunFolder.tidy(out, RunFolder.runId(out));
        String runId = resume ? state.path("run_id").asText() : HexFormat.of().toHexDigits(new SplittableRandom()
                .nextLong());
        boolean replacing = !resume && !found.runFiles().isEmpty() && !found.stoppedBeforeCheckpoint();
        Path metricsFile = out.resolve(RunFolder.METRICS);
        if (!resume && found.stoppedBeforeCheckpoint()) {
            log.printf("%s held the metrics of a run stopped before its first checkpoint (nothing to resume); this"
                    + " run replaces them%n", out);
            RunFolder.removeRunFiles(out);
        } else if (replacing) {
            metricsFile = RunFolder.pendingMetrics(out, runId);
            log.printf("replacing the earlier run in %s: its files stay until this run's first checkpoint (step %d)%n",
                    out, Math.min(evalEvery, total));
        }
        try (Arena arena = Arena.ofShared(); LumensparkModel model = createModel(resume, ckpt, cfg, tokenizer)) {
            Params params = model.languageModel().params();
            log.printf("model: %s, %s, %s attention%s, pooling %s; %s; matrix backend %s, %s%n",
                    opt.base() != null ? "fine-tuning " + opt.base() : opt.preset() + " from scratch",
                    Words.count(params.count(), "parameter"), cfg.attention(), cfg.causal() ? " (causal)" : "",
                    cfg.pooling(), tokenizer.name(), Blas.get().name(), Words.count(Parallel.threads(), "thread"));
            AdamW adam = new AdamW(params, arena, 0.9, 0.999, 1e-8, opt.weightDecay());
            long start = 0, bestStep = 0;
            int bad = 0;
            double best = Double.NaN;
            if (resume) {
                OptimizerFiles.read(ckpt.resolve(Checkpoint.OPTIMIZER), params, adam);
                start = state.get("step").asLong();
                bestStep = state.path("best_step").asLong();
                best = state.path("best_metric").asDouble(Double.NaN);
                bad = state.path("evaluations_without_improvement").asInt();
                MetricsLog.truncateAfterStep(metricsFile, start);
                log.printf("resuming from step %d of %d%n", start, total);
            }
            boolean regression = opt.problemType() == ProblemType.REGRESSION;
            String metricName = regression ? "val_loss" : "val_macro_f1";
            LrSchedule schedule = new LrSchedule(opt.lr(), opt.minLr(), (long) Math.ceil(opt.warmupFraction() * total),
                    total);
            List<Map<String, Object>> history = new ArrayList<>(MetricsLog.read(metricsFile));
            ClassificationMetrics bestMetrics = null;
            if (resume && bestStep == start) {
                // The checkpoint holds the best model: a replacing run killed right after its first checkpoint has
                // not written it into the folder yet, so it is written again, with its confusion matrix and chart.
                bestMetrics = validate(model.languageModel(), targets, valIds, valY, val).metrics;
                saveBest(model, bestMetrics, start);
                writeChart(history, regression);
            }
            boolean stoppedEarly = false;
            long t0 = System.nanoTime(), step = start;
            try (MetricsLog metrics = new MetricsLog(metricsFile);
                 ProgressBars.Bar bar = ProgressBars.open("classify", total, start, ProgressBars.Unit.COUNT)) {
                int[] order = null;
                long orderEpoch = -1;
                for (; step < total; step++) {
                    long epoch = step / perEpoch;
                    if (epoch != orderEpoch) {
                        order = permutation(train.size(), opt.seed(), epoch);
                        orderEpoch = epoch;
                    }
                    int from = (int) ((step % perEpoch) * opt.batch()), to = Math.min(train.size(), from + opt.batch());
                    List<int[]> ids = new ArrayList<>();
                    float[][] y = new float[to - from][];
                    for (int i = from; i < to; i++) {
                        ids.add(trainIds[order[i]]);
                        y[i - from] = trainY[order[i]];
                    }
                    long ts = System.nanoTime();
                    params.zeroGrads();
                    double loss = trainStep(model.languageModel(), ids, y, weights, step);
                    if (!Double.isFinite(loss)) {
                        throw new LumensparkException("training diverged at step " + (step + 1) + " (loss " + loss
                                + "); try a lower --lr");
                    }
                    double norm = AdamW.gradNorm(params);
                    if (!Double.isFinite(norm)) {
                        throw new LumensparkException("training diverged at step " + (step + 1) + " (gradient norm "
                                + norm + "); try a lower --lr");
                    }
                    double lr = schedule.at(step);
                    adam.step(step + 1, lr, AdamW.clipFactor(norm, opt.gradClip()));
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("step", step + 1);
                    rec.put("epoch", Math.round(100.0 * (step + 1) / perEpoch) / 100.0);
                    rec.put("train_loss", loss);
                    rec.put("lr", lr);
                    rec.put("grad_norm", norm);
                    rec.put("texts_per_s", Math.round(y.length / ((System.nanoTime() - ts) / 1e9)));
                    boolean last = step + 1 == total;
                    boolean improved = false;
                    Validation v = null;
                    if ((step + 1) % evalEvery == 0 || last) {
                        v = validate(model.languageModel(), targets, valIds, valY, val);
                        rec.put("val_loss", v.loss);
                        if (v.metrics != null) {
                            rec.put("val_accuracy", v.metrics.accuracy());
                            rec.put("val_mcc", v.metrics.mcc());
                        }
                        if (!regression) rec.put("val_macro_f1", v.macroF1);
                        double value = regression ? v.loss : v.macroF1;
                        improved = Double.isNaN(best) || (regression ? value < best : value > best);
                        if (improved) {
                            best = value;
                            bestStep = step + 1;
                            bestMetrics = v.metrics;
                            bad = 0;
                        } else {
                            bad++;
                        }
                        rec.put("best_step", bestStep);
                    }
                    rec.put("elapsed_s", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
                    metrics.log(rec);
                    history.add(rec);
                    bar.stepTo(step + 1);
                    bar.setExtraMessage(String.format(" loss %.3f%s", loss, Double.isNaN(best) ? ""
                            : String.format(" best %s %.4f", metricName.substring(4), best)));
                    boolean stop = rec.containsKey("val_loss") && opt.patience() > 0 && bad >= opt.patience();
                    boolean interrupted = step + 1 == stopAfter && !last;
                    if (rec.containsKey("val_loss") || interrupted || stop) {
                        Map<String, Object> s = new LinkedHashMap<>();
                        s.put("kind", KIND);
                        s.put("step", step + 1);
                        s.put("run_id", runId);
                        s.put("data_key", dataKey);
                        s.put(VAL_FRACTION, valFraction);
                        s.put("threads", Parallel.threads());
                        s.put("best_step", bestStep);
                        s.put("best_metric", Double.isNaN(best) ? null : best);
                        s.put("metric", metricName);
                        s.put("evaluations_without_improvement", bad);
                        s.put("options", Json.mapper().convertValue(opt, new TypeReference<Map<String, Object>>() {
                        }));
                        // The best model and the charts come before the checkpoint, so that a run killed in between
                        // redoes them on --resume; but a replacing run's first checkpoint comes first, as the earlier
                        // run's files stay until then (resuming from a best checkpoint writes its model again).
                        boolean first = replacing;
                        if (first) {
                            Checkpoint.save(out, model, adam, s);
                            RunFolder.promote(out, metricsFile);
                            replacing = false;
                        }
                        if (improved) saveBest(model, v.metrics, step + 1);
                        writeChart(history, regression);
                        if (!first) Checkpoint.save(out, model, adam, s);
                    }
                    if (stop && !last) {
                        stoppedEarly = true;
                        log.printf("early stopping after step %d: %s without improvement (best %s %.4f at step"
                                + " %d)%n", step + 1, Words.count(bad, "validation"), metricName, best, bestStep);
                        step++;
                        break;
                    }
                    if (interrupted) {
                        step++;
                        break;
                    }
                }
            }
            return new Result(step, bestStep, metricName, best, bestMetrics, truncated, stoppedEarly,
                    (System.nanoTime() - t0) / 1e9);
        }
    }

    /** Writes the best model into the run folder, with the confusion matrix of its validation (single-label). */
    private void saveBest(LumensparkModel model, ClassificationMetrics metrics, long step) {
        model.save(opt.out());
        if (metrics != null) {
            Charts.writeConfusion(opt.out().resolve(CONFUSION), "Validation at step " + step, metrics.labels(),
                    metrics.confusion());
        }
    }

    /**
     * The error for a new run into a folder that is not empty, without --force: a classifier's run there can be
     * resumed; anything else is said as {@link RunFolder#refusal} says it of files.
     */
    private static LumensparkException refusal(Path out, RunFolder.Contents found) {
        try {
            long step = readState(out).path("step").asLong();
            return new LumensparkException("--out " + out + " holds a classifier's training run (checkpoint at step "
                    + step + "); continue it with --resume, replace it with --force, or choose another --out");
        } catch (LumensparkException notAClassifiersRun) {
            return RunFolder.refusal(out, new RunFolder.Contents(found.runFiles(), found.otherFiles(), null));
        }
    }

    /** One step's forward and backward pass over a batch of encoded texts; returns the mean loss. */
    private double trainStep(LanguageModel model, List<int[]> ids, float[][] y, double[] weights, long step) {
        int batch = ids.size(), n = 1;
        for (int[] t : ids) n = Math.max(n, t.length);
        int pad = Math.max(0, model.config().padTokenId());
        int[] inputs = new int[batch * n], lengths = new int[batch];
        Arrays.fill(inputs, pad);
        for (int b = 0; b < batch; b++) {
            System.arraycopy(ids.get(b), 0, inputs, b * n, ids.get(b).length);
            lengths[b] = ids.get(b).length;
        }
        return model.trainClassifier(inputs, lengths, batch, n,
                ClassificationLoss.of(opt.problemType(), y, weights, 1.0 / batch), opt.seed(), step, 0);
    }

    /** A validation's numbers: the mean loss, the metrics (single-label), the macro-F1 (any classification). */
    private record Validation(double loss, ClassificationMetrics metrics, double macroF1) {
    }

    private Validation validate(LanguageModel model, ClassificationTargets targets, int[][] ids, float[][] y,
                                List<LabeledText> records) {
        ProblemType type = opt.problemType();
        int k = targets.labels().size();
        float[][] logits = new float[ids.length][];
        for (int from = 0; from < ids.length; from += opt.batch()) {
            int to = Math.min(ids.length, from + opt.batch());
            float[][] part = TextClassifier.logits(model, List.of(ids).subList(from, to));
            System.arraycopy(part, 0, logits, from, part.length);
        }
        float[] flat = new float[ids.length * k];
        for (int i = 0; i < ids.length; i++) System.arraycopy(logits[i], 0, flat, i * k, k);
        double[] unit = targets.unitWeights();
        double loss = ClassificationLoss.of(type, y, unit, 1.0 / ids.length).lossAndGradient(flat,
                new float[flat.length]);
        return switch (type) {
            case REGRESSION -> new Validation(loss, null, Double.NaN);
            case SINGLE_LABEL_CLASSIFICATION -> {
                ClassificationMetrics m = evaluate(targets, logits, records);
                yield new Validation(loss, m, m.macroF1());
            }
            case MULTI_LABEL_CLASSIFICATION -> new Validation(loss, null, ClassificationMetrics.multiLabelMacroF1(y, logits));
        };
    }

    /**
     * Single-label metrics of logits against records' labels (class 1's probability for the binary ROC AUC).
     *
     * @throws LumensparkException for a label the classifier does not know
     */
    public static ClassificationMetrics evaluate(ClassificationTargets targets, float[][] logits,
                                                 List<LabeledText> records) {
        int[] truth = new int[records.size()], predicted = new int[records.size()];
        double[] positive = new double[records.size()];
        for (int i = 0; i < truth.length; i++) {
            truth[i] = targets.classId(records.get(i));
            double[] p = TextClassifier.scores(ProblemType.SINGLE_LABEL_CLASSIFICATION, logits[i]);
            int top = 0;
            for (int j = 1; j < p.length; j++) if (p[j] > p[top]) top = j;
            predicted[i] = top;
            positive[i] = p.length == 2 ? p[1] : Double.NaN;
        }
        return ClassificationMetrics.of(targets.labels(), truth, predicted, targets.labels().size() == 2 ? positive
                : null);
    }

    /** Encodes records into ids; returns how many were cut. */
    private long encode(Tokenizer tokenizer, List<LabeledText> records, int n, int[][] ids) {
        long cut = 0;
        for (int i = 0; i < ids.length; i++) {
            TextClassifier.Encoded e = TextClassifier.encode(tokenizer, records.get(i).text(), n, opt.truncation());
            ids[i] = e.ids();
            if (e.truncated()) cut++;
        }
        return cut;
    }

    /**
     * The new classifier's config: the base's backbone, or the preset's with the overrides; a multi-label
     * classifier records its label separator.
     */
    private ModelConfig config(ClassificationTargets targets, Tokenizer tokenizer) {
        ModelConfig backbone;
        if (opt.base() != null) {
            backbone = ModelWeights.readConfig(opt.base());
            if (backbone.vocabSize() < tokenizer.vocabSize()) {
                throw new LumensparkException(opt.base() + ": vocab_size " + backbone.vocabSize() + " is smaller"
                        + " than its tokenizer's " + tokenizer.vocabSize());
            }
        } else {
            backbone = ModelConfig.preset(opt.preset()).with(opt.overrides());
            if (!opt.overrides().containsKey("vocab_size")) {
                backbone = backbone.with("vocab_size", Integer.toString(tokenizer.vocabSize()));
            }
        }
        Pooling pooling = opt.pooling() != null ? opt.pooling() : Pooling.defaultFor(backbone.causal());
        return backbone.asClassifier(targets.labels(), opt.problemType(), pooling,
                opt.problemType() == ProblemType.MULTI_LABEL_CLASSIFICATION ? opt.separator() : null);
    }

    private LumensparkModel createModel(boolean resume, Path ckpt, ModelConfig cfg, Tokenizer tokenizer) {
        if (resume) return ModelFolder.loadTrainable(ckpt, cfg);
        LanguageModel m;
        if (opt.base() != null) {
            m = ModelWeights.loadBackbone(opt.base(), cfg, opt.seed());
        } else {
            m = new LanguageModel(cfg);
            m.initialize(opt.seed());
        }
        return new LumensparkModel(m, tokenizer);
    }

    /** What identifies the data on --resume: SHA-256 over every record's text and label, in order. */
    private static String dataKey(List<LabeledText> train, List<LabeledText> val) {
        MessageDigest d = Hashes.sha256();
        for (List<LabeledText> part : List.of(train, val)) {
            for (LabeledText r : part) {
                d.update(r.text().getBytes(StandardCharsets.UTF_8));
                d.update((byte) 0);
                d.update(r.label().getBytes(StandardCharsets.UTF_8));
                d.update((byte) 0);
            }
            d.update((byte) 1);
        }
        return HexFormat.of().formatHex(d.digest());
    }

    private void writeChart(List<Map<String, Object>> history, boolean regression) {
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("train loss", Trainer.column(history, "train_loss"));
        series.put("validation loss", Trainer.column(history, "val_loss"));
        if (!regression) series.put("validation macro-F1", Trainer.column(history, "val_macro_f1"));
        Charts.write(opt.out().resolve(RunFolder.CHART), "Classifier training", series);
    }
}
