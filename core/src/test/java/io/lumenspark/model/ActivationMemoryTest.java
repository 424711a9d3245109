package io.lumenspark.model;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inference holds one layer's activations (layers share buffers by role), for a chunk of positions at a time;
 * training keeps every layer's, for all positions.
 */
class ActivationMemoryTest {
    static long bytes(String preset, int depth, boolean backward) {
        ModelConfig cfg = ModelConfig.preset(preset).with(Map.of("vocab_size", "50", "embed_dim", "32",
                "heads", "4", "seq_length", "64", "k", "8", "rank", "8", "depth", "" + depth));
        try (LanguageModel m = new LanguageModel(cfg)) {
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
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(2);
            float[] eval = m.logits(ids, 1, 64); // forward-only buffers
            m.trainStep(ids, targets, 1, 64, 0f, 0, 0, 0); // now a training context of the same shape
            assertArrayEquals(eval, m.logits(ids, 1, 64)); // the training context's per-layer buffers
        }
    }

    @Test
    void chunkedInferenceMatchesTheWholeSequencePass() {
        // 600 positions: several chunks and a partial last one (causal chunks are whole blocks of 75 here)
        int n = 600, batch = 2;
        int[] ids = new int[batch * n];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 31 + i / 7) % 50;
        for (String preset : new String[]{"lumenspark", "lumenspark-v0.1", "transformer", "conv-linformer"}) {
            ModelConfig cfg = ModelConfig.preset(preset).with(Map.of("vocab_size", "50", "embed_dim", "32",
                    "heads", "4", "seq_length", "" + n, "k", "8", "rank", "8", "depth", "3", "dropout", "0"));
            try (LanguageModel m = new LanguageModel(cfg)) {
                m.initialize(3);
                float[] chunked = m.logits(ids, batch, n);
                m.trainStep(ids, new int[ids.length], batch, n, 0f, 0, 0, 0); // a training context: whole passes
                float[] whole = m.logits(ids, batch, n);
                double worst = 0;
                for (int i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs(whole[i] - chunked[i]));
                assertTrue(worst < 1e-4, preset + ": chunked logits differ by " + worst);
            }
        }
    }

    @Test
    void chunkedInferenceHoldsChunksNotSequences() {
        // Beyond fixed chunk buffers, Linformer inference keeps per position only the residual stream (d = 32
        // floats), the keys (one shared head of 8) and the column of ones: 41 floats, where a whole-sequence pass
        // holds about a dozen d-wide rows.
        long small = inferenceBytes("lumenspark-v0.1", 2048), large = inferenceBytes("lumenspark-v0.1", 4096);
        long perPosition = (large - small) / 2048;
        assertTrue(perPosition <= 4L * 41, "inference grows by " + perPosition + " bytes/position");
        // Standard attention keeps its n x n probabilities per head.
        long t = inferenceBytes("transformer", 1024);
        assertTrue(t >= 4L * 4 * 1024 * 1024, "transformer inference holds " + t + " bytes");
    }

    private static long inferenceBytes(String preset, int n) {
        ModelConfig cfg = ModelConfig.preset(preset).with(Map.of("vocab_size", "50", "embed_dim", "32",
                "heads", "4", "seq_length", "" + n, "k", "8", "rank", "8", "depth", "2"));
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(1);
            return m.runStack(new int[n], 1, n, false);
        }
    }
}
