package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Mat;
import io.lumenspark.io.Json;

import java.io.PrintStream;
import java.lang.foreign.Arena;
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
     * it ({@link Blas#gemm}), printing one JSON line per shape; returns GFLOP/s by shape. With oneDnn, each shape
     * also runs oneDNN's float32 sgemm and its bf16 product (both float32 operands rounded to bf16 in each call,
     * as a block's Linear layer calls it), taking turns with the backend's run by run, each with its ratio to the
     * backend's.
     *
     * @throws LumensparkException for a shape that is not MxNxK with positive integers (shapes before it are
     *                             measured first), or oneDnn without a usable oneDNN (the reason)
     */
    public static Map<String, Double> run(List<String> shapes, int reps, boolean oneDnn, PrintStream out) {
        if (reps < 1) throw new LumensparkException("--reps must be at least 1");
        Blas blas = Blas.get();
        Bf16Gemm bf16 = oneDnn ? Bf16Gemm.find().orElseThrow(() -> new LumensparkException(
                "--onednn: " + Bf16Gemm.unavailableReason())) : null;
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
                Mat a = new Mat(arena.allocate(4L * m * k, 64), k), b = new Mat(arena.allocate(4L * k * n, 64), n),
                        c = new Mat(arena.allocate(4L * m * n, 64), n);
                SplittableRandom r = new SplittableRandom(1);
                for (long i = 0; i < (long) m * k; i++) a.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                for (long i = 0; i < (long) k * n; i++) b.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                List<Runnable> products = new ArrayList<>(List.of(() -> blas.gemm(a, false, b, false, c, m, n, k, 1f,
                        0f)));
                List<String> names = new ArrayList<>(List.of(blas.name()));
                if (bf16 != null) {
                    Blas sgemm = bf16.sgemm();
                    products.add(() -> sgemm.gemm(a, false, b, false, c, m, n, k, 1f, 0f));
                    names.add(sgemm.name());
                    products.add(() -> bf16.gemm(a, false, b, false, c, m, n, k, 1f, 0f));
                    names.add(bf16.name() + " bf16");
                }
                double[] gflops = gflops(m, n, k, reps, products);
                ours.put(shape, gflops[0]);
                for (int i = 0; i < gflops.length; i++) {
                    out.println(line(names.get(i), m, n, k, gflops[i], i == 0 ? Double.NaN : gflops[0]));
                }
            }
        }
        return ours;
    }

    /**
     * GFLOP/s of each product: the median of reps runs after 3 untimed ones (JIT and first touch of the pages),
     * the products taking turns run by run, so that a busy machine's ups and downs fall on all of them alike.
     */
    private static double[] gflops(int m, int n, int k, int reps, List<Runnable> products) {
        double[][] t = new double[products.size()][reps];
        for (int i = -3; i < reps; i++) {
            for (int p = 0; p < products.size(); p++) {
                long t0 = System.nanoTime();
                products.get(p).run();
                if (i >= 0) t[p][i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        double[] gflops = new double[products.size()];
        for (int p = 0; p < gflops.length; p++) gflops[p] = 2.0 * m * n * k / Stats.median(t[p]) / 1e9;
        return gflops;
    }

    private static String line(String backend, int m, int n, int k, double gflops, double reference) {
        Map<String, Object> j = new LinkedHashMap<>(Map.of("impl", "lumenspark", "backend", backend, "m", m, "n", n,
                "k", k, "gflops", Math.round(gflops * 10) / 10.0));
        if (!Double.isNaN(reference)) j.put("vs_backend", Math.round(gflops / reference * 100) / 100.0);
        return Json.toLine(j);
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
