package io.lumenspark.jmh;

import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Mat;
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
 * The matrix backend (OpenBLAS split over the worker pool) on the products of a lumenspark training step at
 * 8 x 512 tokens, called as CBLAS does (sgemm) and with named matrices (gemm, as the layers call it), and the two
 * matrix-vector products of decoding one token.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
public class BlasBenchmark {
    /**
     * C[M,N] = op(A) op(B) with K inner; ":tA" / ":tB" multiply by a stored transpose, as the model does (every
     * Linear forward is X W^T with W stored [out, in]); the same notation as reference/bench_gemm.py.
     */
    @State(Scope.Benchmark)
    public static class Gemm {
        @Param({"4096x50257x512:tB", // fc_out forward: logits = X W^T
                "4096x512x50257", // fc_out backward: dX = dlogits W (bench gemm's shape)
                "4096x256x32:tB", // low-rank V: rank 32 to d/2
                "4096x512x256:tB", // query_transform.1 and the feed-forward's way back up
                "4096x128x512:tB"}) // key_transform: one kv head of 128
        public String shape;
        int m, n, k;
        boolean transA, transB;
        MemorySegment a, b, c;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            int[] s = dims(shape);
            m = s[0];
            n = s[1];
            k = s[2];
            transA = shape.endsWith(":tA");
            transB = shape.endsWith(":tB");
            arena = Arena.ofShared(); // shared: the pool's threads write C
            a = Bench.floats(arena, (long) m * k, 1f, 1);
            b = Bench.floats(arena, (long) k * n, 1f, 2);
            c = arena.allocate(4L * m * n, 64);
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** y = W x for W [M, N] row-major: fc_out (50257 x 512) and a d x d layer while decoding. */
    @State(Scope.Benchmark)
    public static class MatVec {
        @Param({"50257x512", "512x512"})
        public String matrix;
        int m, n;
        MemorySegment w, x, y;
        private Arena arena;

        @Setup
        public void setup() {
            Bench.selectBackend();
            int[] s = dims(matrix);
            m = s[0];
            n = s[1];
            arena = Arena.ofShared();
            w = Bench.floats(arena, (long) m * n, 1f, 1);
            x = Bench.floats(arena, n, 1f, 2);
            y = arena.allocate(4L * m, 64);
        }

        @TearDown
        public void close() {
            arena.close();
        }
    }

    /** "MxNxK[:tA|:tB]" or "MxN" as integers. */
    public static int[] dims(String shape) {
        String[] p = shape.split(":")[0].split("x");
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) out[i] = Integer.parseInt(p[i]);
        return out;
    }

    @Benchmark
    public void sgemm(Gemm g) {
        Blas.get().sgemm(g.transA, g.transB, g.m, g.n, g.k, 1f, g.a, 0, g.transA ? g.m : g.k, g.b, 0,
                g.transB ? g.k : g.n, 0f, g.c, 0, g.n);
    }

    /** The same product through the named form the layers use ({@link Blas#gemm} with {@link Mat}s). */
    @Benchmark
    public void gemm(Gemm g) {
        Blas.get().gemm(new Mat(g.a, g.transA ? g.m : g.k), g.transA, new Mat(g.b, g.transB ? g.k : g.n), g.transB,
                new Mat(g.c, g.n), g.m, g.n, g.k, 1f, 0f);
    }

    @Benchmark
    public void matVec(MatVec v) {
        Blas.get().matVec(v.m, v.n, v.w, 0, v.n, v.x, 0, v.y, 0);
    }
}
