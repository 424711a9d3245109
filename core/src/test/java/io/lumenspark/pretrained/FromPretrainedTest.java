package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.hub.FakeHub;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model folders opened for inference: memory-mapped weights that give the saved model's numbers. */
class FromPretrainedTest {
    static final ModelConfig CFG = ModelConfig.preset("lumenspark").with(Map.of("embed_dim", "32", "depth", "2",
            "heads", "4", "seq_length", "32", "k", "8", "rank", "8"));

    @Test
    void aSavedModelOpensMappedAndGivesTheSameLogitsAndText(@TempDir Path dir, @TempDir Path other) {
        int[] ids = {464, 3290, 286, 262, 4479};
        float[][] want;
        GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(10).doSample(true).temperature(0.7)
                .seed(2L).build();
        String text;
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(CFG), null)) {
            m.languageModel().initialize(8);
            m.setGenerationConfig(cfg);
            want = m.logits(ids);
            text = m.generate("The state of the", cfg).text();
            m.save(dir);
        }
        try (LumensparkModel m = LumensparkModel.fromPretrained(dir)) {
            assertTrue(m.languageModel().params().isMapped());
            for (int t = 0; t < ids.length; t++) assertArrayEquals(want[t], m.logits(ids)[t]);
            assertEquals(text, m.generate("The state of the", cfg).text());
            assertEquals(cfg, m.generationConfig());
            assertEquals("gpt2", m.tokenizer().name());
            var e = assertThrows(LumensparkException.class,
                    () -> m.languageModel().trainStep(ids, ids, 1, ids.length, 1f, 0, 0, 0));
            assertTrue(e.getMessage().contains("memory-mapped"), e.getMessage());
            Path copy = other.resolve("copy"); // not beside dir in /tmp, where nothing would delete it
            m.save(copy); // a mapped model saves like any other
            try (LumensparkModel again = LumensparkModel.load(copy)) {
                assertArrayEquals(want[4], again.logits(ids)[4]);
            }
        }
    }

    @Test
    void aHubIdIsFetchedIntoHuggingFacesCacheThenFoundThereOffline(@TempDir Path dir) throws Exception {
        Path local = SmallModels.write(dir.resolve("local"), SmallModels.tokenizer(dir), Map.of());
        int[] ids = {1, 2, 3};
        float[][] want;
        String tokenizer;
        try (LumensparkModel m = LumensparkModel.fromPretrained(local)) {
            want = m.logits(ids);
            tokenizer = m.tokenizer().name();
        }
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Path cache = dir.resolve("hf-cache");
        try (FakeHub hub = new FakeHub(); FakeHub.ProcessSettings settings = hub.useForThisProcess(cache)) {
            hub.repo("acme/small").commit("main", commit, SmallModels.files(local));
            try (LumensparkModel m = LumensparkModel.fromPretrained("acme/small")) {
                assertArrayEquals(want[2], m.logits(ids)[2]);
                assertEquals(tokenizer, m.tokenizer().name());
            }
            Path snapshot = cache.resolve("models--acme--small/snapshots/" + commit);
            assertTrue(Files.isSymbolicLink(snapshot.resolve("model.safetensors")));
            assertEquals(commit, Files.readString(cache.resolve("models--acme--small/refs/main")));

            hub.clearRequests();
            settings.offline(true);
            try (LumensparkModel m = LumensparkModel.load("acme/small")) {
                assertArrayEquals(want[2], m.logits(ids)[2]);
            }
            assertEquals(List.of(), hub.hubRequests);
            assertEquals(List.of(), hub.fileRequests);
            var e = assertThrows(LumensparkException.class, () -> LumensparkModel.fromPretrained("acme/other"));
            assertTrue(e.getMessage().startsWith("HF_HUB_OFFLINE is set and the cache " + cache), e.getMessage());
        }
    }

    @Test
    void brokenFoldersAreClearErrors(@TempDir Path dir) throws Exception {
        var missing = assertThrows(LumensparkException.class, () -> LumensparkModel.fromPretrained(dir.resolve("x")));
        assertTrue(missing.getMessage().contains("no such model folder"), missing.getMessage());
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(CFG), null)) {
            m.save(dir);
        }
        Files.writeString(dir.resolve(ModelWeights.WEIGHTS), "not a safetensors file");
        var bad = assertThrows(LumensparkException.class, () -> LumensparkModel.fromPretrained(dir));
        assertTrue(bad.getMessage().contains(ModelWeights.WEIGHTS), bad.getMessage());
        Files.writeString(dir.resolve(ModelFolder.TOKENIZER), "{\"tokenizer\": \"klingon\"}");
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(CFG), null)) {
            m.save(dir.resolve("ok"));
        }
        Files.writeString(dir.resolve("ok").resolve(ModelFolder.TOKENIZER), "{\"tokenizer\": \"klingon\"}");
        var tok = assertThrows(LumensparkException.class, () -> LumensparkModel.fromPretrained(dir.resolve("ok")));
        assertTrue(tok.getMessage().contains("klingon"), tok.getMessage());
    }
}
