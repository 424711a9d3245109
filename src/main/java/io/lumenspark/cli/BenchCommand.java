package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Json;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.AdamW;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
        subcommands = {BenchCommand.Train.class, BenchCommand.Gemm.class, BenchCommand.Generate.class,
                BenchAblation.class, BenchTokenizer.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "missing benchmark: train, generate, ablation, gemm or tokenizer");
    }

    /** The repository's reference/ folder (the launcher passes the repository root). */
    static Path reference(String script) {
        Path p = Path.of(System.getProperty("lumenspark.root", ".")).resolve("reference").resolve(script);
        if (!Files.exists(p)) throw new LumensparkException("cannot find " + p + " (run from the repository)");
        return p;
    }

    /** Runs a reference script and returns the JSON lines it printed. */
    static List<JsonNode> runScript(List<String> command, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().putAll(env);
        List<JsonNode> lines = new ArrayList<>();
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("{")) lines.add(Json.mapper().readTree(line));
                }
            }
            if (p.waitFor() != 0) throw new LumensparkException(String.join(" ", command) + " failed (exit " + p.exitValue() + ")");
        } catch (IOException e) {
            throw new LumensparkException("cannot run " + command.getFirst() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted");
        }
        return lines;
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Peak resident memory of this process in MiB (Linux VmHWM). */
    static double peakRssMib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: report NaN below
        }
        return Double.NaN;
    }

    /** This program again in a fresh JVM with the same flags (its peak memory is then that run's alone). */
    static List<String> selfCommand(List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return cmd;
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Training tokens/s and peak memory per preset, each in its own process; --vs-pytorch runs"
                    + " the PyTorch reference on the same shapes after each.")
    static final class Train implements Callable<Integer> {
        @Mixin
        Main.Runtime runtime;

        @Option(names = "--preset", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
        List<String> presets = List.of("lumenspark-v0.1");

        @Option(names = "--set", description = "Override a config key (repeatable).")
        Map<String, String> overrides = new LinkedHashMap<>();

        @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).")
        int batch = 8;

        @Option(names = "--seq-length", description = "Sequence length (default: the model's).")
        int seqLength;

        @Option(names = "--steps", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps = 5;

        @Option(names = "--warmup", description = "Untimed warm-up steps (default: ${DEFAULT-VALUE}).")
        int warmup = 2;

        @Option(names = "--vs-pytorch", description = "Also run reference/bench_train.py and print the ratios.")
        boolean vsPytorch;

        @Option(names = "--python", description = "Python with torch for --vs-pytorch (default: ${DEFAULT-VALUE}).")
        String python = "/usr/bin/python3";

        @Option(names = "--in-process", hidden = true, description = "Measure the one preset in this process.")
        boolean inProcess;

        @Override
        public Integer call() {
            runtime.apply();
            if (steps < 1 || batch < 1) throw new LumensparkException("--steps and --batch must be at least 1");
            if (warmup < 0) throw new LumensparkException("--warmup must not be negative");
            for (String p : presets) { // bad names, and what does not fit in memory, fail before any run
                ModelConfig cfg = ModelConfig.preset(p).with(overrides);
                MemoryPlan.forTraining(cfg, batch, seqLength == 0 ? cfg.seqLength() : seqLength).check();
            }
            if (inProcess) {
                System.out.println(Json.toLine(measure(presets.getFirst())));
                return 0;
            }
            List<String> table = new ArrayList<>(List.of("| preset | Lumenspark tokens/s | peak RSS MiB"
                    + (vsPytorch ? " | PyTorch tokens/s | peak RSS MiB | ratio (speed / memory) | PyTorch, glibc"
                    + " keeping freed memory: tokens/s | peak RSS MiB | ratio (speed / memory)" : "") + " |",
                    "|---|---|---" + (vsPytorch ? "|---|---|---|---|---|---" : "") + "|"));
            for (String preset : presets) {
                List<String> args = new ArrayList<>(List.of("bench", "train", "--in-process", "--preset", preset,
                        "--batch", "" + batch, "--seq-length", "" + seqLength, "--steps", "" + steps, "--warmup",
                        "" + warmup, "--threads", "" + Parallel.threads(), "--backend", runtime.backend));
                overrides.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
                JsonNode ours = runScript(selfCommand(args), Map.of()).getLast();
                System.out.println(Json.toLine(ours));
                double tps = ours.get("tokens_per_s").asDouble(), rss = ours.get("peak_rss_mib").asDouble();
                StringBuilder row = new StringBuilder(String.format(java.util.Locale.ROOT, "| %s | %.0f | %.0f",
                        preset, tps, rss));
                if (vsPytorch) {
                    // PyTorch twice: as it runs out of the box, and with glibc told to keep freed memory (faster: it
                    // stops the logits from being unmapped and faulted back in every step)
                    for (boolean tuned : new boolean[]{false, true}) {
                        int n = seqLength == 0 ? ModelConfig.preset(preset).with(overrides).seqLength() : seqLength;
                        List<String> cmd = new ArrayList<>(List.of(python, reference("bench_train.py").toString(),
                                "--preset", preset, "--batch", "" + batch, "--seq", "" + n, "--steps", "" + steps,
                                "--warmup", "" + warmup, "--threads", "" + Parallel.threads(), "--json"));
                        if (!tuned) cmd.add("--system-malloc");
                        overrides.forEach((k, v) -> cmd.addAll(List.of("--set", k + "=" + v)));
                        JsonNode torch = runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX")).getLast();
                        System.out.println(Json.toLine(torch));
                        double tt = torch.get("tokens_per_s").asDouble(), tr = torch.get("peak_rss_mib").asDouble();
                        row.append(String.format(java.util.Locale.ROOT, " | %.0f | %.0f | %.2fx / %.2fx", tt, tr,
                                tps / tt, rss / tr));
                    }
                }
                table.add(row + " |");
            }
            System.out.println();
            table.forEach(System.out::println);
            return 0;
        }

        /** Median step time of one preset: forward, backward, clipping and AdamW on random batches. */
        private Map<String, Object> measure(String preset) {
            ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
            int n = seqLength == 0 ? cfg.seqLength() : seqLength;
            double[] times = new double[steps];
            try (Arena arena = Arena.ofShared(); LumensparkModel model = new LumensparkModel(cfg)) {
                model.initialize(1);
                AdamW adam = new AdamW(model.params(), arena, 0.9, 0.95, 1e-8, 0.01);
                SplittableRandom r = new SplittableRandom(1);
                int[] in = new int[batch * n], tg = new int[batch * n];
                for (int s = 0; s < warmup + steps; s++) {
                    for (int i = 0; i < in.length; i++) {
                        in[i] = r.nextInt(cfg.vocabSize());
                        tg[i] = r.nextInt(cfg.vocabSize());
                    }
                    long t0 = System.nanoTime();
                    model.params().zeroGrads();
                    model.trainStep(in, tg, batch, n, 1f / in.length, 1, s, 0);
                    double norm = AdamW.gradNorm(model.params());
                    adam.step(s + 1, 3e-4, AdamW.clipFactor(norm, 1));
                    if (s >= warmup) times[s - warmup] = (System.nanoTime() - t0) / 1e9;
                }
            }
            double step = median(times);
            Map<String, Object> ours = new LinkedHashMap<>();
            ours.put("impl", "lumenspark");
            ours.put("preset", preset);
            ours.put("backend", Blas.get().name());
            ours.put("threads", Parallel.threads());
            ours.put("tokens_per_s", Math.round(batch * n / step * 10) / 10.0);
            ours.put("peak_rss_mib", Math.round(peakRssMib()));
            ours.put("step_s_median", step);
            return ours;
        }
    }

    @Command(name = "gemm", mixinStandardHelpOptions = true,
            description = "GFLOP/s of the matrix backend on the model's shapes; --vs-numpy compares with numpy.")
    static final class Gemm implements Callable<Integer> {
        @Mixin
        Main.Runtime runtime;

        @Option(names = "--shapes", split = ",", description = "MxNxK shapes (default: lumenspark-v0.1 training at 8x512).")
        List<String> shapes = List.of("4096x50257x512", "4096x512x50257", "4096x256x32", "4096x512x256",
                "4096x128x512");

        @Option(names = "--reps", description = "Timed repetitions per shape (default: ${DEFAULT-VALUE}).")
        int reps = 10;

        @Option(names = "--vs-numpy", description = "Also run reference/bench_gemm.py under --python.")
        boolean vsNumpy;

        @Option(names = "--python", description = "Python with numpy (default: ${DEFAULT-VALUE}).")
        String python = "python3";

        @Override
        public Integer call() {
            runtime.apply();
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
                    for (long i = 0; i < (long) m * k; i++) a.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                    for (long i = 0; i < (long) k * n; i++) b.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble());
                    double[] t = new double[reps];
                    for (int i = -3; i < reps; i++) { // 3 untimed: JIT and first touch of the pages
                        long t0 = System.nanoTime();
                        blas.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
                        if (i >= 0) t[i] = (System.nanoTime() - t0) / 1e9;
                    }
                    double gflops = 2.0 * m * n * k / median(t) / 1e9;
                    ours.put(shape, gflops);
                    System.out.println(Json.toLine(Map.of("impl", "lumenspark", "backend", blas.name(), "m", m,
                            "n", n, "k", k, "gflops", Math.round(gflops * 10) / 10.0)));
                }
            }
            if (vsNumpy) {
                List<String> cmd = new ArrayList<>(List.of(python, reference("bench_gemm.py").toString()));
                cmd.addAll(shapes);
                List<JsonNode> np = runScript(cmd, Map.of("OPENBLAS_NUM_THREADS", "" + runtime.threads));
                double worst = Double.MAX_VALUE;
                for (JsonNode j : np) {
                    String shape = j.get("m").asInt() + "x" + j.get("n").asInt() + "x" + j.get("k").asInt();
                    double ratio = ours.getOrDefault(shape, Double.NaN) / j.get("gflops").asDouble();
                    worst = Math.min(worst, ratio);
                    System.out.printf("%-16s lumenspark %.1f GFLOP/s, numpy %.1f GFLOP/s, ratio %.2f%n", shape,
                            ours.get(shape), j.get("gflops").asDouble(), ratio);
                }
                System.out.printf("lowest ratio to numpy: %.2f%n", worst);
            }
            return 0;
        }
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Batch-1 generation speed and peak memory at contexts 128 .. seq_length, one process per"
                    + " preset; --vs-pytorch runs the PyTorch reference on the same shapes after each.")
    static final class Generate implements Callable<Integer> {
        @Mixin
        Main.Runtime runtime;

        @Option(names = "--preset", split = ",", description = "Presets (default: ${DEFAULT-VALUE}).")
        List<String> presets = List.of("lumenspark", "conv-linformer", "transformer", "lumenspark-v0.1");

        @Option(names = "--set", description = "Override a config key (repeatable).")
        Map<String, String> overrides = new LinkedHashMap<>();

        @Option(names = "--contexts", split = ",", description = "Contexts (default: 128, 256, ... up to seq_length).")
        List<Integer> contexts;

        @Option(names = "--tokens", description = "Timed new tokens per context; the prompt is context - tokens"
                + " (default: ${DEFAULT-VALUE}).")
        int tokens = 32;

        @Option(names = "--vs-pytorch", description = "Also run reference/bench_generate.py and print the ratios.")
        boolean vsPytorch;

        @Option(names = "--pytorch-tokens", description = "Timed tokens per context for PyTorch (default: ${DEFAULT-VALUE}).")
        int pytorchTokens = 8;

        @Option(names = "--python", description = "Python with torch for --vs-pytorch (default: ${DEFAULT-VALUE}).")
        String python = "/usr/bin/python3";

        @Option(names = "--in-process", hidden = true, description = "Measure the one preset in this process.")
        boolean inProcess;

        @Override
        public Integer call() {
            runtime.apply();
            if (tokens < 2 || pytorchTokens < 2) throw new LumensparkException("--tokens must be at least 2");
            for (String p : presets) ModelConfig.preset(p).with(overrides); // bad names fail before any run
            if (inProcess) {
                if (presets.size() != 1) throw new LumensparkException("--in-process measures one preset");
                measure(ModelConfig.preset(presets.getFirst()).with(overrides));
                return 0;
            }
            List<String> table = new ArrayList<>();
            table.add("| preset | context | Lumenspark tokens/s | ms/token | prefill ms | peak RSS MiB | decoder state"
                    + (vsPytorch ? " | PyTorch tokens/s | PyTorch mode | PyTorch peak RSS MiB | speed ratio | memory ratio" : "")
                    + " |");
            table.add("|---|---|---|---|---|---|---" + (vsPytorch ? "|---|---|---|---|---" : "") + "|");
            for (String preset : presets) {
                ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
                List<Integer> ctx = contexts(cfg);
                List<JsonNode> ours = runScript(child(preset, ctx), Map.of());
                ours.forEach(j -> System.out.println(Json.toLine(j)));
                Map<Integer, JsonNode> torch = new LinkedHashMap<>();
                if (vsPytorch) {
                    List<String> cmd = new ArrayList<>(List.of(python, reference("bench_generate.py").toString(),
                            "--preset", preset, "--contexts", join(ctx), "--tokens", "" + pytorchTokens, "--threads",
                            "" + Parallel.threads(), "--json", "--mode", cfg.isFull() ? "cached" : "recompute"));
                    overrides.forEach((k, v) -> cmd.addAll(List.of("--set", k + "=" + v)));
                    for (JsonNode j : runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX"))) {
                        System.out.println(Json.toLine(j));
                        torch.put(j.get("context").asInt(), j);
                    }
                }
                for (JsonNode j : ours) {
                    int c = j.get("context").asInt();
                    String row = String.format("| %s | %d | %.1f | %.2f | %.0f | %.0f | %s", preset, c,
                            j.get("tokens_per_s").asDouble(), j.get("ms_per_token_median").asDouble(),
                            j.get("prefill_ms").asDouble(), j.get("peak_rss_mib").asDouble(),
                            j.has("state_bytes") ? mib(j.get("state_bytes").asLong()) : "recomputes");
                    JsonNode t = torch.get(c);
                    if (t != null) {
                        row += String.format(" | %.1f | %s | %.0f | %.1fx | %.2fx", t.get("tokens_per_s").asDouble(),
                                t.get("mode").asText(), t.get("peak_rss_mib").asDouble(),
                                j.get("tokens_per_s").asDouble() / t.get("tokens_per_s").asDouble(),
                                j.get("peak_rss_mib").asDouble() / t.get("peak_rss_mib").asDouble());
                    }
                    table.add(row + " |");
                }
            }
            System.out.println();
            table.forEach(System.out::println);
            return 0;
        }

        private List<Integer> contexts(ModelConfig cfg) {
            List<Integer> out = new ArrayList<>();
            if (contexts != null) {
                for (int c : contexts) {
                    if (c <= tokens || c > cfg.seqLength()) {
                        throw new LumensparkException("context " + c + " must be in " + (tokens + 1) + ".."
                                + cfg.seqLength() + " (above --tokens, at most seq_length)");
                    }
                    out.add(c);
                }
                return out;
            }
            for (int c = 128; c < cfg.seqLength(); c *= 2) if (c > tokens) out.add(c);
            out.add(cfg.seqLength());
            return out;
        }

        private static String join(List<Integer> xs) {
            return String.join(",", xs.stream().map(String::valueOf).toList());
        }

        private static String mib(long bytes) {
            return String.format("%.2f MiB", bytes / 1048576.0);
        }

        /** This program again, in a fresh JVM, measuring one preset: its peak memory is that preset's alone. */
        private List<String> child(String preset, List<Integer> ctx) {
            List<String> args = new ArrayList<>(List.of("bench", "generate", "--in-process", "--preset", preset,
                    "--contexts", join(ctx), "--tokens", "" + tokens, "--threads", "" + Parallel.threads(),
                    "--backend", runtime.backend));
            overrides.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            return selfCommand(args);
        }

        /**
         * Per context, ascending: a prompt of context - tokens random ids, then tokens new ones sampled with the
         * model's default settings (temperature 0.8, top-k 50), each next() timed. One JSON line per context.
         */
        private void measure(ModelConfig cfg) {
            try (LumensparkModel model = new LumensparkModel(cfg)) {
                model.initialize(1);
                GenerationConfig gen = model.generationConfig().toBuilder().maxLength(null).maxNewTokens(tokens)
                        .minNewTokens(tokens).seed(1L).build();
                SplittableRandom r = new SplittableRandom(1);
                List<Integer> ctx = contexts(cfg);
                for (int w = 0; w < Math.max(2, 128 / tokens); w++) run(model, gen, r, ctx.getFirst()); // JIT warm-up
                for (int c : ctx) {
                    double[] times = run(model, gen, r, c);
                    double[] steps = Arrays.copyOfRange(times, 1, times.length);
                    double step = median(steps);
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("impl", "lumenspark");
                    m.put("preset", presets.getFirst());
                    m.put("context", c);
                    m.put("threads", Parallel.threads());
                    m.put("tokens_per_s", Math.round(10 / step) / 10.0);
                    m.put("ms_per_token_median", Math.round(step * 1e5) / 100.0);
                    m.put("prefill_ms", Math.round(times[0] * 1e4) / 10.0);
                    m.put("peak_rss_mib", Math.round(peakRssMib()));
                    if (cfg.causal()) {
                        try (LumensparkModel.Decoder d = model.decoder()) {
                            m.put("state_bytes", d.stateBytes());
                        }
                    }
                    System.out.println(Json.toLine(m));
                }
            }
        }

        /** Seconds of each next(): the first includes the prompt's prefill. */
        private double[] run(LumensparkModel model, GenerationConfig gen, SplittableRandom r, int context) {
            int[] prompt = new int[context - tokens];
            for (int i = 0; i < prompt.length; i++) prompt[i] = r.nextInt(model.config().vocabSize());
            double[] times = new double[tokens];
            try (Generation g = new Generation(model, model.tokenizer(), prompt, gen, null)) {
                for (int i = 0; i < tokens; i++) {
                    long t0 = System.nanoTime();
                    g.next();
                    times[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
            return times;
        }
    }
}
