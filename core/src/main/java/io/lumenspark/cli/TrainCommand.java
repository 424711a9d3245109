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

    @Option(names = "--precision", paramLabel = "fp32|bf16", description = "Matrix products in fp32, or bf16 with"
            + " fp32 accumulation where a bf16 product is available (not in this build: see README); default:"
            + " ${DEFAULT-VALUE}.")
    String precision = "fp32";

    @Spec
    CommandSpec spec;

    /**
     * Why --precision bf16 trains in fp32: no library this build can use multiplies bf16 matrices (the bundled
     * OpenBLAS 0.3.31 has no sbgemm, Maven Central serves no oneDNN build through bytedeco), and the Vector API
     * cannot reach AVX512_BF16's VDPBF16PS, so a bf16 product of our own widens to fp32 and multiplies at fp32's
     * rate (measured: no faster than fp32 from cache).
     */
    static final String BF16_UNAVAILABLE = "bf16 products unavailable here (OpenBLAS 0.3.31 has no sbgemm, no oneDNN"
            + " build is served, and the Vector API cannot use AVX512_BF16): training in fp32";

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
        if (!precision.equals("fp32") && !precision.equals("bf16")) {
            throw new LumensparkException("--precision must be fp32 or bf16, got '" + precision + "'");
        }
        if (precision.equals("bf16")) System.err.println("warning: " + BF16_UNAVAILABLE);
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
