package io.lumenspark.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A serving round's figures from its streams' timings, and the medians of figures some rounds could not measure. */
class ServeBenchTest {
    @Test
    void aRoundsGenerationPhaseRunsFromTheEarliestFirstTokenToTheLatestLast() {
        // {tokens, ms per token, ms to the first, ms to the last}: 5 tokens over 10..18 ms, 3 over 12..20 ms
        double[] r = ServeBench.combine(new double[][]{{5, 2, 10, 18}, {3, 4, 12, 20}}, 0.02);
        assertEquals(8 / 0.02, r[0], 1e-9); // 8 tokens in 20 ms
        assertEquals(3, r[1], 1e-12); // the median of 2 and 4 ms per token
        assertEquals(11, r[2], 1e-12);
        assertEquals(0.02, r[3]);
        assertEquals(1000 * (4 + 2) / (20 - 10.0), r[4], 1e-9); // the tokens after each first, over 10..20 ms
    }

    @Test
    void aStreamThatCouldNotTimeItsTokensHasNoTimePerTokenAndAloneNoGenerationFigure() {
        double[] alone = ServeBench.combine(new double[][]{{5, Double.NaN, 7, 7}}, 0.01);
        assertEquals(500, alone[0], 1e-9); // the aggregate is still measured
        assertTrue(Double.isNaN(alone[1]) && Double.isNaN(alone[4]), "undefined, not 0 or infinite");
        // beside a stream that timed its tokens: that stream's time per token, and the round's phase
        double[] two = ServeBench.combine(new double[][]{{5, Double.NaN, 7, 7}, {5, 1.5, 6, 12}}, 0.015);
        assertEquals(1.5, two[1], 1e-12);
        assertEquals(1000 * 8 / 6.0, two[4], 1e-9);
        assertTrue(Double.isNaN(ServeBench.combine(new double[][]{{1, Double.NaN, 3, 3}}, 0.01)[4]), "one token");
        // read in one burst: the chunks' times are apart by their parsing only
        assertTrue(Double.isNaN(ServeBench.combine(new double[][]{{5, Double.NaN, 7, 7.004}}, 0.01)[4]), "burst");
    }

    @Test
    void aFigureNoRoundMeasuredIsNullInJsonAndNaInTheTable() {
        assertEquals(1.23, ServeBench.round2(1.2349));
        assertEquals(1.2, ServeBench.round1(1.2349));
        assertNull(ServeBench.round2(Double.NaN), "not 0");
        assertNull(ServeBench.round1(Double.POSITIVE_INFINITY));
        assertEquals("1.50x", ServeBench.cell("%.2fx", 1.5));
        assertEquals("n/a", ServeBench.cell("%.2fx", Double.NaN));
    }

    @Test
    void theMedianOfDefinedValuesLeavesOutTheUndefined() {
        assertEquals(2, Stats.medianOfDefined(new double[]{Double.NaN, 3, 1, Double.NaN, 2}), 0);
        assertEquals(2.5, Stats.medianOfDefined(new double[]{4, Double.POSITIVE_INFINITY, 1}), 0);
        assertTrue(Double.isNaN(Stats.medianOfDefined(new double[]{Double.NaN})));
        assertTrue(Double.isNaN(Stats.medianOfDefined(new double[0])));
    }
}
