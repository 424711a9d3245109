package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.model.LmObjective;
import io.lumenspark.training.Precision;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model on text files (GPT-2 BPE or --tokenizer), with validation, metrics, loss curve and checkpoints.")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--data", paramLabel = "FILE|DIR", description = "Text files or folders (repeatable), or one"
            + " folder made by data prepare.")
    List<Path> data = List.of();

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out = TrainOptions.builder().out();

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint, with its saved"
            + " settings and thread count; with --steps, train it to that step instead (a finished run too).")
    boolean resume;

    @Option(names = "--force", description = "Start a new run in an --out that holds an earlier run or other files;"
            + " the earlier run is replaced at this run's first checkpoint, other files are left alone.")
    boolean force;

    @Mixin
    TrainingOptions training;

    @Option(names = "--precision", paramLabel = "fp32|bf16", description = "Matrix products in fp32, or bf16 with"
            + " fp32 accumulation through the system's oneDNN (libdnnl2; fp32 with a warning where it or AVX512_BF16"
            + " is missing); weights and optimizer state stay fp32. Default: fp32; with --resume, the run's own.")
    String precision;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (resume) {
            for (var option : spec.commandLine().getParseResult().matchedOptions()) {
                String name = option.longestName();
                if (!List.of("--resume", "--out", "--steps", "--threads", "--backend", "--precision").contains(name)) {
                    throw new LumensparkException("--resume continues a run with the settings saved in"
                            + " its checkpoint; drop " + name);
                }
            }
            runtime.applySaved(Trainer.savedThreads(out));
        } else {
            runtime.apply();
        }
        Precision chosen = precision == null ? null : Labeled.parse(Precision.class, precision, "--precision");
        TrainOptions options;
        if (resume) {
            options = Trainer.savedOptions(out);
            if (spec.commandLine().getParseResult().hasMatchedOption("--steps")) {
                options = options.withSteps(training.steps);
            }
        } else {
            options = training.toOptions(data, out, spec.commandLine().getParseResult().matchedOptions().stream()
                    .map(OptionSpec::longestName).collect(Collectors.toSet()));
        }
        if (chosen != null) options = options.withPrecision(chosen);
        Trainer.Result r = new Trainer(options, System.out).replace(force).reportInterruptions(System.err)
                .run(resume);
        System.out.printf("done: %s, train loss %.4f, validation loss %.4f (%s %.2f, over %s); model"
                        + " in %s%n", Words.count(r.steps(), "step"), r.trainLoss(), r.valLoss(),
                r.objective() == LmObjective.MASKED_LM ? "masked tokens, pseudo-perplexity" : "perplexity",
                r.valPerplexity(), r.validationCoverage(), r.out());
        return 0;
    }
}
