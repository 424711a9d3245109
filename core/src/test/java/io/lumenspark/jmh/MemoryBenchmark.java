package io.lumenspark.jmh;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;
import io.lumenspark.generate.Sampling;
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
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The bandwidth-bound kernels, each split over the worker pool by rows as the model runs them, and the ceiling
 * they are held against: a parallel MemorySegment.copy, once of a size that stays in the 32 MiB L3 and once of
 * one that does not.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
public class MemoryBenchmark {
    /** Attention rows at 8 x 512 tokens: one per (token, head). */
    public static final int SOFTMAX_ROWS = Bench.TOKENS * Bench.HEADS;
    /** The feed-forward's hidden width, d/2. */
    public static final int HIDDEN = Bench.D / 2;
    /** Copies are split into 32 KiB pieces for the pool. */
    private static final int PIECE = 32 << 10;

    /**
     * src to dst, MiB each. glibc's memmove switches to non-temporal stores for large copies (measured: 8 MiB
     * in 32 KiB memmoves 125 GB/s, in 4 MiB ones 29 GB/s): they bypass the cache, so the in-cache copy is done
     * piece by piece; to DRAM they are the fastest copy, so there each thread copies its range in one call.
     */
    @State(Scope.Benchmark)
    public static class Copy {
        @Param({"8", "256"})
        public int mib;
        MemorySegment src, dst;
        boolean byPiece;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            arena = Arena.ofShared();
            src = Bench.floats(arena, mib * (1L << 18), 1f, 1);
            dst = Bench.floats(arena, mib * (1L << 18), 1f, 2); // touched: no page faults while timed
            byPiece = mib <= 16;
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** SOFTMAX_ROWS rows of this width, all entries visible, softmaxed in place. */
    @State(Scope.Benchmark)
    public static class Softmax {
        @Param({"128", "512", "4096"}) // Linformer's k slots; full attention over 512 and 4096 positions
        public int width;
        MemorySegment x;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            arena = Arena.ofShared();
            x = Bench.floats(arena, (long) SOFTMAX_ROWS * width, 4f, 1); // repeated softmax keeps it in [0, 1]
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** Rows of width d, as after every attention and feed-forward of a block. */
    @State(Scope.Benchmark)
    public static class Norm {
        @Param({"4096x512"})
        public String rms;
        int rows, d;
        MemorySegment x, scale, y, denom;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            int[] s = BlasBenchmark.dims(rms);
            rows = s[0];
            d = s[1];
            arena = Arena.ofShared();
            x = Bench.floats(arena, (long) rows * d, 2f, 1);
            scale = Bench.floats(arena, d, 1f, 2);
            y = arena.allocate(4L * rows * d, 64);
            denom = arena.allocate(4L * rows, 64);
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** The feed-forward's activation: 4096 tokens x d/2. */
    @State(Scope.Benchmark)
    public static class Gelu {
        @Param({"4096x256"})
        public String gelu;
        long size;
        int rows, width;
        MemorySegment x, y;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            int[] s = BlasBenchmark.dims(gelu);
            rows = s[0];
            width = s[1];
            arena = Arena.ofShared();
            x = Bench.floats(arena, (long) rows * width, 4f, 1);
            y = arena.allocate(4L * rows * width, 64);
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** A server's decoding step's logits: DRAW_ROWS rows of the GPT-2 vocabulary, each with its own random stream. */
    @State(Scope.Benchmark)
    public static class Draw {
        float[][] logits = new float[DRAW_ROWS][Bench.VOCAB];
        SplittableRandom[] random = new SplittableRandom[DRAW_ROWS];
        int[] chosen = new int[DRAW_ROWS];

        @Setup
        public void setup() {
            Bench.selectBackend();
            SplittableRandom r = new SplittableRandom(3);
            for (int b = 0; b < DRAW_ROWS; b++) {
                for (int i = 0; i < Bench.VOCAB; i++) logits[b][i] = (float) (r.nextGaussian() * 3);
                random[b] = new SplittableRandom(b);
            }
        }
    }

    /** Rows of logits a draw benchmark samples from: a 16-stream server step's. */
    public static final int DRAW_ROWS = 16;

    @Benchmark
    public void copy(Copy c) {
        int pieces = (int) (c.src.byteSize() / PIECE);
        Parallel.rows(pieces, Long.MAX_VALUE / pieces, (from, to) -> {
            if (!c.byPiece) {
                MemorySegment.copy(c.src, (long) from * PIECE, c.dst, (long) from * PIECE, (long) (to - from) * PIECE);
            } else {
                for (long o = (long) from * PIECE; o < (long) to * PIECE; o += PIECE) {
                    MemorySegment.copy(c.src, o, c.dst, o, PIECE);
                }
            }
        });
    }

    @Benchmark
    public void softmax(Softmax s) {
        int w = s.width;
        Parallel.rows(SOFTMAX_ROWS, w, (from, to) -> {
            for (int r = from; r < to; r++) Kernels.maskedSoftmax(s.x, (long) r * w, w, 0, 0, w);
        });
    }

    @Benchmark
    public void rmsNorm(Norm n) {
        Parallel.rows(n.rows, n.d, (from, to) -> Kernels.rmsNorm(n.x, n.scale, 0, n.y, n.denom, n.d, 1e-6f, from, to));
    }

    @Benchmark
    public void gelu(Gelu g) {
        Parallel.rows(g.rows, g.width, (from, to) ->
                Kernels.gelu(g.x, g.y, (long) from * g.width, (long) to * g.width));
    }

    /** A token drawn from each row at temperature 1 (Sampling.draw: max, exp, run sums, the walk), rows split over the pool. */
    @Benchmark
    public int[] draw(Draw d) {
        Parallel.rows(DRAW_ROWS, Bench.VOCAB, (from, to) -> {
            for (int b = from; b < to; b++) d.chosen[b] = Sampling.draw(d.logits[b], d.random[b]);
        });
        return d.chosen;
    }
}
