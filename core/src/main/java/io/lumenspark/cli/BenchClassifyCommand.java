package io.lumenspark.cli;

import io.lumenspark.bench.ClassifyBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Classification throughput (texts/s) of a classifier folder at batch 1 and batched, over"
                + " random texts of --length tokens; --vs-pytorch runs the PyTorch reference on the same folder.")
final class BenchClassifyCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Option(names = "--length", paramLabel = "N", description = "Tokens per text (default: ${DEFAULT-VALUE}).")
    int length = 128;

    @Option(names = "--batch", paramLabel = "N", description = "Texts per pass in the batched measurement (default: ${DEFAULT-VALUE}).")
    int batch = 16;

    @Option(names = "--texts", paramLabel = "N", description = "Texts per run (default: ${DEFAULT-VALUE}).")
    int texts = 64;

    @Option(names = "--runs", paramLabel = "N", description = "Runs of each measurement; the median is reported (default: ${DEFAULT-VALUE}).")
    int runs = 3;

    @Mixin
    PytorchOptions pytorch;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        new ClassifyBench(model.dir(), length, batch, texts, runs).run(pytorch.pythonOrNull(), json, System.out);
        return 0;
    }
}
