package io.lumenspark.cli;

import io.lumenspark.bench.GemmBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "GFLOP/s of the matrix backend on the model's shapes; --vs-numpy compares with numpy.")
final class BenchGemmCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--shapes", paramLabel = "MxNxK,...", split = ",", description = "MxNxK shapes (default: lumenspark-v0.1 training at 8x512).")
    List<String> shapes = List.of("4096x50257x512", "4096x512x50257", "4096x256x32", "4096x512x256",
            "4096x128x512");

    @Option(names = "--reps", paramLabel = "N", description = "Timed repetitions per shape (default: ${DEFAULT-VALUE}).")
    int reps = 10;

    @Option(names = "--vs-numpy", description = "Also run reference/bench_gemm.py under --python.")
    boolean vsNumpy;

    @Option(names = "--onednn", description = "Also time oneDNN's fp32 sgemm and its bf16 product (fp32 accumulation)"
            + " on each shape, with their ratios to the backend's.")
    boolean oneDnn;

    @Option(names = "--python", paramLabel = "PYTHON", description = "Python with numpy (default: ${DEFAULT-VALUE}).")
    String python = "python3";

    @Override
    public Integer call() {
        runtime.apply();
        Map<String, Double> ours = GemmBench.run(shapes, reps, oneDnn, System.out);
        if (vsNumpy) GemmBench.compareWithNumpy(shapes, ours, python, runtime.threads, System.out);
        return 0;
    }
}
