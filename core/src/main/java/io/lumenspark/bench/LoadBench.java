package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.WeightFiles;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * How long a model's weights take to load, and the memory they take, from pytorch_model.bin and from
 * model.safetensors, opened as {@code fromPretrained} opens them ({@link ModelWeights#loadMapped}: the config checked
 * against the tensors, float32 tensors mapped in place, every weight checked to be finite). The model is a preset's
 * shape with random weights (seed 1), written once into a temporary folder: model.safetensors by Java,
 * pytorch_model.bin from it by the PyTorch reference's {@code torch.save} (reference/save_pytorch_model.py), each
 * beside the same config.json. Every load runs in a fresh JVM, so its peak resident memory (Linux's VmHWM) is that
 * load's alone and no load gains from another's compiled code; the formats alternate, run by run, and each figure is
 * the median over the runs. The files were just written, so their pages are in the page cache: the figures are
 * those of a warm cache.
 *
 * @param preset    the model's preset
 * @param overrides config keys changed in it
 * @param runs      loads per format
 */
public record LoadBench(String preset, Map<String, String> overrides, int runs) {
    /** The folders the two formats are written to, under the temporary folder, in the order measured first. */
    static final List<String> FORMATS = List.of("safetensors", "pytorch");

    /**
     * Checks the settings before anything runs.
     *
     * @throws LumensparkException for an unknown preset, a bad override, or fewer than one run
     */
    public LoadBench {
        overrides = Map.copyOf(overrides);
        if (runs < 1) throw new LumensparkException("--runs must be at least 1");
        ModelConfig.preset(preset).with(overrides);
    }

    /**
     * Writes the model into {@code dir/safetensors/} (config.json, model.safetensors) and {@code dir/pytorch/}
     * (config.json, pytorch_model.bin, written by {@code python}).
     */
    public void prepare(Path dir, String python) {
        ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
        Path safetensors = dir.resolve(FORMATS.get(0)), pytorch = dir.resolve(FORMATS.get(1));
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(1);
            for (Path folder : List.of(safetensors, pytorch)) {
                Files.createDirectories(folder);
                ModelWeights.writeConfig(model, folder);
            }
            ModelWeights.writeWeights(model, safetensors);
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + dir + ": " + AtomicFiles.reason(e), e);
        }
        Processes.runScript(List.of(python, Processes.reference("save_pytorch_model.py").toString(),
                safetensors.resolve(WeightFiles.SAFETENSORS).toString(),
                pytorch.resolve(WeightFiles.PYTORCH).toString()), Map.of("OPENBLAS_CORETYPE", "SkylakeX"));
    }

    /**
     * Loads a model folder's weights in this process and prints one JSON line: the weights file, its bytes, the
     * seconds the load took, the resident memory before it and the peak after it.
     */
    public static void measure(Path folder, PrintStream out) {
        Path weights = WeightFiles.find(folder);
        if (weights == null) throw new LumensparkException(folder + " has no weights");
        double before = Processes.rssMib();
        long t0 = System.nanoTime();
        long params;
        try (LanguageModel model = ModelWeights.loadMapped(folder)) {
            params = model.params().count();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("weights", weights.getFileName().toString());
        m.put("bytes", size(weights));
        m.put("parameters", params);
        m.put("seconds", Math.round(seconds * 1e4) / 1e4);
        m.put("rss_before_mib", Math.round(before));
        m.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
        out.println(Json.toLine(m));
    }

    /**
     * Writes the model into a temporary folder (deleted at the end), loads it {@code runs} times per format, each
     * in the process {@code child} gives the command line of for a folder (which prints {@link #measure}'s line),
     * and prints every JSON line, then a Markdown table of the medians and the ratios of pytorch_model.bin to
     * model.safetensors.
     *
     * @param python a Python with torch, to write pytorch_model.bin
     */
    public void run(Function<Path, List<String>> child, String python, PrintStream out) {
        Path dir;
        try {
            dir = Files.createTempDirectory("lumenspark-bench-load-");
        } catch (IOException e) {
            throw new LumensparkException("cannot make a temporary folder: " + AtomicFiles.reason(e), e);
        }
        try {
            prepare(dir, python);
            Map<String, List<JsonNode>> results = new LinkedHashMap<>();
            for (String format : FORMATS) results.put(format, new ArrayList<>());
            for (int r = 0; r < runs; r++) {
                List<String> order = r % 2 == 0 ? FORMATS : FORMATS.reversed();
                for (String format : order) {
                    for (JsonNode j : Processes.runScript(child.apply(dir.resolve(format)), Map.of())) {
                        out.println(Json.toLine(j));
                        results.get(format).add(j);
                    }
                }
            }
            table(results, out);
        } finally {
            AtomicFiles.deleteTree(dir);
        }
    }

    private void table(Map<String, List<JsonNode>> results, PrintStream out) {
        out.println();
        out.printf("%s, %,d parameters, %d runs per format (medians)%n%n", preset,
                results.get(FORMATS.get(0)).getFirst().get("parameters").asLong(), runs);
        out.println("| weights | file | load time | peak RSS | RSS before loading |");
        out.println("|---|---|---|---|---|");
        Map<String, double[]> medians = new LinkedHashMap<>();
        for (var e : results.entrySet()) {
            List<JsonNode> js = e.getValue();
            double seconds = Stats.median(js.stream().map(j -> j.get("seconds").asDouble()).toList());
            double peak = Stats.median(js.stream().map(j -> j.get("peak_rss_mib").asDouble()).toList());
            double before = Stats.median(js.stream().map(j -> j.get("rss_before_mib").asDouble()).toList());
            medians.put(e.getKey(), new double[]{seconds, peak});
            out.printf("| `%s` | %s | %.3f s | %.0f MiB | %.0f MiB |%n", js.getFirst().get("weights").asText(),
                    InputFiles.humanSize(js.getFirst().get("bytes").asLong()), seconds, peak, before);
        }
        double[] st = medians.get(FORMATS.get(0)), bin = medians.get(FORMATS.get(1));
        out.printf("%npytorch_model.bin / model.safetensors: %.2fx the time, %.2fx the peak memory%n",
                bin[0] / st[0], bin[1] / st[1]);
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + AtomicFiles.reason(e), e);
        }
    }
}
