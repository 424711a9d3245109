package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import io.lumenspark.training.TrainOptions;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** How {@code train} trains: the model, the tokenizer, the optimizer and the schedule; defaults from {@link TrainOptions#builder}. */
final class TrainingOptions {
    private static final TrainOptions.Builder DEFAULTS = TrainOptions.builder();

    @Option(names = "--preset", description = "lumenspark, lumenspark-v0.1, transformer, conv-linformer or tiny (default: ${DEFAULT-VALUE}).")
    String preset = DEFAULTS.preset();

    @Mixin
    OverrideOptions set;

    @Option(names = "--config", description = "A config.json whose keys override the preset (before --set).")
    Path configFile;

    @Option(names = "--init", description = "Start from this model folder instead of a fresh model.")
    Path init;

    @Option(names = "--tokenizer", description = "A tokenizer folder (from `tokenizer train` or Hugging Face's"
            + " files) or name (default: the --init model's, or gpt2). It is saved with the model.")
    String tokenizer;

    @Option(names = "--val-fraction", description = "Tail of each file held out for validation (default: ${DEFAULT-VALUE}).")
    double valFraction = DEFAULTS.valFraction();

    @Mixin
    BatchOptions shape;

    @Option(names = "--steps", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    long steps = DEFAULTS.steps();

    @Option(names = "--grad-accum", description = "Micro-batches per step (default: ${DEFAULT-VALUE}).")
    int accumulation = DEFAULTS.accumulation();

    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr = DEFAULTS.lr();

    @Option(names = "--min-lr", description = "Floor of the cosine decay (default: lr / 10).")
    Double minLr;

    @Option(names = "--warmup", description = "Fraction of steps for linear warm-up (default: ${DEFAULT-VALUE}).")
    double warmup = DEFAULTS.warmupFraction();

    @Option(names = "--weight-decay", description = "AdamW weight decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay = DEFAULTS.weightDecay();

    @Option(names = "--grad-clip", description = "Clip the global gradient norm to this (default: ${DEFAULT-VALUE}).")
    double gradClip = DEFAULTS.gradClip();

    @Option(names = "--eval-every", description = "Steps between validation passes (default: ${DEFAULT-VALUE}).")
    long evalEvery = DEFAULTS.evalEvery();

    @Option(names = "--eval-tokens", description = "Validation tokens per pass, 0 for all (default: ${DEFAULT-VALUE}).")
    long evalTokens = DEFAULTS.evalTokens();

    @Option(names = "--checkpoint-every", description = "Steps between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEvery = DEFAULTS.checkpointEvery();

    @Option(names = "--seed", description = "Seed for initialization, batches and dropout (default: ${DEFAULT-VALUE}).")
    long seed = DEFAULTS.seed();

    /** The options as given, for this data and run folder. */
    TrainOptions toOptions(List<Path> data, Path out) {
        return TrainOptions.builder().data(data).valFraction(valFraction).preset(preset).overrides(configOverrides())
                .init(init).batch(shape.batch).seqLength(shape.seqLength).steps(steps).accumulation(accumulation)
                .lr(lr).minLr(minLr).warmupFraction(warmup).weightDecay(weightDecay).gradClip(gradClip)
                .evalEvery(evalEvery).evalTokens(evalTokens).checkpointEvery(checkpointEvery).seed(seed).out(out)
                .tokenizer(tokenizer).build();
    }

    /** The keys of --config (as text, like --set) with --set on top. */
    private Map<String, String> configOverrides() {
        Map<String, String> all = new LinkedHashMap<>();
        if (configFile != null) {
            var node = Json.read(configFile);
            if (!node.isObject()) throw new LumensparkException(configFile + ": expected a JSON object");
            node.properties().forEach(e -> {
                if (!e.getKey().equals("model_type") && !e.getKey().equals("architectures")
                        && !e.getKey().equals("torch_dtype")) {
                    all.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
                }
            });
        }
        all.putAll(set.overrides);
        return all;
    }
}
