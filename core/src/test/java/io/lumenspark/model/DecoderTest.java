package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.engine.QuantizedMatrix;
import io.lumenspark.engine.WeightDtype;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
        // heads of 128 and 66 dimensions, as the presets' (the others' 8 stay below the attention kernels' groups
        // of four vectors)
        for (String p : new String[]{"lumenspark", "transformer"}) {
            v.add(new Object[]{p + " wide heads", ModelConfig.preset(p).with(SMALL).with(Map.of("embed_dim", "256",
                    "heads", "2"))});
        }
        v.add(new Object[]{"odd heads", ModelConfig.preset("lumenspark").with(SMALL).with(Map.of("embed_dim", "132",
                "heads", "2", "kv_heads", "2", "shared_kv", "false"))});
        return v;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void stepByStepLogitsEqualTheFullForward(String name, ModelConfig cfg) {
        checkStepsAgainstFullForward(name, cfg, WeightDtype.F32, false, 1e-5);
    }

    /**
     * With the matrix weights in bf16 or int8, decoding steps (the quantized kernels) and whole-sequence passes
     * (slices widened to float32 for sgemm) compute with the same weights, on the float path by default; but where a
     * model asks int8 decoding to run the output layer in integers ({@link LanguageModel#useIntegerProducts}) and
     * it can ({@link QuantizedMatrix#integerProducts}), its weights get one scale per row and its input is rounded
     * to int8 too, which moves the logits by about 0.5 % (RMS) here and by up to 1.3 % at a position (checked
     * within 2 %); the system property overrides the model's choice.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void quantizedStepsAgreeWithTheQuantizedFullForward(String name, ModelConfig cfg) {
        checkStepsAgainstFullForward(name + " bf16", cfg, WeightDtype.BF16, false, 1e-5);
        checkStepsAgainstFullForward(name + " int8 by default", cfg, WeightDtype.INT8, null, 1e-5);
        if (QuantizedMatrix.integerProducts()) {
            double rel = checkStepsAgainstFullForward(name + " int8 in integers", cfg, WeightDtype.INT8, true, 2e-2);
            assertTrue(rel > 1e-5, name + ": the integer products were not used (" + rel + ")");
            System.setProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY, "false");
            try {
                checkStepsAgainstFullForward(name + " int8, turned off", cfg, WeightDtype.INT8, true, 1e-5);
                System.setProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY, "true");
                double forced = checkStepsAgainstFullForward(name + " int8, not asked but turned on", cfg,
                        WeightDtype.INT8, false, 2e-2);
                assertTrue(forced > 1e-5, name + ": the property did not turn integer products on (" + forced + ")");
            } finally {
                System.clearProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY);
            }
        }
    }

    /** Checks every step against the full forward within tolerance; returns the largest relative error. */
    private static double checkStepsAgainstFullForward(String name, ModelConfig cfg, WeightDtype dtype,
                                                       Boolean integer, double tolerance) {
        int n = cfg.seqLength(), v = cfg.vocabSize();
        Random r = new Random(9);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(v);
        double worst = 0;
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(4);
            m.quantize(dtype);
            if (integer != null) m.useIntegerProducts(integer); // null: the default
            float[] full = m.logits(ids, 1, n);
            try (Decoder dec = m.decoder()) {
                for (int t = 0; t < n; t++) {
                    worst = Math.max(worst, assertClose(full, t, v, dec.next(ids[t]), name + " position " + t,
                            tolerance));
                }
                var e = assertThrows(LumensparkException.class, () -> dec.next(1));
                assertTrue(e.getMessage().contains("context is full"), e.getMessage());
            }
        }
        return worst;
    }

    /**
     * Decoding reads a copy of the product weights in its own layout: a change of the weights through the
     * writable buffer (an optimizer step, here a rescaling) reaches the next decoder, never a stale copy.
     */
    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "conv-linformer", "transformer"})
    void decodingAfterTheWeightsChangeUsesTheNewWeights(String preset) {
        ModelConfig cfg = ModelConfig.preset(preset).with(SMALL);
        int n = 10, v = cfg.vocabSize();
        int[] ids = new Random(5).ints(n, 0, v).toArray();
        try (LanguageModel m = new LanguageModel(cfg); Decoder early = m.decoder()) { // made before any change
            m.initialize(2);
            try (Decoder dec = m.decoder()) {
                dec.prefill(Arrays.copyOf(ids, n - 1));
                assertClose(m.logits(ids, 1, n), n - 1, v, dec.next(ids[n - 1]), "before");
            }
            early.prefill(Arrays.copyOf(ids, n - 1));
            assertClose(m.logits(ids, 1, n), n - 1, v, early.next(ids[n - 1]), "before, the early decoder");
            early.reset();
            var values = m.params().values();
            for (long i = 0; i < m.params().flatSize(); i++) {
                values.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i,
                        values.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i) * (i % 3 == 0 ? -1.5f : 1f));
            }
            float[] full = m.logits(ids, 1, n);
            try (Decoder dec = m.decoder()) {
                float[] logits = dec.prefill(Arrays.copyOf(ids, n - 1));
                assertClose(full, n - 2, v, logits, "after, prefill");
                assertClose(full, n - 1, v, dec.next(ids[n - 1]), "after, a decoding step");
            }
            assertClose(full, n - 2, v, early.prefill(Arrays.copyOf(ids, n - 1)), "after, the early decoder");
            assertClose(full, n - 1, v, early.next(ids[n - 1]), "after, the early decoder's step");
        }
    }

    /**
     * Weights marked changed while other threads decode (an optimizer step beside a server's generations): the
     * copies a running product reads stay open until it ends, so no step fails; afterwards decoding matches the
     * full forward again. Weights are written through values() only: segment() is read-only.
     */
    @Test
    void decodingCopiesSurviveWeightChangesOnOtherThreads() throws Exception {
        ModelConfig cfg = ModelConfig.preset("lumenspark").with(SMALL);
        int v = cfg.vocabSize();
        int[] ids = new Random(8).ints(12, 0, v).toArray();
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(3);
            var errors = new java.util.concurrent.ConcurrentLinkedQueue<Throwable>();
            var done = new java.util.concurrent.atomic.AtomicBoolean();
            List<Thread> readers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                readers.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int rep = 0; rep < 10 && errors.isEmpty(); rep++) {
                            try (Decoder dec = m.decoder()) {
                                for (int id : ids) dec.next(id);
                            }
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }));
            }
            Thread writer = Thread.ofPlatform().start(() -> {
                while (!done.get()) {
                    m.params().values(); // handed out for writing: the copies are stale from here
                    m.params().markChanged();
                    LockSupport.parkNanos(200_000); // an optimizer step now and then
                }
            });
            for (Thread r : readers) r.join();
            done.set(true);
            writer.join();
            assertTrue(errors.isEmpty(), "a decoding step failed: " + errors.peek());
            try (Decoder dec = m.decoder()) {
                float[] last = null;
                for (int id : ids) last = dec.next(id);
                assertClose(m.logits(ids, 1, ids.length), ids.length - 1, v, last, "after the changes");
            }
            var bias = m.params().segment(m.params().get("fc_out.bias"));
            assertThrows(IllegalArgumentException.class, () -> bias.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT,
                    0, 1f), "segment() is read-only");
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
            for (int len : new int[]{1, c, 2 * c + 3, n - 1}) { // feed: the state without the logits
                try (Decoder dec = m.decoder()) {
                    dec.feed(Arrays.copyOf(ids, len));
                    assertEquals(len, dec.position());
                    assertClose(full, len, v, dec.next(ids[len]), name + " feed " + len + ", then a step");
                }
            }
            try (Decoder dec = m.decoder()) {
                dec.next(ids[0]);
                assertThrows(IllegalStateException.class, () -> dec.prefill(ids[1]));
                assertThrows(IllegalStateException.class, () -> dec.feed(ids[1]));
                dec.reset();
                assertClose(full, 1, v, dec.prefill(ids[0], ids[1]), name + " after reset");
            }
        }
    }

    /**
     * Prompts fed together ({@link DecodeBatch#feed}: up to 64 tokens as rows of the same steps, longer ones by a
     * forward pass each), in batches whose feeding steps split prompts at different places, leave every decoder
     * the state it gets fed alone, bit for bit; a prompt fed by steps leaves the state of stepping through it one
     * token at a time, bit for bit; and a reset decoder fed again starts over as a new one.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void promptsFedTogetherGetTheStateEachGetsAloneBitForBit(String name, ModelConfig small) {
        ModelConfig cfg = small.with(Map.of("seq_length", "96"));
        int v = cfg.vocabSize(), c = cfg.blockSize();
        // 362 positions fed by steps: feeding steps of 64, 128 and 256 rows split the prompts at different places
        int[] lengths = {1, c - 1, 40, c, 2 * c + 3, 50, DecodeBatch.STEP_FEED_TOKENS, DecodeBatch.STEP_FEED_TOKENS + 1,
                60, 90, 33, DecodeBatch.STEP_FEED_TOKENS};
        Random r = new Random(9);
        int[][] prompts = new int[lengths.length][];
        for (int i = 0; i < lengths.length; i++) prompts[i] = r.ints(lengths[i], 0, v).toArray();
        int[] next = r.ints(3, 0, v).toArray();
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(4);
            float[][][] alone = new float[lengths.length][][];
            for (int i = 0; i < lengths.length; i++) {
                try (Decoder d = m.decoder()) {
                    d.feed(prompts[i]);
                    assertEquals(lengths[i], d.position());
                    alone[i] = steps(d, next);
                    d.reset();
                    d.feed(prompts[i]);
                    assertArrayEquals(alone[i], steps(d, next), name + ": length " + lengths[i] + " after a reset");
                }
                if (lengths[i] <= DecodeBatch.STEP_FEED_TOKENS) { // the same as stepping through the prompt
                    try (Decoder d = m.decoder()) {
                        for (int id : prompts[i]) d.next(id);
                        assertArrayEquals(alone[i], steps(d, next), name + ": length " + lengths[i] + " stepped");
                    }
                }
            }
            for (int capacity : new int[]{1, 2, 16}) { // feeding steps of 64, 128 and 256 rows
                List<Decoder> decoders = new ArrayList<>();
                try (DecodeBatch batch = m.decodeBatch(capacity)) {
                    for (int i = 0; i < lengths.length; i++) decoders.add(m.decoder());
                    batch.feed(decoders, Arrays.asList(prompts));
                    for (int i = 0; i < lengths.length; i++) {
                        assertEquals(lengths[i], decoders.get(i).position());
                        assertArrayEquals(alone[i], steps(decoders.get(i), next), name + ": length " + lengths[i]
                                + " fed with the others in a batch of " + capacity);
                    }
                } finally {
                    decoders.forEach(Decoder::close);
                }
            }
        }
    }

    /**
     * A decoder given back to a pool after a longer sequence (its state, a KV cache included, written far past
     * where the next sequence reaches) computes the next sequence as a new decoder does, bit for bit, fed by steps
     * or by a forward pass; the pool hands the same decoder out again, keeps no more than its number, and closes
     * what comes back once it is closed.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("causalVariants")
    void aPooledDecoderComputesTheNextSequenceAsANewOne(String name, ModelConfig small) {
        ModelConfig cfg = small.with(Map.of("seq_length", "96"));
        int v = cfg.vocabSize();
        Random r = new Random(11);
        int[] first = r.ints(90, 0, v).toArray(), next = r.ints(5, 0, v).toArray();
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(5);
            for (int length : new int[]{17, DecodeBatch.STEP_FEED_TOKENS + 6}) { // fed by steps; by a forward pass
                int[] prompt = r.ints(length, 0, v).toArray();
                float[][] fresh;
                try (Decoder d = m.decoder()) {
                    d.feed(prompt);
                    fresh = steps(d, next);
                }
                try (DecoderPool pool = new DecoderPool(m, 1)) {
                    Decoder used = pool.take();
                    for (int id : first) used.next(id);
                    pool.give(used);
                    assertEquals(1, pool.idle());
                    Decoder again = pool.take();
                    assertTrue(again == used, name + ": the pool hands its idle decoder out again");
                    assertEquals(0, again.position());
                    again.feed(prompt);
                    assertArrayEquals(fresh, steps(again, next), name + ": a " + length
                            + "-token prompt after a 90-token sequence");
                    Decoder other = pool.take();
                    pool.give(again);
                    assertThrows(IllegalStateException.class, () -> pool.give(again));
                    pool.give(other); // the pool keeps one: this one is closed
                    assertEquals(1, pool.idle());
                    assertThrows(IllegalStateException.class, () -> other.next(next[0]));
                    pool.close();
                    assertEquals(0, pool.idle());
                    assertThrows(IllegalStateException.class, () -> again.next(next[0]), "closed with the pool");
                }
            }
        }
    }

    /** Rows of logits of feeding ids one at a time, flattened. */
    private static float[][] steps(Decoder d, int[] ids) {
        float[][] out = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = d.next(ids[i]);
        return out;
    }

    /** A refused feed changes no decoder: each is still at position 0 and, fed again, as a new one. */
    @Test
    void aFeedRefusesWhatItCannotFeedAndChangesNothing() {
        try (LanguageModel m = new LanguageModel(ModelConfig.preset("lumenspark").with(SMALL));
             DecodeBatch batch = m.decodeBatch(2); DecodeBatch one = m.decodeBatch(1); Decoder a = m.decoder();
             Decoder b = m.decoder(); Decoder fresh = m.decoder()) {
            m.initialize(2);
            int[] long40 = new Random(4).ints(40, 0, m.config().vocabSize()).toArray();
            // a batch of one feeds 64 rows a step: had the tokens been checked as they are fed, the first prompt's
            // 40 rows would have been stepped before the second's bad token
            assertThrows(LumensparkException.class, () -> one.feed(List.of(a, b),
                    List.of(long40, new int[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                            22, 23, 24, 25, 26, 27, 28, 29, 30, 99})));
            assertEquals(0, a.position());
            a.feed(long40);
            fresh.feed(long40);
            assertArrayEquals(fresh.next(5), a.next(5), "fed again after a refused feed, as a new decoder");
            a.reset();
            int[] ok = {1, 2, 3};
            assertThrows(IllegalArgumentException.class, () -> batch.feed(List.of(a, a), List.of(ok, ok)));
            assertThrows(IllegalArgumentException.class, () -> batch.feed(List.of(a, b), List.of(ok)));
            assertThrows(LumensparkException.class, () -> batch.feed(List.of(a, b), List.of(ok, new int[]{1, 99})));
            assertThrows(LumensparkException.class, () -> batch.feed(List.of(a, b), List.of(ok, new int[0])));
            assertThrows(LumensparkException.class, () -> batch.feed(List.of(a, b),
                    List.of(ok, new int[m.config().seqLength() + 1])));
            assertEquals(0, a.position());
            assertEquals(0, b.position());
            batch.feed(List.of(a, b), List.of(ok, new int[]{4}));
            assertEquals(3, a.position());
            assertEquals(1, b.position());
            assertThrows(IllegalStateException.class, () -> batch.feed(List.of(a), List.of(ok)));
        }
    }

    private static void assertClose(float[] full, int t, int v, float[] got, String what) {
        double ignored = assertClose(full, t, v, got, what, 1e-5);
    }

    private static double assertClose(float[] full, int t, int v, float[] got, String what, double tolerance) {
        double diff = 0, norm = 0;
        for (int i = 0; i < v; i++) {
            double w = full[t * v + i];
            diff += (got[i] - w) * (got[i] - w);
            norm += w * w;
        }
        double rel = Math.sqrt(diff / norm);
        assertTrue(rel < tolerance, what + ": relative error " + rel);
        return rel;
    }

    /**
     * Continuous batching: sequences that join and leave a batch at different positions (prompts of different
     * lengths, prefilled on either side of block boundaries) get exactly the logits they get alone, bit for bit,
     * whatever else shares the step; odd widths (a head of 12, rank 5) exercise the kernels' scalar tails.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchVariants")
    void aBatchedStepGivesEverySequenceItsLogitsAloneBitForBit(String name, ModelConfig cfg) {
        checkBatchedSteps(name, cfg, WeightDtype.F32);
    }

    /** The same with the matrix weights held in bf16 and in int8: their kernels round alike whatever the batch. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchVariants")
    void aBatchedStepIsBitForBitInBf16AndInt8Too(String name, ModelConfig cfg) {
        checkBatchedSteps(name + " bf16", cfg, WeightDtype.BF16);
        checkBatchedSteps(name + " int8", cfg, WeightDtype.INT8);
    }

    private static void checkBatchedSteps(String name, ModelConfig cfg, WeightDtype dtype) {
        int v = cfg.vocabSize(), sequences = 7, steps = 14;
        Random r = new Random(5);
        int[][] prompts = new int[sequences][];
        int[][] fed = new int[sequences][steps];
        for (int s = 0; s < sequences; s++) {
            prompts[s] = new int[1 + r.nextInt(cfg.seqLength() - steps - 1)];
            for (int i = 0; i < prompts[s].length; i++) prompts[s][i] = r.nextInt(v);
            for (int i = 0; i < steps; i++) fed[s][i] = r.nextInt(v);
        }
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(8);
            m.quantize(dtype);
            float[][][] alone = new float[sequences][steps][];
            for (int s = 0; s < sequences; s++) {
                try (Decoder d = m.decoder()) {
                    d.prefill(prompts[s]);
                    for (int i = 0; i < steps; i++) alone[s][i] = d.next(fed[s][i]);
                }
            }
            // sequence s joins at step s / 2 and takes its steps in any company until it has had all of them
            try (DecodeBatch batch = m.decodeBatch(sequences)) {
                Decoder[] decoders = new Decoder[sequences];
                int[] done = new int[sequences];
                for (int round = 0; ; round++) {
                    List<Decoder> step = new ArrayList<>();
                    List<Integer> who = new ArrayList<>();
                    for (int s = 0; s < sequences; s++) {
                        if (s / 2 > round || done[s] == steps || (s % 3 == 0 && round % 4 == 1)) continue; // some sit out
                        if (decoders[s] == null) {
                            decoders[s] = m.decoder();
                            decoders[s].prefill(prompts[s]);
                        }
                        step.add(decoders[s]);
                        who.add(s);
                    }
                    if (step.isEmpty() && Arrays.stream(done).allMatch(x -> x == steps)) break;
                    int[] tokens = new int[step.size()];
                    float[][] out = new float[step.size()][v];
                    for (int b = 0; b < tokens.length; b++) tokens[b] = fed[who.get(b)][done[who.get(b)]];
                    if (round % 2 == 0) {
                        batch.next(step, tokens, out);
                    } else { // a step whose rows are copied out later, last first, as the server's threads take them
                        batch.step(step, tokens);
                        for (int b = tokens.length - 1; b >= 0; b--) batch.logits(b, out[b]);
                    }
                    for (int b = 0; b < tokens.length; b++) {
                        int s = who.get(b);
                        assertArrayEquals(alone[s][done[s]], out[b], name + ": sequence " + s + ", step " + done[s]
                                + " in a batch of " + tokens.length);
                        done[s]++;
                    }
                }
                for (Decoder d : decoders) d.close();
            }
        }
    }

    static List<Object[]> batchVariants() {
        List<Object[]> v = new ArrayList<>(causalVariants());
        v.add(new Object[]{"odd widths", ModelConfig.preset("lumenspark").with(SMALL).with(Map.of("embed_dim", "24",
                "heads", "2", "rank", "5", "vocab_size", "61"))});
        return v;
    }

    @Test
    void aStepRefusesWhatItCannotFeedAndChangesNothing() {
        try (LanguageModel m = new LanguageModel(ModelConfig.preset("lumenspark").with(SMALL));
             DecodeBatch batch = m.decodeBatch(2); Decoder a = m.decoder(); Decoder b = m.decoder()) {
            m.initialize(2);
            float[][] out = new float[3][m.config().vocabSize()];
            assertThrows(LumensparkException.class, () -> batch.next(List.of(a, b, a), new int[]{1, 2, 3}, out));
            assertThrows(IllegalArgumentException.class, () -> batch.next(List.of(a, a), new int[]{1, 2}, out));
            assertThrows(LumensparkException.class, () -> batch.next(List.of(a, b), new int[]{1, 99}, out));
            assertEquals(0, a.position());
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(0, out[0])); // no step yet
            batch.next(List.of(a, b), new int[]{1, 2}, out);
            assertEquals(1, a.position());
            assertEquals(1, b.position());
            float[] row = new float[out[1].length];
            assertThrows(LumensparkException.class, () -> batch.step(List.of(a, b), new int[]{1, 99}));
            batch.logits(1, row); // a refused step leaves the last step's rows
            assertArrayEquals(out[1], row);
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(2, row));
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(-1, row));
            float[][] short1 = {new float[row.length], new float[row.length - 1]};
            assertThrows(IllegalArgumentException.class, () -> batch.next(List.of(a, b), new int[]{1, 2}, short1));
            assertEquals(1, a.position()); // refused before the step
            batch.step(List.of(b), new int[]{3});
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(1, row)); // a step of one row
            batch.step(List.of(), new int[0]);
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(0, row)); // an empty step leaves none
            try (Decoder c = m.decoder()) {
                batch.feed(List.of(c), List.of(new int[]{1, 2}));
            }
            assertThrows(IndexOutOfBoundsException.class, () -> batch.logits(0, row)); // a feed leaves none
        }
    }

    /**
     * The server's sampling threads copy a step's rows out of the batch each for the rows it samples: every row
     * copied on another thread than the step's is still its own sequence's logits.
     */
    @Test
    void rowsCopiedOnAnotherThreadAreEachSequencesOwn() {
        int threads = Parallel.threads();
        Blas.select(Backend.AUTO, 2);
        ModelConfig cfg = ModelConfig.preset("lumenspark").with(SMALL).with(Map.of("vocab_size", "8192"));
        int n = 6;
        try (LanguageModel m = new LanguageModel(cfg); DecodeBatch batch = m.decodeBatch(n)) {
            m.initialize(3);
            int v = cfg.vocabSize();
            int[] tokens = new int[n];
            float[][] alone = new float[n][];
            List<Decoder> decoders = new ArrayList<>();
            for (int b = 0; b < n; b++) {
                tokens[b] = 10 + 997 * b;
                try (Decoder d = m.decoder()) {
                    alone[b] = d.next(tokens[b]);
                }
                decoders.add(m.decoder());
            }
            batch.step(decoders, tokens);
            float[][] out = new float[n][v];
            Set<String> copiers = ConcurrentHashMap.newKeySet();
            // chunks as the scheduler's sampling takes them; the first waits (up to 5 s) for the worker to take one
            Parallel.chunks(n, 8L * v, (from, to) -> {
                copiers.add(Thread.currentThread().getName());
                for (long end = System.nanoTime() + 5_000_000_000L; copiers.size() < 2 && System.nanoTime() < end; ) {
                    Thread.onSpinWait();
                }
                for (int b = from; b < to; b++) batch.logits(b, out[b]);
            });
            assertEquals(2, copiers.size(), "rows copied on " + copiers);
            for (int b = 0; b < n; b++) assertArrayEquals(alone[b], out[b], "row " + b);
            decoders.forEach(Decoder::close);
        } finally {
            Blas.select(Backend.AUTO, threads);
        }
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
