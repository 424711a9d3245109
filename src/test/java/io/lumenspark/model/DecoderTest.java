package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Incremental decoding, one position at a time, gives the logits of the full forward pass at every position. */
class DecoderTest {
    static final Map<String, String> SMALL = Map.of("vocab_size", "53", "embed_dim", "32", "depth", "4",
            "heads", "4", "seq_length", "48", "k", "8", "rank", "8", "dropout", "0.1");

    static List<Object[]> causalVariants() {
        List<Object[]> v = new ArrayList<>();
        for (String p : new String[]{"lumenspark", "transformer", "conv-linformer", "tiny"}) {
            v.add(new Object[]{p, ModelConfig.preset(p).with(SMALL)});
        }
        v.add(new Object[]{"options", ModelConfig.preset("lumenspark").with(SMALL).with(Map.of("kv_heads", "4",
                "shared_kv", "false", "separate_proj", "true", "share_proj_across_layers", "true"))});
        v.add(new Object[]{"conv-options", ModelConfig.preset("conv-linformer").with(SMALL).with(Map.of(
                "kv_heads", "4", "shared_kv", "false", "separate_proj", "true"))});
        return v;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void stepByStepLogitsEqualTheFullForward(String name, ModelConfig cfg) {
        int n = cfg.seqLength(), v = cfg.vocabSize();
        Random r = new Random(9);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(v);
        try (LumensparkModel m = new LumensparkModel(cfg)) {
            m.initialize(4);
            float[] full = m.logits(ids, 1, n);
            try (LumensparkModel.Decoder dec = m.decoder()) {
                for (int t = 0; t < n; t++) {
                    float[] step = dec.next(ids[t]);
                    float[] want = Arrays.copyOfRange(full, t * v, (t + 1) * v);
                    double diff = 0, norm = 0;
                    for (int i = 0; i < v; i++) {
                        diff += (step[i] - want[i]) * (double) (step[i] - want[i]);
                        norm += want[i] * (double) want[i];
                    }
                    double rel = Math.sqrt(diff / norm);
                    assertTrue(rel < 1e-5, name + " position " + t + ": relative error " + rel);
                }
                var e = assertThrows(LumensparkException.class, () -> dec.next(1));
                assertTrue(e.getMessage().contains("context is full"), e.getMessage());
            }
        }
    }

    @Test
    void bidirectionalModelsRefuseIncrementalDecoding() {
        try (LumensparkModel m = new LumensparkModel(ModelConfig.preset("lumenspark-v0.1").with(SMALL))) {
            assertThrows(LumensparkException.class, m::decoder);
        }
    }
}
