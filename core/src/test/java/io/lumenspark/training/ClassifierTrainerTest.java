package io.lumenspark.training;

import io.lumenspark.io.Json;
import io.lumenspark.model.ClassifierLoss;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.Truncation;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Classifier training: exact --resume, early stopping that keeps the best model, the losses' gradients. */
class ClassifierTrainerTest {
    static final Map<String, String> SMALL = Map.of("embed_dim", "16", "depth", "1", "heads", "2",
            "seq_length", "16", "k", "4", "rank", "4", "dropout", "0.1");

    static List<LabeledText> records(int count) {
        Random r = new Random(2);
        List<LabeledText> out = new ArrayList<>();
        String[] words = {"alpha", "beta", "gamma", "delta"};
        for (int i = 0; i < count; i++) {
            int c = r.nextInt(3);
            out.add(new LabeledText(words[c] + " " + words[r.nextInt(4)] + " " + i, "c" + c, "line " + (i + 1)));
        }
        return out;
    }

    private static ClassifierOptions options(Path out, double lr, long evalEvery, int patience, ClassWeights w) {
        return new ClassifierOptions(null, "tiny", SMALL, "gpt2", ProblemType.SINGLE_LABEL_CLASSIFICATION, ",", null,
                w, Truncation.RIGHT, 4, 2, lr, lr / 10, 0.1, 0.01, 1.0, evalEvery, patience, 3, out);
    }

    private static ClassifierTrainer trainer(ClassifierOptions o) {
        return new ClassifierTrainer(o, new PrintStream(new ByteArrayOutputStream()));
    }

    @Test
    void aResumedRunEndsWithTheUninterruptedRunsWeightsAndMetrics(@TempDir Path tmp) throws Exception {
        List<List<LabeledText>> split = ClassifierTrainer.split(records(30), 0.2, 3);
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        trainer(options(a, 3e-3, 3, 0, ClassWeights.BALANCED)).run(split.get(0), split.get(1), false);
        trainer(options(b, 3e-3, 3, 0, ClassWeights.BALANCED)).stopAfter(4).run(split.get(0), split.get(1), false);
        ClassifierTrainer.Result r = trainer(ClassifierTrainer.savedOptions(b)).run(split.get(0), split.get(1), true);
        assertEquals(12, r.steps()); // 24 texts in batches of 4, two epochs
        assertArrayEquals(Files.readAllBytes(a.resolve("checkpoint/model.safetensors")),
                Files.readAllBytes(b.resolve("checkpoint/model.safetensors")));
        assertArrayEquals(Files.readAllBytes(a.resolve("model.safetensors")), Files.readAllBytes(b.resolve(
                "model.safetensors")), "the best model");
        assertEquals(strip(Files.readAllLines(a.resolve("metrics.jsonl"))),
                strip(Files.readAllLines(b.resolve("metrics.jsonl"))));
    }

    /** Metrics lines without their timings. */
    private static List<String> strip(List<String> lines) {
        return lines.stream().map(l -> l.replaceAll(",\"(texts_per_s|elapsed_s)\":[0-9.E-]+", "")).toList();
    }

    @Test
    void patienceStopsARunThatNoLongerImprovesAndTheFolderKeepsTheBestModel(@TempDir Path tmp) throws Exception {
        List<List<LabeledText>> split = ClassifierTrainer.split(records(30), 0.2, 3);
        Path out = tmp.resolve("run");
        // a learning rate too small to change any prediction: the first validation stays the best
        ClassifierTrainer.Result r = trainer(options(out, 1e-12, 1, 2, ClassWeights.NONE))
                .run(split.get(0), split.get(1), false);
        assertTrue(r.stoppedEarly());
        assertEquals(3, r.steps());
        assertEquals(1, r.bestStep());
        assertEquals(1, Json.read(out.resolve("checkpoint/trainer_state.json")).get("best_step").asInt());
        assertEquals(2, Json.read(out.resolve("checkpoint/trainer_state.json"))
                .get("evaluations_without_improvement").asInt());
    }

    @Test
    void lossGradientsMatchFiniteDifferences() {
        Random r = new Random(8);
        float[][] single = {{0, 1, 0}, {1, 0, 0}}, multi = {{1, 0, 1}, {0, 0, 1}}, value = {{2.5f}, {-1f}};
        double[] w = {0.5, 2, 1};
        check(ClassificationLoss.of(ProblemType.SINGLE_LABEL_CLASSIFICATION, single, w, 0.5), 6, r);
        check(ClassificationLoss.of(ProblemType.MULTI_LABEL_CLASSIFICATION, multi, null, 0.5), 6, r);
        check(ClassificationLoss.of(ProblemType.REGRESSION, value, null, 0.5), 2, r);
        // weighted cross-entropy: the weight scales the text's loss
        float[] logits = {0, 0, 0, 0, 0, 0};
        double loss = ClassificationLoss.of(ProblemType.SINGLE_LABEL_CLASSIFICATION, single, w, 1)
                .lossAndGradient(logits, new float[6]);
        assertEquals((2 + 0.5) * Math.log(3), loss, 1e-9);
    }

    private static void check(ClassifierLoss loss, int size, Random r) {
        float[] x = new float[size], d = new float[size];
        for (int i = 0; i < size; i++) x[i] = (float) r.nextGaussian();
        loss.lossAndGradient(x, d);
        for (int i = 0; i < size; i++) {
            float keep = x[i];
            float h = 1e-2f;
            x[i] = keep + h;
            double plus = loss.lossAndGradient(x, new float[size]);
            x[i] = keep - h;
            double minus = loss.lossAndGradient(x, new float[size]);
            x[i] = keep;
            assertEquals((plus - minus) / (2 * h), d[i], 1e-3, "element " + i);
        }
    }

    @Test
    void balancedWeightsAreTotalOverClassesTimesCount() {
        List<LabeledText> t = List.of(new LabeledText("a", "x", "1"), new LabeledText("b", "x", "2"),
                new LabeledText("c", "x", "3"), new LabeledText("d", "y", "4"));
        ClassificationTargets targets = ClassificationTargets.of(ProblemType.SINGLE_LABEL_CLASSIFICATION, ",", t);
        assertArrayEquals(new double[]{4 / 6.0, 2}, targets.balancedWeights(t), 1e-12);
        ClassificationTargets multi = ClassificationTargets.of(ProblemType.MULTI_LABEL_CLASSIFICATION, "|",
                List.of(new LabeledText("a", "x| y", "1"), new LabeledText("b", "z||", "2")));
        assertEquals(List.of("x", "y", "z"), multi.labels());
        assertArrayEquals(new float[]{1, 1, 0}, multi.vector(new LabeledText("a", "y|x", "1")));
    }
}
