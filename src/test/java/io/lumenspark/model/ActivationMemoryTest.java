package io.lumenspark.model;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Inference holds one layer's activations (layers share buffers by role); training keeps every layer's. */
class ActivationMemoryTest {
    static long bytes(String preset, int depth, boolean backward) {
        ModelConfig cfg = ModelConfig.preset(preset).with(Map.of("vocab_size", "50", "embed_dim", "32",
                "heads", "4", "seq_length", "64", "k", "8", "rank", "8", "depth", "" + depth));
        try (LumensparkModel m = new LumensparkModel(cfg)) {
            m.initialize(1);
            return m.runStack(new int[2 * 64], 2, 64, backward);
        }
    }

    @Test
    void inferenceMemoryDoesNotGrowWithDepth() {
        for (String preset : new String[]{"lumenspark", "transformer", "conv-linformer"}) {
            long one = bytes(preset, 2, false), eight = bytes(preset, 8, false);
            assertTrue(eight < one * 1.25, preset + ": depth 8 uses " + eight + " bytes, depth 2 " + one);
            long trainOne = bytes(preset, 2, true), trainEight = bytes(preset, 8, true);
            assertTrue(trainEight > trainOne * 2.5, preset + ": training keeps every layer (" + trainEight + " vs "
                    + trainOne + ")");
        }
    }

    @Test
    void sharedInferenceBuffersGiveTheSameLogits() {
        ModelConfig cfg = ModelConfig.preset("conv-linformer").with(Map.of("vocab_size", "50", "embed_dim", "32",
                "heads", "4", "seq_length", "64", "k", "8", "rank", "8", "depth", "4", "dropout", "0"));
        int[] ids = new int[64];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 7) % 50;
        int[] targets = new int[64];
        try (LumensparkModel m = new LumensparkModel(cfg)) {
            m.initialize(2);
            float[] eval = m.logits(ids, 1, 64); // forward-only buffers
            m.trainStep(ids, targets, 1, 64, 0f, 0, 0, 0); // now a training context of the same shape
            assertArrayEquals(eval, m.logits(ids, 1, 64)); // the training context's per-layer buffers
        }
    }
}
