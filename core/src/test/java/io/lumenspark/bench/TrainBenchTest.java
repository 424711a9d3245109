package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.model.LmObjective;
import io.lumenspark.training.Precision;
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
        TrainBench bench = new TrainBench(List.of("encoder"), SMALL, 4, 0, 2, 1, LmObjective.MASKED_LM, 1,
                Precision.FP32);
        Map<String, Object> r = bench.measure("encoder");
        assertEquals("masked_lm", r.get("objective"));
        double selected = ((Number) r.get("selected_fraction")).doubleValue();
        assertTrue(selected > 0.1 && selected < 0.2, "about 15 % of 2 x 4 x 64 tokens selected: " + selected);
        assertTrue(((Number) r.get("tokens_per_s")).doubleValue() > 0, r.toString());
        // a step of this size may take less CPU time than the clock's granularity: measured, not necessarily > 0
        double cpu = ((Number) r.get("cpu_s_median")).doubleValue();
        assertTrue(cpu >= 0 && Double.isFinite(cpu), "a step's CPU seconds: " + r);

        var causal = assertThrows(LumensparkException.class, () -> new TrainBench(List.of("encoder", "lumenspark"),
                SMALL, 4, 0, 2, 1, LmObjective.MASKED_LM, 1, Precision.FP32));
        assertTrue(causal.getMessage().startsWith("--objective mlm needs a bidirectional model, and preset lumenspark"
                + " is causal"), causal.getMessage());
        var rounds = assertThrows(LumensparkException.class, () -> new TrainBench(List.of("encoder"), SMALL, 4, 0, 2,
                1, LmObjective.MASKED_LM, 0, Precision.FP32));
        assertTrue(rounds.getMessage().contains("--rounds must be at least 1"), rounds.getMessage());
    }

    /** --precision bf16 measures a step in bf16 and says so (fp32, and so, where bf16 is unavailable). */
    @Test
    void aBf16StepIsMeasuredInBf16AndLabelledSo() {
        Map<String, Object> r = new TrainBench(List.of("lumenspark"), SMALL, 2, 0, 1, 0, LmObjective.CAUSAL_LM, 1,
                Precision.BF16).measure("lumenspark");
        var gemm = Bf16Gemm.find();
        assertEquals(gemm.isPresent() ? "bf16" : "fp32", r.get("precision"), r.toString());
        assertEquals(gemm.map(Bf16Gemm::name).orElse(null), r.get("bf16_products"), r.toString());
    }
}
