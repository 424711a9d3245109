package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplingTest {
    static final float NEG = Float.NEGATIVE_INFINITY;
    static final float[] LOGITS = {2.0f, 1.0f, 0.5f, -1.0f, 0.0f, 1.5f};

    /**
     * A draw over several runs of vector lanes and a partial last one, with removed tokens in them: frequencies
     * against softmax (chi-square), removed tokens never drawn.
     */
    @org.junit.jupiter.api.Test
    void drawsOverManyRunsFollowSoftmax() {
        int v = 4 * io.lumenspark.engine.Kernels.lanes() + 7, n = 300_000;
        float[] logits = new float[v];
        SplittableRandom values = new SplittableRandom(5);
        for (int i = 0; i < v; i++) logits[i] = (float) (values.nextDouble() * 4 - 2);
        for (int i : new int[]{0, 3, v / 2, v - 1}) logits[i] = NEG;
        double max = Double.NEGATIVE_INFINITY, total = 0;
        for (float l : logits) max = Math.max(max, l);
        for (float l : logits) total += l == NEG ? 0 : Math.exp(l - max);
        long[] counts = new long[v];
        SplittableRandom random = new SplittableRandom(9);
        for (int i = 0; i < n; i++) counts[Sampling.draw(logits, random)]++;
        double chi2 = 0;
        for (int i = 0; i < v; i++) {
            if (logits[i] == NEG) {
                assertEquals(0, counts[i], "removed token " + i + " drawn");
                continue;
            }
            double e = Math.exp(logits[i] - max) / total * n;
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
        }
        // 99.9th percentile of chi-square with 66 degrees of freedom (v - 5 for 16 lanes) is about 107
        assertTrue(chi2 < 107 + 2.0 * (v - 71), "chi-square " + chi2 + " over " + (v - 4) + " tokens");
    }

    static GenerationConfig sampling(double temperature, int topK, double topP) {
        return GenerationConfig.sampling(10, temperature, topK, topP, 1L);
    }

    /** Draws many tokens and checks the frequencies against expected probabilities (chi-square, df = support - 1). */
    static void assertDistribution(GenerationConfig cfg, double[] expected) {
        int n = 200_000;
        long[] counts = new long[expected.length];
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < n; i++) {
            float[] l = LOGITS.clone();
            Sampling.process(l, new int[0], 0, 0, cfg);
            counts[Sampling.choose(l, cfg, random)]++;
        }
        double chi2 = 0;
        int support = 0;
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " must never be drawn");
                continue;
            }
            support++;
            double e = expected[i] * n;
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
        }
        // 99.9th percentile of chi-square with up to 5 degrees of freedom is 20.5
        assertTrue(chi2 < 20.5, "chi-square " + chi2 + " over " + support + " tokens");
    }

    static double[] softmax(float[] l, double t, boolean[] keep) {
        double[] p = new double[l.length];
        double z = 0;
        for (int i = 0; i < l.length; i++) if (keep[i]) z += p[i] = Math.exp(l[i] / t);
        for (int i = 0; i < l.length; i++) p[i] = keep[i] ? p[i] / z : 0;
        return p;
    }

    @Test
    void temperatureScalesTheDistribution() {
        boolean[] all = {true, true, true, true, true, true};
        assertDistribution(sampling(1, 0, 1), softmax(LOGITS, 1, all));
        assertDistribution(sampling(0.5, 0, 1), softmax(LOGITS, 0.5, all));
        assertDistribution(sampling(2, 0, 1), softmax(LOGITS, 2, all));
    }

    @Test
    void topKKeepsTheKMostLikely() {
        assertDistribution(sampling(1, 3, 1), softmax(LOGITS, 1, new boolean[]{true, true, false, false, false, true}));
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        // probabilities in order: 0.420 (id 0), 0.255 (id 5), 0.154 (id 1), 0.094 (id 2), 0.057 (id 4), 0.021 (id 3)
        // the top two hold 0.674: top_p 0.6 keeps two, top_p 0.8 three, top_p 0.3 one
        assertDistribution(sampling(1, 0, 0.6), softmax(LOGITS, 1, new boolean[]{true, false, false, false, false, true}));
        assertDistribution(sampling(1, 0, 0.8), softmax(LOGITS, 1, new boolean[]{true, true, false, false, false, true}));
        assertDistribution(sampling(1, 0, 0.3), softmax(LOGITS, 1, new boolean[]{true, false, false, false, false, false}));
    }

    @Test
    void greedyIsArgmaxAndTopKOneEqualsGreedy() {
        GenerationConfig greedy = GenerationConfig.greedy(5);
        SplittableRandom r = new SplittableRandom(1);
        float[] l = LOGITS.clone();
        Sampling.process(l, new int[0], 0, 0, greedy);
        assertEquals(0, Sampling.choose(l, greedy, r));
        GenerationConfig top1 = sampling(0.7, 1, 1);
        for (int i = 0; i < 1000; i++) {
            float[] m = LOGITS.clone();
            Sampling.process(m, new int[0], 0, 0, top1);
            assertEquals(0, Sampling.choose(m, top1, r));
        }
    }

    @Test
    void aFixedSeedReproducesTheDraws() {
        int[] a = new int[50], b = new int[50];
        SplittableRandom r1 = new SplittableRandom(7), r2 = new SplittableRandom(7);
        for (int i = 0; i < 50; i++) {
            a[i] = Sampling.draw(LOGITS, r1);
            b[i] = Sampling.draw(LOGITS, r2);
        }
        assertArrayEquals(a, b);
    }

    @Test
    void quickselectAndTheHeapFindTheKthLargestLikeASort() {
        SplittableRandom r = new SplittableRandom(4);
        for (int trial = 0; trial < 400; trial++) {
            float[] a = new float[1 + r.nextInt(trial < 200 ? 300 : 5000)];
            for (int i = 0; i < a.length; i++) {
                a[i] = r.nextInt(10) == 0 ? Float.NEGATIVE_INFINITY : r.nextInt(20) / 4f; // ties and removed
            }
            float[] sorted = a.clone();
            java.util.Arrays.sort(sorted);
            int k = 1 + r.nextInt(a.length);
            assertEquals(sorted[a.length - k], Sampling.kthLargest(a.clone(), k), "k=" + k + " of " + a.length);
            float[] unchanged = a.clone();
            int small = 1 + r.nextInt(Math.min(a.length, Sampling.TOP_K_HEAP));
            assertEquals(sorted[a.length - small], Sampling.kthLargestByHeap(a, small), "heap, k=" + small);
            assertArrayEquals(unchanged, a, "the heap leaves the logits as they were");
        }
    }

    @Test
    void repetitionPenaltyFollowsHuggingFaceOrLumenspark() {
        GenerationConfig hf = GenerationConfig.builder().maxNewTokens(5).repetitionPenalty(2).build();
        float[] l = {4f, -4f, 4f, -4f};
        Sampling.process(l, new int[]{0, 1, 1}, 3, 0, hf);
        assertArrayEquals(new float[]{2f, -8f, 4f, -4f}, l); // positive divided, negative multiplied, once each
        GenerationConfig published = GenerationConfig.builder().maxNewTokens(5).repetitionPenalty(2)
                .repetitionPenaltyMode("lumenspark").build();
        float[] m = {4f, -4f, 4f, -4f};
        Sampling.process(m, new int[]{0, 1}, 2, 0, published);
        assertArrayEquals(new float[]{2f, -2f, 4f, -4f}, m); // divided regardless of sign
    }

    @Test
    void noRepeatNgramBansCompletions() {
        GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(5).noRepeatNgramSize(3).build();
        float[] l = new float[6];
        // context 1 2 3 1 2: the 3-gram "1 2 3" exists, so after "1 2" token 3 is banned
        Sampling.process(l, new int[]{1, 2, 3, 1, 2}, 5, 0, cfg);
        assertArrayEquals(new float[]{0, 0, 0, NEG, 0, 0}, l);
    }

    @Test
    void minNewTokensSuppressesEndOfText() {
        GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(5).minNewTokens(2).eosTokenId(4).build();
        float[] l = {0, 0, 0, 0, 9};
        Sampling.process(l, new int[]{1}, 1, 1, cfg);
        assertEquals(NEG, l[4]);
        float[] m = {0, 0, 0, 0, 9};
        Sampling.process(m, new int[]{1}, 1, 2, cfg);
        assertEquals(9f, m[4]);
    }

    @Test
    void invalidValuesAreClearErrors() {
        assertThrows(LumensparkException.class, () -> GenerationConfig.sampling(5, 0, 0, 1, null), "temperature 0");
        assertThrows(LumensparkException.class, () -> GenerationConfig.sampling(5, -1, 0, 1, null), "temperature");
        assertThrows(LumensparkException.class, () -> GenerationConfig.sampling(5, 1, -1, 1, null), "top_k");
        assertThrows(LumensparkException.class, () -> GenerationConfig.sampling(5, 1, 0, 0, null), "top_p 0");
        assertThrows(LumensparkException.class, () -> GenerationConfig.sampling(5, 1, 0, 1.5, null), "top_p > 1");
        var e = assertThrows(LumensparkException.class, () -> GenerationConfig.builder().maxNewTokens(5)
                .doSample(true).repetitionPenalty(0).build());
        assertTrue(e.getMessage().contains("repetition_penalty"), e.getMessage());
        assertThrows(LumensparkException.class, () -> new GenerationConfig(null, null, 0, false, 1, 0, 1, 1,
                RepetitionPenaltyMode.HF, 0, List.of(), List.of(), null, 1, PromptTruncation.NONE, ContextOverflow.STOP,
                0, 0),
                "no length limit");
        assertThrows(LumensparkException.class, () -> GenerationConfig.builder().maxNewTokens(5)
                .numReturnSequences(3).build(), "several greedy sequences");
        assertThrows(LumensparkException.class, () -> GenerationConfig.builder().promptTruncation("right").build());
        assertThrows(LumensparkException.class, () -> GenerationConfig.builder().contextOverflow("wrap").build());
    }

    @Test
    void generationConfigJsonRoundTripsAndReadsHuggingFaceFiles(@TempDir Path tmp) throws Exception {
        GenerationConfig cfg = new GenerationConfig(null, 40, 2, true, 0.7, 20, 0.9, 1.3,
                RepetitionPenaltyMode.LUMENSPARK, 3, List.of(50256), List.of("\n\n", "THE END"), 5L, 2,
                PromptTruncation.LEFT, ContextOverflow.SLIDE, 0.5, -0.25);
        Path f = tmp.resolve("generation_config.json");
        cfg.write(f);
        assertEquals(cfg, GenerationConfig.read(f, 50257));
        GenerationConfig two = cfg.toBuilder().eosTokenIds(List.of(50256, 198)).build();
        two.write(f);
        assertEquals(two, GenerationConfig.read(f, 50257));
        Files.writeString(f, """
                {"_from_model_config": true, "transformers_version": "4.46.0", "bos_token_id": 50256,
                 "pad_token_id": null, "eos_token_id": [50256, 198], "do_sample": true, "temperature": 0.8,
                 "num_beams": 1, "typical_p": 1.0, "max_new_tokens": 1e3, "min_new_tokens": null}""");
        var err = new ByteArrayOutputStream();
        GenerationConfig hf = withStderr(err, () -> GenerationConfig.read(f, 50257));
        assertEquals("", err.toString(StandardCharsets.UTF_8), "Hugging Face's keys need no warning");
        assertEquals(List.of(50256, 198), hf.eosTokenIds()); // every id in the list ends a sequence
        assertEquals(1000, hf.maxNewTokens()); // 1e3 is an integer
        assertEquals(0, hf.minNewTokens()); // null: the default
        assertEquals(50, hf.topK());
        Files.writeString(f, "{\"eos_token_id\": 50256, \"do_sample\": true}");
        assertEquals(20, GenerationConfig.read(f, 50257).maxLength()); // Hugging Face's default limit
        Files.writeString(f, "{\"max_new_tokens\": 10, \"top_p\": 2}");
        var e = assertThrows(LumensparkException.class, () -> GenerationConfig.read(f, 50257));
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("top_p"), e.getMessage());
    }

    /** Each value must have its key's type and range, as the command line's options must; errors name file and key. */
    @Test
    void generationConfigJsonIsCheckedAsStrictlyAsTheCommandLine(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("generation_config.json");
        String[][] cases = {
                {"\"temperature\": \"hot\"", "temperature must be a finite number, got \"hot\""},
                {"\"seed\": \"abc\"", "seed must be an integer, got \"abc\""},
                {"\"seed\": 1180591620717411303424", "seed must be an integer of at most 9223372036854775807"},
                {"\"stop_strings\": 5", "stop_strings must be a string or a list of strings, got 5"},
                {"\"stop_strings\": [\"a\", 5]", "stop_strings must be a string, got 5"},
                {"\"stop_strings\": \"\"", "a stop string must not be empty (stop_strings)"},
                {"\"eos_token_id\": -3", "eos_token_id must not be negative, got -3"},
                {"\"eos_token_id\": 1e9", "eos_token_id 1000000000 is outside the model's vocabulary 0..50256"},
                {"\"eos_token_id\": [50256, 50257]", "eos_token_id 50257 is outside the model's vocabulary"},
                {"\"eos_token_id\": {\"id\": 1}", "eos_token_id must be an integer or a list of integers"},
                {"\"top_k\": 1e12", "top_k must be an integer of at most 2147483647, got 1.0E12"},
                {"\"max_length\": 2.5", "max_length must be an integer, got 2.5"},
                {"\"min_new_tokens\": \"5\"", "min_new_tokens must be an integer, got \"5\""},
                {"\"do_sample\": \"true\"", "do_sample must be true or false"},
                {"\"prompt_truncation\": 1", "prompt_truncation must be a string, got 1"},
                {"\"num_beams\": 4", "num_beams 4 asks for beam search, which Lumenspark does not implement;"
                        + " remove the key or set it to 1"},
                {"\"bad_words_ids\": [[1, 2]]", "bad_words_ids [[1,2]] asks for banned words"},
        };
        for (String[] c : cases) {
            Files.writeString(f, "{\"max_new_tokens\": 10, " + c[0] + "}");
            var e = assertThrows(LumensparkException.class, () -> GenerationConfig.read(f, 50257), c[0]);
            assertTrue(e.getMessage().startsWith(f + ": " + c[1]), c[0] + " gave: " + e.getMessage());
        }
        Files.writeString(f, "{\"max_new_tokens\": 10, \"colour\": \"red\", \"temprature\": 0.5}");
        var err = new ByteArrayOutputStream();
        withStderr(err, () -> GenerationConfig.read(f, 50257));
        assertEquals("warning: " + f + ": ignoring unknown keys colour, temprature (did you mean temperature?)",
                err.toString(StandardCharsets.UTF_8).strip());
    }

    private static <T> T withStderr(ByteArrayOutputStream err, java.util.function.Supplier<T> body) {
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return body.get();
        } finally {
            System.setErr(old);
        }
    }

    /** OpenAI's definitions: logit -= presence * (count > 0) + frequency * count, over the generated tokens only. */
    @Test
    void presenceAndFrequencyPenaltiesCountOnlyTheGeneratedTokens() {
        GenerationConfig cfg = GenerationConfig.greedy(10).toBuilder().presencePenalty(0.5).frequencyPenalty(0.25)
                .build();
        float[] l = LOGITS.clone();
        int[] context = {0, 0, 3, 1, 1, 1, 5}; // the prompt is {0, 0, 3}; generated: 1 three times, 5 once
        Sampling.process(l, context, context.length, 4, cfg);
        float[] want = LOGITS.clone();
        want[1] -= (float) (0.5 + 0.25 * 3);
        want[5] -= (float) (0.5 + 0.25);
        assertArrayEquals(want, l);
        var e = assertThrows(LumensparkException.class, () -> GenerationConfig.greedy(3).toBuilder()
                .presencePenalty(2.5).build());
        assertEquals("presence_penalty must be in [-2, 2], got 2.5", e.getMessage());
        assertThrows(LumensparkException.class, () -> GenerationConfig.greedy(3).toBuilder().frequencyPenalty(-3)
                .build());
    }

    @Test
    void logprobsAreTheLogSoftmaxWithTheTopTokensMostLikelyFirst() {
        float[] l = {1f, 3f, 3f, -2f, NEG};
        TokenLogprobs lp = Sampling.logprobs(l, 0, 3);
        double norm = Math.log(Math.exp(1) + 2 * Math.exp(3) + Math.exp(-2));
        assertEquals(1 - norm, lp.logprob(), 1e-6);
        assertArrayEquals(new int[]{1, 2, 0}, lp.topIds()); // ties: the lower id first
        assertEquals(3 - norm, lp.topLogprobs()[0], 1e-6);
        assertEquals(1 - norm, lp.topLogprobs()[2], 1e-6);
        assertEquals(0, Sampling.logprobs(l, 3, 0).topIds().length);
        assertEquals(Double.NEGATIVE_INFINITY, Sampling.logprobs(l, 4, 1).logprob());
    }
}
