package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.AdamW;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Training tokens/s and peak memory per preset: the median step (forward, backward, clipping and AdamW on random
 * batches), each preset in its own process so that its peak memory is its own; optionally the PyTorch reference
 * (reference/bench_train.py) on the same shapes.
 *
 * @param presets   the presets to measure
 * @param overrides config keys changed in every preset
 * @param batch     sequences per step
 * @param seqLength tokens per sequence (0: the model's seq_length)
 * @param steps     timed steps
 * @param warmup    untimed steps before them
 */
public record TrainBench(List<String> presets, Map<String, String> overrides, int batch, int seqLength, int steps,
                         int warmup) {
    /**
     * Checks the settings, and every preset's name and memory need, before anything runs.
     *
     * @throws LumensparkException naming the option at fault, or a configuration too large for the machine
     */
    public TrainBench {
        presets = List.copyOf(presets);
        overrides = Map.copyOf(overrides);
        if (steps < 1 || batch < 1) throw new LumensparkException("--steps and --batch must be at least 1");
        if (warmup < 0) throw new LumensparkException("--warmup must not be negative");
        for (String p : presets) {
            ModelConfig cfg = ModelConfig.preset(p).with(overrides);
            MemoryPlan.forTraining(cfg, batch, seqLength == 0 ? cfg.seqLength() : seqLength).check();
        }
    }

    /**
     * Measures each preset in a process of its own ({@code child} gives its command line, which prints
     * {@link #measure}'s result as a JSON line), then, with a python, the PyTorch reference twice (as it runs out of
     * the box, and with glibc keeping freed memory); prints each result as a JSON line and a Markdown table.
     *
     * @param python a Python with torch, or null for no comparison
     */
    public void run(Function<String, List<String>> child, String python, PrintStream out) {
        boolean vsPytorch = python != null;
        List<String> table = new ArrayList<>(List.of("| preset | Lumenspark tokens/s | peak RSS MiB"
                + (vsPytorch ? " | PyTorch tokens/s | peak RSS MiB | ratio (speed / memory) | PyTorch, glibc"
                + " keeping freed memory: tokens/s | peak RSS MiB | ratio (speed / memory)" : "") + " |",
                "|---|---|---" + (vsPytorch ? "|---|---|---|---|---|---" : "") + "|"));
        for (String preset : presets) {
            JsonNode ours = Processes.runScript(child.apply(preset), Map.of()).getLast();
            out.println(Json.toLine(ours));
            double tps = ours.get("tokens_per_s").asDouble(), rss = ours.get("peak_rss_mib").asDouble();
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %.0f | %.0f", preset, tps, rss));
            if (vsPytorch) {
                // PyTorch twice: as it runs out of the box, and with glibc told to keep freed memory (faster: it
                // stops the logits from being unmapped and faulted back in every step)
                for (boolean tuned : new boolean[]{false, true}) {
                    int n = seqLength == 0 ? ModelConfig.preset(preset).with(overrides).seqLength() : seqLength;
                    List<String> cmd = new ArrayList<>(List.of(python, Processes.reference("bench_train.py").toString(),
                            "--preset", preset, "--batch", "" + batch, "--seq", "" + n, "--steps", "" + steps,
                            "--warmup", "" + warmup, "--threads", "" + Parallel.threads(), "--json"));
                    if (!tuned) cmd.add("--system-malloc");
                    overrides.forEach((k, v) -> cmd.addAll(List.of("--set", k + "=" + v)));
                    JsonNode torch = Processes.runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX")).getLast();
                    out.println(Json.toLine(torch));
                    double tt = torch.get("tokens_per_s").asDouble(), tr = torch.get("peak_rss_mib").asDouble();
                    row.append(String.format(Locale.ROOT, " | %.0f | %.0f | %.2fx / %.2fx", tt, tr, tps / tt,
                            rss / tr));
                }
            }
            table.add(row + " |");
        }
        out.println();
        table.forEach(out::println);
    }

    /** One preset in this process: the median step time as tokens/s, with the backend, threads and peak memory. */
    public Map<String, Object> measure(String preset) {
        ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
        int n = seqLength == 0 ? cfg.seqLength() : seqLength;
        double[] times = new double[steps];
        try (Arena arena = Arena.ofShared(); LanguageModel model = new LanguageModel(cfg)) {
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
        double step = Stats.median(times);
        Map<String, Object> ours = new LinkedHashMap<>();
        ours.put("impl", "lumenspark");
        ours.put("preset", preset);
        ours.put("backend", Blas.get().name());
        ours.put("threads", Parallel.threads());
        ours.put("tokens_per_s", Math.round(batch * n / step * 10) / 10.0);
        ours.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
        ours.put("step_s_median", step);
        return ours;
    }
}
