package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Json;
import io.lumenspark.model.Decoder;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Batch-1 generation speed and peak memory at several contexts, one process per preset; optionally the PyTorch
 * reference (reference/bench_generate.py) on the same shapes.
 *
 * @param presets       the presets to measure
 * @param overrides     config keys changed in every preset
 * @param contexts      the contexts (prompt plus new tokens), or null for 128, 256, ... up to seq_length
 * @param tokens        timed new tokens per context; the prompt is context - tokens
 * @param pytorchTokens timed new tokens per context for PyTorch
 * @param dtypes        how the matrix weights are held, each measured in a process of its own (the first is the
 *                      reference of the speed ratios)
 */
public record GenerateBench(List<String> presets, Map<String, String> overrides, List<Integer> contexts, int tokens,
                            int pytorchTokens, List<WeightDtype> dtypes) {
    /**
     * Checks the settings and the presets' names before anything runs.
     *
     * @throws LumensparkException naming the option at fault
     */
    public GenerateBench {
        presets = List.copyOf(presets);
        overrides = Map.copyOf(overrides);
        contexts = contexts == null ? null : List.copyOf(contexts);
        dtypes = List.copyOf(dtypes);
        if (dtypes.isEmpty()) throw new LumensparkException("--dtype needs at least one of f32, bf16, int8");
        if (tokens < 2 || pytorchTokens < 2) throw new LumensparkException("--tokens must be at least 2");
        for (String p : presets) ModelConfig.preset(p).with(overrides);
    }

    /**
     * The contexts measured for a config: the given ones (each above tokens and at most seq_length), or 128, 256,
     * ... below seq_length and seq_length itself.
     */
    public List<Integer> contexts(ModelConfig cfg) {
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

    /**
     * Measures each preset and dtype in a process of its own ({@code child} gives its command line for a preset,
     * its contexts and a dtype, which prints {@link #measure}'s JSON lines), then, with a python, the PyTorch
     * reference; prints the JSON lines and a Markdown table, with each dtype's speed as a ratio of the first's.
     *
     * @param python a Python with torch, or null for no comparison
     */
    public void run(Child child, String python, PrintStream out) {
        boolean vsPytorch = python != null;
        List<String> table = new ArrayList<>();
        table.add("| preset | dtype | context | Lumenspark tokens/s | vs " + dtypes.getFirst().label()
                + " | ms/token | prefill ms | peak RSS MiB | decoder state"
                + (vsPytorch ? " | PyTorch tokens/s | PyTorch mode | PyTorch peak RSS MiB | speed ratio | memory ratio" : "")
                + " |");
        table.add("|---|---|---|---|---|---|---|---|---" + (vsPytorch ? "|---|---|---|---|---" : "") + "|");
        for (String preset : presets) {
            ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
            List<Integer> ctx = contexts(cfg);
            List<JsonNode> ours = new ArrayList<>();
            for (WeightDtype dtype : dtypes) ours.addAll(Processes.runScript(child.command(preset, ctx, dtype), Map.of()));
            ours.forEach(j -> out.println(Json.toLine(j)));
            Map<Integer, Double> reference = new LinkedHashMap<>();
            for (JsonNode j : ours) reference.putIfAbsent(j.get("context").asInt(), j.get("tokens_per_s").asDouble());
            Map<Integer, JsonNode> torch = new LinkedHashMap<>();
            if (vsPytorch) {
                List<String> cmd = new ArrayList<>(List.of(python, Processes.reference("bench_generate.py").toString(),
                        "--preset", preset, "--contexts", join(ctx), "--tokens", "" + pytorchTokens, "--threads",
                        "" + Parallel.threads(), "--json", "--mode", cfg.isFull() ? "cached" : "recompute"));
                overrides.forEach((k, v) -> cmd.addAll(List.of("--set", k + "=" + v)));
                for (JsonNode j : Processes.runScript(cmd, Map.of("OPENBLAS_CORETYPE", "SkylakeX"))) {
                    out.println(Json.toLine(j));
                    torch.put(j.get("context").asInt(), j);
                }
            }
            for (JsonNode j : ours) {
                int c = j.get("context").asInt();
                String row = String.format("| %s | %s | %d | %.1f | %.2fx | %.2f | %.0f | %.0f | %s", preset,
                        j.get("dtype").asText(), c, j.get("tokens_per_s").asDouble(),
                        j.get("tokens_per_s").asDouble() / reference.get(c), j.get("ms_per_token_median").asDouble(),
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
        out.println();
        out.println("kernels: " + Kernels.describe());
        table.forEach(out::println);
    }

    /** Rounds over the contexts per measurement. */
    static final int ROUNDS = 3;

    /** The command line of the process that measures one preset at its contexts with one dtype. */
    public interface Child {
        List<String> command(String preset, List<Integer> contexts, WeightDtype dtype);
    }

    /** Contexts as the comma-separated list the command lines take. */
    public static String join(List<Integer> xs) {
        return String.join(",", xs.stream().map(String::valueOf).toList());
    }

    private static String mib(long bytes) {
        return String.format("%.2f MiB", bytes / 1048576.0);
    }

    /**
     * The first preset with the first dtype in this process, per context, ascending: a prompt of context - tokens
     * random ids, then tokens new ones sampled with a new model's default settings
     * ({@link GenerationConfig#forNewModel}: temperature 0.8, top-k 50), GPT-2's end of text among them, each
     * next() timed, in {@link #ROUNDS} rounds over the contexts; the median step of all rounds and the fastest
     * first token ("prefill_ms": the prompt but its last token, then the first decoding step and draw). The model
     * is a folder of random weights, loaded as {@code generate} loads one. One JSON line per context.
     */
    public void measure(PrintStream out) {
        ModelConfig cfg = ModelConfig.preset(presets.getFirst()).with(overrides);
        Tokenizer gpt2 = Tokenizer.byName("gpt2");
        // loaded from a folder, memory-mapped, as `generate` loads a model: the peak RSS is the command's
        try (RandomModelFolder folder = new RandomModelFolder(cfg, gpt2, presets.getFirst())) {
            Processes.resetPeakRss(); // the model that wrote the folder is gone
            try (LumensparkModel loaded = LumensparkModel.fromPretrained(folder.folder(), dtypes.getFirst())) {
                measure(out, cfg, gpt2, loaded.languageModel());
            }
        }
    }

    private void measure(PrintStream out, ModelConfig cfg, Tokenizer gpt2, LanguageModel model) {
        GenerationConfig gen = GenerationConfig.forNewModel(cfg.seqLength(), gpt2.eosId()).toBuilder()
                .maxLength(null).maxNewTokens(tokens).minNewTokens(tokens).seed(1L).build();
        SplittableRandom r = new SplittableRandom(1);
        List<Integer> ctx = contexts(cfg);
        for (int w = 0; w < Math.max(2, 128 / tokens); w++) time(model, gpt2, gen, r, ctx.getFirst()); // JIT warm-up
        // rounds over all contexts, so that drift in the machine's load or the process's state (heap, caches)
        // is spread over every context rather than credited to the last ones measured
        Map<Integer, List<Double>> steps = new LinkedHashMap<>();
        Map<Integer, Double> prefill = new LinkedHashMap<>();
        for (int round = 0; round < ROUNDS; round++) {
            for (int c : ctx) {
                double[] times = time(model, gpt2, gen, r, c);
                prefill.merge(c, times[0], Math::min);
                List<Double> all = steps.computeIfAbsent(c, x -> new ArrayList<>());
                for (int i = 1; i < times.length; i++) all.add(times[i]);
            }
        }
        for (int c : ctx) {
            double step = Stats.median(steps.get(c));
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("impl", "lumenspark");
            m.put("preset", presets.getFirst());
            m.put("dtype", dtypes.getFirst().label());
            m.put("context", c);
            m.put("threads", Parallel.threads());
            m.put("tokens_per_s", Math.round(10 / step) / 10.0);
            m.put("ms_per_token_median", Math.round(step * 1e5) / 100.0);
            m.put("prefill_ms", Math.round(prefill.get(c) * 1e4) / 10.0);
            m.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
            if (cfg.causal()) {
                try (Decoder d = model.decoder()) {
                    m.put("state_bytes", d.stateBytes());
                }
            }
            out.println(Json.toLine(m));
        }
    }

    /** Seconds of each next(): the first includes the prompt's prefill. */
    private double[] time(LanguageModel model, Tokenizer tok, GenerationConfig gen, SplittableRandom r, int context) {
        int[] prompt = new int[context - tokens];
        for (int i = 0; i < prompt.length; i++) prompt[i] = r.nextInt(model.config().vocabSize());
        double[] times = new double[tokens];
        try (Generation g = new Generation(model, tok, prompt, gen, null)) {
            for (int i = 0; i < tokens; i++) {
                long t0 = System.nanoTime();
                g.next();
                times[i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        return times;
    }
}
