package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.bench.GenerateBench;
import io.lumenspark.bench.Processes;
import io.lumenspark.engine.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Batch-1 generation speed and peak memory at contexts 128 .. seq_length, one process per"
                + " preset; --vs-pytorch runs the PyTorch reference on the same shapes after each.")
final class BenchGenerateCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--preset", paramLabel = "PRESET,...", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
    List<String> presets = List.of("lumenspark", "conv-linformer", "transformer", "lumenspark-v0.1");

    @Mixin
    OverrideOptions set;

    @Option(names = "--contexts", paramLabel = "N,...", split = ",", description = "Contexts (default: 128, 256, ... up to seq_length).")
    List<Integer> contexts;

    @Option(names = "--tokens", paramLabel = "N", description = "Timed new tokens per context; the prompt is context - tokens"
            + " (default: ${DEFAULT-VALUE}).")
    int tokens = 32;

    @Option(names = "--dtype", split = ",", paramLabel = "f32|bf16|int8", description = "How the matrix weights are"
            + " held, each in a process of its own; speeds are also given as ratios of the first (default: f32).")
    List<String> dtypes = List.of("f32");

    @Mixin
    PytorchOptions pytorch;

    @Option(names = "--pytorch-tokens", paramLabel = "N", description = "Timed tokens per context for PyTorch (default: ${DEFAULT-VALUE}).")
    int pytorchTokens = 8;

    @Option(names = "--in-process", hidden = true, description = "Measure the one preset in this process.")
    boolean inProcess;

    @Override
    public Integer call() {
        runtime.apply();
        GenerateBench bench = new GenerateBench(presets, set.overrides, contexts, tokens, pytorchTokens,
                dtypes.stream().map(ModelOption::parseDtype).toList());
        if (inProcess) {
            if (presets.size() != 1 || dtypes.size() != 1) {
                throw new LumensparkException("--in-process measures one preset in one dtype");
            }
            bench.measure(System.out);
            return 0;
        }
        bench.run((preset, ctx, dtype) -> {
            List<String> args = new ArrayList<>(List.of("bench", "generate", "--in-process", "--preset", preset,
                    "--dtype", dtype.label(), "--contexts", GenerateBench.join(ctx), "--tokens", "" + tokens, "--threads",
                    "" + Parallel.threads(), "--backend", runtime.backend));
            set.overrides.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            return Processes.javaCommand(Main.class, args);
        }, pytorch.pythonOrNull(), System.out);
        return 0;
    }
}
