package io.lumenspark.jmh;

import io.lumenspark.engine.DecodeMatrix;
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

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * The output layer's product in a decoding step (Y = X W^T, W 50,257 x 512, as {@link DecodeMatrix}): one row
 * (one sequence) and 16 (a server's batch), on the Vector API panels and on the weights packed for oneDNN, the
 * two copies the same bits. Each kernel in a fork of its own, chosen by the system property the commands take.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
public class DecodeBenchmark {
    /** System property of the float32 decoding products (see the README's Precision section). */
    static final String ONEDNN_PROPERTY = "lumenspark.onednn.f32";

    @State(Scope.Benchmark)
    public static class OutputLayer {
        /** panels: the Vector API kernels; onednn: oneDNN's matmul on packed weights (fails where unavailable). */
        @Param({"panels", "onednn"})
        public String kernel;
        @Param({"1", "16"})
        public int rows;
        DecodeMatrix w;
        MemorySegment x, y;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            System.setProperty(ONEDNN_PROPERTY, Boolean.toString(kernel.equals("onednn")));
            arena = Arena.ofShared(); // shared: the pool's threads pack and multiply
            MemorySegment weights = Bench.floats(arena, (long) Bench.VOCAB * Bench.D, 1f, 1);
            w = DecodeMatrix.f32(weights, 0, Bench.VOCAB, Bench.D, null, 0, arena, false);
            String made = w.getClass().getSimpleName();
            if (kernel.equals("onednn") != made.equals("PackedFloatMatrix")) {
                throw new IllegalStateException("the " + kernel + " kernel is not available here (the copy is a "
                        + made + "; lumenspark info's kernels line says why)");
            }
            x = Bench.floats(arena, (long) rows * Bench.D, 1f, 2);
            y = arena.allocate(4L * rows * Bench.VOCAB, 64);
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    @Benchmark
    public void outputLayer(OutputLayer o) {
        o.w.multiply(o.x, o.rows, o.y);
    }
}
