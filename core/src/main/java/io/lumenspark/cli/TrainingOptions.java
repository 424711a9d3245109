package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.Json;
import io.lumenspark.model.LmObjective;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.TrainOptions;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** How {@code train} trains: the model, the tokenizer, the optimizer and the schedule; defaults from {@link TrainOptions#builder}. */
final class TrainingOptions {
    private static final TrainOptions.Builder DEFAULTS = TrainOptions.builder();

    @Option(names = "--preset", paramLabel = "PRESET", description = "lumenspark, lumenspark-v0.1, transformer, conv-linformer, tiny or encoder (default: ${DEFAULT-VALUE}).")
    String preset = DEFAULTS.preset();

    @Mixin
    OverrideOptions set;

    @Option(names = "--config", paramLabel = "FILE", description = "A config.json whose keys override the preset (before --set).")
    Path configFile;

    @Option(names = "--init", paramLabel = "DIR|ID", description = "Start from this model (a folder, or a Hugging Face"
            + " Hub id owner/name[@revision]) instead of a fresh model.")
    ModelName init;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, paramLabel = "NAME|DIR", description = "A tokenizer folder (from `tokenizer train` or Hugging Face's"
            + " files) or name (default: the --init model's, or gpt2). It is saved with the model.")
    String tokenizer;

    @Option(names = "--val-fraction", paramLabel = "F", description = "Tail of each file held out for validation (default: ${DEFAULT-VALUE}).")
    double valFraction = DEFAULTS.valFraction();

    @Mixin
    BatchOptions shape;

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    long steps = DEFAULTS.steps();

    @Option(names = "--grad-accum", paramLabel = "N", description = "Micro-batches per step (default: ${DEFAULT-VALUE}).")
    int accumulation = DEFAULTS.accumulation();

    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr = DEFAULTS.lr();

    @Option(names = "--min-lr", paramLabel = "LR", description = "Floor of the cosine decay (default: lr / 10).")
    Double minLr;

    @Option(names = "--warmup", paramLabel = "F", description = "Fraction of steps for linear warm-up (default: ${DEFAULT-VALUE}).")
    double warmup = DEFAULTS.warmupFraction();

    @Option(names = "--weight-decay", paramLabel = "X", description = "AdamW weight decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay = DEFAULTS.weightDecay();

    @Option(names = "--grad-clip", paramLabel = "NORM", description = "Clip the global gradient norm to this (default: ${DEFAULT-VALUE}).")
    double gradClip = DEFAULTS.gradClip();

    @Option(names = "--eval-every", paramLabel = "N", description = "Steps between validation passes (default: ${DEFAULT-VALUE}).")
    long evalEvery = DEFAULTS.evalEvery();

    @Option(names = "--eval-tokens", paramLabel = "N", description = "Validation tokens per pass, 0 for all (default: ${DEFAULT-VALUE}).")
    long evalTokens = DEFAULTS.evalTokens();

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Steps between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEvery = DEFAULTS.checkpointEvery();

    @Option(names = "--seed", paramLabel = "N", description = "Seed for initialization, batches and dropout (default: ${DEFAULT-VALUE}).")
    long seed = DEFAULTS.seed();

    @Option(names = "--objective", paramLabel = "causal|mlm", description = "causal (next-token prediction) or mlm (masked-language modeling,"
            + " as RoBERTa; bidirectional models: adds <mask> and <pad> to the tokenizer) (default: ${DEFAULT-VALUE}).")
    String objective = "causal";

    /** --objective's value: causal or mlm (or the objectives' own names, causal_lm and masked_lm). */
    static LmObjective objective(String value) {
        return switch (value) {
            case "causal", "causal_lm" -> LmObjective.CAUSAL_LM;
            case "mlm", "masked_lm" -> LmObjective.MASKED_LM;
            default -> throw new LumensparkException("--objective must be causal or mlm, got '" + value + "'");
        };
    }

    /**
     * The options as given, for this data and run folder; {@code given} names the options on the command line
     * (--init takes the model's config, so --preset, --set and --config are refused beside it).
     */
    TrainOptions toOptions(List<Path> data, Path out, Set<String> given) {
        if (init != null) {
            for (String shape : List.of("--preset", "--set", "--config")) {
                if (given.contains(shape)) {
                    throw new LumensparkException(shape + " does not apply with --init, which trains the model in "
                            + init + " with its own config.json; drop " + shape);
                }
            }
        }
        return TrainOptions.builder().data(data).valFraction(valFraction).preset(preset).overrides(configOverrides())
                .init(init == null ? null : init.folder()).batch(shape.batch).seqLength(shape.seqLength()).steps(steps).accumulation(accumulation)
                .lr(lr).minLr(minLr).warmupFraction(warmup).weightDecay(weightDecay).gradClip(gradClip)
                .evalEvery(evalEvery).evalTokens(evalTokens).checkpointEvery(checkpointEvery).seed(seed).out(out)
                .tokenizer(tokenizer).objective(objective(objective)).build();
    }

    /**
     * The keys of --config (as text, like --set) with --set on top. The file is checked as a config.json is, on
     * the preset, and named in messages: a key it should not have (with the nearest known one), a value of the
     * wrong type or that makes no model.
     */
    private Map<String, String> configOverrides() {
        Map<String, String> all = new LinkedHashMap<>();
        if (configFile != null) {
            var node = Json.read(configFile);
            if (!node.isObject()) throw new LumensparkException(configFile + ": expected a JSON object");
            Map<String, Object> config = ModelConfig.preset(preset).toMap();
            Set<String> keys = config.keySet();
            node.properties().forEach(e -> {
                String key = e.getKey();
                if (List.of("model_type", "architectures", "torch_dtype").contains(key)) return;
                if (!keys.contains(key)) {
                    String near = Words.nearest(key, keys);
                    throw new LumensparkException(configFile + ": unknown config key " + Json.toLine(key)
                            + (near == null ? " (known: " + String.join(", ", keys) + ")"
                            : " (did you mean " + Json.toLine(near) + "?)"));
                }
                config.put(key, Json.mapper().convertValue(e.getValue(), Object.class));
                all.put(key, e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
            });
            ModelConfig.fromMap(config, configFile.toString()); // as config.json is read: exact types, valid values
        }
        all.putAll(set.overrides);
        return all;
    }
}
