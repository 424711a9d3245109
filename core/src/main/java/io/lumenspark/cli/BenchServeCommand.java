package io.lumenspark.cli;

import io.lumenspark.bench.ServeBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "The server under 1, 2, 4, ... 64 concurrent streams (random weights, on loopback): aggregate"
                + " tokens/s (and in the generation phase alone, as llama.cpp's batched-bench S_TG), time per output"
                + " token and to the first token, beside batch-1 generation; a table and charts.")
final class BenchServeCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--preset", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
    List<String> presets = List.of("lumenspark", "transformer");

    @Mixin
    OverrideOptions set;

    @Option(names = "--streams", split = ",", description = "Concurrent streams (default: ${DEFAULT-VALUE}).")
    List<Integer> streams = List.of(1, 2, 4, 8, 16, 32, 64);

    @Option(names = "--prompt-tokens", description = "Prompt tokens per request (default: ${DEFAULT-VALUE}).")
    int promptTokens = 32;

    @Option(names = "--tokens", description = "New tokens per request (default: ${DEFAULT-VALUE}).")
    int tokens = 64;

    @Option(names = "--rounds", description = "Timed rounds per point; the median is kept (default: ${DEFAULT-VALUE}).")
    int rounds = 5;

    @Option(names = "--warm-up", paramLabel = "SECONDS", description = "Warm-up before the timed rounds: rounds of the"
            + " most streams and of one until this long has passed (default: ${DEFAULT-VALUE}).")
    double warmUp = 15;

    @Option(names = "--dtype", paramLabel = "f32|bf16|int8", description = "How the server holds the matrix weights"
            + " (default: ${DEFAULT-VALUE}).")
    String dtype = "f32";

    @Option(names = "--out", description = "Folder for the charts (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "bench-serve");

    @Override
    public Integer call() {
        runtime.apply();
        new ServeBench(presets, set.overrides, streams, promptTokens, tokens, rounds, warmUp,
                ModelOption.parseDtype(dtype)).run(out, System.out);
        return 0;
    }
}
