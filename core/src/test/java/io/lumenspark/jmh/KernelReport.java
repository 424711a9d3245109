package io.lumenspark.jmh;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.io.Json;
import io.lumenspark.model.ModelBenchmark;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Runs the kernel benchmarks through JMH and prints a Markdown table of each one's GFLOP/s or GB/s beside the
 * ceiling measured in the same run: numpy's product of the same shape (reference/bench_gemm.py), or a
 * parallel memory copy of a comparable footprint. JMH's own progress goes to stderr, the table to stdout.
 * <pre>
 *   ./lumenspark jmh [--quick] [--threads N] [--python P] [--no-numpy] [--json FILE] [-p name=v1,v2] [regex ...]
 * </pre>
 * The regexes select benchmarks by name (e.g. "softmax", "Attention.*forward$"); the copy benchmark always runs.
 */
public final class KernelReport {
    private static final String ROOT = System.getProperty("lumenspark.root", ".");
    /** numpy's fc_out product, the machine's practical GEMM peak: the ceiling of the lm head and block rows. */
    private static final String PEAK_SHAPE = "4096x50257x512:tB";
    /** Working sets below the L3 (32 MiB) are held against the in-cache copy, others against the 256 MiB one. */
    private static final long CACHE_BYTES = 32L << 20;
    private static final List<String> ORDER = List.of("BlasBenchmark.sgemm", "BlasBenchmark.gemm",
            "BlasBenchmark.matVec", "DecodeBenchmark.outputLayer", "MemoryBenchmark.copy",
            "MemoryBenchmark.softmax", "MemoryBenchmark.draw", "MemoryBenchmark.rmsNorm", "MemoryBenchmark.gelu",
            "ModelBenchmark.crossEntropy", "ModelBenchmark.crossEntropyBackward", "AttentionBenchmark.forward",
            "AttentionBenchmark.forwardBackward");
    private static final List<String> PRESETS = List.of("transformer", "lumenspark-v0.1", "lumenspark",
            "conv-linformer");

    private KernelReport() {
    }

    /**
     * One measured benchmark and its work per call; ceiling is a numpy shape (GFLOP/s) or "copy:MiB" (GB/s).
     * flops or bytes is 0 where it does not apply.
     */
    private record Row(String name, String shape, double ms, double errorMs, double flops, double bytes,
                       String ceiling, String sortKey) {
    }

    public static void main(String[] args) throws RunnerException {
        boolean quick = false, numpy = true;
        int threads = Bench.threads();
        String python = "python3", json = null;
        List<String> include = new ArrayList<>();
        Map<String, String[]> params = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].matches("--threads|--python|--json|-p") && i + 1 == args.length) {
                fail(args[i] + " needs a value");
            }
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--no-numpy" -> numpy = false;
                case "--threads" -> {
                    threads = args[++i].matches("[1-9][0-9]*") ? Integer.parseInt(args[i]) : 0;
                    if (threads < 1) fail("--threads must be a positive integer, got " + args[i]);
                }
                case "--python" -> python = args[++i];
                case "--json" -> json = args[++i];
                case "-p" -> {
                    String[] kv = args[++i].split("=", 2);
                    if (kv.length != 2) fail("-p needs name=value[,value...], got " + args[i]);
                    params.put(kv[0], kv[1].split(","));
                }
                case "-h", "--help" -> {
                    System.out.println("usage: ./lumenspark jmh [--quick] [--threads N] [--python P] [--no-numpy]"
                            + " [--json FILE] [-p name=v1,v2] [benchmark regex ...]   (see docs/kernels.md)");
                    return;
                }
                default -> {
                    if (args[i].startsWith("-")) fail("unknown option " + args[i] + " (see --help)");
                    include.add(args[i]);
                }
            }
        }
        // The first call runs the Vector API kernels interpreted (seconds), and C2 needs 2-3 s more on 2 busy
        // cores: 4 warm-up iterations. quick: the same benchmarks and shapes, half-second iterations.
        TimeValue time = TimeValue.milliseconds(quick ? 500 : 1000);
        ChainedOptionsBuilder opts = new OptionsBuilder()
                .forks(1).warmupIterations(4).warmupTime(time)
                .measurementIterations(quick ? 3 : 5).measurementTime(time)
                // replaces each class's @Fork flags: the launcher's (forks also inherit this JVM's own flags,
                // LUMENSPARK_JAVA_OPTS included), plus the thread count
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                        "-XX:+UseSerialGC", "-Xmn32m", "-Dlumenspark.threads=" + threads)
                .shouldFailOnError(true);
        if (json != null) opts.resultFormat(ResultFormatType.JSON).result(json);
        if (include.isEmpty()) include.add("io\\.lumenspark\\..*Benchmark\\..*");
        include.forEach(opts::include);
        opts.include("MemoryBenchmark\\.copy$"); // the bandwidth ceiling, always measured
        params.forEach(opts::param);
        long t0 = System.nanoTime();
        String loadBefore = load();
        var results = new Runner(opts.build(), OutputFormatFactory.createFormatInstance(System.err,
                VerboseMode.NORMAL)).run();

        List<Row> rows = new ArrayList<>();
        for (RunResult r : results) rows.add(row(r));
        rows.sort(Comparator.comparing(Row::sortKey));
        Set<String> shapes = new LinkedHashSet<>();
        for (Row r : rows) if (r.flops > 0) shapes.add(r.ceiling);
        Map<String, Double> np = numpy && !shapes.isEmpty() ? numpy(python, threads, shapes) : Map.of();
        Map<String, Double> copy = new LinkedHashMap<>();
        for (Row r : rows) {
            if (r.name.equals("copy")) copy.put("copy:" + r.shape.replace(" MiB", ""), r.bytes / r.ms / 1e6);
        }

        Blas.select(Backend.AUTO, threads);
        // the load average shows whether other processes shared the cores (it counts this run's own threads)
        System.out.printf(Locale.ROOT, "%n%s, %d threads, %s, Java %s; %s, %.0f s, load average %s before and %s"
                        + " after%n%n", cpu(), threads, Blas.get().name(), Runtime.version(),
                quick ? "--quick" : "full run", (System.nanoTime() - t0) / 1e9, loadBefore, load());
        System.out.println("| benchmark | shape | time per call (median ± sd) | rate | ceiling, same run"
                + " | of ceiling |");
        System.out.println("|---|---|---|---|---|---|");
        for (Row r : rows) System.out.println(format(r, np, copy));
    }

    /** A bad command line: one line on stderr and exit code 2, as the other commands do. */
    private static void fail(String message) {
        System.err.println("error: " + message);
        System.exit(2);
    }

    /** The work of one call of a benchmark with these parameters, from the benchmarks' own constants. */
    private static Row row(RunResult result) {
        var p = result.getParams();
        String full = p.getBenchmark();
        String name = full.substring(full.lastIndexOf('.', full.lastIndexOf('.') - 1) + 1);
        // The median over iterations (each one's mean time per call): on a shared machine one iteration slowed
        // by another process moves the mean, not the median. The spread is the standard deviation; JMH's 99.9 %
        // interval is ten times wider at 3 iterations.
        var stats = result.getPrimaryResult().getStatistics();
        double ms = stats.getPercentile(50), err = stats.getStandardDeviation();
        int group = ORDER.indexOf(name);
        String key = String.format("%02d", group < 0 ? 99 : group);
        String method = name.substring(name.indexOf('.') + 1);
        return switch (name) {
            case "BlasBenchmark.sgemm", "BlasBenchmark.gemm" -> {
                String s = p.getParam("shape");
                int[] d = BlasBenchmark.dims(s);
                yield new Row(method.equals("gemm") ? "gemm (named)" : "sgemm", s, ms, err, 2.0 * d[0] * d[1] * d[2],
                        0, s, key);
            }
            case "BlasBenchmark.matVec" -> {
                String s = p.getParam("matrix");
                int[] d = BlasBenchmark.dims(s);
                // numpy: A[M,N] @ x[N,1], the same product as a (M x 1 x N) matmul
                yield new Row("matVec", s, ms, err, 2.0 * d[0] * d[1], 4.0 * ((double) d[0] * d[1] + d[0] + d[1]),
                        d[0] + "x1x" + d[1], key);
            }
            case "DecodeBenchmark.outputLayer" -> {
                int rows = Integer.parseInt(p.getParam("rows"));
                // the weights streamed once per call; numpy's product of the same shape as the ceiling
                yield new Row("decode output layer (" + p.getParam("kernel") + ")", rows + " x 512 x 50257", ms, err,
                        2.0 * rows * Bench.D * Bench.VOCAB, 4.0 * Bench.D * Bench.VOCAB,
                        rows + "x" + Bench.VOCAB + "x" + Bench.D + ":tB", key + p.getParam("kernel") + rows);
            }
            case "MemoryBenchmark.copy" -> {
                int mib = Integer.parseInt(p.getParam("mib"));
                yield new Row("copy", mib + " MiB", ms, err, 0, 2.0 * mib * (1 << 20), "", key);
            }
            case "MemoryBenchmark.softmax" -> {
                int w = Integer.parseInt(p.getParam("width"));
                double b = 4.0 * MemoryBenchmark.SOFTMAX_ROWS * w; // in place: read once, written once
                yield new Row("softmax", MemoryBenchmark.SOFTMAX_ROWS + " x " + w, ms, err, 0, 2 * b, copyFor(b), key);
            }
            case "MemoryBenchmark.draw" -> {
                double b = 4.0 * MemoryBenchmark.DRAW_ROWS * Bench.VOCAB; // logits read, weights written
                yield new Row("draw (sampling)", MemoryBenchmark.DRAW_ROWS + " x " + Bench.VOCAB, ms, err, 0, 2 * b,
                        copyFor(b), key);
            }
            case "MemoryBenchmark.rmsNorm" -> {
                int[] d = BlasBenchmark.dims(p.getParam("rms"));
                double b = 4.0 * d[0] * d[1];
                yield new Row("rmsNorm", d[0] + " x " + d[1], ms, err, 0, 2 * b + 4.0 * (d[0] + d[1]),
                        copyFor(2 * b), key);
            }
            case "MemoryBenchmark.gelu" -> {
                int[] d = BlasBenchmark.dims(p.getParam("gelu"));
                double b = 4.0 * d[0] * d[1];
                yield new Row("gelu", d[0] + " x " + d[1], ms, err, 0, 2 * b, copyFor(2 * b), key);
            }
            case "ModelBenchmark.crossEntropy", "ModelBenchmark.crossEntropyBackward" -> {
                int t = Integer.parseInt(p.getParam("tokens"));
                boolean bwd = method.endsWith("Backward");
                // one product per chunk forward; dX and dW too with backward
                yield new Row(bwd ? "lm head + CE, fwd+bwd" : "lm head + CE, fwd", t + " x 512 x 50257", ms, err,
                        (bwd ? 6.0 : 2.0) * t * Bench.D * Bench.VOCAB, 0, PEAK_SHAPE, key);
            }
            case "AttentionBenchmark.forward", "AttentionBenchmark.forwardBackward" -> {
                String preset = p.getParam("preset");
                int n = Integer.parseInt(p.getParam("n"));
                boolean bwd = method.equals("forwardBackward");
                int batch = Bench.TOKENS / n;
                long flops = ModelBenchmark.blockFlops(AttentionBenchmark.config(preset, n), batch, n, bwd);
                yield new Row("block " + (bwd ? "fwd+bwd" : "fwd"), preset + ", " + batch + " x " + n, ms, err,
                        flops, 0, PEAK_SHAPE,
                        key + PRESETS.indexOf(preset) + String.format("%05d", n));
            }
            default -> new Row(name, p.getParamsKeys().stream().map(p::getParam).toList().toString(), ms, err, 0, 0,
                    "", key);
        };
    }

    private static String copyFor(double footprint) {
        return footprint < CACHE_BYTES ? "copy:8" : "copy:256";
    }

    private static String format(Row r, Map<String, Double> np, Map<String, Double> copy) {
        String time = duration(r.ms) + (Double.isNaN(r.errorMs) ? "" : String.format(Locale.ROOT, " ± %.0f %%",
                100 * r.errorMs / r.ms));
        String rate, ceiling = "", of = "";
        double value, limit;
        if (r.flops > 0) {
            value = r.flops / r.ms / 1e6;
            rate = String.format(Locale.ROOT, "%.1f GFLOP/s", value)
                    + (r.bytes > 0 ? String.format(Locale.ROOT, " (%.1f GB/s)", r.bytes / r.ms / 1e6) : "");
            Double c = np.get(r.ceiling);
            limit = c == null ? Double.NaN : c;
            if (c != null) ceiling = String.format(Locale.ROOT, "numpy %s%.1f GFLOP/s",
                    r.ceiling.equals(r.shape) ? "" : r.ceiling.equals(PEAK_SHAPE) ? "peak " : r.ceiling + " ", c);
        } else {
            value = r.bytes / r.ms / 1e6;
            rate = String.format(Locale.ROOT, "%.1f GB/s", value);
            Double c = copy.get(r.ceiling);
            limit = c == null ? Double.NaN : c;
            if (c != null) ceiling = String.format(Locale.ROOT, "copy %s MiB: %.1f GB/s", r.ceiling.substring(5), c);
        }
        if (!Double.isNaN(limit)) of = String.format(Locale.ROOT, "%.0f %%", 100 * value / limit);
        return String.format("| %s | %s | %s | %s | %s | %s |", r.name, r.shape, time, rate,
                ceiling.isEmpty() ? "-" : ceiling, of.isEmpty() ? "-" : of);
    }

    private static String duration(double ms) {
        if (ms >= 1000) return String.format(Locale.ROOT, "%.2f s", ms / 1000);
        if (ms >= 1) return String.format(Locale.ROOT, "%.2f ms", ms);
        return String.format(Locale.ROOT, "%.1f µs", ms * 1000);
    }

    /** GFLOP/s of numpy's products by shape, from reference/bench_gemm.py's JSON lines; empty if it fails. */
    private static Map<String, Double> numpy(String python, int threads, Set<String> shapes) {
        List<String> cmd = new ArrayList<>(List.of(python, ROOT + "/reference/bench_gemm.py", "--threads",
                "" + threads));
        cmd.addAll(shapes);
        System.err.println("numpy: " + String.join(" ", cmd));
        Map<String, Double> out = new LinkedHashMap<>();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("OPENBLAS_NUM_THREADS", "" + threads);
        try {
            Process proc = pb.start();
            proc.getOutputStream().close();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(proc.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.startsWith("{")) continue;
                    JsonNode j = Json.mapper().readTree(line);
                    String trans = j.path("trans").asText("");
                    out.put(j.get("m").asInt() + "x" + j.get("n").asInt() + "x" + j.get("k").asInt()
                            + (trans.isEmpty() ? "" : ":" + trans), j.get("gflops").asDouble());
                }
            }
            if (proc.waitFor() != 0) System.err.println("warning: numpy benchmark exited with " + proc.exitValue());
        } catch (IOException e) {
            System.err.println("warning: cannot run " + python + " (" + e.getMessage() + "); no numpy ceilings");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }

    /** The 1-minute load average (Linux), or "?". */
    private static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    private static String cpu() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (IOException e) {
            return System.getProperty("os.arch");
        }
    }
}
