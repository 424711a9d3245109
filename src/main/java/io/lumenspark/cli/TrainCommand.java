package io.lumenspark.cli;

import io.lumenspark.Words;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on text files (GPT-2 BPE or --tokenizer), with validation, metrics, loss curve and checkpoints.")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    Main.Runtime runtime;

    @Option(names = "--data", description = "Text files or folders (repeatable).")
    List<Path> data = List.of();

    @Option(names = "--out", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "train");

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint, with its saved"
            + " settings and thread count; with --steps, train it to that step instead (a finished run too).")
    boolean resume;

    @Option(names = "--force", description = "Start a new run in an --out that holds an earlier run or other files;"
            + " the earlier run is replaced at this run's first checkpoint, other files are left alone.")
    boolean force;

    @Option(names = "--preset", description = "lumenspark, lumenspark-v0.1, transformer, conv-linformer or tiny (default: ${DEFAULT-VALUE}).")
    String preset = "lumenspark";

    @Option(names = "--set", description = "Override a config key, e.g. --set embed_dim=256 (repeatable).")
    Map<String, String> overrides = new LinkedHashMap<>();

    @Option(names = "--config", description = "A config.json whose keys override the preset (before --set).")
    Path configFile;

    @Option(names = "--init", description = "Start from this model folder instead of a fresh model.")
    Path init;

    @Option(names = "--tokenizer", description = "A tokenizer folder (from `tokenizer train` or Hugging Face's"
            + " files) or name (default: the --init model's, or gpt2). It is saved with the model.")
    String tokenizer;

    @Option(names = "--val-fraction", description = "Tail of each file held out for validation (default: ${DEFAULT-VALUE}).")
    double valFraction = 0.1;

    @Option(names = "--batch", description = "Sequences per micro-batch (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--seq-length", description = "Tokens per sequence (default: the model's seq_length).")
    int seqLength;

    @Option(names = "--steps", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    long steps = 1000;

    @Option(names = "--grad-accum", description = "Micro-batches per step (default: ${DEFAULT-VALUE}).")
    int accumulation = 1;

    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 1e-3;

    @Option(names = "--min-lr", description = "Floor of the cosine decay (default: lr / 10).")
    Double minLr;

    @Option(names = "--warmup", description = "Fraction of steps for linear warm-up (default: ${DEFAULT-VALUE}).")
    double warmup = 0.05;

    @Option(names = "--weight-decay", description = "AdamW weight decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay = 0.01;

    @Option(names = "--grad-clip", description = "Clip the global gradient norm to this (default: ${DEFAULT-VALUE}).")
    double gradClip = 1.0;

    @Option(names = "--eval-every", description = "Steps between validation passes (default: ${DEFAULT-VALUE}).")
    long evalEvery = 100;

    @Option(names = "--eval-tokens", description = "Validation tokens per pass, 0 for all (default: ${DEFAULT-VALUE}).")
    long evalTokens = 65536;

    @Option(names = "--checkpoint-every", description = "Steps between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEvery = 250;

    @Option(names = "--seed", description = "Seed for initialization, batches and dropout (default: ${DEFAULT-VALUE}).")
    long seed = 1337;

    /** The keys of --config (as text, like --set) with --set on top. */
    private Map<String, String> configOverrides() {
        Map<String, String> all = new LinkedHashMap<>();
        if (configFile != null) {
            var node = io.lumenspark.io.Json.read(configFile);
            if (!node.isObject()) throw new io.lumenspark.LumensparkException(configFile + ": expected a JSON object");
            node.properties().forEach(e -> {
                if (!e.getKey().equals("model_type") && !e.getKey().equals("architectures")
                        && !e.getKey().equals("torch_dtype")) {
                    all.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
                }
            });
        }
        all.putAll(overrides);
        return all;
    }

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (resume) {
            for (var option : spec.commandLine().getParseResult().matchedOptions()) {
                String name = option.longestName();
                if (!List.of("--resume", "--out", "--steps", "--threads", "--backend").contains(name)) {
                    throw new io.lumenspark.LumensparkException("--resume continues a run with the settings saved in"
                            + " its checkpoint; drop " + name);
                }
            }
            int saved = Trainer.savedThreads(out);
            runtime.apply(saved);
            if (runtime.threads != saved) {
                System.err.printf("warning: the run used %s; with %d its numbers will differ slightly from"
                        + " an uninterrupted run%n", Words.count(saved, "thread"), runtime.threads);
            }
        } else {
            runtime.apply();
        }
        TrainOptions options;
        if (resume) {
            options = Trainer.savedOptions(out);
            if (spec.commandLine().getParseResult().hasMatchedOption("--steps")) options = options.withSteps(steps);
        } else {
            options = new TrainOptions(data, valFraction, preset, configOverrides(), init, batch, seqLength, steps,
                    accumulation, lr, minLr == null ? lr / 10 : minLr, warmup, weightDecay, gradClip, evalEvery,
                    evalTokens, checkpointEvery, seed, out, tokenizer);
        }
        Trainer.Result r = new Trainer(options, System.out).replace(force).reportInterruptions(System.err)
                .run(resume);
        System.out.printf("done: %s, train loss %.4f, validation loss %.4f (perplexity %.2f, over %s); model"
                        + " in %s%n", Words.count(r.steps(), "step"), r.trainLoss(), r.valLoss(), r.valPerplexity(), r.validationCoverage(),
                r.out());
        return 0;
    }
}
