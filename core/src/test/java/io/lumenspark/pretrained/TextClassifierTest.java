package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
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

/** The Java API: a classifier folder loaded once serves many threads with the answers of one; truncation ends. */
class TextClassifierTest {
    @Test
    void oneClassifierServesManyThreadsWithTheSingleThreadedAnswers(@TempDir Path tmp) throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        ModelConfig cfg = SmallModels.config(tok, Map.of()).asClassifier(List.of("no", "yes", "maybe"),
                ProblemType.SINGLE_LABEL_CLASSIFICATION, Pooling.LAST, null);
        Path dir = tmp.resolve("classifier");
        LanguageModel lm = new LanguageModel(cfg);
        lm.initialize(4);
        try (LumensparkModel m = new LumensparkModel(lm, tok)) {
            m.save(dir);
        }
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 40; i++) texts.add("It was the " + "best of times, ".repeat(i % 5) + i);
        try (TextClassifier c = TextClassifier.fromPretrained(dir)) {
            assertEquals(List.of("no", "yes", "maybe"), c.labels());
            List<TextClassifier.Prediction> alone = c.predict(texts);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<TextClassifier.Prediction>>> runs = new ArrayList<>();
                for (int t = 0; t < 8; t++) runs.add(pool.submit(() -> c.predict(texts)));
                for (Future<List<TextClassifier.Prediction>> f : runs) {
                    List<TextClassifier.Prediction> got = f.get();
                    for (int i = 0; i < texts.size(); i++) {
                        assertEquals(alone.get(i).label(), got.get(i).label());
                        assertArrayEquals(alone.get(i).scores(), got.get(i).scores(), 1e-6);
                    }
                }
            } finally {
                pool.shutdown();
            }
            // a text alone gets the scores it gets in a padded batch
            TextClassifier.Prediction one = c.predict(List.of(texts.get(3))).getFirst();
            assertArrayEquals(alone.get(3).scores(), one.scores(), 1e-5);
            assertEquals(1, Arrays.stream(one.scores()).sum(), 1e-9);
        }
    }

    @Test
    void longTextsAreCutAtTheChosenEndWithEndOfTextLast(@TempDir Path tmp) {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        int[] all = tok.encode(SmallModels.TEXT);
        TextClassifier.Encoded right = TextClassifier.encode(tok, SmallModels.TEXT, 8, Truncation.RIGHT);
        TextClassifier.Encoded left = TextClassifier.encode(tok, SmallModels.TEXT, 8, Truncation.LEFT);
        assertTrue(right.truncated() && left.truncated());
        assertArrayEquals(Arrays.copyOf(all, 7), Arrays.copyOf(right.ids(), 7));
        assertArrayEquals(Arrays.copyOfRange(all, all.length - 7, all.length), Arrays.copyOf(left.ids(), 7));
        assertEquals(tok.eosId(), right.ids()[7]);
        assertEquals(tok.eosId(), left.ids()[7]);
        TextClassifier.Encoded shortText = TextClassifier.encode(tok, "It was", 8, Truncation.RIGHT);
        assertEquals(false, shortText.truncated());
    }

    @Test
    void aLanguageModelIsNotAClassifier(@TempDir Path tmp) {
        Path dir = SmallModels.write(tmp.resolve("lm"), SmallModels.tokenizer(tmp), Map.of());
        var e = assertThrows(LumensparkException.class, () -> TextClassifier.fromPretrained(dir));
        assertTrue(e.getMessage().startsWith("not a classifier"), e.getMessage());
    }
}
