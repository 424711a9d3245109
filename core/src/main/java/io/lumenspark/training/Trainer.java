package io.lumenspark.training;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Charts;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.LmObjective;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenSplits;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The training loop: random windows of the training split, AdamW with warm-up and cosine decay, gradient
 * clipping and accumulation, periodic validation, JSON-lines metrics, a loss-curve PNG and resumable
 * checkpoints. Every step is a function of (weights, optimizer state, seed, step) for a given thread count, so
 * a resumed run with the same thread count repeats the uninterrupted run's numbers. The tokenizer is the one the
 * options name, else the init model's, else GPT-2's; it is saved with every checkpoint and the final model, and a
 * resumed run uses that copy.
 * <p>
 * A run holds its folder's lock ({@link FolderLock}) from start to end. A new run refuses a folder that is not
 * empty unless {@link #replace} allows it, and then leaves the earlier run's files alone until its own first
 * checkpoint (see {@link RunFolder}). A resumed run may get another step budget ({@link TrainOptions#withSteps}):
 * from the step it resumes at, the learning rate follows the cosine over the new total, with the warm-up it
 * started with; the change is recorded in trainer_state.json.
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
     * @param valTokens       validation tokens each evaluation predicts (--eval-tokens, spread over the split)
     * @param valTotal        validation tokens in the split that could be predicted
     * @param objective       what the losses measure: next tokens, or masked tokens (a masked LM's validation
     *                        perplexity is its pseudo-perplexity)
     */
    public record Result(long steps, double trainLoss, double valLoss, double tokensPerSecond, Path out,
                         long valTokens, long valTotal, LmObjective objective) {
        /** exp(valLoss): the perplexity, or a masked LM's pseudo-perplexity. */
        public double valPerplexity() {
            return Math.exp(valLoss);
        }

        /** What the validation loss covers, e.g. "16,384 of the 210,851 validation tokens, in windows ...". */
        public String validationCoverage() {
            return valTokens == valTotal ? "all " + Words.count(valTotal, "validation token")
                    : String.format("%,d of the %s, in windows spread evenly over them", valTokens,
                    Words.count(valTotal, "validation token"));
        }
    }

    private final TrainOptions opt;
    private final PrintStream log;
    private Tokenizer tokenizer;
    private long stopAfter = Long.MAX_VALUE;
    private boolean replace;
    private PrintStream interruptReport;
    // the run, as trainer_state.json records it
    private String dataKey = "";
    private String runId;
    private long warmup;
    private final List<Map<String, Object>> budgetChanges = new ArrayList<>();
    // where the run is, for the interruption report
    private volatile long reached, checkpointed;
    /** The step budget the last checkpoint records: a resumed run stopped before its first one keeps the old. */
    private volatile long checkpointBudget;
    private volatile boolean replacing;
    private volatile ProgressBars.Bar bar;
    private final ReentrantLock saving = new ReentrantLock();

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

    /**
     * Lets a new run start in a folder that is not empty (--force). An earlier run there stays as it is until this
     * run's first checkpoint replaces it; other files are left alone.
     */
    public Trainer replace(boolean allowed) {
        this.replace = allowed;
        return this;
    }

    /**
     * When the process is stopped (Ctrl-C, SIGTERM) while this trainer runs, ends the progress bar's line and
     * prints one line to {@code report}: the step reached, the last checkpoint and the command that resumes.
     */
    public Trainer reportInterruptions(PrintStream report) {
        this.interruptReport = report;
        return this;
    }

    /** Reads the options a run saved in its checkpoint, for --resume (with out as its folder now). */
    public static TrainOptions savedOptions(Path out) {
        return saved(out).options();
    }

    /** The thread count a run's checkpoint was made with: resuming with another would change its numbers. */
    public static int savedThreads(Path out) {
        return saved(out).threads();
    }

    /** The state to resume from; a folder another process is training in is refused as such, whatever it holds. */
    private static TrainerState saved(Path out) {
        if (FolderLock.isHeldElsewhere(out)) {
            throw new LumensparkException("another process is training in " + out + "; resume once it has ended");
        }
        return TrainerState.read(out);
    }

    /** The command that resumes the run in {@code out}, for messages. */
    public static String resumeCommand(Path out) {
        return Home.command() + " train --resume --out " + Words.shellWord(out.toString());
    }

    /**
     * Trains to the last step and saves the final model in the run folder, next to checkpoint/, metrics.jsonl and
     * loss.png ({@link #stopAfter} ends earlier, with only a checkpoint). With resume, continues from the
     * checkpoint there (whose data must be unchanged) and drops metrics logged after it. Holds the folder's lock
     * throughout, and first removes what killed runs left there (temporary files, unfinished checkpoints).
     *
     * @throws LumensparkException for bad data or options, a missing or damaged checkpoint, a folder that holds
     *                             files (without {@link #replace}) or that another process is training in, or a
     *                             diverging loss
     */
    public Result run(boolean resume) {
        Path out = opt.out();
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new LumensparkException("--out " + out + " is a file, not a folder");
        }
        if (resume && !Files.isDirectory(out)) Checkpoint.find(out); // says there is nothing to resume
        boolean done = false;
        Thread hook = interruptReport == null ? null : new Thread(this::reportInterruption, "lumenspark-interrupt");
        FolderLock lock = FolderLock.acquire(out, false, "training in");
        try {
            if (hook != null) Runtime.getRuntime().addShutdownHook(hook);
            Result r = runLocked(resume);
            done = true;
            return r;
        } finally {
            if (hook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running or has run: it reports
                }
            }
            if (done) lock.closeAndRemove(); // a finished run's folder holds no lock file
            else lock.closeAndUndo(); // a refused or failed run leaves no lock file (nor a folder) it made
        }
    }

    private Result runLocked(boolean resume) {
        Path out = opt.out();
        // everything is checked before anything in the folder changes
        RunFolder.Contents found = RunFolder.inspect(out);
        TrainerState saved = resume ? TrainerState.read(out) : null;
        if (!resume && !found.isFree() && !replace) throw RunFolder.refusal(out, found);
        long start = 0;
        if (resume) {
            start = saved.step();
            long before = saved.options().steps();
            if (opt.steps() != before && opt.steps() <= start) {
                throw new LumensparkException("--steps " + opt.steps() + " must be above step " + start
                        + ", which the run in " + out + " has already reached");
            }
            warmup = saved.warmupSteps();
            runId = saved.runId() != null ? saved.runId() : newRunId();
            budgetChanges.addAll(saved.budgetChanges());
            if (opt.steps() != before) {
                Map<String, Object> change = new LinkedHashMap<>();
                change.put("at_step", start);
                change.put("from", before);
                change.put("to", opt.steps());
                budgetChanges.add(change);
            }
            reached = checkpointed = start;
            checkpointBudget = before;
        } else {
            warmup = opt.warmupSteps();
            runId = newRunId();
            replacing = !found.runFiles().isEmpty() && !found.stoppedBeforeCheckpoint();
            checkpointBudget = opt.steps();
        }
        RunFolder.tidy(out, found.state() == null ? null : found.state().runId());
        tokenizer = resume ? Tokenizer.fromPretrained(Checkpoint.find(out))
                : opt.tokenizer() != null ? Tokenizer.load(opt.tokenizer())
                : opt.init() != null ? Tokenizer.fromPretrained(opt.init())
                : Tokenizer.byName("gpt2");
        boolean masked = opt.objective() == LmObjective.MASKED_LM;
        Tokenizer before = tokenizer;
        // a masked LM needs <mask> and <pad>: added to a tokenizer that lacks them
        if (masked) tokenizer = tokenizer.withSpecialTokens(MlmMasking.SPECIAL_TOKENS);
        // The model and its settings are checked before anything is allocated, and before the data, whose
        // tokenizing may take minutes.
        ModelConfig cfg = config(resume);
        int n = opt.seqLength() == 0 ? cfg.seqLength() : opt.seqLength();
        if (n > cfg.seqLength()) { // as eval says it
            throw new LumensparkException("--seq-length must be in 1.." + cfg.seqLength() + ", got " + n);
        }
        if (cfg.vocabSize() < tokenizer.vocabSize()) {
            throw new LumensparkException("vocab_size " + cfg.vocabSize() + " is smaller than the tokenizer's "
                    + tokenizer.vocabSize() + " (" + tokenizer.name() + ")");
        }
        MemoryPlan.forTraining(cfg, opt.batch(), n).check();
        if (tokenizer != before) { // said once the options are known to be valid
            log.printf("tokenizer: %s and %s added for the masked-LM objective (ids %d and %d)%n",
                    Tokenizer.MASK_TEXT, Tokenizer.PAD_TEXT, tokenizer.specialId(Tokenizer.MASK_TEXT).orElseThrow(),
                    tokenizer.specialId(Tokenizer.PAD_TEXT).orElseThrow());
        }
        if (!masked) cfg.nextTokenLossWarning().ifPresent(w -> System.err.println("warning: " + w));
        if (!resume && found.stoppedBeforeCheckpoint()) {
            log.printf("%s held the metrics of a run stopped before its first checkpoint (nothing to resume);"
                    + " this run replaces them%n", out);
            RunFolder.removeRunFiles(out);
        }
        try (Arena arena = Arena.ofShared(); LumensparkModel model = createModel(resume, cfg)) {
            // a masked LM's text is encoded without <mask> and <pad> (GPT-2's token caches and folders serve, and
            // folders prepared with the model's own tokenizer)
            Tokenizer textTokenizer = masked ? MlmMasking.textTokenizer(tokenizer) : tokenizer;
            try (TokenSplits splits = TokenCorpus.prepare(opt.data(), tokenizer, textTokenizer, opt.valFraction(),
                    Home.tokenCache())) {
                log.printf("data: %s, %s%s%n", Words.count(splits.train().length(), "training token"),
                        Words.count(splits.val().length(), "validation token"), splits.reused() ? " (cached)" : "");
                Params params = model.languageModel().params();
                log.printf("model: %s, %s, %s attention%s%s; tokenizer %s; matrix backend %s, %s%n",
                        opt.init() != null ? opt.init() : opt.preset(), Words.count(params.count(), "parameter"),
                        cfg.attention(), cfg.causal() ? " (causal)" : "", masked ? ", masked LM" : "",
                        tokenizer.name(), Blas.get().name(),
                        Words.count(Parallel.threads(), "thread"));
                Optional<Bf16Gemm> bf16 = opt.precision().products(w -> System.err.println("warning: " + w));
                model.languageModel().useBf16Products(bf16.orElse(null));
                bf16.ifPresent(g -> log.printf("precision: bf16 products with fp32 accumulation (%s): the output"
                        + " layer's and the Linear layers'; fp32 weights, gradients and optimizer state%n", g.name()));
                AdamW adam = new AdamW(params, arena, 0.9, 0.95, 1e-8, opt.weightDecay());
                Path metricsFile = out.resolve(RunFolder.METRICS);
                if (resume) {
                    Path dir = Checkpoint.find(out);
                    OptimizerFiles.read(dir.resolve(Checkpoint.OPTIMIZER), params, adam);
                    if (!saved.dataKey().isEmpty() && !saved.dataKey().equals(dataKey(splits))) {
                        throw new LumensparkException("the training data changed since the checkpoint in " + out
                                + " was written; resuming would not continue the same run");
                    }
                    MetricsLog.truncateAfterStep(metricsFile, start);
                    if (start == opt.steps()) {
                        log.printf("the run in %s is finished (step %d of %d): nothing to train; to train it"
                                        + " further: %s --steps N (N above %d)%n", out, start, opt.steps(),
                                resumeCommand(out), start);
                    } else {
                        log.printf("resuming from step %d of %d%n", start, opt.steps());
                    }
                    if (opt.steps() != saved.options().steps()) {
                        log.printf("the run now ends at step %d instead of %d: from step %d on, the learning rate"
                                        + " follows a cosine over %s (the warm-up of %s is unchanged)%n",
                                opt.steps(), saved.options().steps(), start, Words.count(opt.steps(), "step"),
                                Words.count(warmup, "step"));
                    }
                } else if (replacing) {
                    metricsFile = RunFolder.pendingMetrics(out, runId);
                    log.printf("replacing the earlier run in %s: its files stay until this run's first checkpoint"
                            + " (step %d)%n", out, Math.min(opt.checkpointEvery(), opt.steps()));
                }
                dataKey = dataKey(splits);
                Objective objective = masked
                        ? new MaskedLmObjective(model.languageModel(), splits, new MlmMasking(tokenizer), opt.batch(),
                        n, opt.seed(), opt.evalTokens())
                        : new CausalLmObjective(model.languageModel(), splits, opt.batch(), n, opt.seed(),
                        opt.evalTokens());
                return loop(model, adam, objective, start, metricsFile);
            }
        }
    }

    private static String newRunId() {
        return HexFormat.of().toHexDigits(new SecureRandom().nextLong());
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

    /**
     * The configuration of the model this run trains, read before anything is built: the checkpoint's, the --init
     * model's (whose vocabulary must be the tokenizer's), or the preset's with the overrides and, unless they set
     * it, the tokenizer's vocab_size.
     */
    private ModelConfig config(boolean resume) {
        if (resume) {
            ModelConfig cfg = ModelWeights.readConfig(Checkpoint.find(opt.out()));
            if (cfg.objective() != opt.objective()) {
                throw new LumensparkException(Checkpoint.find(opt.out()).resolve(ModelWeights.CONFIG) + ": objective "
                        + cfg.objective() + " is not the run's (" + opt.objective() + ")");
            }
            return cfg;
        }
        ModelConfig cfg;
        String source;
        if (opt.init() != null) {
            cfg = ModelWeights.readConfig(opt.init());
            source = "--init " + opt.init();
            if (cfg.isClassifier()) {
                throw new LumensparkException("--init " + opt.init() + ": this model is a sequence classifier"
                        + " (objective sequence_classification), not a language model; to fine-tune it on labeled"
                        + " texts: lumenspark classify train --base " + opt.init());
            }
            if (cfg.vocabSize() != tokenizer.vocabSize()) {
                throw new LumensparkException(opt.init() + ": vocab_size " + cfg.vocabSize()
                        + " does not match the tokenizer's " + tokenizer.vocabSize()
                        + (opt.objective() == LmObjective.MASKED_LM && cfg.maskTokenId() < 0 ? " (with "
                        + Tokenizer.MASK_TEXT + " and " + Tokenizer.PAD_TEXT + " added for --objective mlm: a model"
                        + " without them cannot learn to fill masks)" : ""));
            }
        } else {
            // the overrides as typed first, so that a message about them names only those
            cfg = ModelConfig.preset(opt.preset()).with(opt.overrides());
            source = "preset " + opt.preset() + (opt.overrides().isEmpty() ? "" : " with --set");
            if (!opt.overrides().containsKey("vocab_size")) {
                cfg = cfg.with("vocab_size", Integer.toString(tokenizer.vocabSize()));
            }
        }
        if (opt.objective() == LmObjective.MASKED_LM && cfg.causal()) {
            throw new LumensparkException("--objective mlm needs a bidirectional model, and " + source + " is causal:"
                    + " use --preset encoder or lumenspark-v0.1, or --set causal=false");
        }
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("objective", opt.objective().label());
        if (opt.objective() == LmObjective.MASKED_LM) {
            keys.put("mask_token_id", Integer.toString(tokenizer.specialId(Tokenizer.MASK_TEXT).orElseThrow()));
            keys.put("pad_token_id", Integer.toString(tokenizer.specialId(Tokenizer.PAD_TEXT).orElseThrow()));
        }
        return cfg.with(keys);
    }

    /** The model of {@link #config}: loaded from the checkpoint or --init folder, or new and initialized. */
    private LumensparkModel createModel(boolean resume, ModelConfig cfg) {
        if (resume) return ModelFolder.loadTrainable(Checkpoint.find(opt.out()), cfg);
        if (opt.init() != null) {
            LumensparkModel m = ModelFolder.loadTrainable(opt.init(), cfg);
            m.setTokenizer(tokenizer);
            return m;
        }
        LanguageModel m = new LanguageModel(cfg);
        m.initialize(opt.seed());
        return new LumensparkModel(m, tokenizer);
    }

    /** The steps from start on; the objective decides what a step trains and validates, nothing here depends on it. */
    private Result loop(LumensparkModel model, AdamW adam, Objective objective, long start, Path metricsFile) {
        int accum = opt.accumulation();
        Params params = model.languageModel().params();
        LrSchedule schedule = new LrSchedule(opt.lr(), opt.minLr(), warmup, opt.steps());
        long valTokens = objective.validationUnits(), valTotal = objective.validationTotal();
        log.printf("validation: every %s, %s%n", opt.evalEvery() == 1 ? "step" : opt.evalEvery() + " steps",
                objective.validationPlan());
        Path out = opt.out();
        List<Map<String, Object>> history = new ArrayList<>(MetricsLog.read(metricsFile));
        // a resumed run starts from its last logged numbers (they are all there is when it was already complete)
        double trainLoss = last(history, "train_loss"), valLoss = last(history, "val_loss"), tokensPerSecond = 0;
        long tokensPerStep = objective.tokensPerMicroBatch() * accum;
        long t0 = System.nanoTime();
        try (MetricsLog metrics = new MetricsLog(metricsFile);
             ProgressBars.Bar progress = start < opt.steps() // a finished run has nothing to show
                     ? ProgressBars.open("train", opt.steps(), start, ProgressBars.Unit.COUNT) : null) {
            bar = progress;
            for (long step = start; step < opt.steps(); step++) {
                long ts = System.nanoTime();
                double lr = schedule.at(step);
                Step done;
                try {
                    done = step(params, adam, objective, step, accum, lr, opt.gradClip());
                } catch (Diverged e) {
                    throw diverged(step + 1, e.what); // with where to go on from
                }
                trainLoss = done.loss();
                double norm = done.gradNorm();
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
                    Evaluator.Result r = objective.validate();
                    valLoss = r.loss();
                    rec.put("val_loss", valLoss);
                    rec.put("val_ppl", r.perplexity());
                }
                metrics.log(rec);
                history.add(rec);
                reached = step + 1;
                progress.stepTo(step + 1);
                progress.setExtraMessage(String.format(" loss %.3f%s | %,.0f tok/s", trainLoss,
                        Double.isNaN(valLoss) ? "" : String.format(" val %.3f", valLoss), tokensPerSecond));
                if (rec.containsKey("val_loss") && !replacing) writeLossChart(opt.out(), history);
                if ((step + 1) % opt.checkpointEvery() == 0 || last || interrupted) {
                    checkWeights(params, step + 1); // a checkpoint that would not load is never written
                    saving.lock(); // a stopped process finishes the checkpoint it is writing, and starts none after it
                    try {
                        Checkpoint.save(out, model, adam, state(step + 1, objective).toMap());
                        checkpointed = step + 1;
                        checkpointBudget = opt.steps();
                        if (replacing) { // this run's checkpoint is in place: its metrics and chart are the folder's
                            RunFolder.promote(out, metricsFile);
                            replacing = false;
                            writeLossChart(opt.out(), history);
                        }
                    } finally {
                        saving.unlock();
                    }
                }
                if (interrupted) {
                    return new Result(step + 1, trainLoss, valLoss, tokensPerSecond, out, valTokens, valTotal,
                            opt.objective());
                }
            }
        } finally {
            bar = null;
        }
        model.save(out);
        writeLossChart(opt.out(), history);
        return new Result(opt.steps(), trainLoss, valLoss, tokensPerSecond, out, valTokens, valTotal,
                opt.objective());
    }

    /**
     * Refuses weights that a saved model could not be loaded from (see {@link ModelWeights#MAX_WEIGHT}): not finite,
     * or beyond 2^64, after an optimizer step with too high a learning rate.
     */
    private void checkWeights(Params params, long step) {
        for (Params.Param p : params.list()) {
            MemorySegment w = params.segment(p);
            for (long i = 0; i < p.size(); i++) {
                float v = w.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                if (!(Math.abs(v) <= ModelWeights.MAX_WEIGHT)) {
                    throw diverged(step, "weight " + p.name() + "[" + i + "] is " + v);
                }
            }
        }
    }

    /** The error for a run that diverged at a step, with what showed it and where to go on from. */
    private LumensparkException diverged(long step, String what) {
        String command = Home.command() + " train ... --out " + Words.shellWord(opt.out().toString())
                + (checkpointed == 0 ? "" : " --force") + " --lr LOWER";
        return new LumensparkException("training diverged at step " + step + " (" + what + "); "
                + (checkpointed == 0 ? "no checkpoint was written; start again with a lower --lr: " + command
                : "the checkpoint at step " + checkpointed + " is intact; start again with a lower --lr (" + command
                + "), or go on from that checkpoint with one: " + Home.command() + " train --init "
                + Words.shellWord(opt.out().resolve(Checkpoint.FOLDER).toString()) + " --lr LOWER --out NEW_DIR"));
    }

    /**
     * What one optimizer step reports.
     *
     * @param loss     mean training loss per unit (token) of the step
     * @param gradNorm the global gradient norm before clipping
     */
    public record Step(double loss, double gradNorm) {
    }

    /** A step whose loss or gradient norm is not finite ({@link #run} adds where to go on from). */
    public static final class Diverged extends LumensparkException {
        private final String what;

        Diverged(long step, String what) {
            super("training diverged at step " + step + " (" + what + "); try a lower --lr");
            this.what = what;
        }
    }

    /**
     * One optimizer step of the training loop, as {@link #run} takes it: zeroes the gradients, runs the
     * objective's {@code accum} micro-batches of {@code step} (0-based), clips the gradient to {@code gradClip} and
     * takes AdamW update number step + 1 at learning rate {@code lr}. Other loops (distributed training) call it
     * so that their steps are the trainer's, bit for bit.
     *
     * @throws Diverged if the loss or the gradient norm is not finite
     */
    public static Step step(Params params, AdamW adam, Objective objective, long step, int accum, double lr,
                            double gradClip) {
        params.zeroGrads();
        long units = Math.max(1, objective.lossUnits(step, accum)); // the step's loss is the mean over them
        float gradScale = 1f / units;
        double sum = 0;
        for (int micro = 0; micro < accum; micro++) sum += objective.trainMicroBatch(step, micro, gradScale);
        double trainLoss = sum / units;
        if (!Double.isFinite(trainLoss)) throw new Diverged(step + 1, "loss " + trainLoss);
        double norm = AdamW.gradNorm(params);
        if (!Double.isFinite(norm)) throw new Diverged(step + 1, "gradient norm " + norm);
        adam.step(step + 1, lr, AdamW.clipFactor(norm, gradClip));
        return new Step(trainLoss, norm);
    }

    private static double last(List<Map<String, Object>> history, String key) {
        for (int i = history.size() - 1; i >= 0; i--) {
            if (history.get(i).get(key) instanceof Number v) return v.doubleValue();
        }
        return Double.NaN;
    }

    private TrainerState state(long step, Objective objective) {
        return new TrainerState(step, Parallel.threads(), Blas.get().name(), dataKey, runId, objective.name(), warmup,
                budgetChanges, opt);
    }

    /**
     * Run by the shutdown hook: lets a checkpoint being written finish (up to a minute) and keeps the run from
     * starting another, ends the progress bar's line, then says where the run stopped.
     */
    private void reportInterruption() {
        try {
            saving.tryLock(60, TimeUnit.SECONDS); // held until the process ends
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        ProgressBars.Bar line = bar;
        if (line != null) line.close();
        interruptReport.println(interruptMessage(reached, opt.steps(), checkpointed, checkpointBudget,
                opt.checkpointEvery(), opt.out(), replacing));
        interruptReport.flush();
    }

    /**
     * The line printed when a run is stopped: the step reached, where its last checkpoint is and how to resume,
     * or that it has no checkpoint yet (and, for a run replacing an earlier one, that the earlier one is intact).
     * The resume command names {@code --steps} when the checkpoint records another budget than the run's (a run
     * given a new one with --resume --steps, stopped before its first checkpoint).
     */
    static String interruptMessage(long reached, long total, long checkpoint, long checkpointBudget, long every,
                                   Path out, boolean replacing) {
        String at = reached == 0 ? "stopped before the first step" : "stopped at step " + reached + " of " + total;
        if (checkpoint == 0) {
            return at + "; this run has no checkpoint yet (one is written every " + every + " steps), so there is"
                    + " nothing to resume" + (replacing ? "; the earlier run in " + out + " is unchanged"
                    : "; the same command starts it again");
        }
        return at + "; last checkpoint: step " + checkpoint + " in " + out.resolve(Checkpoint.FOLDER)
                + "; continue with: " + resumeCommand(out) + (checkpointBudget != total ? " --steps " + total : "");
    }

    /**
     * Draws a run's training and validation loss against the step ({@code train_loss}, {@code val_loss} and
     * {@code step} of its metrics records) into {@code out/loss.png}.
     */
    public static void writeLossChart(Path out, List<Map<String, Object>> history) {
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("train", column(history, "train_loss"));
        series.put("validation", column(history, "val_loss"));
        Charts.write(out.resolve(RunFolder.CHART), "Loss", series);
    }

    /** The (step, value) points of a key in the metrics history, as Charts takes a series. */
    static double[][] column(List<Map<String, Object>> history, String key) {
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
}
