package io.lumenspark.training;

import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.data.BatchSampler;
import io.lumenspark.data.TokenCorpus;
import io.lumenspark.data.TokenSplits;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.io.Charts;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelFiles;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop: random windows of the training split, AdamW with warm-up and cosine decay, gradient
 * clipping and accumulation, periodic validation, JSON-lines metrics, a loss-curve PNG and resumable
 * checkpoints. Every step is a function of (weights, optimizer state, seed, step) for a given thread count, so
 * a resumed run with the same thread count repeats the uninterrupted run's numbers. The tokenizer is the one the
 * options name, else the init model's, else GPT-2's; it is saved with every checkpoint and the final model, and a
 * resumed run uses that copy.
 */
public final class Trainer {
    /**
     * What a finished run reports.
     *
     * @param steps           the step the run ended after
     * @param trainLoss       mean training loss per token of the last step (nats)
     * @param valLoss         the latest validation loss (nats), NaN if none was measured
     * @param tokensPerSecond training throughput of the last step, without evaluation and checkpointing (0 if
     *                        this call ran no step)
     * @param out             the run folder
     */
    public record Result(long steps, double trainLoss, double valLoss, double tokensPerSecond, Path out) {
        /** exp(valLoss). */
        public double valPerplexity() {
            return Math.exp(valLoss);
        }
    }

    private final TrainOptions opt;
    private final PrintStream log;
    private Tokenizer tokenizer;
    private long stopAfter = Long.MAX_VALUE;
    private String dataKey = "";

    /** A trainer for one run; {@code log} receives its one-line reports (the progress bar goes to stderr). */
    public Trainer(TrainOptions options, PrintStream log) {
        this.opt = options;
        this.log = log;
    }

    /**
     * Ends this run after the given step, with a checkpoint, as if it had been killed right after saving; a
     * later --resume continues it. Used to test exact resumption.
     */
    public Trainer stopAfter(long step) {
        this.stopAfter = step;
        return this;
    }

    /** Reads the options a run saved in its checkpoint, for --resume (with out as its folder now). */
    public static TrainOptions savedOptions(Path out) {
        var node = savedState(out).get("options");
        if (node == null || !node.isObject()) throw new LumensparkException(stateFile(out) + ": missing \"options\"");
        try {
            return Json.mapper().treeToValue(node, TrainOptions.class).withOut(out);
        } catch (Exception e) {
            throw new LumensparkException(stateFile(out) + ": cannot read options: " + e.getMessage(), e);
        }
    }

    /** The thread count a run's checkpoint was made with: resuming with another would change its numbers. */
    public static int savedThreads(Path out) {
        var node = savedState(out).get("threads");
        if (node == null || !node.canConvertToInt()) throw new LumensparkException(stateFile(out) + ": missing \"threads\"");
        return node.asInt();
    }

    private static Path stateFile(Path out) {
        return Checkpoint.find(out).resolve(Checkpoint.STATE);
    }

    private static com.fasterxml.jackson.databind.JsonNode savedState(Path out) {
        var node = Json.read(stateFile(out));
        if (!node.isObject()) throw new LumensparkException(stateFile(out) + ": expected a JSON object");
        return node;
    }

    /**
     * Trains to the last step and saves the final model in the run folder, next to checkpoint/, metrics.jsonl and
     * loss.png ({@link #stopAfter} ends earlier, with only a checkpoint). With resume, continues from the
     * checkpoint there (whose data must be unchanged) and drops metrics logged after it; without, deletes any
     * earlier run's checkpoint and metrics in the folder first.
     *
     * @throws LumensparkException for bad data or options, a missing checkpoint, or a diverging loss
     */
    public Result run(boolean resume) {
        tokenizer = resume ? Tokenizer.fromPretrained(Checkpoint.find(opt.out()))
                : opt.tokenizer() != null ? Tokenizer.load(opt.tokenizer())
                : opt.init() != null ? Tokenizer.fromPretrained(opt.init())
                : Tokenizer.byName("gpt2");
        // The model and its settings are checked before the data, whose tokenizing may take minutes.
        try (Arena arena = Arena.ofShared(); LumensparkModel model = createModel(resume)) {
            ModelConfig cfg = model.config();
            int n = opt.seqLength() == 0 ? cfg.seqLength() : opt.seqLength();
            if (n > cfg.seqLength()) {
                throw new LumensparkException("--seq-length " + n + " exceeds the model's seq_length " + cfg.seqLength());
            }
            if (cfg.vocabSize() < tokenizer.vocabSize()) {
                throw new LumensparkException("vocab_size " + cfg.vocabSize() + " is smaller than the tokenizer's "
                        + tokenizer.vocabSize() + " (" + tokenizer.name() + ")");
            }
            try (TokenSplits splits = TokenCorpus.prepare(opt.data(), tokenizer, opt.valFraction(),
                    Home.tokenCache())) {
                log.printf("data: %,d training tokens, %,d validation tokens%s%n", splits.train().length(),
                        splits.val().length(), splits.reused() ? " (cached)" : "");
                if (!cfg.causal()) {
                    log.println("warning: this model is bidirectional (causal=false): every position sees the tokens"
                            + " it is asked to predict, so its next-token loss is not an honest language-model loss");
                }
                log.printf("model: %s, %,d parameters, %s attention%s; tokenizer %s; matrix backend %s, %d threads%n",
                        opt.init() != null ? opt.init() : opt.preset(), model.params().count(), cfg.attention(),
                        cfg.causal() ? " (causal)" : "", tokenizer.name(), Blas.get().name(), Parallel.threads());
                AdamW adam = new AdamW(model.params(), arena, 0.9, 0.95, 1e-8, opt.weightDecay());
                long start = 0;
                Path out = opt.out();
                Path metricsFile = out.resolve("metrics.jsonl");
                if (resume) {
                    Path dir = Checkpoint.find(out);
                    OptimizerFiles.read(dir.resolve(Checkpoint.OPTIMIZER), model.params(), adam);
                    var state = savedState(out);
                    if (state.get("step") == null || !state.get("step").canConvertToLong()) {
                        throw new LumensparkException(stateFile(out) + ": missing \"step\"");
                    }
                    start = state.get("step").asLong();
                    if (state.has("data_key") && !state.get("data_key").asText().equals(dataKey(splits))) {
                        throw new LumensparkException("the training data changed since the checkpoint in " + out
                                + " was written; resuming would not continue the same run");
                    }
                    MetricsLog.truncateAfterStep(metricsFile, start);
                    log.printf("resuming from step %d of %d%n", start, opt.steps());
                } else {
                    Checkpoint.clear(out); // a fresh run in an old folder must not leave the old run resumable
                    if (Files.exists(metricsFile)) MetricsLog.truncateAfterStep(metricsFile, 0);
                }
                dataKey = dataKey(splits);
                return loop(model, adam, splits, n, start, metricsFile);
            }
        }
    }

    /**
     * What identifies the training data on --resume: the content key in the token folder's manifest (a cache
     * folder is named after it; a prepared folder keeps its own name, whatever it holds).
     */
    private static String dataKey(TokenSplits splits) {
        if (splits.dir() == null) return "";
        Path manifest = splits.dir().resolve("manifest.json");
        String key = Files.isRegularFile(manifest)
                ? Json.read(manifest).path("key").asText("") : "";
        return key.isEmpty() ? splits.dir().getFileName().toString() : key;
    }

    private LumensparkModel createModel(boolean resume) {
        if (resume) return ModelFiles.load(Checkpoint.find(opt.out()));
        if (opt.init() != null) {
            LumensparkModel m = ModelFiles.load(opt.init());
            if (m.config().vocabSize() != tokenizer.vocabSize()) {
                m.close();
                throw new LumensparkException(opt.init() + ": vocab_size " + m.config().vocabSize()
                        + " does not match the tokenizer's " + tokenizer.vocabSize());
            }
            m.setTokenizer(tokenizer);
            return m;
        }
        Map<String, String> overrides = new HashMap<>(opt.overrides());
        overrides.putIfAbsent("vocab_size", Integer.toString(tokenizer.vocabSize()));
        LumensparkModel m = new LumensparkModel(ModelConfig.preset(opt.preset()).with(overrides));
        m.initialize(opt.seed());
        m.setTokenizer(tokenizer);
        return m;
    }

    private Result loop(LumensparkModel model, AdamW adam, TokenSplits splits, int n, long start, Path metricsFile) {
        int b = opt.batch(), accum = opt.accumulation();
        BatchSampler sampler = new BatchSampler(splits.train(), b, n, opt.seed());
        LrSchedule schedule = new LrSchedule(opt.lr(), opt.minLr(), opt.warmupSteps(), opt.steps());
        int[] in = new int[b * n], tg = new int[b * n];
        float gradScale = 1f / ((float) b * n * accum);
        List<Map<String, Object>> history = new ArrayList<>(MetricsLog.read(metricsFile));
        // a resumed run starts from its last logged numbers (they are all there is when it was already complete)
        double trainLoss = last(history, "train_loss"), valLoss = last(history, "val_loss"), tokensPerSecond = 0;
        long tokensPerStep = (long) b * n * accum;
        long t0 = System.nanoTime();
        try (MetricsLog metrics = new MetricsLog(metricsFile); ProgressBar bar = progressBar(start)) {
            for (long step = start; step < opt.steps(); step++) {
                long ts = System.nanoTime();
                model.params().zeroGrads();
                double sum = 0;
                for (int micro = 0; micro < accum; micro++) {
                    sampler.fill(step, micro, in, tg);
                    sum += model.trainStep(in, tg, b, n, gradScale, opt.seed(), step, micro);
                }
                trainLoss = sum / tokensPerStep;
                if (!Double.isFinite(trainLoss)) {
                    throw new LumensparkException("training diverged at step " + (step + 1) + " (loss " + trainLoss
                            + "); try a lower --lr");
                }
                double norm = AdamW.gradNorm(model.params());
                if (!Double.isFinite(norm)) {
                    throw new LumensparkException("training diverged at step " + (step + 1) + " (gradient norm "
                            + norm + "); the last checkpoint is intact; try a lower --lr");
                }
                double lr = schedule.at(step);
                adam.step(step + 1, lr, AdamW.clipFactor(norm, opt.gradClip()));
                double seconds = (System.nanoTime() - ts) / 1e9;
                tokensPerSecond = tokensPerStep / seconds;
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", step + 1);
                rec.put("train_loss", trainLoss);
                rec.put("lr", lr);
                rec.put("grad_norm", norm);
                rec.put("tokens_per_s", Math.round(tokensPerSecond));
                rec.put("elapsed_s", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
                boolean last = step + 1 == opt.steps();
                boolean interrupted = step + 1 == stopAfter && !last;
                if ((step + 1) % opt.evalEvery() == 0 || last) {
                    Evaluator.Result r = Evaluator.evaluate(model, splits.val(), b, n, opt.evalTokens());
                    valLoss = r.loss();
                    rec.put("val_loss", valLoss);
                    rec.put("val_ppl", r.perplexity());
                }
                metrics.log(rec);
                history.add(rec);
                bar.stepTo(step + 1);
                bar.setExtraMessage(String.format(" loss %.3f%s | %,.0f tok/s", trainLoss,
                        Double.isNaN(valLoss) ? "" : String.format(" val %.3f", valLoss), tokensPerSecond));
                if (rec.containsKey("val_loss")) writeChart(history);
                if ((step + 1) % opt.checkpointEvery() == 0 || last || interrupted) {
                    Checkpoint.save(opt.out(), model, adam, state(step + 1));
                }
                if (interrupted) return new Result(step + 1, trainLoss, valLoss, tokensPerSecond, opt.out());
            }
        }
        ModelFiles.save(model, opt.out());
        writeChart(history);
        return new Result(opt.steps(), trainLoss, valLoss, tokensPerSecond, opt.out());
    }

    private static double last(List<Map<String, Object>> history, String key) {
        for (int i = history.size() - 1; i >= 0; i--) {
            if (history.get(i).get(key) instanceof Number v) return v.doubleValue();
        }
        return Double.NaN;
    }

    private Map<String, Object> state(long step) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("step", step);
        s.put("threads", Parallel.threads());
        s.put("backend", Blas.get().name());
        s.put("data_key", dataKey);
        s.put("options", Json.mapper().convertValue(opt, new TypeReference<Map<String, Object>>() {
        }));
        return s;
    }

    private void writeChart(List<Map<String, Object>> history) {
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("train", column(history, "train_loss"));
        series.put("validation", column(history, "val_loss"));
        Charts.write(opt.out().resolve("loss.png"), "Loss", series);
    }

    private static double[][] column(List<Map<String, Object>> history, String key) {
        List<double[]> points = new ArrayList<>();
        for (var r : history) {
            if (r.get(key) instanceof Number v && r.get("step") instanceof Number s) {
                points.add(new double[]{s.doubleValue(), v.doubleValue()});
            }
        }
        double[][] xy = new double[2][points.size()];
        for (int i = 0; i < points.size(); i++) {
            xy[0][i] = points.get(i)[0];
            xy[1][i] = points.get(i)[1];
        }
        return xy;
    }

    private ProgressBar progressBar(long start) {
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(opt.steps()).startsFrom(start,
                        java.time.Duration.ZERO).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err)).build();
    }
}
