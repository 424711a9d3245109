package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.model.LmObjective;
import io.lumenspark.spark.DiLoCo;
import io.lumenspark.spark.DiLoCoOptions;
import io.lumenspark.training.TrainOptions;
import org.apache.spark.sql.SparkSession;
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
        description = "Train with DiLoCo: N replicas train H inner steps each on their shard of a prepared token"
                + " folder, then the driver averages their changes and takes an outer Nesterov step; T rounds."
                + " Of train's options below, --steps, --eval-every, --checkpoint-every, --init, --config and"
                + " --val-fraction do not apply (a run is T x H steps, evaluated and checkpointed every round).")
final class SparkTrainCommand implements Callable<Integer> {
    private static final List<String> NOT_HERE = List.of("--steps", "--eval-every", "--checkpoint-every", "--init",
            "--val-fraction", "--config");

    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--data", description = "A prepared token folder (data prepare, spark prepare),"
            + " readable by every executor.")
    Path data;

    @Option(names = "--out", description = "Run folder (default: ${DEFAULT-VALUE}); on a cluster, shared by the"
            + " driver and the executors.")
    Path out = Path.of("runs", "diloco");

    @Option(names = "--resume", description = "Continue the run in --out from its last round's checkpoint, exactly.")
    boolean resume;

    @Option(names = "--workers", description = "N: replicas, one Spark task each (default: ${DEFAULT-VALUE}).")
    int workers = 2;

    @Option(names = "--inner-steps", description = "H: AdamW steps per replica per round (default: ${DEFAULT-VALUE}).")
    int innerSteps = 50;

    @Option(names = "--rounds", description = "T: rounds, one Spark job each (default: ${DEFAULT-VALUE}).")
    int rounds = 10;

    @Option(names = "--outer-lr", description = "Outer learning rate (default: ${DEFAULT-VALUE}).")
    double outerLr = 0.7;

    @Option(names = "--outer-momentum", description = "Outer Nesterov momentum (default: ${DEFAULT-VALUE}).")
    double outerMomentum = 0.9;

    @Option(names = "--master", description = "Spark master when not run by spark-submit (default: local[N]).")
    String master;

    @Option(names = "--inject-failure", hidden = true, paramLabel = "ROUND:PARTITION",
            description = "Fail that task's first attempt half-way (tests fault tolerance; needs retries).")
    String injectFailure;

    @Mixin
    TrainingOptions training;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        var parsed = spec.commandLine().getParseResult();
        for (String name : NOT_HERE) {
            if (parsed.hasMatchedOption(name)) {
                throw new LumensparkException(name + " does not apply to spark train (a run is --rounds x"
                        + " --inner-steps steps, evaluated and checkpointed every round)");
            }
        }
        DiLoCoOptions options;
        if (resume) {
            for (var option : parsed.matchedOptions()) {
                if (!List.of("--resume", "--out", "--threads", "--backend", "--master").contains(option.longestName())) {
                    throw new LumensparkException("--resume continues a run with the settings saved in its"
                            + " checkpoint; drop " + option.longestName());
                }
            }
            options = DiLoCo.savedOptions(out);
            int saved = DiLoCo.savedThreads(out);
            runtime.apply(saved);
            if (runtime.threads != saved) {
                System.err.printf("warning: the run used %s per task; with %d its numbers will differ slightly from"
                        + " an uninterrupted run%n", Words.count(saved, "thread"), runtime.threads);
            }
        } else {
            if (data == null) throw new LumensparkException("--data is required: a prepared token folder");
            TrainOptions t = training.toOptions(List.of(data), out, spec.commandLine().getParseResult().matchedOptions()
                    .stream().map(OptionSpec::longestName).collect(Collectors.toSet()));
            if (t.objective() != LmObjective.CAUSAL_LM) {
                throw new LumensparkException("--objective " + training.objective + " is not supported by spark train,"
                        + " which trains causal language models; train a masked LM with lumenspark train --objective mlm");
            }
            options = DiLoCoOptions.of(t, workers, innerSteps, rounds, outerLr, outerMomentum);
        }
        if (!resume) runtime.apply();
        DiLoCo run = new DiLoCo(options, System.out);
        if (injectFailure != null) {
            String[] parts = injectFailure.split(":");
            try {
                run.injectFailure(Integer.parseInt(parts[0]), Integer.parseInt(parts[parts.length - 1]));
            } catch (NumberFormatException e) {
                throw new LumensparkException("--inject-failure takes ROUND:PARTITION, got " + injectFailure);
            }
        }
        SparkSession spark = SparkMain.session("train", master, options.workers());
        try {
            DiLoCo.Result r = run.run(SparkMain.context(spark), resume);
            System.out.printf("done: %s, train loss %.4f, validation loss %.4f (perplexity %.2f); %s per"
                            + " round; model in %s%n", Words.count(r.rounds(), "round"), r.trainLoss(), r.valLoss(), Math.exp(r.valLoss()),
                    DiLoCo.bytesText(r.bytesPerRound()), r.out());
            return 0;
        } catch (Exception e) { // Spark throws its checked SparkException from Scala code
            if (SparkMain.stopping(spark)) { // Ctrl-C or SIGTERM: the round's job was cancelled
                return SparkMain.stopped(DiLoCo.stoppedMessage(Path.of(options.out()), options.rounds()));
            }
            throw SparkMain.unwrap(e);
        } finally {
            spark.stop();
        }
    }
}
