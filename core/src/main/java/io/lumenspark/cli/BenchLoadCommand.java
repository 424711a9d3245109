package io.lumenspark.cli;

import io.lumenspark.bench.LoadBench;
import io.lumenspark.bench.Processes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "load", mixinStandardHelpOptions = true,
        description = "Load time and peak memory of a model's weights from pytorch_model.bin and from"
                + " model.safetensors (memory-mapped, as fromPretrained opens them), each load in its own process;"
                + " pytorch_model.bin is written by the PyTorch reference (needs python3-torch).")
final class BenchLoadCommand implements Callable<Integer> {
    @Option(names = "--preset", description = "The model's shape (default: ${DEFAULT-VALUE}).")
    String preset = "lumenspark-v0.1";

    @Mixin
    OverrideOptions set;

    @Option(names = "--runs", description = "Loads per format (default: ${DEFAULT-VALUE}).")
    int runs = 5;

    @Option(names = "--python", description = "Python with torch, to write pytorch_model.bin (default: ${DEFAULT-VALUE}).")
    String python = "/usr/bin/python3";

    @Option(names = "--in-process", hidden = true, paramLabel = "DIR", description = "Load this folder in this process.")
    Path inProcess;

    @Override
    public Integer call() {
        if (inProcess != null) {
            LoadBench.measure(inProcess, System.out);
            return 0;
        }
        new LoadBench(preset, set.overrides, runs).run(folder -> {
            List<String> args = new ArrayList<>(List.of("bench", "load", "--in-process", folder.toString()));
            return Processes.javaCommand(Main.class, args);
        }, python, System.out);
        return 0;
    }
}
