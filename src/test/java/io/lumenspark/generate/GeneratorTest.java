package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.ModelConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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

    static LumensparkModel model(String preset) {
        LumensparkModel m = new LumensparkModel(ModelConfig.preset(preset).with(Map.of("embed_dim", "32",
                "depth", "2", "heads", "4", "seq_length", "32", "k", "8", "rank", "8")));
        m.initialize(11);
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"lumenspark", "transformer", "conv-linformer", "lumenspark-v0.1"})
    void greedyIsRepeatedArgmaxOfTheFullForward(String preset) {
        try (LumensparkModel m = model(preset)) {
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
            assertEquals("length", r.finishReason());
            assertEquals(TOK.decode(r.ids()), r.text());
        }
    }

    @Test
    void streamingPiecesAddUpToTheTextAndStopStringsCut() {
        try (LumensparkModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello");
            Generator.Result all = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(20), null);
            StringBuilder streamed = new StringBuilder();
            Generator.generate(m, TOK, prompt, GenerationConfig.greedy(20), streamed::append);
            assertEquals(all.text(), streamed.toString());

            String stop = all.text().substring(3, 6);
            GenerationConfig withStop = new GenerationConfig(null, 20, 0, false, 1, 0, 1, 1, "hf", 0, null,
                    List.of(stop), null, 1);
            Generator.Result cut = Generator.generate(m, TOK, prompt, withStop, null);
            assertEquals("stop", cut.finishReason());
            assertEquals(all.text().substring(0, all.text().indexOf(stop)), cut.text());
        }
    }

    @Test
    void endOfTextEndsGenerationAndTheContextLimitIsStated() {
        try (LumensparkModel m = model("lumenspark")) {
            int[] prompt = TOK.encode("Hello");
            int first = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(1), null).ids()[0];
            GenerationConfig eos = new GenerationConfig(null, 5, 0, false, 1, 0, 1, 1, "hf", 0, first, List.of(),
                    null, 1);
            Generator.Result r = Generator.generate(m, TOK, prompt, eos, null);
            assertEquals("eos", r.finishReason());
            assertEquals(0, r.ids().length);
            Generator.Result full = Generator.generate(m, TOK, prompt, GenerationConfig.greedy(100), null);
            assertEquals("context", full.finishReason());
            assertEquals(32 - prompt.length, full.ids().length);
            var e = assertThrows(LumensparkException.class,
                    () -> Generator.generate(m, TOK, new int[40], GenerationConfig.greedy(5), null));
            assertTrue(e.getMessage().contains("context is 32"), e.getMessage());
        }
    }

    @Test
    void oneModelServesConcurrentGenerationsWithTheSequentialResults() throws Exception {
        try (LumensparkModel m = model("lumenspark")) {
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
}
