package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokenizer.BpeTokenizer;
import io.lumenspark.tokenizer.BpeTrainer;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** fill-mask from code: the pipeline's candidates, from the model's own logits, padded batches, refusals. */
class FillMaskTest {
    @TempDir
    static Path dir;
    static Path mlm, causal;
    static BpeTokenizer tok;
    static int maskId;

    @BeforeAll
    static void models() throws Exception {
        Path text = Files.createDirectories(dir.resolve("text")).resolve("text.txt");
        Files.writeString(text, SmallModels.TEXT);
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        tok = new BpeTrainer(300, 2, List.of(Tokenizer.MASK_TEXT, Tokenizer.PAD_TEXT), 1, quiet).train(List.of(text));
        maskId = tok.specialId(Tokenizer.MASK_TEXT).orElseThrow();
        mlm = SmallModels.write(dir.resolve("mlm"), tok, Map.of("causal", "false", "objective", "masked_lm",
                "lm_head", "dense", "mask_token_id", "" + maskId,
                "pad_token_id", "" + tok.specialId(Tokenizer.PAD_TEXT).orElseThrow()));
        causal = SmallModels.write(dir.resolve("causal"), tok, Map.of());
    }

    @Test
    void candidatesAreTheSoftmaxOfTheMasksLogitsWithThePipelinesFields() {
        String text = "It was the <mask> of times.";
        try (LumensparkModel m = LumensparkModel.fromPretrained(mlm)) {
            FillMask.Result r = m.fillMask(text, 5);
            int[] ids = tok.encode(text);
            assertArrayEquals(ids, r.inputIds());
            int at = Arrays.stream(ids).boxed().toList().indexOf(maskId);
            assertTrue(at > 0 && Arrays.stream(ids).filter(id -> id == maskId).count() == 1, Arrays.toString(ids));
            // the reference: every row's logits of the sequence alone, softmax and sort here
            float[] logits = m.logits(ids)[at];
            double sum = 0;
            for (float l : logits) sum += Math.exp(l);
            Integer[] order = new Integer[logits.length];
            for (int i = 0; i < order.length; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
            assertEquals(1, r.masks().size());
            List<FillMask.Candidate> got = r.masks().getFirst();
            assertEquals(5, got.size());
            for (int j = 0; j < 5; j++) {
                FillMask.Candidate c = got.get(j);
                assertEquals(order[j], c.token(), "candidate " + j);
                assertEquals(Math.exp(logits[c.token()]) / sum, c.score(), 1e-6);
                assertEquals(tok.decode(new int[]{c.token()}), c.tokenStr());
                int[] filled = ids.clone();
                filled[at] = c.token();
                // one mask: decoded without special tokens, as the pipeline's skip_special_tokens
                int[] special = tok.specialIds();
                assertEquals(tok.decode(Arrays.stream(filled).filter(id -> Arrays.stream(special).noneMatch(s -> s == id))
                        .toArray()), c.sequence());
            }
            assertEquals(tok.vocabSize(), m.fillMask(text, 100_000).masks().getFirst().size(), "k above the vocabulary");
        }
    }

    @Test
    void aBatchOfTextsOfDifferentLengthsGivesWhatEachGivesAlone() {
        List<String> texts = List.of("It was the <mask> of times, it was the worst of <mask>.", "the <mask>");
        try (LumensparkModel m = LumensparkModel.fromPretrained(mlm)) {
            List<FillMask.Result> batch = m.fillMask(texts, 3);
            assertEquals(2, batch.size());
            for (int i = 0; i < texts.size(); i++) {
                FillMask.Result alone = m.fillMask(texts.get(i), 3);
                assertArrayEquals(alone.inputIds(), batch.get(i).inputIds());
                assertEquals(alone.masks().size(), batch.get(i).masks().size());
                for (int k = 0; k < alone.masks().size(); k++) {
                    for (int j = 0; j < 3; j++) {
                        FillMask.Candidate a = alone.masks().get(k).get(j), b = batch.get(i).masks().get(k).get(j);
                        assertEquals(a.token(), b.token());
                        assertEquals(a.score(), b.score(), 1e-5);
                        assertEquals(a.sequence(), b.sequence());
                    }
                }
            }
            // two masks: each candidate's sequence keeps the other mask, as the pipeline's
            FillMask.Result two = batch.getFirst();
            assertEquals(2, two.masks().size());
            for (List<FillMask.Candidate> mask : two.masks()) {
                for (FillMask.Candidate c : mask) assertTrue(c.sequence().contains(Tokenizer.MASK_TEXT), c.sequence());
            }
        }
    }

    @Test
    void refusals() {
        try (LumensparkModel m = LumensparkModel.fromPretrained(mlm)) {
            assertRefused("has no <mask> token", () -> m.fillMask("It was the best of times.", 5));
            assertRefused("text 2 has no <mask>", () -> m.fillMask(List.of("the <mask>", "the end"), 5));
            assertRefused("--top-k must be at least 1", () -> m.fillMask("the <mask>", 0));
            assertRefused("more than the model reads (seq_length 32)",
                    () -> m.fillMask("<mask> " + "it was the best of times ".repeat(20), 5));
        }
        try (LumensparkModel m = LumensparkModel.fromPretrained(causal)) {
            assertRefused("fill-mask needs a masked LM", () -> m.fillMask("the <mask>", 5));
        }
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(SmallModels.config(SmallModels.tokenizer(dir),
                Map.of("causal", "false", "objective", "masked_lm"))), SmallModels.tokenizer(dir))) {
            assertRefused("tokenizer (", () -> m.fillMask("the <mask>", 5));
        }
    }

    private static void assertRefused(String expected, Runnable call) {
        LumensparkException e = assertThrows(LumensparkException.class, call::run);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
