package io.lumenspark.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference checks of every parameter's gradient, for every variant: for each parameter tensor, the
 * analytic directional derivative g . u along a random direction u must match (L(w + eps u) - L(w - eps u)) / 2 eps.
 */
class GradientCheckTest {

    static ModelConfig small(String preset, String... overrides) {
        java.util.Map<String, String> m = new java.util.HashMap<>(java.util.Map.of("vocab_size", "23",
                "embed_dim", "16", "depth", "2", "heads", "2", "seq_length", "12", "k", "4", "rank", "4",
                "dropout", "0"));
        for (int i = 0; i < overrides.length; i += 2) m.put(overrides[i], overrides[i + 1]);
        return ModelConfig.preset(preset).with(m);
    }

    static List<Object[]> variants() {
        List<Object[]> v = new ArrayList<>();
        for (int n : new int[]{12, 7}) {
            v.add(new Object[]{"v0.1 n=" + n, small("lumenspark-v0.1"), n});
            v.add(new Object[]{"causal n=" + n, small("lumenspark"), n});
            v.add(new Object[]{"transformer n=" + n, small("transformer"), n});
            v.add(new Object[]{"conv n=" + n, small("conv-linformer"), n});
            v.add(new Object[]{"conv-bidir n=" + n, small("conv-linformer", "causal", "false"), n});
            v.add(new Object[]{"options n=" + n, small("lumenspark", "kv_heads", "2", "shared_kv", "false",
                    "separate_proj", "true", "share_proj_across_layers", "true"), n});
            v.add(new Object[]{"options-bidir n=" + n, small("lumenspark-v0.1", "kv_heads", "2", "shared_kv",
                    "false", "separate_proj", "true"), n});
        }
        return v;
    }

    /** count random input ids and count random target ids below vocab, drawn alternately from r. */
    static int[][] randomInputsAndTargets(Random r, int count, int vocab) {
        int[] in = new int[count], tg = new int[count];
        for (int i = 0; i < count; i++) {
            in[i] = r.nextInt(vocab);
            tg[i] = r.nextInt(vocab);
        }
        return new int[][]{in, tg};
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void directionalDerivativesMatchFiniteDifferences(String label, ModelConfig cfg, int n) {
        int batch = 2;
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(7);
            Random r = new Random(11);
            int[][] tokens = randomInputsAndTargets(r, batch * n, cfg.vocabSize());
            int[] in = tokens[0], tg = tokens[1];
            Params p = model.params();
            p.zeroGrads();
            model.trainStep(in, tg, batch, n, 1f / in.length, 0, 0, 0);
            MemorySegment w = p.values(), g = p.grads();
            for (Params.Param param : p.list()) {
                float[] u = new float[(int) param.size()];
                double analytic = 0;
                for (int i = 0; i < u.length; i++) {
                    u[i] = (float) r.nextGaussian();
                    analytic += u[i] * g.getAtIndex(JAVA_FLOAT, param.offset() + i);
                }
                double eps = 1e-2;
                double plus = lossAfterShift(model, param, u, eps, in, tg, batch, n);
                double minus = lossAfterShift(model, param, u, -eps, in, tg, batch, n);
                lossAfterShift(model, param, u, 0, in, tg, batch, n);
                double numeric = (plus - minus) / (2 * eps);
                double err = Math.abs(numeric - analytic) / Math.max(1e-2, Math.abs(numeric) + Math.abs(analytic));
                assertTrue(err < 2e-2, label + " " + param.name() + ": analytic " + analytic + " numeric " + numeric);
            }
        }
    }

    static List<Object[]> maskedVariants() {
        List<Object[]> v = new ArrayList<>();
        v.add(new Object[]{"masked linformer", small("lumenspark-v0.1", "objective", "masked_lm")});
        v.add(new Object[]{"masked full", small("lumenspark-v0.1", "objective", "masked_lm", "attention", "full")});
        v.add(new Object[]{"masked conv", small("lumenspark-v0.1", "objective", "masked_lm", "attention",
                "conv_linformer")});
        v.add(new Object[]{"masked options", small("lumenspark-v0.1", "objective", "masked_lm", "kv_heads", "2",
                "shared_kv", "false", "separate_proj", "true", "share_proj_across_layers", "true")});
        v.add(new Object[]{"masked dense head", small("lumenspark-v0.1", "objective", "masked_lm", "lm_head",
                "dense")});
        return v;
    }

    /**
     * The masked-LM paths: rows padded at their end (lengths) and targets on a third of the real positions, so the
     * output layer runs on the gathered rows and its gradient is scattered back; the dense head too.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("maskedVariants")
    void maskedLmGradientsMatchFiniteDifferences(String label, ModelConfig cfg) {
        int batch = 3, n = 12;
        int[] lengths = {12, 9, 5};
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(7);
            Random r = new Random(13);
            int[] in = new int[batch * n], tg = new int[batch * n];
            int selected = 0;
            for (int i = 0; i < in.length; i++) {
                in[i] = r.nextInt(cfg.vocabSize());
                boolean target = i % n < lengths[i / n] && r.nextInt(3) == 0;
                tg[i] = target ? r.nextInt(cfg.vocabSize()) : -1;
                if (target) selected++;
            }
            Params p = model.params();
            p.zeroGrads();
            model.trainStep(in, tg, lengths, batch, n, 1f / selected, 0, 0, 0);
            MemorySegment g = p.grads();
            for (Params.Param param : p.list()) {
                float[] u = new float[(int) param.size()];
                double analytic = 0;
                for (int i = 0; i < u.length; i++) {
                    u[i] = (float) r.nextGaussian();
                    analytic += u[i] * g.getAtIndex(JAVA_FLOAT, param.offset() + i);
                }
                // the mean over a few selected positions curves more than one over every position: Richardson's
                // extrapolation of two central differences cancels their eps^2 error
                double[] central = new double[2];
                for (int k = 0; k < 2; k++) {
                    double eps = k == 0 ? 1e-2 : 5e-3;
                    double plus = maskedLoss(model, param, u, eps, in, tg, lengths, selected);
                    double minus = maskedLoss(model, param, u, -eps, in, tg, lengths, selected);
                    central[k] = (plus - minus) / (2 * eps);
                }
                maskedLoss(model, param, u, 0, in, tg, lengths, selected);
                double numeric = (4 * central[1] - central[0]) / 3;
                double err = Math.abs(numeric - analytic) / Math.max(1e-2, Math.abs(numeric) + Math.abs(analytic));
                assertTrue(err < 2e-2, label + " " + param.name() + ": analytic " + analytic + " numeric " + numeric);
            }
        }
    }

    private static double maskedLoss(LanguageModel m, Params.Param p, float[] u, double shift, int[] in, int[] tg,
                                     int[] lengths, int selected) {
        setShift(m, p, u, shift);
        return m.evaluate(in, tg, lengths, lengths.length, in.length / lengths.length, null) / selected;
    }

    /** Sets w = w0 + shift * u (keeping w0 in a side copy on the first call) and returns the mean loss. */
    private static double lossAfterShift(LanguageModel m, Params.Param p, float[] u, double shift, int[] in,
                                         int[] tg, int batch, int n) {
        setShift(m, p, u, shift);
        return m.evaluate(in, tg, batch, n, null) / in.length;
    }

    /** Sets w = w0 + shift * u, keeping w0 in a side copy on the first call and dropping it when shift is 0. */
    private static void setShift(LanguageModel m, Params.Param p, float[] u, double shift) {
        MemorySegment w = m.params().values();
        float[] base = BASE.computeIfAbsent(p.name(), k -> {
            float[] b = new float[u.length];
            for (int i = 0; i < b.length; i++) b[i] = w.getAtIndex(JAVA_FLOAT, p.offset() + i);
            return b;
        });
        for (int i = 0; i < u.length; i++) w.setAtIndex(JAVA_FLOAT, p.offset() + i, (float) (base[i] + shift * u[i]));
        if (shift == 0) BASE.remove(p.name());
    }

    private static final java.util.Map<String, float[]> BASE = new java.util.HashMap<>();
}
