package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.pretrained.LumensparkModel;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Classification throughput of a classifier folder: texts per second one text at a time (batch 1, as a service
 * answering single requests) and in batches, over random texts of a fixed length, the median of several runs; with
 * a Python, the PyTorch reference on the same folder and shapes (reference/bench_classify.py) and the ratios.
 */
public final class ClassifyBench {
    private final Path model;
    private final int length, batch, texts, runs;

    /**
     * A benchmark of a classifier folder.
     *
     * @param length tokens per text (at most the model's seq_length)
     * @param batch  texts per pass in the batched measurement
     * @param texts  texts per run
     * @param runs   runs of each measurement (the median is reported)
     */
    public ClassifyBench(Path model, int length, int batch, int texts, int runs) {
        if (length < 1 || batch < 1 || texts < 1 || runs < 1) {
            throw new LumensparkException("--length, --batch, --texts and --runs must be at least 1");
        }
        this.model = model;
        this.length = length;
        this.batch = batch;
        this.texts = texts;
        this.runs = runs;
    }

    /** Measures, prints a table (or, with json, one JSON object) to out; python null: no PyTorch comparison. */
    public Map<String, Object> run(String python, boolean json, PrintStream out) {
        Map<String, Object> ours = new LinkedHashMap<>();
        try (LumensparkModel m = LumensparkModel.fromPretrained(model)) {
            LanguageModel lm = m.languageModel();
            if (!lm.config().isClassifier()) throw new LumensparkException(model + " is not a classifier");
            if (length > lm.config().seqLength()) {
                throw new LumensparkException("--length " + length + " exceeds the model's seq_length "
                        + lm.config().seqLength());
            }
            SplittableRandom r = new SplittableRandom(0);
            int[] ids = new int[texts * length];
            for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(lm.config().vocabSize());
            for (int i = 0; i < 2; i++) { // warm-up: the JIT, and a pass of each shape
                rate(lm, ids, 1);
                rate(lm, ids, batch);
            }
            List<Double> one = new ArrayList<>(), many = new ArrayList<>();
            for (int i = 0; i < runs; i++) one.add(rate(lm, ids, 1));
            for (int i = 0; i < runs; i++) many.add(rate(lm, ids, batch));
            ours.put("impl", "lumenspark");
            ours.put("batch1_texts_per_s", Stats.median(one));
            ours.put("batched_texts_per_s", Stats.median(many));
            ours.put("batch", batch);
            ours.put("length", length);
            ours.put("peak_rss_mib", Math.round(Processes.peakRssMib()));
            ours.put("threads", Parallel.threads());
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("lumenspark", ours);
        if (python != null) {
            List<JsonNode> lines = Processes.runScript(List.of(python, Processes.reference("bench_classify.py")
                            .toString(), "--model", model.toString(), "--length", "" + length, "--batch", "" + batch,
                    "--texts", "" + texts, "--runs", "" + runs, "--threads", "" + Parallel.threads()), Map.of());
            if (lines.isEmpty()) throw new LumensparkException("bench_classify.py printed no result");
            JsonNode ref = lines.getLast();
            result.put("pytorch", ref);
            result.put("batch1_ratio", (Double) ours.get("batch1_texts_per_s") / ref.get("batch1_texts_per_s").asDouble());
            result.put("batched_ratio", (Double) ours.get("batched_texts_per_s")
                    / ref.get("batched_texts_per_s").asDouble());
        }
        if (json) {
            out.println(Json.toLine(result));
        } else {
            out.printf("classify %s: %d tokens per text, %s, %d runs (medians)%n", model, length,
                    Parallel.threads() == 1 ? "1 thread" : Parallel.threads() + " threads", runs);
            out.printf("  %-11s %12s %18s%n", "", "batch 1", "batch " + batch);
            out.printf("  %-11s %10.1f/s %16.1f/s%n", "lumenspark", ours.get("batch1_texts_per_s"),
                    ours.get("batched_texts_per_s"));
            if (result.get("pytorch") instanceof JsonNode ref) {
                out.printf("  %-11s %10.1f/s %16.1f/s%n", "pytorch", ref.get("batch1_texts_per_s").asDouble(),
                        ref.get("batched_texts_per_s").asDouble());
                out.printf("  %-11s %11.2fx %17.2fx%n", "ratio", result.get("batch1_ratio"), result.get("batched_ratio"));
            }
        }
        return result;
    }

    /** Texts per second classifying every text of ids in passes of the given batch. */
    private double rate(LanguageModel lm, int[] ids, int size) {
        long start = System.nanoTime();
        for (int from = 0; from < texts; from += size) {
            int b = Math.min(size, texts - from);
            int[] part = new int[b * length], lengths = new int[b];
            System.arraycopy(ids, from * length, part, 0, part.length);
            Arrays.fill(lengths, length);
            lm.classify(part, lengths, b, length);
        }
        return texts / ((System.nanoTime() - start) / 1e9);
    }
}
