package io.lumenspark.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** No output at position i may depend on a token after i, for every causal preset. */
class CausalityTest {
    private static final Map<String, String> SMALL = Map.of("vocab_size", "31", "embed_dim", "16", "depth", "3",
            "heads", "4", "seq_length", "24", "k", "6", "rank", "4", "dropout", "0");

    private static float[] logitsWithFutureChanged(ModelConfig cfg, int n, int keep, long seed) {
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(3);
            Random r = new Random(5);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = r.nextInt(cfg.vocabSize());
            Random future = new Random(seed);
            for (int i = keep + 1; i < n; i++) ids[i] = future.nextInt(cfg.vocabSize());
            float[] all = m.logits(ids, 1, n);
            return Arrays.copyOf(all, (keep + 1) * cfg.vocabSize());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "transformer", "conv-linformer", "tiny"})
    void earlierOutputsIgnoreEveryLaterToken(String preset) {
        ModelConfig cfg = ModelConfig.preset(preset).with(SMALL);
        for (int n : new int[]{24, 17}) {
            for (int keep = 0; keep < n - 1; keep++) {
                assertArrayEquals(logitsWithFutureChanged(cfg, n, keep, 1), logitsWithFutureChanged(cfg, n, keep, 2),
                        preset + ": positions <= " + keep + " changed when later tokens changed (n=" + n + ")");
            }
        }
    }

    @Test
    void optionVariantsAreCausalToo() {
        ModelConfig cfg = ModelConfig.preset("lumenspark").with(SMALL).with(Map.of("kv_heads", "4", "shared_kv",
                "false", "separate_proj", "true", "share_proj_across_layers", "true"));
        for (int keep = 0; keep < 23; keep++) {
            assertArrayEquals(logitsWithFutureChanged(cfg, 24, keep, 1), logitsWithFutureChanged(cfg, 24, keep, 2));
        }
    }

    @Test
    void publishedModelLeaksTheFuture() {
        ModelConfig cfg = ModelConfig.preset("lumenspark-v0.1").with(SMALL);
        assertFalse(Arrays.equals(logitsWithFutureChanged(cfg, 24, 10, 1), logitsWithFutureChanged(cfg, 24, 10, 2)),
                "lumenspark-v0.1 is bidirectional: its early outputs must change with later tokens");
    }
}
