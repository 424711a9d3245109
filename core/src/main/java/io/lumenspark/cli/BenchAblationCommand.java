package io.lumenspark.cli;

import io.lumenspark.bench.Ablation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "ablation", mixinStandardHelpOptions = true,
        description = "Inference and training-step time and memory of Transformer, Linformer, causal Linformer and"
                + " Conv-Linformer over sequence lengths and k (embeddings and blocks, as the Linformer paper"
                + " measures them; whole-model figures add the output layer). Writes CSV, Markdown and charts.")
final class BenchAblationCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--quick", description = "n up to 2048, k 64 and 128, fewer runs (a few minutes).")
    boolean quick;

    @Option(names = "--max-n", paramLabel = "N", description = "Longest sequence (default: ${DEFAULT-VALUE}).")
    int maxN = 16384;

    @Option(names = "--ks", paramLabel = "K,...", split = ",", description = "Values of k (default: 32,64,128,256; the paper's 4096 x"
            + " 1024 point is added when n reaches 4096).")
    List<Integer> ks;

    @Option(names = "--runs", paramLabel = "N", description = "Timed runs per point after one warm-up; the median is kept"
            + " (default: 3, quick 2).")
    Integer runs;

    @Option(names = "--memory-budget-gib", paramLabel = "GIB", description = "Skip points whose estimated activations exceed this"
            + " (default: 60% of available memory).")
    Double budgetGib;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "ablation");

    @Mixin
    PytorchOptions pytorch;

    @Option(names = "--train", description = "Instead: train transformer, lumenspark and conv-linformer on the same"
            + " data for the same steps and seed, and compare time, tokens/s, validation loss and perplexity.")
    boolean train;

    @Option(names = "--data", paramLabel = "FILE", description = "With --train: text files or folders (default: the demo corpus).")
    List<Path> data;

    @Option(names = "--steps", paramLabel = "N", description = "With --train: steps per model (default: 100, quick 20).")
    Integer steps;

    @Option(names = "--batch", paramLabel = "N", description = "With --train: sequences per step (default: ${DEFAULT-VALUE}).")
    int batch = 4;

    @Option(names = "--lr", paramLabel = "LR", description = "With --train: peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr = 6e-4;

    @Option(names = "--seed", paramLabel = "N", description = "With --train: seed for every model (default: ${DEFAULT-VALUE}).")
    long seed = 1337;

    @Override
    public Integer call() throws IOException {
        runtime.apply();
        Ablation ablation = new Ablation(out, runs, pytorch.pythonOrNull(), System.out);
        if (train) ablation.train(data, steps, quick, batch, lr, seed);
        else ablation.compare(quick, maxN, ks, budgetGib);
        return 0;
    }
}
