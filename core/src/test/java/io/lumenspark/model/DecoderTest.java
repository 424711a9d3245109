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
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(4);
            float[] full = m.logits(ids, 1, n);
            try (Decoder dec = m.decoder()) {
                for (int t = 0; t < n; t++) {
                    assertClose(full, t, v, dec.next(ids[t]), name + " position " + t);
                }
                var e = assertThrows(LumensparkException.class, () -> dec.next(1));
                assertTrue(e.getMessage().contains("context is full"), e.getMessage());
            }
        }
    }

    /** Prompt lengths around block boundaries (block c = seq_length / k = 6 here) and the whole context. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void prefillLeavesTheStateOfSteppingThroughThePrompt(String name, ModelConfig cfg) {
        int n = cfg.seqLength(), v = cfg.vocabSize(), c = cfg.blockSize();
        Random r = new Random(3);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(v);
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(6);
            float[] full = m.logits(ids, 1, n);
            for (int len : new int[]{1, c - 1, c, c + 1, 2 * c + 3, n - 1, n}) {
                try (Decoder dec = m.decoder()) {
                    float[] logits = dec.prefill(Arrays.copyOf(ids, len));
                    assertClose(full, len - 1, v, logits, name + " prefill " + len);
                    for (int t = len; t < Math.min(n, len + c + 2); t++) { // past the next block boundary
                        assertClose(full, t, v, dec.next(ids[t]), name + " prefill " + len + ", position " + t);
                    }
                }
            }
            try (Decoder dec = m.decoder()) {
                dec.next(ids[0]);
                assertThrows(IllegalStateException.class, () -> dec.prefill(ids[1]));
                dec.reset();
                assertClose(full, 1, v, dec.prefill(ids[0], ids[1]), name + " after reset");
            }
        }
    }

    private static void assertClose(float[] full, int t, int v, float[] got, String what) {
        double diff = 0, norm = 0;
        for (int i = 0; i < v; i++) {
            double w = full[t * v + i];
            diff += (got[i] - w) * (got[i] - w);
            norm += w * w;
        }
        double rel = Math.sqrt(diff / norm);
        assertTrue(rel < 1e-5, what + ": relative error " + rel);
    }

    /** A decoder holds its whole state from the start: k slots and one block for Linformer, every position for full attention. */
    @Test
    void linformerDecoderStateIsAFractionOfAKvCache() {
        Map<String, String> longer = Map.of("seq_length", "480", "k", "8"); // blocks of 60 positions
        ModelConfig lin = ModelConfig.preset("lumenspark").with(SMALL).with(longer);
        ModelConfig full = ModelConfig.preset("transformer").with(SMALL).with(longer);
        long kvCache = 4L * full.depth() * full.seqLength() * full.embedDim() * 2; // K and V of every position
        try (LanguageModel a = new LanguageModel(lin); LanguageModel b = new LanguageModel(full);
             Decoder da = a.decoder(); Decoder db = b.decoder()) {
            assertTrue(db.stateBytes() >= kvCache, db.stateBytes() + " < " + kvCache);
            assertTrue(da.stateBytes() < kvCache / 8, da.stateBytes() + " vs a KV cache of " + kvCache);
        }
    }

    @Test
    void bidirectionalModelsRefuseIncrementalDecoding() {
        try (LanguageModel m = new LanguageModel(ModelConfig.preset("lumenspark-v0.1").with(SMALL))) {
            assertThrows(LumensparkException.class, m::decoder);
        }
    }
}
