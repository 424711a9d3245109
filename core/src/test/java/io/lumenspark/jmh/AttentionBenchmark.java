package io.lumenspark.jmh;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * One block (attention, feed-forward, norms) of each attention variant, through the public runStack: the
 * embeddings and a depth-1 stack without the output layer, forward (eval) and forward + backward (training,
 * dropout on). A fixed 4096 tokens per pass: 8 x 512 or 2 x 2048, so the two lengths cost the same outside
 * attention and the difference is attention's growth with n.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
public class AttentionBenchmark {
    @Param({"transformer", "lumenspark-v0.1", "lumenspark", "conv-linformer"})
    public String preset;
    @Param({"512", "2048"})
    public int n;
    private LanguageModel model;
    private int[] ids;

    /** The preset with one layer, seq_length n and k 128 (the presets' own). */
    public static ModelConfig config(String preset, int n) {
        return ModelConfig.preset(preset).with(Map.of("depth", "1", "seq_length", "" + n, "k", "128"));
    }

    @Setup
    public void setup() {
        Bench.selectBackend();
        model = new LanguageModel(config(preset, n));
        model.initialize(1);
        SplittableRandom r = new SplittableRandom(1);
        ids = new int[Bench.TOKENS];
        for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(Bench.VOCAB);
    }

    @TearDown
    public void close() {
        model.close();
    }

    @Benchmark
    public long forward() {
        return model.runStack(ids, Bench.TOKENS / n, n, false);
    }

    @Benchmark
    public long forwardBackward() {
        return model.runStack(ids, Bench.TOKENS / n, n, true);
    }
}
