package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.LmObjective;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.AdamW;
import io.lumenspark.training.MlmMasking;
import io.lumenspark.training.Precision;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Training tokens/s and peak memory per preset: the median step (forward, backward, clipping and AdamW on random
 * batches), each preset in its own process so that its peak memory is its own; optionally the PyTorch reference
 * (reference/bench_train.py) on the same shapes. With the masked-LM objective, both sides train the preset as a
 * masked LM with the same masks ({@link MlmMasking}, which the reference computes too) over GPT-2's vocabulary with
 * {@code <mask>} and {@code <pad>} added; the reference runs as Hugging Face does (logits of every row, cross-entropy
 * with ignore_index -100) and, for comparison, with the output layer on the selected rows alone, as Lumenspark.
 *
 * @param presets   the presets to measure
 * @param overrides config keys changed in every preset
 * @param batch     sequences per step
 * @param seqLength tokens per sequence (0: the model's seq_length)
 * @param steps     timed steps
 * @param warmup    untimed steps before them
 * @param objective causal_lm (targets: random next tokens) or masked_lm
 * @param rounds    measurements of each preset and implementation, interleaved; the tables show their medians
 * @param precision Lumenspark's matrix products (as {@code train --precision}); with bf16 the reference also runs
 *                  under PyTorch's own bf16 autocast
 */
public record TrainBench(List<String> presets, Map<String, String> overrides, int batch, int seqLength, int steps,
                         int warmup, LmObjective objective, int rounds, Precision precision) {
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
        if (rounds < 1) throw new LumensparkException("--rounds must be at least 1");
        for (String p : presets) {
            ModelConfig cfg = config(p, overrides, objective);
            MemoryPlan.forTraining(cfg, batch, seqLength == 0 ? cfg.seqLength() : seqLength).check();
        }
    }

    /**
     * A preset's config as measured: with the masked-LM objective, GPT-2's vocabulary plus {@code <mask>} and
     * {@code <pad>} (unless vocab_size is set), as {@code train --objective mlm} makes it.
     *
     * @throws LumensparkException for a causal preset with the masked-LM objective
     */
    private static ModelConfig config(String preset, Map<String, String> overrides, LmObjective objective) {
        ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
        if (objective != LmObjective.MASKED_LM) return cfg;
        if (cfg.causal()) {
            throw new LumensparkException("--objective mlm needs a bidirectional model, and preset " + preset
                    + " is causal: use --preset encoder or lumenspark-v0.1, or --set causal=false");
        }
        int vocab = overrides.containsKey("vocab_size") ? cfg.vocabSize() : cfg.vocabSize() + 2;
        return cfg.with(Map.of("vocab_size", "" + vocab, "objective", objective.label(),
                "mask_token_id", "" + (vocab - 2), "pad_token_id", "" + (vocab - 1)));
    }

    /**
     * Measures each preset in a process of its own ({@code child} gives its command line, which prints
     * {@link #measure}'s result as a JSON line), then, with a python, the PyTorch reference: as it runs out of the
     * box, with glibc keeping freed memory, and (masked LM) with the output layer on the selected rows; each
     * {@link #rounds} times, interleaved. Prints each result as a JSON line and the medians as a Markdown table,
     * whose ratios are of tokens/s, peak memory and tokens per CPU second (a step's CPU time over all threads:
     * on a shared machine the work done, where wall time also counts the wait for a core).
     *
     * @param python a Python with torch, or null for no comparison
     */
    public void run(Function<String, List<String>> child, String python, PrintStream out) {
        boolean masked = objective == LmObjective.MASKED_LM;
        // PyTorch's runs: a column label and the script's extra arguments
        List<String[]> torchRuns = new ArrayList<>();
        if (python != null) {
            torchRuns.add(new String[]{masked ? "PyTorch (all rows)" : "PyTorch", "--system-malloc"});
            torchRuns.add(new String[]{(masked ? "PyTorch (all rows)" : "PyTorch") + ", glibc keeping freed memory",
                    ""});
            if (masked) torchRuns.add(new String[]{"PyTorch (selected rows), glibc keeping freed memory",
                    "--selected-rows"});
            if (precision == Precision.BF16) torchRuns.add(new String[]{"PyTorch bf16 autocast"
                    + (masked ? " (selected rows)" : "") + ", glibc keeping freed memory",
                    masked ? "--autocast-bf16 --selected-rows" : "--autocast-bf16"});
        }
        StringBuilder head = new StringBuilder("| preset | Lumenspark" + (precision == Precision.BF16 ? " (bf16)" : "")
                + " tokens/s | peak RSS MiB");
        StringBuilder rule = new StringBuilder("|---|---|---");
        for (String[] t : torchRuns) {
            head.append(" | ").append(t[0]).append(": tokens/s | peak RSS MiB | ratio (speed / memory; speed per CPU"
                    + " second)");
            rule.append("|---|---|---");
        }
        List<String> table = new ArrayList<>(List.of(head + " |", rule + "|"));
        for (String preset : presets) {
            ModelConfig cfg = config(preset, overrides, objective);
            int n = seqLength == 0 ? cfg.seqLength() : seqLength;
            // per implementation: tokens/s, peak RSS and tokens per CPU second (what a loaded machine distorts least)
            List<List<Double>> speed = new ArrayList<>(), rss = new ArrayList<>(), perCpu = new ArrayList<>();
            for (int i = 0; i <= torchRuns.size(); i++) {
                speed.add(new ArrayList<>());
                rss.add(new ArrayList<>());
                perCpu.add(new ArrayList<>());
            }
            for (int round = 0; round < rounds; round++) {
                JsonNode ours = Processes.runScript(child.apply(preset), Map.of()).getLast();
                out.println(Json.toLine(ours));
                speed.getFirst().add(ours.get("tokens_per_s").asDouble());
                rss.getFirst().add(ours.get("peak_rss_mib").asDouble());
                perCpu.getFirst().add(batch * n / ours.get("cpu_s_median").asDouble());
                for (int t = 0; t < torchRuns.size(); t++) {
                    List<String> cmd = new ArrayList<>(List.of(python, Processes.reference("bench_train.py").toString(),
                            "--preset", preset, "--batch", "" + batch, "--seq", "" + n, "--steps", "" + steps,
                            "--warmup", "" + warmup, "--threads", "" + Parallel.threads(), "--json"));
                    if (masked) cmd.addAll(List.of("--objective", "mlm"));
                    if (!torchRuns.get(t)[1].isEmpty()) cmd.addAll(List.of(torchRuns.get(t)[1].split(" ")));
                    overrides.forEach((k, v) -> cmd.addAll(List.of("--set", k + "=" + v)));
                    if (masked) cmd.addAll(List.of("--set", "vocab_size=" + cfg.vocabSize()));
                    JsonNode torch = Processes.runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX")).getLast();
                    out.println(Json.toLine(torch));
                    speed.get(t + 1).add(torch.get("tokens_per_s").asDouble());
                    rss.get(t + 1).add(torch.get("peak_rss_mib").asDouble());
                    perCpu.get(t + 1).add(batch * n / torch.get("cpu_s_median").asDouble());
                }
            }
            double tps = Stats.median(speed.getFirst()), mib = Stats.median(rss.getFirst());
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %.0f | %.0f", preset, tps, mib));
            for (int t = 1; t <= torchRuns.size(); t++) {
                double tt = Stats.median(speed.get(t)), tr = Stats.median(rss.get(t));
                row.append(String.format(Locale.ROOT, " | %.0f | %.0f | %.2fx / %.2fx; %.2fx", tt, tr, tps / tt,
                        mib / tr, Stats.median(perCpu.getFirst()) / Stats.median(perCpu.get(t))));
            }
            table.add(row + " |");
        }
        out.println();
        if (rounds > 1) out.printf("medians of %d interleaved rounds%n", rounds);
        table.forEach(out::println);
    }

    /**
     * One preset in this process: the median step time as tokens/s and the median step's CPU seconds, with the
     * backend, threads and peak memory.
     */
    public Map<String, Object> measure(String preset) {
        ModelConfig cfg = config(preset, overrides, objective);
        boolean masked = objective == LmObjective.MASKED_LM;
        int n = seqLength == 0 ? cfg.seqLength() : seqLength, vocab = cfg.vocabSize();
        // masked LM: GPT-2's end of text and the two added tokens are special; the text draws none of them
        MlmMasking masking = masked ? new MlmMasking(new int[]{vocab - 3, vocab - 2, vocab - 1}, cfg.maskTokenId(),
                cfg.padTokenId(), vocab) : null;
        double[] times = new double[steps], cpu = new double[steps];
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long selected = 0;
        Optional<Bf16Gemm> bf16 = precision.products(w -> System.err.println("warning: " + w));
        try (Arena arena = Arena.ofShared(); LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(1);
            model.useBf16Products(bf16.orElse(null));
            AdamW adam = new AdamW(model.params(), arena, 0.9, 0.95, 1e-8, 0.01);
            SplittableRandom r = new SplittableRandom(1);
            int[] text = new int[batch * n], in = new int[batch * n], tg = new int[batch * n];
            for (int s = 0; s < warmup + steps; s++) {
                for (int i = 0; i < in.length; i++) {
                    text[i] = r.nextInt(masked ? vocab - 3 : vocab);
                    tg[i] = r.nextInt(vocab);
                }
                long t0 = System.nanoTime(), c0 = os.getProcessCpuTime();
                long units = in.length;
                if (masked) {
                    units = 0;
                    for (int row = 0; row < batch; row++) {
                        units += masking.maskRow(text, row * n, n, n, in, tg, row * n, 1, s, 0, row);
                    }
                    if (s >= warmup) selected += units;
                } else {
                    System.arraycopy(text, 0, in, 0, in.length);
                }
                model.params().zeroGrads();
                model.trainStep(in, tg, batch, n, 1f / Math.max(1, units), 1, s, 0);
                double norm = AdamW.gradNorm(model.params());
                adam.step(s + 1, 3e-4, AdamW.clipFactor(norm, 1));
                if (s >= warmup) {
                    times[s - warmup] = (System.nanoTime() - t0) / 1e9;
                    cpu[s - warmup] = (os.getProcessCpuTime() - c0) / 1e9; // every thread's, OpenBLAS's included
                }
            }
        }
        double step = Stats.median(times);
        Map<String, Object> ours = new LinkedHashMap<>();
        ours.put("impl", "lumenspark");
        ours.put("preset", preset);
        ours.put("objective", objective.label());
        ours.put("backend", Blas.get().name());
        ours.put("precision", bf16.isPresent() ? Precision.BF16.label() : Precision.FP32.label());
        bf16.ifPresent(g -> ours.put("bf16_products", g.name()));
        ours.put("threads", Parallel.threads());
        ours.put("tokens_per_s", Math.round(batch * n / step * 10) / 10.0);
        ours.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
        ours.put("step_s_median", step);
        // CPU seconds of a step: with the cores shared, the work done, where wall time also counts waiting for them
        ours.put("cpu_s_median", Stats.median(cpu));
        double[] util = new double[steps];
        for (int i = 0; i < steps; i++) util[i] = cpu[i] / (times[i] * Parallel.threads());
        ours.put("cpu_util_median", Math.round(Stats.median(util) * 1000) / 1000.0);
        if (masked) ours.put("selected_fraction", Math.round(1e4 * selected / ((double) steps * batch * n)) / 1e4);
        ours.put("load_avg_1m", os.getSystemLoadAverage());
        return ours;
    }
}
