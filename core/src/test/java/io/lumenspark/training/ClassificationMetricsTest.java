package io.lumenspark.training;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Metrics against values worked out by hand (as scikit-learn defines them). */
class ClassificationMetricsTest {
    @Test
    void aClassNeverPredictedHasPrecisionZeroAndCountsInTheMeans() {
        // confusion matrix (rows true): [1 1 0] [0 2 0] [2 0 0]; class c is never predicted
        var m = ClassificationMetrics.of(List.of("a", "b", "c"), new int[]{0, 0, 1, 1, 2, 2},
                new int[]{0, 1, 1, 1, 0, 0}, null);
        assertArrayEquals(new long[]{1, 1, 0}, m.confusion()[0]);
        assertArrayEquals(new long[]{2, 0, 0}, m.confusion()[2]);
        assertEquals(0.5, m.accuracy(), 1e-12);
        assertArrayEquals(new double[]{1 / 3.0, 2 / 3.0, 0}, m.precision(), 1e-12);
        assertArrayEquals(new double[]{0.5, 1, 0}, m.recall(), 1e-12);
        assertArrayEquals(new double[]{0.4, 0.8, 0}, m.f1(), 1e-12); // 2 tp / (predicted + true)
        assertEquals(0.4, m.macroF1(), 1e-12);
        assertEquals(0.4, m.weightedF1(), 1e-12); // equal supports
        // cov = 3 * 6 - (3*2 + 3*2 + 0*2) = 6; pp = 36 - 18 = 18; tt = 36 - 12 = 24
        assertEquals(6 / Math.sqrt(18 * 24), m.mcc(), 1e-12);
        assertTrue(Double.isNaN(m.rocAuc()));
    }

    @Test
    void weightedF1FollowsSupportAndMccIsZeroForAConstantPrediction() {
        // all predicted 0: f1(0) = 2*3 / (4 + 3) = 6/7, f1(1) = 0; weighted by supports 3 and 1
        var m = ClassificationMetrics.of(List.of("no", "yes"), new int[]{0, 0, 0, 1}, new int[]{0, 0, 0, 0}, null);
        assertEquals(3 / 7.0, m.macroF1(), 1e-12);
        assertEquals(6 / 7.0 * 3 / 4, m.weightedF1(), 1e-12);
        assertEquals(0, m.mcc(), 0);
    }

    @Test
    void rocAucCountsTiesAsOneHalf() {
        // positives 0.5 and 0.9 against negatives 0.1 and 0.5: 1 + 0.5 + 1 + 1 of 4 pairs
        assertEquals(0.875, ClassificationMetrics.rocAuc(new int[]{0, 0, 1, 1}, new double[]{0.1, 0.5, 0.5, 0.9}),
                1e-12);
        assertEquals(0.5, ClassificationMetrics.rocAuc(new int[]{0, 1, 0, 1}, new double[]{1, 1, 1, 1}), 1e-12);
        var m = ClassificationMetrics.of(List.of("ham", "spam"), new int[]{0, 0, 1, 1}, new int[]{0, 1, 1, 1},
                new double[]{0.1, 0.5, 0.5, 0.9});
        assertEquals(0.875, m.rocAuc(), 1e-12);
        Map<String, Object> json = m.toMap();
        assertEquals(List.of("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "per_class", "confusion_matrix",
                "labels"), List.copyOf(json.keySet()));
        assertEquals(List.of(List.of(1L, 1L), List.of(0L, 2L)), json.get("confusion_matrix"));
    }
}
