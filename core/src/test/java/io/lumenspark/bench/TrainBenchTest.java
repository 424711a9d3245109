package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.LmObjective;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bench train's masked-LM measurement on a small shape: it runs, masks about 15 %, and refuses causal presets. */
class TrainBenchTest {
    private static final Map<String, String> SMALL = Map.of("embed_dim", "32", "depth", "1", "heads", "2",
            "kv_heads", "2", "seq_length", "64", "k", "16", "vocab_size", "500");

    @Test
    void aMaskedLmStepIsMeasuredWithTheMasksOfTrainingAndACausalPresetIsRefused() {
        TrainBench bench = new TrainBench(List.of("encoder"), SMALL, 4, 0, 2, 1, LmObjective.MASKED_LM, 1);
        Map<String, Object> r = bench.measure("encoder");
        assertEquals("masked_lm", r.get("objective"));
        double selected = ((Number) r.get("selected_fraction")).doubleValue();
        assertTrue(selected > 0.1 && selected < 0.2, "about 15 % of 2 x 4 x 64 tokens selected: " + selected);
        assertTrue(((Number) r.get("tokens_per_s")).doubleValue() > 0, r.toString());
        // a step of this size may take less CPU time than the clock's granularity: measured, not necessarily > 0
        double cpu = ((Number) r.get("cpu_s_median")).doubleValue();
        assertTrue(cpu >= 0 && Double.isFinite(cpu), "a step's CPU seconds: " + r);

        var causal = assertThrows(LumensparkException.class, () -> new TrainBench(List.of("encoder", "lumenspark"),
                SMALL, 4, 0, 2, 1, LmObjective.MASKED_LM, 1));
        assertTrue(causal.getMessage().startsWith("--objective mlm needs a bidirectional model, and preset lumenspark"
                + " is causal"), causal.getMessage());
        var rounds = assertThrows(LumensparkException.class, () -> new TrainBench(List.of("encoder"), SMALL, 4, 0, 2,
                1, LmObjective.MASKED_LM, 0));
        assertTrue(rounds.getMessage().contains("--rounds must be at least 1"), rounds.getMessage());
    }
}
