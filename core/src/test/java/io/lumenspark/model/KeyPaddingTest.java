package io.lumenspark.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Rows padded at their end (lengths): padded tokens change no output of a real position, bit for bit, in inference
 * and in training (every parameter gradient, the padded tokens' embeddings included, stays the same); and a padded
 * batch gives each sequence's outputs as if it ran alone, for every attention variant.
 */
class KeyPaddingTest {
    private static final Map<String, String> SMALL = Map.of("vocab_size", "41", "embed_dim", "16", "depth", "2",
            "heads", "2", "seq_length", "24", "k", "6", "rank", "4", "dropout", "0.1");

    private static Map<String, String> withKvHeads(int kvHeads) {
        Map<String, String> m = new HashMap<>(SMALL);
        m.put("kv_heads", "" + kvHeads);
        return m;
    }

    static List<Object[]> variants() {
        List<Object[]> v = new ArrayList<>();
        v.add(new Object[]{"linformer", ModelConfig.preset("lumenspark-v0.1").with(SMALL)});
        v.add(new Object[]{"encoder (per-head E and F)", ModelConfig.preset("encoder").with(withKvHeads(2))});
        v.add(new Object[]{"full", ModelConfig.preset("lumenspark-v0.1").with(SMALL).with("attention", "full")});
        v.add(new Object[]{"conv-linformer", ModelConfig.preset("lumenspark-v0.1").with(SMALL)
                .with("attention", "conv_linformer")});
        v.add(new Object[]{"shared projections", ModelConfig.preset("lumenspark-v0.1").with(SMALL)
                .with(Map.of("share_proj_across_layers", "true", "separate_proj", "true"))});
        v.add(new Object[]{"dense head", ModelConfig.preset("lumenspark-v0.1").with(SMALL)
                .with(Map.of("objective", "masked_lm", "lm_head", "dense"))});
        v.add(new Object[]{"causal linformer", ModelConfig.preset("lumenspark").with(SMALL)});
        v.add(new Object[]{"causal full", ModelConfig.preset("transformer").with(SMALL)});
        v.add(new Object[]{"causal conv", ModelConfig.preset("conv-linformer").with(SMALL)});
        // longer than a chunk of inference (256 positions), so chunked passes see padding too
        v.add(new Object[]{"linformer n=320", ModelConfig.preset("lumenspark-v0.1").with(SMALL)
                .with(Map.of("seq_length", "320", "k", "32"))});
        v.add(new Object[]{"conv n=320", ModelConfig.preset("lumenspark-v0.1").with(SMALL)
                .with(Map.of("seq_length", "320", "k", "32", "attention", "conv_linformer"))});
        return v;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void paddingChangesNoRealPositionAndAPaddedRowIsItsSequenceAlone(String label, ModelConfig cfg) {
        int n = cfg.seqLength(), v = cfg.vocabSize();
        int[] lengths = {n, n - 3, n / 2 + 1, 5}; // not whole blocks of the convolution
        int batch = lengths.length;
        Random r = new Random(9);
        int[] a = new int[batch * n], b = new int[batch * n], labels = new int[batch * n];
        for (int i = 0; i < a.length; i++) {
            boolean real = i % n < lengths[i / n];
            a[i] = r.nextInt(v);
            b[i] = real ? a[i] : r.nextInt(v);
            labels[i] = real && r.nextInt(3) == 0 ? r.nextInt(v) : -1;
        }
        int[] rows = IntStream.range(0, a.length).filter(i -> i % n < lengths[i / n]).toArray();
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(5);
            float[][] la = model.logitsAt(a, lengths, batch, n, rows), lb = model.logitsAt(b, lengths, batch, n, rows);
            for (int i = 0; i < rows.length; i++) {
                assertArrayEquals(la[i], lb[i], label + ": position " + rows[i] % n + " of row " + rows[i] / n
                        + " changed with the padding");
            }
            float[] ga = gradients(model, a, labels, lengths), gb = gradients(model, b, labels, lengths);
            assertArrayEquals(ga, gb, label + ": the gradients changed with the padding");
            // each row alone, at its own length
            for (int row = 0, at = 0; row < batch; row++) {
                int len = lengths[row];
                int[] alone = Arrays.copyOfRange(a, row * n, row * n + len);
                float[] single = model.logits(alone, 1, len);
                for (int t = 0; t < len; t++, at++) {
                    float[] want = Arrays.copyOfRange(single, t * v, (t + 1) * v);
                    double err = 0, norm = 0;
                    for (int j = 0; j < v; j++) {
                        err = Math.max(err, Math.abs(want[j] - la[at][j]));
                        norm = Math.max(norm, Math.abs(want[j]));
                    }
                    assertTrue(err <= 1e-5 * Math.max(1, norm), label + ": row " + row + " position " + t
                            + " differs from the sequence run alone by " + err);
                }
            }
        }
    }

    private static float[] gradients(LanguageModel model, int[] inputs, int[] labels, int[] lengths) {
        model.params().zeroGrads();
        model.trainStep(inputs, labels, lengths, lengths.length, inputs.length / lengths.length, 0.1f, 3, 7, 0);
        return model.params().grads().toArray(ValueLayout.JAVA_FLOAT);
    }
}
