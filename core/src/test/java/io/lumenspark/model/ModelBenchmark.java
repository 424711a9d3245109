package io.lumenspark.model;

import io.lumenspark.engine.Blas;
import io.lumenspark.jmh.Bench;
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
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The fused output layer and cross-entropy (package-private LmHead) at d 512 and vocabulary 50257: the loss
 * alone (one X W^T product per chunk of rows, plus the row maximum, exp and log) and with its backward (two
 * more products per chunk). Also counts the products of one block, for KernelReport's attention GFLOP/s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
public class ModelBenchmark {
    /** Rows of x: 4 x 512 tokens, a quarter of a training batch, so one pass with backward stays near 2 s. */
    @Param({"2048"})
    public int tokens;
    private final Arena arena = Arena.ofShared();
    private Params params;
    private LmHead head;
    private Pass ctx;
    private MemorySegment x;
    private int[] targets;

    @Setup
    public void setup() {
        Bench.selectBackend();
        params = new Params();
        head = new LmHead(params, ModelConfig.v01().with(Map.of("embed_dim", "" + Bench.D, "vocab_size", "" + Bench.VOCAB)));
        params.allocate(arena);
        // PyTorch's default Linear init range; x like a normed activation (unit variance)
        Bench.fill(params.values(), (float) (1 / Math.sqrt(Bench.D)), 1);
        ctx = new Pass(Blas.get(), params, 1, tokens, false);
        head.allocate(ctx);
        x = Bench.floats(arena, (long) tokens * Bench.D, 1.7f, 2);
        SplittableRandom r = new SplittableRandom(1);
        targets = new int[tokens];
        for (int i = 0; i < tokens; i++) targets[i] = r.nextInt(Bench.VOCAB);
    }

    @TearDown
    public void close() {
        ctx.close();
        arena.close();
    }

    @Benchmark
    public double crossEntropy() {
        return head.run(ctx, x, targets, null, 0f, false);
    }

    @Benchmark
    public double crossEntropyBackward() {
        return head.run(ctx, x, targets, null, 1f / tokens, true);
    }

    /**
     * Floating-point operations of the matrix products (2mnk each) in one pass of a single block of cfg over
     * batch x n tokens, forward or forward + backward: the block is run once with a backend that only counts.
     * The rest of a pass (softmax, norms, GELU, dropout) is a few percent of the work and is not counted.
     */
    public static long blockFlops(ModelConfig cfg, int batch, int n, boolean backward) {
        AtomicLong flops = new AtomicLong();
        Blas counting = new Blas() {
            @Override
            public void sgemm(boolean transA, boolean transB, int m, int cols, int k, float alpha, MemorySegment a,
                              long aOffset, int lda, MemorySegment b, long bOffset, int ldb, float beta,
                              MemorySegment c, long cOffset, int ldc) {
                flops.addAndGet(2L * m * cols * k);
            }

            @Override
            public void matVec(int m, int cols, MemorySegment a, long aOffset, int lda, MemorySegment x,
                               long xOffset, MemorySegment y, long yOffset) {
                flops.addAndGet(2L * m * cols);
            }

            @Override
            public String name() {
                return "counting";
            }
        };
        Params p = new Params();
        Block block = new Block(p, cfg.validate(), 0, null, null);
        try (Arena a = Arena.ofShared()) {
            p.allocate(a);
            Pass c = new Pass(counting, p, batch, n, !backward);
            try {
                block.allocate(c);
                c.setStep(backward, 1, 0, 0);
                MemorySegment y = block.forward(c, c.floats((long) c.rows * cfg.embedDim()));
                if (backward) block.backward(c, y);
            } finally {
                c.close();
            }
        }
        return flops.get();
    }
}
