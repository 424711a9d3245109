package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.generate.FinishReason;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.pretrained.Truncation;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.training.ClassWeights;
import io.lumenspark.training.ClassifierOptions;
import io.lumenspark.training.ClassifierTrainer;
import io.lumenspark.training.LabeledText;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class SparkDataTest {
    @Test
    void sparkPrepareWritesTheBytesOfDataPrepare(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus");
        Files.createDirectories(corpus.resolve("b"));
        Files.writeString(corpus.resolve("a.txt"), "Call me Ishmael. Some years ago, never mind how long.\n".repeat(40));
        Files.writeString(corpus.resolve("b/c.txt"), "It was the best of times, it was the worst of times.\n".repeat(30));
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 25; i++) jsonl.append("{\"text\": \"record ").append(i).append(" of the lines\"}\n");
        jsonl.append("not json\n");
        Files.writeString(corpus.resolve("b/d.jsonl"), jsonl);
        Files.writeString(corpus.resolve("e.txt"), "The last file, a short one.\n");
        CorpusOptions options = new CorpusOptions(CorpusFormat.AUTO, "text", "text", 0.2, true);

        TokenCorpus.prepareFolder(List.of(corpus), Tokenizer.byName("gpt2"), options, tmp.resolve("local"), false, 1);
        Path spark = tmp.resolve("spark");
        TokenCorpus.Prepared p = SparkPrepare.run(LocalSpark.context(), List.of(corpus.toString()), "gpt2", options, spark, 3, 1);
        assertEquals(4, p.sources());
        assertEquals(1, p.skippedRecords());
        for (String file : List.of("train.bin", "val.bin", "manifest.json")) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("local").resolve(file)),
                    Files.readAllBytes(spark.resolve(file)), file);
        }
        try (Stream<Path> left = Files.list(spark)) {
            assertEquals(List.of(".lock", "manifest.json", "train.bin", "val.bin"),
                    left.map(f -> f.getFileName().toString()).sorted().toList(), "the parts are gone");
        }
    }

    /** Saves a causal Linformer of one layer (d 32, context 32) with GPT-2's tokenizer into {@code dir}. */
    public static Path tinyModel(Path dir) {
        ModelConfig cfg = ModelConfig.preset("tiny").with(Map.of("embed_dim", "32", "depth", "1", "heads", "2",
                "seq_length", "32", "k", "8", "rank", "8"));
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(cfg), Tokenizer.byName("gpt2"))) {
            m.languageModel().initialize(7);
            m.save(dir);
        }
        return dir;
    }

    /** The rows of a JSON lines output folder, part file by part file, as JSON maps. */
    public static List<Map<String, Object>> jsonRows(Path out) throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        try (Stream<Path> parts = Files.list(out)) {
            for (Path part : parts.filter(f -> f.getFileName().toString().startsWith("part-")).sorted().toList()) {
                for (String line : Files.readAllLines(part)) {
                    @SuppressWarnings("unchecked") Map<String, Object> m = Json.mapper().readValue(line, Map.class);
                    rows.add(m);
                }
            }
        }
        return rows;
    }

    @Test
    void scoreKeepsInputOrderLoadsOnceAndCountsBadRecords(@TempDir Path tmp) throws Exception {
        Path model = tinyModel(tmp.resolve("model"));
        Path in = tmp.resolve("in");
        Files.createDirectories(in);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 12; i++) texts.add("The quick brown fox number " + i + " jumps over the lazy dog.");
        texts.set(5, "word ".repeat(60)); // longer than the context of 32
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        for (int i = 0; i < texts.size(); i++) {
            (i < 6 ? a : b).append(Json.toLine(Map.of("text", texts.get(i)))).append('\n');
        }
        b.append("{\"other\": 1}\n"); // no text: a bad record
        Files.writeString(in.resolve("a.jsonl"), a);
        Files.writeString(in.resolve("b.jsonl"), b);
        Path out = tmp.resolve("out");
        BatchInference.Spec spec = new BatchInference.Spec(model.toString(), null, "text", 0, 0, 0, 0, 1, "auto", false);
        BatchInference.Result r = BatchInference.run(LocalSpark.session(), BatchInference.Task.SCORE, in.toString(),
                "jsonl", out, "json", spec);
        assertEquals(13, r.records());
        assertEquals(2, r.bad());

        List<Map<String, Object>> rows = jsonRows(out);
        assertEquals(13, rows.size());
        try (LumensparkModel m = LumensparkModel.fromPretrained(model)) {
            for (int i = 0; i < rows.size(); i++) {
                Map<String, Object> row = rows.get(i);
                assertEquals(i, ((Number) row.get("index")).intValue(), "input order");
                if (i == 5 || i == 12) {
                    assertTrue(row.get("error") != null, "row " + i + " is bad: " + row);
                    continue;
                }
                assertEquals(texts.get(i), row.get("text"));
                int[] ids = m.tokenizer().encode(texts.get(i));
                int n = ids.length - 1;
                float[] loss = new float[n];
                m.languageModel().evaluate(Arrays.copyOf(ids, n), Arrays.copyOfRange(ids, 1, n + 1), 1, n, loss);
                double sum = 0;
                for (float l : loss) sum -= l;
                assertEquals(sum, ((Number) row.get("sum_logprob")).doubleValue(), 0.0, "row " + i);
                assertNull(row.get("error"));
            }
        }

        BatchInference.Spec strict = new BatchInference.Spec(model.toString(), null, "text", 0, 0, 0, 0, 1, "auto", true);
        Exception e = assertThrows(Exception.class, () -> BatchInference.run(LocalSpark.session(),
                BatchInference.Task.SCORE, in.toString(), "jsonl", tmp.resolve("strict"), "json", strict));
        assertTrue(hasCause(e, LumensparkException.class), "a bad record fails the job when asked: " + e);

        Path lists = Files.writeString(tmp.resolve("lists.jsonl"), "{\"text\": [\"a\", \"b\"]}\n");
        LumensparkException notText = assertThrows(LumensparkException.class, () -> BatchInference.run(
                LocalSpark.session(), BatchInference.Task.SCORE, lists.toString(), "jsonl", tmp.resolve("lists"),
                "json", spec));
        assertEquals(lists + ": column 'text' holds array<string>, not text", notText.getMessage());
        assertFalse(Files.exists(tmp.resolve("lists")));
    }

    private static boolean hasCause(Throwable e, Class<?> type) {
        for (Throwable c = e; c != null; c = c.getCause()) if (type.isInstance(c)) return true;
        return false;
    }

    @Test
    void generateFromCsvToParquetEqualsSingleMachineGreedyGeneration(@TempDir Path tmp) throws Exception {
        Path model = tinyModel(tmp.resolve("model"));
        List<String> prompts = List.of("Once upon a time", "The state of the Union", "\"Quoted, with a comma\"",
                "Peace");
        StringBuilder csv = new StringBuilder("id,prompt\n");
        for (int i = 0; i < prompts.size(); i++) {
            csv.append(i).append(",\"").append(prompts.get(i).replace("\"", "\"\"")).append("\"\n");
        }
        Path in = Files.writeString(tmp.resolve("prompts.csv"), csv);
        Path out = tmp.resolve("out");
        // more new tokens than the 32-token context leaves: each ends at the context, as generate says
        BatchInference.Spec spec = new BatchInference.Spec(model.toString(), null, "prompt", 40, 0, 0, 0, 1, "auto", false);
        SparkSession spark = LocalSpark.session();
        BatchInference.Result r = BatchInference.run(spark, BatchInference.Task.GENERATE, in.toString(), "auto", out,
                "parquet", spec);
        assertEquals(0, r.bad());
        List<Row> rows = spark.read().parquet(out.toString()).orderBy("index").collectAsList();
        assertEquals(prompts.size(), rows.size());
        try (LumensparkModel m = LumensparkModel.fromPretrained(model)) {
            for (int i = 0; i < prompts.size(); i++) {
                assertEquals(prompts.get(i), rows.get(i).getAs("prompt"));
                GenerationConfig greedy = m.generationConfig().toBuilder().maxNewTokens(40).maxLength(null)
                        .doSample(false).build();
                Generator.Result alone = m.generate(prompts.get(i), greedy);
                assertEquals(alone.text(), rows.get(i).getAs("text"), "prompt " + i);
                assertEquals(FinishReason.CONTEXT.label(), alone.finishReason().label());
                assertEquals(alone.finishReason().label(), rows.get(i).getAs("finish_reason"), "prompt " + i);
            }
        }
    }

    @Test
    void classifyFromCsvToParquetEqualsTextClassifierPredict(@TempDir Path tmp) throws Exception {
        String[] words = {"alpha", "beta", "gamma"};
        List<LabeledText> train = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            train.add(new LabeledText(words[i % 3] + " " + words[i % 3] + " " + i, "c" + (i % 3), "line " + (i + 1)));
        }
        Path model = tmp.resolve("classifier");
        new ClassifierTrainer(new ClassifierOptions(null, "tiny", Map.of("embed_dim", "16", "depth", "1", "heads", "2",
                "seq_length", "16", "k", "4", "rank", "4"), "gpt2", ProblemType.SINGLE_LABEL_CLASSIFICATION, ",", null,
                ClassWeights.NONE, Truncation.RIGHT, 4, 8, 1e-2, 1e-3, 0.1, 0.01, 1.0, 0, 0, 3, model),
                new PrintStream(new ByteArrayOutputStream())).run(train, train.subList(0, 6), false);

        // two CSV files (two partitions), the first longer than a forward pass, with an empty text in it
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 26; i++) texts.add(words[i % 3] + " " + words[i % 3] + (i % 4 == 0 ? ", \"quoted\" " : " ") + (i + 30));
        texts.set(7, null);
        Path in = Files.createDirectories(tmp.resolve("in"));
        StringBuilder a = new StringBuilder("id,text\n"), b = new StringBuilder("id,text\n");
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            (i < 20 ? a : b).append(i).append(',').append(t == null ? "" : "\"" + t.replace("\"", "\"\"") + "\"")
                    .append('\n');
        }
        Files.writeString(in.resolve("a.csv"), a);
        Files.writeString(in.resolve("b.csv"), b);
        SparkSession spark = LocalSpark.session();
        Path out = tmp.resolve("out");
        BatchInference.Spec spec = new BatchInference.Spec(model.toString(), null, "text", 0, 0, 2, 0, 1, "auto", false);
        BatchInference.Result r = BatchInference.run(spark, BatchInference.Task.CLASSIFY, in.toString(), "csv", out,
                "parquet", spec);
        assertEquals(texts.size(), r.records());
        assertEquals(1, r.bad());

        List<Row> rows = spark.read().parquet(out.toString()).orderBy("index").collectAsList();
        assertEquals(texts.size(), rows.size());
        try (TextClassifier c = TextClassifier.fromPretrained(model)) {
            List<String> good = texts.stream().filter(Objects::nonNull).toList();
            List<TextClassifier.Prediction> expected = c.predict(good);
            Set<String> seen = new HashSet<>();
            for (int i = 0, g = 0; i < rows.size(); i++) {
                Row row = rows.get(i);
                assertEquals(i, row.<Long>getAs("index"), "input order");
                if (i == 7) {
                    assertEquals("no text (the column is empty)", row.getAs("error"));
                    continue;
                }
                TextClassifier.Prediction p = expected.get(g++);
                assertEquals(texts.get(i), row.getAs("text"));
                assertEquals(p.label(), row.getAs("label"), "row " + i);
                assertEquals(p.score(), row.<Double>getAs("score"), 1e-5, "row " + i);
                List<Row> top = row.getList(row.fieldIndex("top_k"));
                assertEquals(2, top.size());
                assertEquals(p.label(), top.get(0).getString(0));
                double[] sorted = Arrays.stream(p.scores()).sorted().toArray();
                assertEquals(sorted[sorted.length - 2], top.get(1).getDouble(1), 1e-5, "row " + i);
                assertNull(row.getAs("labels"), "single-label rows have no labels list");
                assertNull(row.getAs("error"));
                seen.add(p.label());
            }
            assertTrue(seen.size() > 1, "the trained classifier tells texts apart: " + seen);
        }

        BatchInference.Spec strict = new BatchInference.Spec(model.toString(), null, "text", 0, 0, 2, 0, 1, "auto", true);
        Exception e = assertThrows(Exception.class, () -> BatchInference.run(spark, BatchInference.Task.CLASSIFY,
                in.toString(), "csv", tmp.resolve("strict"), "json", strict));
        assertTrue(hasCause(e, LumensparkException.class), "a bad record fails the job when asked: " + e);
    }
}
