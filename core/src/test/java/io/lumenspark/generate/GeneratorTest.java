package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.DecodeBatch;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GeneratorTest {
    static final Tokenizer TOK = Tokenizer.byName("gpt2");

    static LanguageModel model(String preset) {
        LanguageModel m = new LanguageModel(ModelConfig.preset(preset).with(Map.of("embed_dim", "32",
                "depth", "2", "heads", "4", "seq_length", "32", "k", "8", "rank", "8")));
        m.initialize(11);
        return m;
    }

    /** The model with GPT-2's tokenizer, for the text API; closing it closes the model. */
    static LumensparkModel text(LanguageModel m) {
        return new LumensparkModel(m, null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "transformer", "conv-linformer", "lumenspark-v0.1"})
    void greedyIsRepeatedArgmaxOfTheFullForward(String preset) {
        try (LanguageModel m = model(preset)) {
            int[] prompt = TOK.encode("Once upon a time");
            Generator.Result r = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(12), null);
            int[] context = Arrays.copyOf(prompt, prompt.length + r.ids().length);
            System.arraycopy(r.ids(), 0, context, prompt.length, r.ids().length);
            int v = m.config().vocabSize();
            for (int i = 0; i < r.ids().length; i++) {
                int len = prompt.length + i;
                float[] all = m.logits(Arrays.copyOf(context, len), 1, len);
                int want = Sampling.argmax(Arrays.copyOfRange(all, (len - 1) * v, len * v));
                assertEquals(want, r.ids()[i], preset + " token " + i);
            }
            assertEquals("length", r.finishReason().label());
            assertEquals(TOK.decode(r.ids()), r.text());
        }
    }

    @Test
    void streamingPiecesAddUpToTheText() {
        try (LanguageModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello");
            Generator.Result all = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(20), null);
            StringBuilder streamed = new StringBuilder();
            Generator.generate(m, TOK, prompt, GenerationConfig.greedy(20), streamed::append);
            assertEquals(all.text(), streamed.toString());
        }
    }

    /** As Hugging Face does, the token that completes a stop string stays in the ids, and the text is theirs. */
    @Test
    void aStopStringEndsTheTextWithTheTokenThatCompletedIt() {
        try (LanguageModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello");
            Generator.Result all = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(20), null);
            // a stop string that ends inside a token: its first character, when the token has several
            int t = 0;
            while (TOK.decode(new int[]{all.ids()[t]}).length() < 2) t++;
            String before = TOK.decode(Arrays.copyOf(all.ids(), t));
            String stop = TOK.decode(Arrays.copyOf(all.ids(), t + 1)).substring(before.length(), before.length() + 1);
            assertTrue(!before.contains(stop), "pick a stop string the text does not hold earlier");
            GenerationConfig withStop = GenerationConfig.builder().maxNewTokens(20).topK(0).stopStrings(List.of(stop))
                    .build();
            StringBuilder streamed = new StringBuilder();
            Generator.Result cut = Generator.generate(m, TOK, prompt, withStop, streamed::append);
            assertEquals("stop", cut.finishReason().label());
            assertArrayEquals(Arrays.copyOf(all.ids(), t + 1), cut.ids());
            assertEquals(TOK.decode(cut.ids()), cut.text());
            assertTrue(cut.text().length() > before.length() + 1, "the rest of the last token is kept: " + cut.text());
            assertEquals(cut.text(), streamed.toString());
        }
    }

    /** NaN logits used to end a sequence as if it were end of text; now the position is reported. */
    @Test
    void aNonFiniteLogitIsAnErrorNamingThePosition() {
        try (LanguageModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello there");
            m.params().values().setAtIndex(ValueLayout.JAVA_FLOAT, m.params().get("fc_out.bias").offset() + 7, Float.NaN);
            var e = assertThrows(LumensparkException.class,
                    () -> Generator.generate(m, TOK, prompt, GenerationConfig.greedy(5), null));
            assertEquals("at position " + prompt.length + " (new token 1): the model's logit of token 7 is NaN (its"
                    + " weights or activations are broken)", e.getMessage());
        }
        try (LumensparkModel m = text(model("lumenspark"))) { // a temperature whose inverse overflows a float
            GenerationConfig cold = GenerationConfig.sampling(5, 1e-40, 0, 1, 1L);
            var e = assertThrows(LumensparkException.class, () -> m.generate("Hello", cold));
            assertTrue(e.getMessage().startsWith("at position 1 (new token 1): the processed logit of token ")
                    && e.getMessage().endsWith("(temperature 1.0E-40 or repetition_penalty 1.0 overflows it)"),
                    e.getMessage());
        }
    }

    /** Without end-of-text ids of its own, a config uses the tokenizer's, for min_new_tokens too. */
    @Test
    void minNewTokensHoldsBackTheTokenizersEndOfText() {
        try (LanguageModel m = model("lumenspark")) {
            m.params().values().setAtIndex(ValueLayout.JAVA_FLOAT, m.params().get("fc_out.bias").offset() + TOK.eosId(),
                    1e4f);
            int[] prompt = TOK.encode("Hello");
            Generator.Result now = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(5), null);
            assertEquals("eos", now.finishReason().label());
            assertEquals(0, now.ids().length);
            GenerationConfig min3 = GenerationConfig.builder().maxNewTokens(5).minNewTokens(3).build();
            Generator.Result held = Generator.generate(m, TOK, prompt, min3, null);
            assertEquals("eos", held.finishReason().label());
            assertEquals(3, held.ids().length);
        }
    }

    /** When the processors remove every token (here no_repeat_ngram_size 1 over a 300-token vocabulary), say so. */
    @Test
    void noTokenLeftToChooseIsAnError() {
        LanguageModel m = new LanguageModel(ModelConfig.preset("lumenspark").with(Map.of("embed_dim", "32",
                "depth", "1", "heads", "4", "seq_length", "32", "k", "8", "rank", "8", "vocab_size", "300")));
        try (m) {
            m.initialize(3);
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(400).minNewTokens(400).eosTokenId(299)
                    .noRepeatNgramSize(1).contextOverflow("slide").build();
            var e = assertThrows(LumensparkException.class,
                    () -> Generator.generate(m, TOK, new int[]{64}, cfg, null));
            // the prompt's token and 298 new ones are banned, end of text is held back: nothing is left
            assertEquals("at position 299 (new token 299): no token is left to choose: the logits processors"
                    + " removed every one", e.getMessage());
        }
    }

    @Test
    void endOfTextEndsGenerationAndTheContextLimitIsStated() {
        try (LanguageModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello");
            int first = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(1), null).ids()[0];
            GenerationConfig eos = GenerationConfig.builder().maxNewTokens(5).eosTokenId(first).build();
            Generator.Result r = Generator.generate(m, TOK, prompt, eos, null);
            assertEquals("eos", r.finishReason().label());
            assertEquals(0, r.ids().length);
            GenerationConfig either = eos.toBuilder().eosTokenIds(List.of(TOK.eosId(), first)).build();
            assertEquals("eos", Generator.generate(m, TOK, prompt, either, null).finishReason().label()); // any id of a list
            var outside = assertThrows(LumensparkException.class, () -> Generator.generate(m, TOK, prompt,
                    eos.toBuilder().eosTokenId(50257).build(), null));
            assertTrue(outside.getMessage().contains("eos_token_id 50257 is outside"), outside.getMessage());
            Generator.Result full = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(100), null);
            assertEquals("context", full.finishReason().label());
            assertEquals(32 - prompt.length, full.ids().length);
            var e = assertThrows(LumensparkException.class,
                    () -> Generator.generate(m, TOK, new int[40], GenerationConfig.greedy(5), null));
            assertTrue(e.getMessage().contains("context is 32"), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "transformer", "lumenspark-v0.1"})
    void oneModelServesConcurrentGenerationsWithTheSequentialResults(String preset) throws Exception {
        try (LanguageModel m = model(preset)) {
            List<int[]> prompts = new ArrayList<>();
            for (String p : new String[]{"The sea", "A king", "Once", "In the beginning", "Why", "Stars"}) {
                prompts.add(TOK.encode(p));
            }
            List<int[]> sequential = new ArrayList<>();
            for (int[] p : prompts) {
                sequential.add(Generator.generate(m, TOK, p, GenerationConfig.sampling(15, 0.9, 20, 0.95, 7L), null).ids());
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<int[]>> futures = new ArrayList<>();
                for (int[] p : prompts) {
                    futures.add(pool.submit(() -> Generator.generate(m, TOK, p,
                            GenerationConfig.sampling(15, 0.9, 20, 0.95, 7L), null).ids()));
                }
                for (int i = 0; i < prompts.size(); i++) assertArrayEquals(sequential.get(i), futures.get(i).get());
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void truncateLeftKeepsTheEndOfALongPrompt() {
        try (LanguageModel m = model("lumenspark")) {
            int[] prompt = new int[40];
            for (int i = 0; i < prompt.length; i++) prompt[i] = 100 + 7 * i;
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(5).promptTruncation("left").build();
            Generator.Result r = Generator.generate(m, TOK, prompt, cfg, null);
            assertEquals(27, r.promptTokens()); // 32 - 5: room for the 5 new tokens
            assertEquals(13, r.droppedTokens());
            int[] kept = Arrays.copyOfRange(prompt, 13, 40);
            assertArrayEquals(Generator.generate(m, TOK, kept, GenerationConfig.greedy(5), null).ids(), r.ids());
        }
    }

    /** With context_overflow=slide, each token is the argmax after the window the rule says: the last half when full. */
    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "transformer", "lumenspark-v0.1"})
    void slidingGoesOnFromTheRecentHalfOfTheContext(String preset) {
        try (LanguageModel m = model(preset)) {
            int[] prompt = TOK.encode("Once upon a time there was");
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(60).contextOverflow("slide").build();
            Generator.Result r = Generator.generate(m, TOK, prompt, cfg, null);
            assertEquals("length", r.finishReason().label());
            assertEquals(60, r.ids().length);
            int[] all = Arrays.copyOf(prompt, prompt.length + 60);
            System.arraycopy(r.ids(), 0, all, prompt.length, 60);
            int windowStart = 0;
            for (int len = prompt.length; len < all.length; len++) {
                if (len - windowStart == 32) windowStart = len - 16;
                float[] logits = m.lastLogits(Arrays.copyOfRange(all, windowStart, len));
                assertEquals(Sampling.argmax(logits), all[len], preset + " at length " + len);
            }
        }
    }

    @Test
    void batchesGiveEachPromptItsSequencesAndTheFirstEqualsASingleRun() {
        try (LumensparkModel m = text(model("lumenspark"))) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(12).doSample(true).seed(5L)
                    .numReturnSequences(2).build();
            List<Generator.Result> batch = m.generate(List.of("The sea", "A king"), cfg);
            assertEquals(4, batch.size());
            assertArrayEquals(m.generate("The sea", cfg).ids(), batch.get(0).ids());
            assertArrayEquals(Generator.generate(m.languageModel(), TOK, TOK.encode("A king"), cfg.toBuilder()
                    .seed(Generator.sequenceSeed(cfg, 3)).build(), null).ids(), batch.get(3).ids());
            assertTrue(!Arrays.equals(batch.get(0).ids(), batch.get(1).ids()), "two samples of one prompt differ");
            List<Generator.Result> again = m.generate(List.of("The sea", "A king"), cfg);
            for (int i = 0; i < 4; i++) assertArrayEquals(batch.get(i).ids(), again.get(i).ids());
        }
    }

    @Test
    void theTokenIteratorAddsUpToTheResultIncludingTheEndOfText() {
        try (LumensparkModel m = text(model("lumenspark"))) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(8).doSample(true).seed(3L).build();
            StringBuilder text = new StringBuilder();
            List<Integer> ids = new ArrayList<>();
            try (Generation g = m.stream("Hello there", cfg)) {
                while (g.hasNext()) {
                    Generation.Token t = g.next();
                    ids.add(t.id());
                    text.append(t.text());
                }
                assertEquals(g.result().text(), text.toString());
                assertArrayEquals(g.result().ids(), ids.stream().mapToInt(Integer::intValue).toArray());
                assertArrayEquals(m.generate("Hello there", cfg).ids(), g.result().ids());
            }
            int second = ids.get(1);
            GenerationConfig toEos = cfg.toBuilder().eosTokenId(second).build();
            try (Generation g = m.stream("Hello there", toEos)) {
                assertEquals(ids.get(0), g.next().id());
                Generation.Token end = g.next();
                assertEquals(second, end.id());
                assertTrue(!g.hasNext());
                assertEquals("eos", g.result().finishReason().label());
                assertEquals(1, g.result().ids().length); // the end-of-text token is not part of the result
            }
            Generation cancelled = m.stream("Hello there", cfg);
            cancelled.next();
            cancelled.close();
            assertEquals("cancelled", cancelled.result().finishReason().label());
        }
    }

    @Test
    void lastLogitsAreTheLastRowOfTheLogits() {
        try (LanguageModel m = model("lumenspark-v0.1")) {
            int[] ids = TOK.encode("a b c d e");
            float[][] rows = m.logits(ids);
            assertEquals(ids.length, rows.length);
            assertArrayEquals(rows[ids.length - 1], m.lastLogits(ids), 1e-5f); // a matrix-vector product: other rounding
        }
    }

    /**
     * A server's loop: the prompts prefilled but for their last tokens (prefillButLast), then, while stepsNext()
     * holds, the caller runs the decoding step (here in a DecodeBatch with other sequences; the first one computes
     * the prompts' last positions) and hands the logits to next(float[]); the tokens, logprobs and text equal
     * next()'s bit for bit.
     */
    @Test
    void logitsFromABatchedStepGiveTheSameTokensAsNext() {
        try (LumensparkModel m = text(model("lumenspark"))) {
            GenerationConfig cfg = GenerationConfig.sampling(12, 0.9, 20, 0.95, 7L).toBuilder().presencePenalty(0.4)
                    .frequencyPenalty(0.3).build();
            List<String> prompts = List.of("Hello there", "Once upon a time", "A");
            List<Generator.Result> alone = new ArrayList<>();
            List<List<Generation.Token>> aloneTokens = new ArrayList<>();
            for (String p : prompts) {
                Generation g = m.stream(p, cfg).withLogprobs(3);
                List<Generation.Token> ts = new ArrayList<>();
                while (g.hasNext()) ts.add(g.next());
                aloneTokens.add(ts);
                alone.add(g.result());
            }
            LanguageModel lm = m.languageModel();
            List<Generation> gens = new ArrayList<>();
            List<List<Generation.Token>> got = new ArrayList<>();
            for (String p : prompts) {
                Generation g = m.stream(p, cfg).withLogprobs(3);
                g.prefillButLast();
                assertTrue(g.stepsNext(), "the prompt's last token is the first step's");
                assertEquals(g.pendingToken(), m.tokenizer().encode(p)[m.tokenizer().encode(p).length - 1]);
                gens.add(g);
                got.add(new ArrayList<>());
            }
            try (DecodeBatch batch = lm.decodeBatch(prompts.size())) {
                while (gens.stream().anyMatch(Generation::hasNext)) {
                    List<Integer> stepping = new ArrayList<>();
                    for (int i = 0; i < gens.size(); i++) {
                        Generation g = gens.get(i);
                        if (!g.hasNext()) continue;
                        if (g.stepsNext()) stepping.add(i);
                        else got.get(i).add(g.next()); // a slide of the context
                    }
                    int[] tokens = stepping.stream().mapToInt(i -> gens.get(i).pendingToken()).toArray();
                    float[][] out = new float[tokens.length][lm.config().vocabSize()];
                    batch.next(stepping.stream().map(i -> gens.get(i).decoder()).toList(), tokens, out);
                    for (int b = 0; b < tokens.length; b++) got.get(stepping.get(b)).add(gens.get(stepping.get(b)).next(out[b]));
                }
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertEquals(alone.get(i).text(), gens.get(i).result().text());
                assertArrayEquals(alone.get(i).ids(), gens.get(i).result().ids());
                for (int t = 0; t < got.get(i).size(); t++) {
                    Generation.Token a = aloneTokens.get(i).get(t), b = got.get(i).get(t);
                    assertEquals(a.id(), b.id());
                    assertEquals(a.text(), b.text());
                    assertEquals(a.logprobs().logprob(), b.logprobs().logprob());
                    assertArrayEquals(a.logprobs().topIds(), b.logprobs().topIds());
                }
            }
        }
    }
}
