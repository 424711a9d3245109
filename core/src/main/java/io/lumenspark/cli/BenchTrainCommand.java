package io.lumenspark.cli;

import io.lumenspark.Labeled;
import io.lumenspark.bench.Processes;
import io.lumenspark.bench.TrainBench;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.training.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Training tokens/s and peak memory per preset, each in its own process; --vs-pytorch runs"
                + " the PyTorch reference on the same shapes after each.")
final class BenchTrainCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--preset", paramLabel = "PRESET,...", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
    List<String> presets = List.of("lumenspark-v0.1");

    @Mixin
    OverrideOptions set;

    @Mixin
    BatchOptions shape;

    @Option(names = "--steps", paramLabel = "N", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps = 5;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--objective", description = "causal or mlm: masked-LM training with the same masks on both"
            + " sides, PyTorch also with the output layer on the selected rows only (default: ${DEFAULT-VALUE}).")
    String objective = "causal";

    @Option(names = "--rounds", description = "Measure every implementation this many times, interleaved, and"
            + " report medians (default: ${DEFAULT-VALUE}).")
    int rounds = 1;

    @Option(names = "--precision", paramLabel = "fp32|bf16", description = "Lumenspark's matrix products, as train"
            + " --precision; with bf16, --vs-pytorch also runs PyTorch under its bf16 autocast (default: fp32).")
    String precision = "fp32";

    @Mixin
    PytorchOptions pytorch;

    @Option(names = "--in-process", hidden = true, description = "Measure the one preset in this process.")
    boolean inProcess;

    @Override
    public Integer call() {
        runtime.apply();
        TrainBench bench = new TrainBench(presets, set.overrides, shape.batch, shape.seqLength(), steps, warmup,
                TrainingOptions.objective(objective), rounds, Labeled.parse(Precision.class, precision, "--precision"));
        if (inProcess) {
            System.out.println(Json.toLine(bench.measure(presets.getFirst())));
            return 0;
        }
        bench.run(preset -> {
            List<String> args = new ArrayList<>(List.of("bench", "train", "--in-process", "--preset", preset,
                    "--batch", "" + shape.batch, "--steps", "" + steps, "--warmup", "" + warmup, "--threads",
                    "" + Parallel.threads(), "--backend", runtime.backend,
                    "--objective", objective, "--precision", precision));
            if (shape.seqLength != null) args.addAll(List.of("--seq-length", "" + shape.seqLength));
            set.overrides.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            return Processes.javaCommand(Main.class, args);
        }, pytorch.pythonOrNull(), System.out);
        return 0;
    }
}
