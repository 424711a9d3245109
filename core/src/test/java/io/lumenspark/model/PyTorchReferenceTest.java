package io.lumenspark.model;

import io.lumenspark.io.SafeTensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;

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
     * Masked-LM fixtures (every bidirectional variant, and the dense head): rows padded to n, labels from the masks
     * (Java draws the same ones: MlmMaskingTest), loss the mean over the labelled positions. The logits of the real
     * positions, the loss and every gradient must match; the output layer runs on the labelled rows alone.
     */
    @ParameterizedTest
    @ValueSource(strings = {"mlm-v01", "mlm-full", "mlm-conv", "mlm-options", "mlm-dense"})
    void maskedLmWithPaddingMatchesPyTorch(String name) {
        Path dir = FIXTURES.resolve(name);
        try (Arena arena = Arena.ofConfined(); LanguageModel model = ModelWeights.load(dir)) {
            assertTrue(model.config().isMaskedLm(), name + " is a masked LM");
            SafeTensors.File io = SafeTensors.open(dir.resolve("io.safetensors"), arena);
            int[] ids = io.toIntArray(io.get("input_ids")), labels = io.toIntArray(io.get("labels"));
            int[] lengths = io.toIntArray(io.get("lengths"));
            int batch = lengths.length, n = ids.length / batch, vocab = model.config().vocabSize();
            int[] rows = IntStream.range(0, ids.length).filter(r -> r % n < lengths[r / n]).toArray();
            float[][] ours = model.logitsAt(ids, lengths, batch, n, rows);
            float[] all = io.toFloatArray(io.get("logits")), ref = new float[rows.length * vocab], got = new float[ref.length];
            for (int i = 0; i < rows.length; i++) {
                System.arraycopy(all, rows[i] * vocab, ref, i * vocab, vocab);
                System.arraycopy(ours[i], 0, got, i * vocab, vocab);
            }
            assertClose(name + " logits of the real positions", ref, got, 1e-4);

            long selected = Arrays.stream(labels).filter(l -> l >= 0).count();
            model.params().zeroGrads();
            double loss = model.trainStep(ids, labels, lengths, batch, n, 1f / selected, 0, 0, 0) / selected;
            float want = io.toFloatArray(io.get("loss"))[0];
            assertEquals(want, loss, 1e-4 * Math.abs(want), name + " loss");
            // the mean over a dozen labelled positions weighs each by 1/12 (the causal fixtures' tokens by 1/32): the
            // rounding noise of gradients that are zero in exact arithmetic (full attention's key bias) grows alike
            for (Params.Param p : model.params().list()) {
                assertClose(name + " grad " + p.name(), io.toFloatArray(io.get("grad." + p.name())),
                        model.params().grad(p).toArray(), 1e-3, 1e-3);
            }
        }
    }

    /**
     * Sequence-classification fixtures: rows padded to n, pooled (last token for the causal ones, mean or first for
     * the bidirectional ones) into score; the logits, the mean cross-entropy over the rows and every gradient must
     * match, and the padding ids take no part.
     */
    @ParameterizedTest
    @ValueSource(strings = {"cls-causal", "cls-transformer", "cls-mean", "cls-first", "cls-conv-mean"})
    void sequenceClassificationWithPaddingMatchesPyTorch(String name) {
        Path dir = FIXTURES.resolve(name);
        try (Arena arena = Arena.ofConfined(); LanguageModel model = ModelWeights.load(dir)) {
            assertTrue(model.config().isClassifier(), name + " is a classifier");
            SafeTensors.File io = SafeTensors.open(dir.resolve("io.safetensors"), arena);
            int[] ids = io.toIntArray(io.get("tokens")), lengths = io.toIntArray(io.get("lengths"));
            int[] labels = io.toIntArray(io.get("labels"));
            int batch = lengths.length, n = ids.length / batch, k = model.config().numLabels();
            assertClose(name + " logits", io.toFloatArray(io.get("logits")), model.classify(ids, lengths, batch, n),
                    1e-4);
            model.params().zeroGrads();
            ClassifierLoss sum = ClassificationHeadTest.crossEntropy(labels, k);
            double loss = model.trainClassifier(ids, lengths, batch, n, (logits, d) -> {
                double total = sum.lossAndGradient(logits, d);
                for (int i = 0; i < d.length; i++) d[i] /= batch;
                return total / batch;
            }, 0, 0, 0);
            float want = io.toFloatArray(io.get("loss"))[0];
            assertEquals(want, loss, 1e-4 * Math.abs(want), name + " loss");
            for (Params.Param p : model.params().list()) {
                // full attention's key bias: zero in exact arithmetic, rounding noise on both sides (as above)
                assertClose(name + " grad " + p.name(), io.toFloatArray(io.get("grad." + p.name())),
                        model.params().grad(p).toArray(), 1e-3, 1e-3);
            }
        }
    }

    /**
     * Relative error in the L2 sense, ||ours - ref|| / ||ref||, must stay below tol. The norm is floored at
     * 1e-4 because some gradients are zero in exact arithmetic (the key bias of softmax attention shifts every
     * score of a row equally), where both sides hold only rounding noise.
     */
    static void assertClose(String what, float[] ref, float[] ours, double tol) {
        assertClose(what, ref, ours, tol, 1e-4);
    }

    /** As {@link #assertClose(String, float[], float[], double)}, the norm floored at floor. */
    static void assertClose(String what, float[] ref, float[] ours, double tol, double floor) {
        assertEquals(ref.length, ours.length, what + " size");
        double diff = 0, norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (ours[i] - ref[i]) * (double) (ours[i] - ref[i]);
            norm += ref[i] * (double) ref[i];
        }
        double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), floor);
        assertTrue(rel < tol, what + ": relative error " + rel);
    }
}
