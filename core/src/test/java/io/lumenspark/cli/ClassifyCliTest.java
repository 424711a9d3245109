package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.io.Json;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.Truncation;
import io.lumenspark.training.ClassWeights;
import io.lumenspark.training.ClassifierOptions;
import io.lumenspark.training.ClassifierTrainer;
import io.lumenspark.training.LabeledText;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** classify train, eval and predict end to end on a small data set, and their bad input: one line, exit code 2. */
class ClassifyCliTest {
    @TempDir
    static Path tmp;
    static Path data, csv, model;
    static final int RECORDS = 60;

    @BeforeAll
    static void trainSmallClassifier() throws Exception {
        Random r = new Random(4);
        List<String> jsonl = new ArrayList<>(), rows = new ArrayList<>(List.of("body,y"));
        String[] good = {"win free cash now", "cheap pills offer", "claim your prize"};
        String[] bad = {"meeting notes attached", "see you at lunch", "the build is green"};
        for (int i = 0; i < RECORDS; i++) {
            boolean spam = r.nextBoolean();
            String text = (spam ? good : bad)[r.nextInt(3)] + " " + i;
            jsonl.add(Json.toLine(Map.of("text", text, "label", spam ? "spam" : "ham")));
            rows.add("\"" + text + "\"," + (spam ? "spam" : "ham"));
        }
        data = tmp.resolve("data.jsonl");
        Files.write(data, jsonl);
        csv = tmp.resolve("data.csv");
        Files.write(csv, rows);
        model = tmp.resolve("model");
        CliTest.Run t = CliTest.run("classify", "train", "--data", data.toString(), "--out", model.toString(),
                "--preset", "tiny", "--set", "embed_dim=16", "--set", "depth=1", "--set", "heads=2", "--set",
                "seq_length=16", "--set", "k=4", "--set", "rank=4", "--epochs", "2", "--batch", "8", "--lr", "3e-3",
                "--baseline", "--threads", "2");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("done: 14 steps") && t.out().contains("baseline (TF-IDF"), t.out());
    }

    @Test
    void theRunFolderHoldsTheBestClassifierWithHuggingFaceKeys() throws Exception {
        JsonNode config = Json.read(model.resolve("config.json"));
        assertEquals("LumensparkForSequenceClassification", config.get("architectures").get(0).asText());
        assertEquals(2, config.get("num_labels").asInt());
        assertEquals("ham", config.get("id2label").get("0").asText());
        assertEquals(1, config.get("label2id").get("spam").asInt());
        assertEquals("single_label_classification", config.get("problem_type").asText());
        assertEquals("last", config.get("pooling").asText()); // tiny is causal
        for (String f : List.of("model.safetensors", "loss.png", "confusion_matrix.png", "metrics.jsonl",
                "checkpoint/trainer_state.json", "checkpoint/optimizer.safetensors")) {
            assertTrue(Files.size(model.resolve(f)) > 0, f);
        }
        List<String> metrics = Files.readAllLines(model.resolve("metrics.jsonl"));
        assertEquals(14, metrics.size());
        assertTrue(metrics.get(6).contains("\"val_macro_f1\"") && metrics.get(13).contains("\"val_macro_f1\""));
        assertFalse(Files.exists(model.resolve("generation_config.json")));
        assertFalse(Files.exists(model.resolve(".lock")), "a finished run keeps no lock file");
    }

    @Test
    void infoDescribesAClassifierAndItsValidationWithoutPerplexity() {
        CliTest.Run info = CliTest.run("info", "--model", model.toString());
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("objective:  sequence classification, 2 labels: ham, spam;"
                + " single_label_classification; pooling last\n"), info.out());
        assertTrue(info.out().matches("(?s).*validation: loss [0-9.]+, accuracy [0-9.]+, macro-F1 [0-9.]+ at step"
                + " 14\n.*"), info.out());
        assertFalse(info.out().contains("perplexity"), info.out());
    }

    @Test
    void evalPrintsTheIssuesKeysTheSameForCsvAndJsonLines() {
        CliTest.Run e = CliTest.run("classify", "eval", "--model", model.toString(), "--data", data.toString(),
                "--json", "--baseline", data.toString(), "--png", tmp.resolve("cm.png").toString());
        assertEquals(0, e.code(), e.err());
        JsonNode m = Json.mapper().valueToTree(Json.read(writeTo("eval.json", e.out())));
        for (String key : List.of("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "per_class",
                "confusion_matrix", "baseline")) {
            assertTrue(m.has(key), key + " in " + e.out());
        }
        long total = 0;
        for (JsonNode row : m.get("confusion_matrix")) for (JsonNode c : row) total += c.asLong();
        assertEquals(RECORDS, total);
        assertTrue(Files.exists(tmp.resolve("cm.png")));
        CliTest.Run text = CliTest.run("classify", "eval", "--model", model.toString(), "--data", data.toString(),
                "--baseline", data.toString());
        assertTrue(text.out().contains("naive Bayes, fitted on " + data + "):"), "a path, not a list: " + text.out());
        CliTest.Run c = CliTest.run("classify", "eval", "--model", model.toString(), "--data", csv.toString(),
                "--text-column", "body", "--label-column", "y", "--json");
        assertEquals(0, c.code(), c.err());
        JsonNode fromCsv = Json.read(writeTo("csv.json", c.out()));
        assertEquals(m.get("accuracy").asDouble(), fromCsv.get("accuracy").asDouble(), 0);
        assertEquals(m.get("confusion_matrix"), fromCsv.get("confusion_matrix"));
    }

    @Test
    void predictStreamsAFileInInputOrderAsTextsGiveThem() throws Exception {
        Path file = tmp.resolve("predict.jsonl");
        List<String> lines = new ArrayList<>(Files.readAllLines(data).subList(0, 40));
        lines.add(7, "{\"txt\": \"no text field\"}");
        Files.write(file, lines);
        CliTest.Run fatal = CliTest.run("classify", "predict", "--model", model.toString(), "--file", file.toString());
        assertEquals(2, fatal.code());
        assertTrue(fatal.err().contains("error: " + file + " line 8: no field 'text'"), fatal.err());
        assertEquals(1, fatal.err().lines().filter(l -> l.contains("error")).count(), fatal.err());
        CliTest.Run p = CliTest.run("classify", "predict", "--model", model.toString(), "--file", file.toString(),
                "--skip-bad-records", "--json", "--top-k", "2", "--batch", "3");
        assertEquals(0, p.code(), p.err());
        assertTrue(p.err().contains("skipped 1 bad record"), p.err());
        List<String> out = p.out().lines().toList();
        assertEquals(40, out.size());
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) {
            JsonNode o = Json.mapper().readTree(out.get(i));
            assertEquals(i < 7 ? i + 1 : i + 2, o.get("line").asInt(), "input order");
            assertEquals(2, o.get("top_k").size());
            texts.add(Json.mapper().readTree(lines.get(i < 7 ? i : i + 1)).get("text").asText());
        }
        List<String> args = new ArrayList<>(List.of("classify", "predict", "--model", model.toString()));
        for (String t : texts.subList(0, 5)) {
            args.add("--text");
            args.add(t);
        }
        CliTest.Run direct = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, direct.code(), direct.err());
        List<String> labels = direct.out().lines().map(l -> l.split("\t")[0]).toList();
        for (int i = 0; i < 5; i++) {
            assertEquals(Json.mapper().readTree(out.get(i)).get("label").asText(), labels.get(i));
        }
        args.add("--json");
        List<String> directJson = CliTest.run(args.toArray(String[]::new)).out().lines().toList();
        for (int i = 0; i < 5; i++) {
            assertEquals(i + 1, Json.mapper().readTree(directJson.get(i)).get("line").asInt(), "line, as --file");
        }
    }

    @Test
    void benchClassifyMeasuresBatchOneAndBatched() {
        CliTest.Run b = CliTest.run("bench", "classify", "--model", model.toString(), "--length", "8", "--texts", "4",
                "--batch", "2", "--runs", "1", "--threads", "1", "--json");
        assertEquals(0, b.code(), b.err());
        JsonNode ours = Json.read(writeTo("bench.json", b.out())).get("lumenspark");
        assertTrue(ours.get("batch1_texts_per_s").asDouble() > 0 && ours.get("batched_texts_per_s").asDouble() > 0);
        assertEquals(2, ours.get("batch").asInt());
        CliTest.Run tooLong = CliTest.run("bench", "classify", "--model", model.toString(), "--length", "17");
        assertEquals(2, tooLong.code());
        assertTrue(tooLong.err().contains("exceeds the model's seq_length 16"), tooLong.err());
    }

    @Test
    void badInputIsOneLineWithExitCodeTwo() throws Exception {
        Path unlabeled = tmp.resolve("unlabeled.jsonl");
        Files.writeString(unlabeled, "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n");
        for (String[] args : List.of(
                new String[]{"classify", "train", "--data", unlabeled.toString(), "--out", tmp.resolve("o1").toString()},
                new String[]{"classify", "eval", "--model", model.toString(), "--data", unlabeled.toString()},
                new String[]{"classify", "train", "--data", data.toString(), "--out", model.toString()},
                new String[]{"classify", "predict", "--model", model.toString()},
                new String[]{"classify", "predict", "--model", model.toString(), "--text", "a", "--label-separator", ""},
                new String[]{"classify", "eval", "--model", model.toString(), "--data", data.toString(),
                        "--label-separator", ""},
                new String[]{"classify", "train", "--data", data.toString(), "--out", tmp.resolve("o2").toString(),
                        "--pooling", "middle"},
                new String[]{"classify", "train", "--data", data.toString(), "--out", tmp.resolve("o3").toString(),
                        "--pooling", "mean"},
                new String[]{"classify", "train", "--data", data.toString(), "--out", tmp.resolve("o4").toString(),
                        "--multi-label", "--baseline"},
                new String[]{"classify", "train", "--data", data.toString(), "--out", tmp.resolve("o5").toString(),
                        "--set", "depth=0"})) {
            CliTest.Run r = CliTest.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.err().lines().filter(l -> l.contains("error")).count() == 1
                    && r.err().lines().anyMatch(l -> l.startsWith("error: ")), String.join(" ", args) + ": " + r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        for (String o : List.of("o1", "o2", "o3", "o4", "o5")) { // o4: --baseline refused before any training
            assertFalse(Files.exists(tmp.resolve(o)), "a refused run leaves no folder: " + o);
        }
        CliTest.Run noColumn = CliTest.run("classify", "eval", "--model", model.toString(), "--data", csv.toString());
        assertTrue(noColumn.err().startsWith("error: " + csv + ": no column 'text' in the header (columns: body, y);"
                + " choose one with --text-column"), noColumn.err());
        CliTest.Run noLabel = CliTest.run("classify", "eval", "--model", model.toString(), "--data", csv.toString(),
                "--text-column", "body");
        assertTrue(noLabel.err().startsWith("error: " + csv + ": no column 'label' in the header (columns: body, y);"
                + " choose one with --label-column"), noLabel.err());
        Path cut = Files.writeString(tmp.resolve("cut.jsonl"), "{\"text\": \"a\", \"label\": \"sp\n");
        CliTest.Run badJson = CliTest.run("classify", "eval", "--model", model.toString(), "--data", cut.toString());
        assertTrue(badJson.err().startsWith("error: " + cut + " line 1: not valid JSON (the text ends inside a"
                + " string) at column "), badJson.err());
        Path noLabels = Files.writeString(tmp.resolve("no-labels.jsonl"), "{\"text\": \"a\"}\n");
        CliTest.Run none = CliTest.run("classify", "eval", "--model", model.toString(), "--data", cut.toString(),
                "--data", noLabels.toString(), "--skip-bad-records");
        assertTrue(none.err().contains("error: no labeled records in " + cut + ", " + noLabels + "\n"), none.err());
        CliTest.Run unknown = CliTest.run("classify", "eval", "--model", model.toString(), "--data",
                unlabeled.toString(), "--skip-bad-records");
        assertTrue(unknown.err().contains("label 'x' is not one of the classifier's (ham, spam)"), unknown.err());
    }

    /** The tiny model of these tests, trained for one epoch with these extra arguments; returns its --json result. */
    private static JsonNode trainTiny(Path records, Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("classify", "train", "--data", records.toString(), "--out",
                out.toString(), "--preset", "tiny", "--set", "embed_dim=16", "--set", "depth=1", "--set", "heads=2",
                "--set", "seq_length=16", "--set", "k=4", "--set", "rank=4", "--epochs", "1", "--batch", "8",
                "--lr", "3e-3", "--threads", "2", "--json"));
        args.addAll(List.of(extra));
        CliTest.Run t = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, t.code(), t.err());
        return Json.read(writeTo(out.getFileName() + "-train.json", t.out()));
    }

    private static List<JsonNode> jsonLines(String out) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : out.lines().toList()) lines.add(Json.mapper().readTree(l));
        return lines;
    }

    private static Set<String> texts(JsonNode array) {
        Set<String> out = new TreeSet<>();
        for (JsonNode n : array) out.add(n.isObject() ? n.get("label").asText() : n.asText());
        return out;
    }

    @Test
    void multiLabelTrainsEvaluatesAndPredictsThroughTheCommands() throws Exception {
        Random r = new Random(7);
        String[] names = {"billing", "bug", "urgent"}, words = {"invoice refund", "crash error", "asap now"};
        List<String> lines = new ArrayList<>();
        List<Set<String>> truth = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            Set<String> labels = new TreeSet<>();
            StringBuilder text = new StringBuilder("ticket " + i);
            for (int j = 0; j < 3; j++) {
                if (r.nextBoolean() || (j == 2 && labels.isEmpty())) {
                    labels.add(names[j]);
                    text.append(' ').append(words[j]);
                }
            }
            truth.add(labels);
            // " | " here and "|" there: each part is trimmed
            lines.add(Json.toLine(Map.of("text", text.toString(), "label", String.join(i % 2 == 0 ? "|" : " | ",
                    labels))));
        }
        Path records = Files.write(tmp.resolve("tickets.jsonl"), lines);
        Path out = tmp.resolve("multi");
        JsonNode trained = trainTiny(records, out, "--multi-label", "--label-separator", "|");
        assertEquals(7, trained.get("steps").asInt(), trained.toString());
        assertTrue(trained.has("val_macro_f1") && trained.has("best_step"), trained.toString());

        JsonNode config = Json.read(out.resolve("config.json"));
        assertEquals("multi_label_classification", config.get("problem_type").asText());
        assertEquals("|", config.get("label_separator").asText(), "the separator is the model's");
        assertEquals(3, config.get("num_labels").asInt());
        for (int j = 0; j < 3; j++) {
            assertEquals(names[j], config.get("id2label").get(Integer.toString(j)).asText());
            assertEquals(j, config.get("label2id").get(names[j]).asInt());
        }

        CliTest.Run e = CliTest.run("classify", "eval", "--model", out.toString(), "--data", records.toString(),
                "--json");
        assertEquals(0, e.code(), e.err());
        JsonNode metrics = Json.mapper().readTree(e.out());
        assertEquals(Set.of("texts", "truncated_texts", "accuracy", "macro_f1"), fieldNames(metrics));
        assertEquals(RECORDS, metrics.get("texts").asInt());
        // an explicit separator overrides the model's: "billing|bug" is then one label the model does not know
        CliTest.Run other = CliTest.run("classify", "eval", "--model", out.toString(), "--data", records.toString(),
                "--label-separator", ",");
        assertEquals(2, other.code(), other.err());
        assertTrue(other.err().contains("\nerror: " + records + " line "), other.err());
        assertTrue(other.err().contains("is not one of the classifier's (billing, bug, urgent)"), other.err());
        assertTrue(other.err().contains("|"), other.err());

        CliTest.Run p = CliTest.run("classify", "predict", "--model", out.toString(), "--file", records.toString(),
                "--json", "--top-k", "5");
        assertEquals(0, p.code(), p.err());
        List<JsonNode> predicted = jsonLines(p.out());
        assertEquals(RECORDS, predicted.size());
        int exact = 0;
        for (int i = 0; i < RECORDS; i++) {
            JsonNode o = predicted.get(i);
            assertEquals(Set.of("line", "label", "score", "labels", "top_k"), fieldNames(o));
            assertEquals(i + 1, o.get("line").asInt());
            assertEquals(Set.of(names), texts(o.get("top_k")), "top_k holds every label, at most");
            assertEquals(o.get("top_k").get(0).get("label").asText(), o.get("label").asText());
            Set<String> labels = texts(o.get("labels"));
            for (JsonNode k : o.get("top_k")) {
                assertEquals(k.get("score").asDouble() >= 0.5, labels.contains(k.get("label").asText()), o.toString());
            }
            if (labels.equals(truth.get(i))) exact++;
        }
        assertEquals((double) exact / RECORDS, metrics.get("accuracy").asDouble(), 1e-12,
                "eval's exact-match accuracy is predict's");

        CliTest.Run direct = CliTest.run("classify", "predict", "--model", out.toString(), "--text", "crash error",
                "--json");
        assertEquals(0, direct.code(), direct.err());
        JsonNode one = Json.mapper().readTree(direct.out());
        assertEquals(1, one.get("line").asInt(), "the --text's place, as --file gives the line");
        assertEquals(1, one.get("top_k").size());
        // the text output joins the labels as the model's training data did, or as --label-separator says
        CliTest.Run plain = CliTest.run("classify", "predict", "--model", out.toString(), "--file", records.toString());
        CliTest.Run semicolons = CliTest.run("classify", "predict", "--model", out.toString(), "--file",
                records.toString(), "--label-separator", "; ");
        assertEquals(0, plain.code() + semicolons.code(), plain.err() + semicolons.err());
        List<String> plainLines = plain.out().lines().toList(), semicolonLines = semicolons.out().lines().toList();
        int several = 0;
        for (int i = 0; i < RECORDS; i++) {
            List<String> labels = new ArrayList<>(texts(predicted.get(i).get("labels")));
            if (labels.size() > 1) several++;
            assertTrue(plainLines.get(i).startsWith(String.join("|", labels) + "\t"), plainLines.get(i));
            assertTrue(semicolonLines.get(i).startsWith(String.join("; ", labels) + "\t"), semicolonLines.get(i));
        }
        assertTrue(several > 0, "some texts get several labels: " + plain.out());
    }

    @Test
    void regressionTrainsEvaluatesAndPredictsThroughTheCommands() throws Exception {
        List<String> lines = new ArrayList<>();
        double[] truth = new double[RECORDS];
        for (int i = 0; i < RECORDS; i++) {
            truth[i] = i % 3 == 0 ? 2.5 : i % 3 == 1 ? -1 : 0.25;
            String text = (i % 3 == 0 ? "great product" : i % 3 == 1 ? "awful service" : "it was fine") + " " + i;
            // a JSON number, and a number in a string: both are the label's text
            lines.add("{\"text\": " + Json.toLine(text) + ", \"label\": "
                    + (i % 2 == 0 ? Double.toString(truth[i]) : "\"" + truth[i] + "\"") + "}");
        }
        Path records = Files.write(tmp.resolve("ratings.jsonl"), lines);
        Path out = tmp.resolve("regression");
        JsonNode trained = trainTiny(records, out, "--regression");
        assertTrue(trained.has("val_loss") && !trained.has("val_macro_f1"), trained.toString());

        JsonNode config = Json.read(out.resolve("config.json"));
        assertEquals("regression", config.get("problem_type").asText());
        assertEquals(1, config.get("num_labels").asInt());

        CliTest.Run e = CliTest.run("classify", "eval", "--model", out.toString(), "--data", records.toString(),
                "--json");
        assertEquals(0, e.code(), e.err());
        JsonNode metrics = Json.mapper().readTree(e.out());
        assertEquals(Set.of("texts", "truncated_texts", "mse", "mae"), fieldNames(metrics));

        CliTest.Run p = CliTest.run("classify", "predict", "--model", out.toString(), "--file", records.toString(),
                "--json");
        assertEquals(0, p.code(), p.err());
        List<JsonNode> predicted = jsonLines(p.out());
        assertEquals(RECORDS, predicted.size());
        double se = 0, ae = 0;
        for (int i = 0; i < RECORDS; i++) {
            JsonNode o = predicted.get(i);
            assertEquals(Set.of("line", "value"), fieldNames(o));
            assertEquals(i + 1, o.get("line").asInt());
            double d = o.get("value").asDouble() - truth[i];
            se += d * d;
            ae += Math.abs(d);
        }
        assertEquals(se / RECORDS, metrics.get("mse").asDouble(), 1e-5 * (1 + se / RECORDS), "eval's MSE is predict's");
        assertEquals(ae / RECORDS, metrics.get("mae").asDouble(), 1e-5 * (1 + ae / RECORDS));
        CliTest.Run text = CliTest.run("classify", "predict", "--model", out.toString(), "--text", "great product");
        assertEquals(0, text.code(), text.err());
        Double.parseDouble(text.out().strip()); // the number alone
    }

    @Test
    void resumeTakesTheRunsThreadCountAndTrainPointsToClassifyTrain() throws Exception {
        Path copy = tmp.resolve("resumed");
        try (var files = Files.walk(model)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().equals(".lock")) continue;
                Path to = copy.resolve(model.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        // a thread count this machine would never pick by itself
        int saved = Runtime.getRuntime().availableProcessors() + 1;
        Path state = copy.resolve("checkpoint/trainer_state.json");
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) Json.read(state);
        assertEquals(2, node.get("threads").asInt());
        node.put("threads", saved);
        Files.writeString(state, Json.toLine(node));
        CliTest.Run own = CliTest.run("classify", "train", "--resume", "--out", copy.toString(), "--data",
                data.toString());
        assertEquals(0, own.code(), own.err());
        assertTrue(own.out().contains(", " + saved + " threads"), own.out());
        assertFalse(own.err().contains("warning"), own.err());
        CliTest.Run other = CliTest.run("classify", "train", "--resume", "--out", copy.toString(), "--data",
                data.toString(), "--threads", "1");
        assertEquals(0, other.code(), other.err());
        assertTrue(other.err().contains("warning: the run used " + saved + " threads; with 1 its numbers will differ"),
                other.err());

        CliTest.Run lm = CliTest.run("train", "--resume", "--out", copy.toString());
        assertEquals(2, lm.code(), lm.err());
        assertEquals(1, lm.err().lines().count(), lm.err());
        assertTrue(lm.err().startsWith("error: " + copy + " is a text classifier's run; continue it with ")
                && lm.err().contains(" classify train --resume --out "), lm.err());
    }

    /** --force starts a new run over an earlier one, which stays until the new run's first checkpoint. */
    @Test
    void forceReplacesAnEarlierRunAsTrainDoes() throws Exception {
        Path out = tmp.resolve("forced");
        trainTiny(data, out);
        CliTest.Run refused = CliTest.run("classify", "train", "--data", data.toString(), "--out", out.toString());
        assertEquals(2, refused.code(), refused.err());
        assertEquals("error: --out " + out + " holds a classifier's training run (checkpoint at step 7); continue it"
                + " with --resume, replace it with --force, or choose another --out\n", refused.err());
        JsonNode forced = trainTiny(data, out, "--force", "--seed", "9");
        assertEquals(7, forced.get("steps").asInt());
        assertEquals(9, Json.read(out.resolve("checkpoint/trainer_state.json")).get("options").get("seed").asInt());
        assertEquals(7, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the new run's metrics alone");
        CliTest.Run resumeForced = CliTest.run("classify", "train", "--resume", "--force", "--out", out.toString(),
                "--data", data.toString());
        assertEquals("error: --resume continues a run with the settings saved in its checkpoint; drop --force\n",
                resumeForced.err());
        CliTest.Run help = CliTest.run("classify", "train", "--help");
        assertTrue(help.out().replaceAll("\\s+", " ").contains("--force Start a new run in an --out that holds an"
                + " earlier run or other files; the earlier run is replaced at this run's first checkpoint, other files"
                + " are left alone."), help.out());
    }

    /** A run's split is in its checkpoint: --resume holds out the same records, whatever --val-fraction it had. */
    @Test
    void aRunWithItsOwnValFractionResumesWithTheSameSplit() throws Exception {
        Path whole = tmp.resolve("fraction-whole"), cut = tmp.resolve("fraction-cut");
        JsonNode uninterrupted = trainTiny(data, whole, "--val-fraction", "0.25");
        assertEquals(6, uninterrupted.get("steps").asInt(), "45 training texts in batches of 8");
        assertEquals(0.25, Json.read(whole.resolve("checkpoint/trainer_state.json")).get("val_fraction").asDouble());
        // the same run stopped after step 3, as the command would have made it
        Blas.select(Backend.AUTO, 2);
        ClassifierOptions o = new ClassifierOptions(null, "tiny", Map.of("embed_dim", "16", "depth", "1", "heads",
                "2", "seq_length", "16", "k", "4", "rank", "4"), "gpt2", ProblemType.SINGLE_LABEL_CLASSIFICATION, ",",
                null, ClassWeights.NONE, Truncation.RIGHT, 8, 1, 3e-3, 3e-3 / 10, 0.1, 0.01, 1.0, 0, 0, 1, cut);
        List<List<LabeledText>> split = ClassifierTrainer.split(new RecordOptions().readAll(List.of(data)), 0.25, 1);
        new ClassifierTrainer(o, new PrintStream(new ByteArrayOutputStream())).valFraction(0.25).stopAfter(3)
                .run(split.get(0), split.get(1), false);

        CliTest.Run other = CliTest.run("classify", "train", "--resume", "--out", cut.toString(), "--data",
                data.toString(), "--val-fraction", "0.3");
        assertEquals(2, other.code(), other.err());
        assertEquals("error: --val-fraction 0.3 is not the run's (0.25): --resume holds out the same records; drop"
                + " --val-fraction\n", other.err());
        CliTest.Run withVal = CliTest.run("classify", "train", "--resume", "--out", cut.toString(), "--data",
                data.toString(), "--val", data.toString());
        assertEquals("error: the run in " + cut + " held out --val-fraction 0.25 of its --data for validation; drop"
                + " --val\n", withVal.err());
        CliTest.Run resumed = CliTest.run("classify", "train", "--resume", "--out", cut.toString(), "--data",
                data.toString(), "--val-fraction", "0.25", "--json");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resuming from step 3 of 6"), resumed.err());
        assertEquals(6, Json.mapper().readTree(resumed.out()).get("steps").asInt());
        assertArrayEquals(Files.readAllBytes(whole.resolve("model.safetensors")),
                Files.readAllBytes(cut.resolve("model.safetensors")), "the uninterrupted run's model");

        // a run validated on separate records needs them again
        Path separate = tmp.resolve("separate");
        trainTiny(data, separate, "--val", data.toString());
        assertTrue(Json.read(separate.resolve("checkpoint/trainer_state.json")).get("val_fraction").isNull());
        CliTest.Run without = CliTest.run("classify", "train", "--resume", "--out", separate.toString(), "--data",
                data.toString());
        assertEquals("error: the run in " + separate + " was validated on separate records; give its --val again\n",
                without.err());
        Path state = cut.resolve("checkpoint/trainer_state.json");
        Files.writeString(state, Files.readString(state).replaceFirst("\"val_fraction\"\\s*:\\s*0.25",
                "\"val_fraction\": 2"));
        CliTest.Run tampered = CliTest.run("classify", "train", "--resume", "--out", cut.toString(), "--data",
                data.toString());
        assertEquals("error: " + state + ": \"val_fraction\" must be a number in (0, 1) or null, got 2\n",
                tampered.err());
    }

    private static Set<String> fieldNames(JsonNode o) {
        Set<String> names = new TreeSet<>();
        o.fieldNames().forEachRemaining(names::add);
        return names;
    }

    /** --baseline is for one label per text: refused before training, and by eval on another kind of model. */
    @Test
    void baselineIsRefusedForOtherProblemTypesAndValExcludesValFraction() throws Exception {
        CliTest.Run multi = CliTest.run("classify", "train", "--data", data.toString(), "--out",
                tmp.resolve("b1").toString(), "--multi-label", "--baseline");
        assertEquals(2, multi.code());
        assertEquals("error: --baseline is for one label per text, not multi_label_classification\n", multi.err());
        assertFalse(Files.exists(tmp.resolve("b1")));
        CliTest.Run both = CliTest.run("classify", "train", "--data", data.toString(), "--out",
                tmp.resolve("b2").toString(), "--val", data.toString(), "--val-fraction", "0.2");
        assertEquals(2, both.code());
        assertEquals("error: --val and --val-fraction exclude each other\n", both.err());
        List<String> numbers = new ArrayList<>();
        for (int i = 0; i < 16; i++) numbers.add(Json.toLine(Map.of("text", "n " + i, "label", i % 4)));
        Path numeric = Files.write(tmp.resolve("numeric.jsonl"), numbers), reg = tmp.resolve("regression-for-baseline");
        CliTest.Run train = CliTest.run("classify", "train", "--data", numeric.toString(), "--out", reg.toString(),
                "--regression", "--preset", "tiny", "--set", "embed_dim=16", "--set", "depth=1", "--set", "heads=2",
                "--set", "seq_length=8", "--set", "k=4", "--set", "rank=4", "--epochs", "1", "--batch", "8",
                "--val-fraction", "0.25", "--threads", "1");
        assertEquals(0, train.code(), train.err());
        CliTest.Run eval = CliTest.run("classify", "eval", "--model", reg.toString(), "--data", numeric.toString(),
                "--baseline", numeric.toString());
        assertEquals(2, eval.code());
        assertEquals("error: --baseline is for one label per text; this model is regression\n", eval.err());
    }

    /** Language-model commands on a classifier say what it is and what to use instead. */
    @Test
    void languageModelCommandsOnAClassifierSayWhatItIs() throws Exception {
        Path corpus = Files.writeString(tmp.resolve("corpus.txt"), "some text to train on\n".repeat(50));
        CliTest.Run init = CliTest.run("train", "--init", model.toString(), "--data", corpus.toString(), "--out",
                tmp.resolve("lm").toString(), "--steps", "1");
        assertEquals(2, init.code(), init.err());
        assertEquals("error: --init " + model + ": this model is a sequence classifier (objective"
                + " sequence_classification), not a language model; to fine-tune it on labeled texts: lumenspark"
                + " classify train --base " + model + "\n", init.err());
        CliTest.Run fill = CliTest.run("fill-mask", "--model", model.toString(), "--text", "a <mask>");
        assertEquals(2, fill.code(), fill.err());
        assertTrue(fill.err().startsWith("error: this model is a sequence classifier (objective"
                + " sequence_classification); fill-mask needs a masked LM"), fill.err());
    }

    private static Path writeTo(String name, String text) {
        try {
            return Files.writeString(tmp.resolve(name), text);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
