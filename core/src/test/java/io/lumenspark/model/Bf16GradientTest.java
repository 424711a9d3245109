package io.lumenspark.model;

import io.lumenspark.engine.Bf16Gemm;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A training step's gradients with bf16 products ({@link LanguageModel#useBf16Products}) against the same step's in
 * float32.
 *
 * <p>The tolerance: rounding an operand to bf16 changes it by at most 2^-9 (0.2 %) of itself, so each product's
 * result by up to ~0.4 % of the sum of its terms' magnitudes, and on random signs by ~0.1 % of its value. A
 * parameter's gradient comes out of a chain of such products (the loss's products, then each block's backward, last
 * to first), so its error is a sum of a few such terms, expected below 1 % (measured: 0.2 to 0.6 % per tensor, 0.21 %
 * overall, the loss 1e-6). Asserted: each gradient tensor within 2 % of its float32 value (relative Frobenius norm;
 * a real bug, a wrong transpose or a missing term, puts a tensor off by about 100 %), all of them together within
 * 1 %, and the loss within 0.01 % (a sum over tokens, whose errors average out). The whole gradient's error must
 * also be above 1e-5: the products really ran in bf16.
 */
class Bf16GradientTest {
    @Test
    void bf16GradientsMatchFloat32WithinBf16Rounding() {
        assumeTrue(Bf16Gemm.find().isPresent(), () -> "skipped: " + Bf16Gemm.unavailableReason());
        ModelConfig cfg = GradientCheckTest.small("lumenspark", "vocab_size", "300", "embed_dim", "64",
                "seq_length", "64", "k", "16", "rank", "16");
        int batch = 4, n = 64;
        try (LanguageModel model = new LanguageModel(cfg)) {
            model.initialize(3);
            int[][] tokens = GradientCheckTest.randomInputsAndTargets(new Random(8), batch * n, cfg.vocabSize());
            int[] in = tokens[0], tg = tokens[1];
            Params p = model.params();
            p.zeroGrads();
            double loss32 = model.trainStep(in, tg, batch, n, 1f / in.length, 0, 0, 0);
            float[] g32 = p.grads().toArray(JAVA_FLOAT);
            model.useBf16Products(Bf16Gemm.find().orElseThrow());
            float[][] g16 = new float[2][];
            double loss16 = 0;
            for (int t = 0; t < 2; t++) {
                p.zeroGrads();
                loss16 = model.trainStep(in, tg, batch, n, 1f / in.length, 0, 0, 0);
                g16[t] = p.grads().toArray(JAVA_FLOAT);
            }
            assertArrayEquals(g16[0], g16[1], "bf16 steps are deterministic");
            assertEquals(loss32, loss16, 1e-4 * loss32);
            double errAll = 0, normAll = 0;
            for (Params.Param param : p.list()) {
                double err = 0, norm = 0;
                for (long i = param.offset(); i < param.offset() + param.size(); i++) {
                    double d = g16[0][(int) i] - g32[(int) i];
                    err += d * d;
                    norm += (double) g32[(int) i] * g32[(int) i];
                }
                errAll += err;
                normAll += norm;
                double rel = Math.sqrt(err / norm);
                assertTrue(rel < 0.02, param.name() + ": relative error " + rel);
            }
            double rel = Math.sqrt(errAll / normAll);
            assertTrue(rel < 0.01 && rel > 1e-5, "relative error of the whole gradient " + rel);
            model.useBf16Products(null); // back to float32: the same bits as before
            p.zeroGrads();
            model.trainStep(in, tg, batch, n, 1f / in.length, 0, 0, 0);
            assertArrayEquals(g32, p.grads().toArray(JAVA_FLOAT));
        }
    }
}
