package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Mat;
import io.lumenspark.io.Json;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** GFLOP/s of the matrix backend on given shapes, optionally against numpy (reference/bench_gemm.py). */
public final class GemmBench {
    private GemmBench() {
    }

    /**
     * Times C = A B for each "MxNxK" shape (the median of reps runs after 3 untimed ones), called as the layers call
     * it ({@link Blas#gemm}), printing one JSON line per shape; returns GFLOP/s by shape.
     *
     * @throws LumensparkException for a shape that is not MxNxK with positive integers (shapes before it are
     *                             measured first)
     */
    public static Map<String, Double> run(List<String> shapes, int reps, PrintStream out) {
        if (reps < 1) throw new LumensparkException("--reps must be at least 1");
        Blas blas = Blas.get();
        Map<String, Double> ours = new LinkedHashMap<>();
        for (String shape : shapes) {
            String[] p = shape.split("x");
            int m, n, k;
            try {
                m = Integer.parseInt(p[0]);
                n = Integer.parseInt(p[1]);
                k = Integer.parseInt(p[2]);
            } catch (RuntimeException e) {
                throw new LumensparkException("shape '" + shape + "' is not MxNxK with positive integers");
            }
            if (p.length != 3 || m < 1 || n < 1 || k < 1) {
                throw new LumensparkException("shape '" + shape + "' is not MxNxK with positive integers");
            }
            try (Arena arena = Arena.ofShared()) {
                MemorySegment a = arena.allocate(4L * m * k, 64), b = arena.allocate(4L * k * n, 64),
                        c = arena.allocate(4L * m * n, 64);
                SplittableRandom r = new SplittableRandom(1);
                for (long i = 0; i < (long) m * k; i++) a.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                for (long i = 0; i < (long) k * n; i++) b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                double[] t = new double[reps];
                for (int i = -3; i < reps; i++) { // 3 untimed: JIT and first touch of the pages
                    long t0 = System.nanoTime();
                    blas.gemm(new Mat(a, k), false, new Mat(b, n), false, new Mat(c, n), m, n, k, 1f, 0f);
                    if (i >= 0) t[i] = (System.nanoTime() - t0) / 1e9;
                }
                double gflops = 2.0 * m * n * k / Stats.median(t) / 1e9;
                ours.put(shape, gflops);
                out.println(Json.toLine(Map.of("impl", "lumenspark", "backend", blas.name(), "m", m, "n", n, "k", k,
                        "gflops", Math.round(gflops * 10) / 10.0)));
            }
        }
        return ours;
    }

    /** Runs numpy on the same shapes with OpenBLAS on threads threads and prints each ratio and the lowest. */
    public static void compareWithNumpy(List<String> shapes, Map<String, Double> ours, String python, int threads,
                                        PrintStream out) {
        List<String> cmd = new ArrayList<>(List.of(python, Processes.reference("bench_gemm.py").toString()));
        cmd.addAll(shapes);
        List<JsonNode> np = Processes.runScript(cmd, Map.of("OPENBLAS_NUM_THREADS", "" + threads));
        double worst = Double.MAX_VALUE;
        for (JsonNode j : np) {
            String shape = j.get("m").asInt() + "x" + j.get("n").asInt() + "x" + j.get("k").asInt();
            double ratio = ours.getOrDefault(shape, Double.NaN) / j.get("gflops").asDouble();
            worst = Math.min(worst, ratio);
            out.printf("%-16s lumenspark %.1f GFLOP/s, numpy %.1f GFLOP/s, ratio %.2f%n", shape, ours.get(shape),
                    j.get("gflops").asDouble(), ratio);
        }
        out.printf("lowest ratio to numpy: %.2f%n", worst);
    }
}
