package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.model.LmObjective;
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

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (resume) {
            for (var option : spec.commandLine().getParseResult().matchedOptions()) {
                String name = option.longestName();
                if (!List.of("--resume", "--out", "--steps", "--threads", "--backend").contains(name)) {
                    throw new LumensparkException("--resume continues a run with the settings saved in"
                            + " its checkpoint; drop " + name);
                }
            }
            runtime.applySaved(Trainer.savedThreads(out));
        } else {
            runtime.apply();
        }
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
        Trainer.Result r = new Trainer(options, System.out).replace(force).reportInterruptions(System.err)
                .run(resume);
        System.out.printf("done: %s, train loss %.4f, validation loss %.4f (%s %.2f, over %s); model"
                        + " in %s%n", Words.count(r.steps(), "step"), r.trainLoss(), r.valLoss(),
                r.objective() == LmObjective.MASKED_LM ? "masked tokens, pseudo-perplexity" : "perplexity",
                r.valPerplexity(), r.validationCoverage(), r.out());
        return 0;
    }
}
