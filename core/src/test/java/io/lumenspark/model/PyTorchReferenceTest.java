package io.lumenspark.model;

import io.lumenspark.io.SafeTensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every variant against the independent PyTorch reference (reference/lumenspark_ref.py): the same weights and
 * tokens must give the same logits, loss and parameter gradients. Fixtures come from reference/make_fixtures.py.
 */
class PyTorchReferenceTest {
    static final Path FIXTURES = Path.of("core", "src", "test", "resources", "fixtures");

    @ParameterizedTest
    @ValueSource(strings = {"v01", "v01-short", "causal", "causal-short", "transformer", "conv", "conv-bidir",
            "options", "options-bidir"})
    void logitsLossAndGradientsMatchPyTorch(String name) {
        Path dir = FIXTURES.resolve(name);
        try (Arena arena = Arena.ofConfined(); LanguageModel model = ModelWeights.load(dir)) {
            SafeTensors.File io = SafeTensors.open(dir.resolve("io.safetensors"), arena);
            int[] ids = io.toIntArray(io.get("input_ids")), targets = io.toIntArray(io.get("targets"));
            long[] shape = io.get("input_ids").shape();
            int batch = (int) shape[0], n = (int) shape[1];

            float[] logits = model.logits(ids, batch, n);
            assertClose(name + " logits", io.toFloatArray(io.get("logits")), logits, 1e-4);

            model.params().zeroGrads();
            double loss = model.trainStep(ids, targets, batch, n, 1f / ids.length, 0, 0, 0) / ids.length;
            float want = io.toFloatArray(io.get("loss"))[0];
            assertEquals(want, loss, 1e-4 * Math.abs(want), name + " loss");

            for (Params.Param p : model.params().list()) {
                float[] ref = io.toFloatArray(io.get("grad." + p.name()));
                float[] ours = model.params().grad(p).toArray();
                assertClose(name + " grad " + p.name(), ref, ours, 1e-3);
            }
        }
    }

    /**
     * Relative error in the L2 sense, ||ours - ref|| / ||ref||, must stay below tol. The norm is floored at
     * 1e-4 because some gradients are zero in exact arithmetic (the key bias of softmax attention shifts every
     * score of a row equally), where both sides hold only rounding noise.
     */
    static void assertClose(String what, float[] ref, float[] ours, double tol) {
        assertEquals(ref.length, ours.length, what + " size");
        double diff = 0, norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (ours[i] - ref[i]) * (double) (ours[i] - ref[i]);
            norm += ref[i] * (double) ref[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-4);
        assertTrue(rel < tol, what + ": relative error " + rel);
    }
}
