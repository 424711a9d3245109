package io.lumenspark.cli;

import io.lumenspark.bench.Processes;
import io.lumenspark.bench.TrainBench;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
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

    @Option(names = "--preset", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
    List<String> presets = List.of("lumenspark-v0.1");

    @Mixin
    OverrideOptions set;

    @Mixin
    BatchOptions shape;

    @Option(names = "--steps", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps = 5;

    @Option(names = "--warmup", description = "Untimed warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Mixin
    PytorchOptions pytorch;

    @Option(names = "--in-process", hidden = true, description = "Measure the one preset in this process.")
    boolean inProcess;

    @Override
    public Integer call() {
        runtime.apply();
        TrainBench bench = new TrainBench(presets, set.overrides, shape.batch, shape.seqLength, steps, warmup);
        if (inProcess) {
            System.out.println(Json.toLine(bench.measure(presets.getFirst())));
            return 0;
        }
        bench.run(preset -> {
            List<String> args = new ArrayList<>(List.of("bench", "train", "--in-process", "--preset", preset,
                    "--batch", "" + shape.batch, "--seq-length", "" + shape.seqLength, "--steps", "" + steps,
                    "--warmup", "" + warmup, "--threads", "" + Parallel.threads(), "--backend", runtime.backend));
            set.overrides.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            return Processes.javaCommand(Main.class, args);
        }, pytorch.pythonOrNull(), System.out);
        return 0;
    }
}
