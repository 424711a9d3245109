package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.DemoCorpus;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Charts;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The Linformer paper's comparison (Wang et al. 2020, Table 3) on a CPU: time and activation memory of the
 * embeddings and block stack for each attention variant over sequence lengths and k, against the Transformer
 * ({@link #compare}); and the causal variants trained alike on the same data ({@link #train}).
 */
public final class Ablation {
    /** Variant name to preset: every preset has width 512, depth 6, 4 heads, rank 32. */
    static final Map<String, String> VARIANTS = new LinkedHashMap<>();

    static {
        VARIANTS.put("transformer", "transformer");
        VARIANTS.put("linformer", "lumenspark-v0.1");
        VARIANTS.put("causal-linformer", "lumenspark");
        VARIANTS.put("conv-linformer", "conv-linformer");
    }

    /** The paper's Table 3: (n, k) to {inference speed-up, memory saving} over a standard Transformer. */
    static final Map<String, double[]> PAPER = Map.of("512x128", new double[]{1.5, 1.7},
            "4096x128", new double[]{3.4, 14}, "4096x1024", new double[]{2.2, 4.3},
            "65536x128", new double[]{20, 60});

    private final Path out;
    private final Integer runs;
    private final String python;
    private final PrintStream log;

    /**
     * An ablation writing into a folder.
     *
     * @param out    the folder for the CSV, Markdown and charts
     * @param runs   timed runs per point after the warm-up, or null for 3 (2 quick), more for short passes
     * @param python a Python with torch to time the PyTorch reference's Transformer stack too, or null
     * @param log    where progress and the tables are printed
     */
    public Ablation(Path out, Integer runs, String python, PrintStream log) {
        this.out = out;
        this.runs = runs;
        this.python = python;
        this.log = log;
    }

    /** One measured point; NaN where skipped. Memory is activation bytes in MiB (parameters apart). */
    public record Point(String variant, int n, int k, double forwardMs, double trainMs, double forwardMib,
                 double trainMib, double paramsMib, double wholeForwardMs, double wholeTrainMs) {
    }

    /**
     * Times every variant over n = 128, 256, ... up to maxN and the values of k, and writes ablation.csv,
     * ablation.md (with the PyTorch baseline when there is a python) and three charts.
     *
     * @param quick     n up to 2048, k 64 and 128, fewer runs
     * @param ks        values of k, or null for 32, 64, 128 and 256 (the paper's 4096 x 1024 point is added)
     * @param budgetGib points whose estimated activations exceed this many GiB are skipped; null: 60 % of the
     *                  memory available
     */
    public void compare(boolean quick, int maxN, List<Integer> ks, Double budgetGib) throws IOException {
        if (quick) maxN = Math.min(maxN, 2048);
        List<Integer> kList = ks != null ? ks : quick ? List.of(64, 128) : List.of(32, 64, 128, 256);
        int reps = runs != null ? runs : quick ? 2 : 3;
        if (reps < 1 || maxN < 128) throw new LumensparkException("--runs must be at least 1 and --max-n at least 128");
        for (int k : kList) if (k < 1) throw new LumensparkException("k must be positive, got " + k);
        double budget = (budgetGib != null ? budgetGib : 0.6 * availableGib()) * (1L << 30);
        int longest = Integer.highestOneBit(maxN); // n runs over 128, 256, ... up to maxN
        // the whole model's training pass at the longest n, which every point there needs (headMs), must fit
        MemoryPlan.forTrainingPass(headConfig(longest), 1, longest).check();
        Files.createDirectories(out);
        log.printf("ablation: n 128..%d, k %s, median of %s, %s, %s, activation budget %.1f GiB%n",
                maxN, kList, Words.count(reps, "run"), Blas.get().name(), Words.count(Parallel.threads(), "thread"),
                budget / (1L << 30));
        List<Point> points = new ArrayList<>();
        for (int n = 128; n <= maxN; n *= 2) {
            double[] head = null; // the output layer and loss, the same for every variant: {forward, train} ms
            for (String variant : VARIANTS.keySet()) {
                List<Integer> forN = new ArrayList<>();
                if (variant.equals("transformer")) forN.add(kList.getFirst()); // k does not apply
                else for (int k : kList) if (k <= n) forN.add(k);
                if (!variant.equals("transformer") && n == 4096 && !forN.contains(1024)) forN.add(1024);
                for (int k : forN) {
                    ModelConfig cfg = ModelConfig.preset(VARIANTS.get(variant)).with(Map.of("seq_length", "" + n,
                            "k", "" + k));
                    if (head == null) head = headMs(cfg, reps);
                    Point p = measure(variant, cfg, reps, budget, head);
                    points.add(p);
                    log.printf(Locale.ROOT, "%-16s n %5d k %4s  forward %9.1f ms %8.1f MiB   train %9.1f ms"
                                    + " %8.1f MiB%n", variant, n, variant.equals("transformer") ? "-" : "" + k,
                            p.forwardMs(), p.forwardMib(), p.trainMs(), p.trainMib());
                }
            }
        }
        writeCsv(points);
        String md = markdown(points);
        if (python != null) md += "\n" + pytorchBaseline(points, reps);
        AtomicFiles.writeString(out.resolve("ablation.md"), md);
        log.println();
        log.print(md);
        charts(points, kList);
        log.println("wrote " + out.resolve("ablation.csv") + ", ablation.md, forward_time.png,"
                + " train_time.png, memory.png");
    }

    /** Times forward and training passes of the stack; points over the memory budget are skipped (NaN). */
    private Point measure(String variant, ModelConfig cfg, int reps, double budget, double[] head) {
        int n = cfg.seqLength();
        int[] ids = randomIds(cfg, n);
        double fMs = Double.NaN, tMs = Double.NaN, fMib = Double.NaN, tMib = Double.NaN, pMib;
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(1);
            pMib = m.params().count() * 4 / 1048576.0;
            if (estimateBytes(cfg, false) <= budget) {
                long[] bytes = new long[1];
                fMs = medianMs(reps, () -> bytes[0] = m.runStack(ids, 1, n, false));
                fMib = bytes[0] / 1048576.0;
            }
            if (estimateBytes(cfg, true) <= budget) {
                long[] bytes = new long[1];
                tMs = medianMs(reps, () -> bytes[0] = m.runStack(ids, 1, n, true));
                tMib = bytes[0] / 1048576.0;
            }
        }
        return new Point(variant, n, cfg.k(), fMs, tMs, fMib, tMib, pMib, fMs + head[0], tMs + head[1]);
    }

    /**
     * The output layer and loss alone, {forward, train} ms: the whole model's time less its stack's, on a
     * causal Linformer of this length (the cheapest stack; the head is the same for every variant).
     */
    private double[] headMs(ModelConfig cfg, int reps) {
        ModelConfig lin = headConfig(cfg.seqLength());
        int n = lin.seqLength();
        int[] ids = randomIds(lin, n), targets = randomIds(lin, n);
        try (LanguageModel m = new LanguageModel(lin)) {
            m.initialize(1);
            // Each difference below needs both of its passes equally compiled: at the first n the JIT is still at
            // work, so run all four for a second before timing any (without this the head came out as zero).
            long until = System.nanoTime() + 1_000_000_000L;
            do {
                m.runStack(ids, 1, n, false);
                m.evaluate(ids, targets, 1, n, null);
                m.runStack(ids, 1, n, true);
                m.trainStep(ids, targets, 1, n, 1f / n, 1, 0, 0);
            } while (System.nanoTime() < until);
            double stackF = medianMs(reps, () -> m.runStack(ids, 1, n, false));
            double wholeF = medianMs(reps, () -> m.evaluate(ids, targets, 1, n, null));
            double stackT = medianMs(reps, () -> m.runStack(ids, 1, n, true));
            double wholeT = medianMs(reps, () -> m.trainStep(ids, targets, 1, n, 1f / n, 1, 0, 0));
            return new double[]{Math.max(0, wholeF - stackF), Math.max(0, wholeT - stackT)};
        }
    }

    /** The causal Linformer of length n whose whole-model passes {@link #headMs} times. */
    private static ModelConfig headConfig(int n) {
        return ModelConfig.preset("lumenspark").with(Map.of("seq_length", "" + n, "k", "" + Math.min(128, n)));
    }

    private static int[] randomIds(ModelConfig cfg, int n) {
        SplittableRandom r = new SplittableRandom(n);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(cfg.vocabSize());
        return ids;
    }

    /**
     * Median of reps timed runs after warm-up runs (until two in a row agree, see below); unless --runs fixed the count, short passes
     * get more runs, up to half a second's worth (a 10 ms pass varies by 20 % here).
     */
    private double medianMs(int reps, Runnable run) {
        boolean extend = runs == null;
        // Warm-up: this shape's buffers, and JIT compilation at the first points of each variant. A fixed 0.3 s
        // was not enough on two busy cores: the causal Linformer's first point (n 128, k 64) measured 910 ms a
        // forward pass after it, 257 ms after 2 s more, and 110 ms once compiled, as fast as k = 128 (blocks of
        // one); the Transformer's first point was slower than its second likewise. So it runs until the last two
        // passes agree within 15 % (at least 3 passes and 0.3 s, at most 3 s).
        long warm = System.nanoTime();
        double last = Double.NaN;
        for (int runs = 1; ; runs++) {
            long t0 = System.nanoTime();
            run.run();
            double ms = (System.nanoTime() - t0) / 1e6, elapsed = (System.nanoTime() - warm) / 1e9;
            boolean settled = runs >= 3 && Math.abs(ms - last) <= 0.15 * last;
            if (elapsed >= 3 || (elapsed >= 0.3 && settled)) break;
            last = ms;
        }
        List<Double> t = new ArrayList<>();
        double total = 0;
        while (t.size() < reps || (extend && total < 500 && t.size() < 25)) {
            long t0 = System.nanoTime();
            run.run();
            double ms = (System.nanoTime() - t0) / 1e6;
            t.add(ms);
            total += ms;
        }
        return Stats.median(t);
    }

    /**
     * Activation bytes a pass will need, from its largest terms: the attention probabilities (n x heads x width;
     * every layer's in training, plus two scratch copies) and about 24 floats per position and model dimension.
     */
    static double estimateBytes(ModelConfig cfg, boolean training) {
        int n = cfg.seqLength(), c = cfg.blockSize();
        double width = cfg.isFull() ? n : cfg.causal() ? cfg.k() + c : cfg.k();
        double probs = 4.0 * n * cfg.heads() * width;
        double rows = 4.0 * n * cfg.embedDim() * 24;
        return training ? probs * (cfg.depth() + 2) + rows * cfg.depth() : probs + rows;
    }

    private static double availableGib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1048576.0;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: fall back to the JVM's view of the machine below
        }
        return Runtime.getRuntime().maxMemory() / (double) (1L << 30);
    }

    private void writeCsv(List<Point> points) {
        StringBuilder csv = new StringBuilder("variant,n,k,forward_ms,train_ms,forward_activation_mib,"
                + "train_activation_mib,params_mib,whole_forward_ms,whole_train_ms\n");
        for (Point p : points) {
            csv.append(String.format(Locale.ROOT, "%s,%d,%s,%s,%s,%s,%s,%.1f,%s,%s%n", p.variant(), p.n(),
                    p.variant().equals("transformer") ? "" : "" + p.k(), num(p.forwardMs()), num(p.trainMs()),
                    num(p.forwardMib()), num(p.trainMib()), p.paramsMib(), num(p.wholeForwardMs()),
                    num(p.wholeTrainMs())));
        }
        AtomicFiles.writeString(out.resolve("ablation.csv"), csv.toString());
    }

    private static String num(double x) {
        return Double.isNaN(x) ? "" : String.format(Locale.ROOT, "%.2f", x);
    }

    /** One row per point; ratios are the Transformer's figure at the same n over the variant's. */
    static String markdown(List<Point> points) {
        Map<Integer, Point> base = new LinkedHashMap<>();
        for (Point p : points) if (p.variant().equals("transformer")) base.put(p.n(), p);
        StringBuilder md = new StringBuilder();
        md.append("| variant | n | k | forward ms | train step ms | forward MiB | train MiB | inference speed-up |"
                + " memory saving | paper (speed-up / saving) | train speed-up | whole forward ms | whole train ms |\n");
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Point p : points) {
            Point t = base.get(p.n());
            boolean isBase = p.variant().equals("transformer");
            double[] paper = isBase ? null : PAPER.get(p.n() + "x" + p.k());
            md.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                    p.variant(), p.n(), isBase ? "-" : "" + p.k(), cell(p.forwardMs(), 1), cell(p.trainMs(), 1),
                    cell(p.forwardMib(), 1), cell(p.trainMib(), 1),
                    isBase || t == null ? "" : ratio(t.forwardMs(), p.forwardMs()),
                    isBase || t == null ? "" : ratio(t.forwardMib(), p.forwardMib()),
                    paper == null ? "" : paper[0] + "x / " + paper[1] + "x",
                    isBase || t == null ? "" : ratio(t.trainMs(), p.trainMs()),
                    cell(p.wholeForwardMs(), 0), cell(p.wholeTrainMs(), 0)));
        }
        md.append("\nEmpty cells: over the memory budget (the Transformer's n x n attention probabilities).\n");
        return md.toString();
    }

    private static String cell(double x, int decimals) {
        return Double.isNaN(x) ? "" : String.format(Locale.ROOT, "%." + decimals + "f", x);
    }

    private static String ratio(double a, double b) {
        return Double.isNaN(a) || Double.isNaN(b) ? "" : String.format(Locale.ROOT, "%.1fx", a / b);
    }

    /** Time and memory against n on log axes, one line per variant and k. */
    private void charts(List<Point> points, List<Integer> kList) {
        String[] files = {"forward_time.png", "train_time.png", "memory.png"};
        String[] titles = {"Inference (forward) time, embeddings + blocks", "Training step time, embeddings + blocks",
                "Inference activation memory, embeddings + blocks"};
        String[] units = {"ms", "ms", "MiB"};
        for (int chart = 0; chart < 3; chart++) {
            Map<String, List<double[]>> lines = new LinkedHashMap<>();
            for (Point p : points) {
                double y = chart == 0 ? p.forwardMs() : chart == 1 ? p.trainMs() : p.forwardMib();
                if (Double.isNaN(y) || (!p.variant().equals("transformer") && !kList.contains(p.k()))) continue;
                String name = p.variant().equals("transformer") ? "transformer" : p.variant() + " k=" + p.k();
                lines.computeIfAbsent(name, x -> new ArrayList<>()).add(new double[]{p.n(), y});
            }
            Map<String, double[][]> series = new LinkedHashMap<>();
            lines.forEach((name, xy) -> series.put(name, new double[][]{
                    xy.stream().mapToDouble(v -> v[0]).toArray(), xy.stream().mapToDouble(v -> v[1]).toArray()}));
            Charts.write(out.resolve(files[chart]), titles[chart], "sequence length n", units[chart], true, series);
        }
    }

    /**
     * The Transformer stack of the PyTorch reference (its standard attention: QK^T, softmax, PV) against ours at
     * each length we measured: a Markdown table of both times and their ratio.
     */
    private String pytorchBaseline(List<Point> points, int reps) {
        List<Point> ours = points.stream().filter(p -> p.variant().equals("transformer")
                && !Double.isNaN(p.forwardMs())).toList();
        if (ours.isEmpty()) return "";
        Map<Integer, JsonNode> torch = new LinkedHashMap<>();
        for (Point p : ours) { // one run per n: where we skipped the training step, PyTorch skips it too
            List<String> cmd = new ArrayList<>(List.of(python, Processes.reference("bench_stack.py").toString(),
                    "--preset", "transformer", "--ns", "" + p.n(), "--runs", "" + reps, "--threads",
                    "" + Parallel.threads(), "--memory-budget-gib", "1000", "--json"));
            if (Double.isNaN(p.trainMs())) cmd.add("--no-train");
            try {
                for (var j : Processes.runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX"))) {
                    log.println(Json.toLine(j));
                    torch.put(j.get("n").asInt(), j);
                }
            } catch (LumensparkException e) { // e.g. out of memory at the longest lengths: the row stays empty
                log.println("PyTorch at n " + p.n() + ": " + e.getMessage());
            }
        }
        StringBuilder md = new StringBuilder("| n | our Transformer forward ms | PyTorch forward ms | ours / PyTorch speed |"
                + " our train step ms | PyTorch train step ms | ours / PyTorch speed |\n|---|---|---|---|---|---|---|\n");
        for (Point p : ours) {
            var t = torch.get(p.n());
            if (t == null) continue;
            double tf = t.path("forward_ms").asDouble(Double.NaN), tt = t.path("train_ms").asDouble(Double.NaN);
            md.append(String.format(Locale.ROOT, "| %d | %.1f | %.1f | %s | %s | %s | %s |%n", p.n(), p.forwardMs(), tf,
                    ratio(tf, p.forwardMs()), cell(p.trainMs(), 1), cell(tt, 1), ratio(tt, p.trainMs())));
        }
        return md.toString();
    }

    /**
     * The three causal presets trained alike, one after another: a table (train.md) and one chart of their curves.
     *
     * @param data  text files or folders, or null for the demo corpus
     * @param steps steps per model, or null for 100 (20 quick)
     */
    public void train(List<Path> data, Integer steps, boolean quick, int batch, double lr, long seed)
            throws IOException {
        List<Path> corpus = data != null ? data : List.of(DemoCorpus.fetch(Home.dir()));
        long n = steps != null ? steps : quick ? 20 : 100;
        Path dir = out.resolve("train");
        StringBuilder md = new StringBuilder("| preset | attention | steps | wall time | tokens/s | final train loss |"
                + " validation loss | perplexity |\n|---|---|---|---|---|---|---|---|\n");
        Map<String, double[][]> curves = new LinkedHashMap<>();
        for (String preset : List.of("transformer", "lumenspark", "conv-linformer")) {
            Path runDir = dir.resolve(preset);
            AtomicFiles.deleteTree(runDir); // a fresh run each time: the comparison needs the same start
            TrainOptions options = TrainOptions.builder().data(corpus).preset(preset).batch(batch).steps(n).lr(lr)
                    .evalEvery(Math.max(1, n / 5)).evalTokens(16384).checkpointEvery(n).seed(seed).out(runDir)
                    .build();
            log.printf("%n== %s ==%n", preset);
            long t0 = System.nanoTime();
            Trainer.Result r = new Trainer(options, System.out).run(false);
            double wall = (System.nanoTime() - t0) / 1e9;
            ModelConfig cfg = ModelConfig.preset(preset);
            md.append(String.format(Locale.ROOT, "| %s | %s%s | %d | %.0f s | %.0f | %.3f | %.3f | %.1f |%n", preset,
                    cfg.attention(), cfg.causal() ? " (causal)" : "", r.steps(), wall, r.tokensPerSecond(),
                    r.trainLoss(), r.valLoss(), r.valPerplexity()));
            curves.putAll(lossCurves(preset, runDir.resolve("metrics.jsonl")));
        }
        AtomicFiles.writeString(out.resolve("train.md"), md.toString());
        Charts.write(out.resolve("train_loss.png"), "Training ablation: same data, steps and seed", "step", "loss",
                false, curves);
        log.println();
        log.print(md);
        log.println("wrote " + out.resolve("train.md") + " and " + out.resolve("train_loss.png"));
    }

    /** Train and validation loss against step from a run's metrics.jsonl. */
    private static Map<String, double[][]> lossCurves(String name, Path metrics) throws IOException {
        List<double[]> trainPts = new ArrayList<>(), valPts = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            var j = Json.mapper().readTree(line);
            double step = j.path("step").asDouble();
            if (j.has("train_loss")) trainPts.add(new double[]{step, j.get("train_loss").asDouble()});
            if (j.has("val_loss")) valPts.add(new double[]{step, j.get("val_loss").asDouble()});
        }
        Map<String, double[][]> m = new LinkedHashMap<>();
        m.put(name + " train", columns(trainPts));
        m.put(name + " validation", columns(valPts));
        return m;
    }

    private static double[][] columns(List<double[]> xy) {
        return new double[][]{xy.stream().mapToDouble(v -> v[0]).toArray(), xy.stream().mapToDouble(v -> v[1]).toArray()};
    }
}
