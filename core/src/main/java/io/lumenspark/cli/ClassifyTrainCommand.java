package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.bench.Processes;
import io.lumenspark.io.Json;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.Truncation;
import io.lumenspark.training.ClassWeights;
import io.lumenspark.training.ClassificationTargets;
import io.lumenspark.training.ClassifierOptions;
import io.lumenspark.training.ClassifierTrainer;
import io.lumenspark.training.LabeledText;
import io.lumenspark.training.TfidfNaiveBayes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a text classifier on labeled records (CSV or JSON lines): fine-tune a pretrained model"
                + " (--base, causal or masked LM) with a new head, or train one from scratch (--preset).",
                "The run folder holds the best validation model, checkpoint/ (for --resume), metrics.jsonl, loss.png"
                        + " and confusion_matrix.png; a new run refuses a folder holding a run or other files unless"
                        + " --force."})
final class ClassifyTrainCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--data", paramLabel = "FILE|DIR", description = "CSV or JSON lines files, or folders of them (repeatable).")
    List<Path> data = List.of();

    @Mixin
    RecordOptions records;

    @Option(names = "--base", paramLabel = "DIR|ID", description = "A pretrained model folder or Hugging Face Hub id"
            + " owner/name[@revision] to fine-tune (its tokenizer comes along).")
    ModelName base;

    @Option(names = "--preset", paramLabel = "PRESET", description = "Without --base, the model trained from scratch (default:"
            + " ${DEFAULT-VALUE}).")
    String preset = "tiny";

    @Mixin
    OverrideOptions set;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, paramLabel = "NAME|DIR",
            description = "Without --base, the tokenizer (default: ${DEFAULT-VALUE}).")
    String tokenizer = "gpt2";

    @Option(names = "--val-fraction", paramLabel = "X", description = "Share of the records held out for validation, drawn with"
            + " --seed (default: 0.1; --resume: the run's).")
    Double valFraction;

    @Option(names = "--val", paramLabel = "FILE|DIR", description = "Validation records instead of --val-fraction.")
    List<Path> val;

    @Option(names = "--multi-label", description = "Several labels per text, separated by --label-separator.")
    boolean multiLabel;

    @Option(names = "--label-separator", paramLabel = "SEP", description = "Separates a multi-label record's labels (default:"
            + " '${DEFAULT-VALUE}').")
    String separator = ModelConfig.DEFAULT_LABEL_SEPARATOR;

    @Option(names = "--regression", description = "The label is a number: one output, squared error.")
    boolean regression;

    @Option(names = "--pooling", paramLabel = "last|mean|first", description = "last, mean or first (default: last for causal models, mean for"
            + " bidirectional ones).")
    String pooling;

    @Option(names = "--class-weights", paramLabel = "none|balanced", description = "none or balanced (default: ${DEFAULT-VALUE}).")
    String classWeights = "none";

    @Option(names = "--truncate", paramLabel = "left|right", description = "Which end of a text longer than seq_length is cut: left or right"
            + " (default: ${DEFAULT-VALUE}).")
    String truncate = "right";

    @Option(names = "--batch", paramLabel = "N", description = "Texts per step (default: ${DEFAULT-VALUE}).")
    int batch = 16;

    @Option(names = "--epochs", paramLabel = "N", description = "Passes over the training texts (default: ${DEFAULT-VALUE}).")
    int epochs = 3;

    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 2e-4;

    @Option(names = "--min-lr", paramLabel = "LR", description = "Floor of the cosine decay (default: lr / 10).")
    Double minLr;

    @Option(names = "--warmup", paramLabel = "F", description = "Fraction of steps for linear warm-up (default: ${DEFAULT-VALUE}).")
    double warmup = 0.1;

    @Option(names = "--weight-decay", paramLabel = "F", description = "AdamW weight decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay = 0.01;

    @Option(names = "--grad-clip", paramLabel = "NORM", description = "Clip the global gradient norm to this (default: ${DEFAULT-VALUE}).")
    double gradClip = 1.0;

    @Option(names = "--eval-every", paramLabel = "N", description = "Steps between validations (default: once per epoch).")
    long evalEvery;

    @Option(names = "--early-stopping-patience", paramLabel = "N", description = "Stop after N validations without"
            + " a better macro-F1 (regression: loss); 0 never stops early (default: ${DEFAULT-VALUE}).")
    int patience;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the split, the head, the batches and dropout (default:"
            + " ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The run folder (new or empty, or"
            + " the run to --resume; --force for another).")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint with its saved"
            + " settings and thread count (give the same --data and --val).")
    boolean resume;

    @Option(names = "--force", description = "Start a new run in an --out that holds an earlier run or other files;"
            + " the earlier run is replaced at this run's first checkpoint, other files are left alone.")
    boolean force;

    @Option(names = "--baseline", description = "Also train and score the TF-IDF + naive Bayes baseline on the same"
            + " split (one label per text).")
    boolean baseline;

    @Option(names = "--json", description = "Print the result as one JSON object.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (data.isEmpty()) throw new LumensparkException("no training data: pass --data FILE (CSV or JSON lines)");
        if (multiLabel && regression) throw new LumensparkException("--multi-label and --regression exclude each other");
        ClassifierOptions options;
        if (resume) {
            for (var option : spec.commandLine().getParseResult().matchedOptions()) {
                String name = option.longestName();
                if (!List.of("--resume", "--out", "--data", "--val", "--val-fraction", "--threads", "--backend",
                        "--json", "--text-column", "--label-column", "--skip-bad-records", "--baseline")
                        .contains(name)) {
                    throw new LumensparkException("--resume continues a run with the settings saved in its"
                            + " checkpoint; drop " + name);
                }
            }
            runtime.applySaved(ClassifierTrainer.savedThreads(out));
            options = ClassifierTrainer.savedOptions(out);
        } else {
            runtime.apply();
            ProblemType type = multiLabel ? ProblemType.MULTI_LABEL_CLASSIFICATION
                    : regression ? ProblemType.REGRESSION : ProblemType.SINGLE_LABEL_CLASSIFICATION;
            options = new ClassifierOptions(base == null ? null : base.folder(), preset, set.overrides,
                    tokenizer, type, separator, pooling == null ? null : Labeled.parse(Pooling.class, pooling,
                    "--pooling"), Labeled.parse(ClassWeights.class, classWeights, "--class-weights"),
                    Labeled.parse(Truncation.class, truncate, "--truncate"), batch, epochs, lr,
                    minLr == null ? lr / 10 : minLr, warmup, weightDecay, gradClip, evalEvery, patience, seed, out);
        }
        if (baseline && options.problemType() != ProblemType.SINGLE_LABEL_CLASSIFICATION) {
            throw new LumensparkException("--baseline is for one label per text, not " + options.problemType());
        }
        if (val != null && valFraction != null) {
            throw new LumensparkException("--val and --val-fraction exclude each other");
        }
        double fraction = valFraction != null ? valFraction : ClassifierTrainer.DEFAULT_VAL_FRACTION;
        if (resume) { // the run's own split: its share of --data (drawn with its seed), or its --val records
            OptionalDouble saved = ClassifierTrainer.savedValFraction(out);
            if (saved.isPresent() && val != null) {
                throw new LumensparkException("the run in " + out + " held out --val-fraction " + saved.getAsDouble()
                        + " of its --data for validation; drop --val");
            }
            if (saved.isEmpty() && val == null) {
                throw new LumensparkException("the run in " + out + " was validated on separate records; give its"
                        + " --val again");
            }
            if (saved.isPresent() && valFraction != null && valFraction != saved.getAsDouble()) {
                throw new LumensparkException("--val-fraction " + valFraction + " is not the run's ("
                        + saved.getAsDouble() + "): --resume holds out the same records; drop --val-fraction");
            }
            if (saved.isPresent()) fraction = saved.getAsDouble();
        }
        List<LabeledText> all = records.readAll(data);
        List<List<LabeledText>> split = val != null ? List.of(all, records.readAll(val))
                : ClassifierTrainer.split(all, fraction, options.seed());
        List<LabeledText> train = split.get(0), held = split.get(1);
        ClassifierTrainer trainer = new ClassifierTrainer(options, json ? System.err : System.out).replace(force);
        if (val == null) trainer.valFraction(fraction);
        ClassifierTrainer.Result r = trainer.run(train, held, resume);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("steps", r.steps());
        result.put("best_step", r.bestStep());
        result.put(r.metricName(), r.bestMetric());
        result.put("stopped_early", r.stoppedEarly());
        result.put("truncated_texts", r.truncated());
        result.put("train_seconds", Math.round(r.seconds() * 10) / 10.0);
        result.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
        if (r.best() != null) result.put("validation", r.best().toMap());
        if (baseline) result.put("baseline", baseline(options, train, held));
        if (json) {
            System.out.println(Json.toLine(result));
            return 0;
        }
        System.out.printf("done: %s; best %s %.4f at step %d%s; %.1f s, peak memory %,d MiB; model in %s%n",
                Words.count(r.steps(), "step"), r.metricName(), r.bestMetric(), r.bestStep(),
                r.stoppedEarly() ? " (stopped early)" : "", r.seconds(), Math.round(Processes.peakRssMib()), out);
        if (r.best() != null) System.out.print(r.best().report());
        if (baseline) {
            @SuppressWarnings("unchecked")
            Map<String, Object> b = (Map<String, Object>) result.get("baseline");
            System.out.printf("baseline (TF-IDF word 1-2-grams + multinomial naive Bayes) on the same validation"
                    + " records: accuracy %.4f, macro-F1 %.4f%n", (Double) b.get("accuracy"), (Double) b.get("macro_f1"));
        }
        return 0;
    }

    /** The baseline's validation metrics. */
    private static Map<String, Object> baseline(ClassifierOptions options, List<LabeledText> train,
                                                List<LabeledText> held) {
        ClassificationTargets targets = ClassificationTargets.of(options.problemType(), options.separator(), train);
        return TfidfNaiveBayes.trainAndEvaluate(targets, train, held).toMap();
    }
}
