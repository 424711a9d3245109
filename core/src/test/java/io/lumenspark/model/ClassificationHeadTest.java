package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sequence-classification head (pooling + score) over every kind of backbone: finite differences of every
 * parameter's gradient through the pooling, pad tokens that change no prediction (a padded batch gives each text's
 * logits as if it ran alone), and config.json's classifier keys.
 */
class ClassificationHeadTest {
    private static final List<String> LABELS = List.of("ham", "spam", "other");

    static List<Object[]> classifiers() {
        List<Object[]> v = new ArrayList<>();
        v.add(new Object[]{"causal last", GradientCheckTest.small("lumenspark"), Pooling.LAST});
        v.add(new Object[]{"transformer last", GradientCheckTest.small("transformer"), Pooling.LAST});
        v.add(new Object[]{"bidirectional mean", GradientCheckTest.small("lumenspark-v0.1"), Pooling.MEAN});
        v.add(new Object[]{"bidirectional first", GradientCheckTest.small("lumenspark-v0.1"), Pooling.FIRST});
        v.add(new Object[]{"conv-bidir mean", GradientCheckTest.small("conv-linformer", "causal", "false"),
                Pooling.MEAN});
        v.add(new Object[]{"encoder options last", GradientCheckTest.small("lumenspark-v0.1", "kv_heads", "2",
                "shared_kv", "false", "separate_proj", "true"), Pooling.LAST});
        return v;
    }

    /** Cross-entropy against fixed targets, summed over the rows (the loss the checks differentiate). */
    static ClassifierLoss crossEntropy(int[] targets, int labels) {
        return (logits, d) -> {
            double total = 0;
            for (int b = 0; b < targets.length; b++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < labels; j++) max = Math.max(max, logits[b * labels + j]);
                for (int j = 0; j < labels; j++) sum += Math.exp(logits[b * labels + j] - max);
                total += max + Math.log(sum) - logits[b * labels + targets[b]];
                for (int j = 0; j < labels; j++) {
                    d[b * labels + j] = (float) (Math.exp(logits[b * labels + j] - max) / sum
                            - (j == targets[b] ? 1 : 0));
                }
            }
            return total;
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("classifiers")
    void gradientsThroughPoolingMatchFiniteDifferences(String label, ModelConfig base, Pooling pooling) {
        ModelConfig cfg = base.asClassifier(LABELS, ProblemType.SINGLE_LABEL_CLASSIFICATION, pooling, null);
        int n = cfg.seqLength(), batch = 3;
        int[] lengths = {n, 5, n - 4};
        Random r = new Random(3);
        int[] in = new int[batch * n];
        for (int i = 0; i < in.length; i++) in[i] = r.nextInt(cfg.vocabSize());
        ClassifierLoss loss = crossEntropy(new int[]{2, 0, 1}, LABELS.size());
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(7);
            Params p = model.params();
            p.zeroGrads();
            model.trainClassifier(in, lengths, batch, n, loss, 0, 0, 0);
            MemorySegment w = p.values(), g = p.grads();
            for (Params.Param param : p.list()) {
                float[] u = new float[(int) param.size()];
                double analytic = 0;
                for (int i = 0; i < u.length; i++) {
                    u[i] = (float) r.nextGaussian();
                    analytic += u[i] * g.getAtIndex(JAVA_FLOAT, param.offset() + i);
                }
                double eps = 2e-3;
                double plus = lossAfterShift(model, w, param, u, eps, in, lengths, loss);
                double minus = lossAfterShift(model, w, param, u, -2 * eps, in, lengths, loss);
                lossAfterShift(model, w, param, u, eps, in, lengths, loss);
                double numeric = (plus - minus) / (2 * eps);
                double err = Math.abs(numeric - analytic) / Math.max(1e-2, Math.abs(numeric) + Math.abs(analytic));
                assertTrue(err < 2e-2, label + " " + param.name() + ": analytic " + analytic + " numeric " + numeric);
            }
        }
    }

    /** Moves the parameter by step * u and returns the loss there (eval mode: no dropout in these configs). */
    private static double lossAfterShift(LanguageModel model, MemorySegment w, Params.Param param, float[] u,
                                         double step, int[] in, int[] lengths, ClassifierLoss loss) {
        for (int i = 0; i < u.length; i++) {
            long at = param.offset() + i;
            w.setAtIndex(JAVA_FLOAT, at, (float) (w.getAtIndex(JAVA_FLOAT, at) + step * u[i]));
        }
        float[] logits = model.classify(in, lengths, lengths.length, in.length / lengths.length);
        return loss.lossAndGradient(logits, new float[logits.length]);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("classifiers")
    void padTokensChangeNoPrediction(String label, ModelConfig base, Pooling pooling) {
        ModelConfig cfg = base.asClassifier(LABELS, ProblemType.SINGLE_LABEL_CLASSIFICATION, pooling, null)
                .with("dropout", "0.1");
        int n = cfg.seqLength();
        int[] lengths = {n, 5, n - 4, 1};
        int batch = lengths.length, labels = LABELS.size();
        Random r = new Random(5);
        int[] a = new int[batch * n], b = new int[batch * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = r.nextInt(cfg.vocabSize());
            b[i] = i % n < lengths[i / n] ? a[i] : r.nextInt(cfg.vocabSize());
        }
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(9);
            float[] la = model.classify(a, lengths, batch, n);
            assertArrayEquals(la, model.classify(b, lengths, batch, n), label + ": padding changed a logit");
            for (int row = 0; row < batch; row++) {
                int len = lengths[row];
                float[] alone = model.classify(Arrays.copyOfRange(a, row * n, row * n + len), null, 1, len);
                for (int j = 0; j < labels; j++) {
                    assertEquals(alone[j], la[row * labels + j], 1e-5 * Math.max(1, Math.abs(alone[j])),
                            label + ": row " + row + " differs from its text alone");
                }
            }
        }
    }

    @Test
    void configJsonCarriesHuggingFaceKeysAndRoundTrips() {
        ModelConfig cfg = GradientCheckTest.small("lumenspark-v0.1")
                .asClassifier(LABELS, ProblemType.MULTI_LABEL_CLASSIFICATION, Pooling.FIRST, "|");
        Map<String, Object> m = cfg.toMap();
        assertEquals("|", m.get("label_separator"));
        assertEquals(3, m.get("num_labels"));
        assertEquals(Map.of("0", "ham", "1", "spam", "2", "other"), m.get("id2label"));
        assertEquals(Map.of("ham", 0, "spam", 1, "other", 2), m.get("label2id"));
        assertEquals("multi_label_classification", m.get("problem_type"));
        assertEquals("first", m.get("pooling"));
        assertEquals(cfg, ModelConfig.fromMap(m, "config.json"));
        assertEquals(cfg, cfg.with("dropout", String.valueOf(cfg.dropout())));
        // a multi-label config.json written before the separator was recorded: the separator its labels were split at
        Map<String, Object> older = new LinkedHashMap<>(m);
        older.remove("label_separator");
        assertEquals(",", ModelConfig.fromMap(older, "config.json").labelSeparator());
        Map<String, Object> single = new LinkedHashMap<>(older);
        single.put("problem_type", "single_label_classification");
        assertEquals(null, ModelConfig.fromMap(single, "config.json").labelSeparator());
        single.put("label_separator", "|");
        LumensparkException e = assertThrows(LumensparkException.class, () -> ModelConfig.fromMap(single, "config.json"));
        assertEquals("config.json: label_separator is for multi-label classifiers (problem_type"
                + " multi_label_classification)", e.getMessage());
        older.put("label_separator", 1);
        e = assertThrows(LumensparkException.class, () -> ModelConfig.fromMap(older, "config.json"));
        assertEquals("config.json: label_separator must be a string, got 1", e.getMessage());
        // a causal model's other tokens have not seen the whole text
        e = assertThrows(LumensparkException.class, () -> GradientCheckTest.small("lumenspark")
                .asClassifier(LABELS, ProblemType.SINGLE_LABEL_CLASSIFICATION, Pooling.MEAN, null));
        assertTrue(e.getMessage().contains("pooling mean needs a bidirectional model"), e.getMessage());
        assertThrows(LumensparkException.class, () -> GradientCheckTest.small("lumenspark")
                .asClassifier(List.of("a", "a"), ProblemType.SINGLE_LABEL_CLASSIFICATION, Pooling.LAST, null));
        try (LanguageModel model = new LanguageModel(cfg)) {
            assertEquals(List.of("score.weight"), model.params().list().stream().map(Params.Param::name)
                    .filter(s -> !s.startsWith("layers.") && !s.contains("embedding")).toList());
            assertThrows(LumensparkException.class, () -> model.lastLogits(1, 2));
        }
    }
}
