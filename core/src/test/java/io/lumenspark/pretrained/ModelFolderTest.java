package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model folders whose config, weights or tokenizer disagree or hold bad values: refused before any work. */
class ModelFolderTest {
    @TempDir
    static Path tmp;
    static BpeTokenizer tokenizer;
    static Path folder;

    @BeforeAll
    static void writeFolder() {
        tokenizer = SmallModels.tokenizer(tmp);
        folder = SmallModels.write(tmp.resolve("model"), tokenizer, Map.of());
    }

    /** A copy of the folder with config.json's keys changed (a null value removes the key). */
    private static Path withConfig(String name, Map<String, Object> changes) throws Exception {
        Path dir = copy(name);
        Map<String, Object> config = Json.mapper().convertValue(Json.read(dir.resolve(ModelWeights.CONFIG)),
                new com.fasterxml.jackson.core.type.TypeReference<LinkedHashMap<String, Object>>() {
                });
        changes.forEach((k, v) -> {
            if (v == null) config.remove(k);
            else config.put(k, v);
        });
        Json.write(dir.resolve(ModelWeights.CONFIG), config);
        return dir;
    }

    private static Path copy(String name) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        try (var files = Files.list(folder)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        return dir;
    }

    private static void assertRefused(Path dir, String expected) {
        for (Function<Path, LumensparkModel> open : List.<Function<Path, LumensparkModel>>of(
                LumensparkModel::fromPretrained, LumensparkModel::load)) {
            var e = assertThrows(LumensparkException.class, () -> open.apply(dir).close());
            assertTrue(e.getMessage().contains(expected), e.getMessage());
        }
    }

    @Test
    @Timeout(60) // depth 2147483647 never finished before the weights' layers were counted first
    void aDepthTheWeightsDoNotHaveIsRefusedBeforeTheModelIsBuilt() throws Exception {
        for (long depth : new long[]{1, 3, 1_000_000, Integer.MAX_VALUE}) {
            Path dir = withConfig("depth-" + depth, Map.of("depth", depth));
            assertRefused(dir, "model.safetensors holds 2 layers (layers.0 to layers.1), but config.json says depth "
                    + depth);
        }
    }

    @Test
    void aConfigLargerThanItsWeightsIsRefusedBeforeAllocating() throws Exception {
        // train --init with a changed embed_dim: 4 TB of parameters were allocated before the shapes were compared
        Path dir = withConfig("wide", Map.of("embed_dim", 1 << 20));
        assertRefused(dir, "tensor 'token_embedding.weight' has shape [" + tokenizer.vocabSize()
                + ", 16], the config needs [" + tokenizer.vocabSize() + ", 1048576]");
        Path variant = withConfig("values", Map.of("shared_kv", false));
        assertRefused(variant, "missing tensor 'layers.0.attn.value_transform.weight'");
        Path fewer = withConfig("shared", Map.of("share_proj_across_layers", true));
        assertRefused(fewer, "missing tensor 'shared_key_proj'");
    }

    /** Rewrites the folder's weights with one element of one tensor changed, in dtype (F32 or F16). */
    private static Path withWeight(String name, String tensor, long index, float value, SafeTensors.DType dtype)
            throws Exception {
        Path dir = copy(name);
        Path file = dir.resolve(ModelWeights.WEIGHTS);
        List<SafeTensors.Entry> entries = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File st = SafeTensors.open(file, arena);
            for (SafeTensors.Entry e : st.tensors().values()) {
                float[] v = st.toFloatArray(e);
                if (e.name().equals(tensor)) v[(int) index] = value;
                entries.add(dtype == SafeTensors.DType.F32 ? SafeTensors.Entry.f32(e.name(), e.shape(), v) : f16(e, v));
            }
            SafeTensors.write(file, entries, Map.of("format", "pt"));
        }
        return dir;
    }

    private static SafeTensors.Entry f16(SafeTensors.Entry e, float[] v) {
        MemorySegment data = MemorySegment.ofArray(new byte[v.length * 2]);
        for (int i = 0; i < v.length; i++) {
            data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 2L * i,
                    Float.floatToFloat16(v[i]));
        }
        return new SafeTensors.Entry(e.name(), SafeTensors.DType.F16, e.shape(), data);
    }

    @Test
    void nonFiniteAndOverflowingWeightsAreRefusedNamingTheTensor() throws Exception {
        int v = tokenizer.vocabSize();
        SafeTensors.DType f32 = SafeTensors.DType.F32;
        assertRefused(withWeight("nan", "layers.1.norm2.scale", 3, Float.NaN, f32),
                "tensor 'layers.1.norm2.scale' holds NaN at [3]; weights must be finite numbers");
        assertRefused(withWeight("inf", "fc_out.bias", v - 1, Float.POSITIVE_INFINITY, f32),
                "tensor 'fc_out.bias' holds Infinity at [" + (v - 1) + "]");
        assertRefused(withWeight("minus-inf", "layers.0.attn.key_proj", 8 * 3 + 5, Float.NEGATIVE_INFINITY, f32),
                "tensor 'layers.0.attn.key_proj' holds -Infinity at [3, 5]");
        assertRefused(withWeight("huge", "token_embedding.weight", 16 * 7 + 2, 1e38f, f32),
                "tensor 'token_embedding.weight' holds 1.0E38 at [7, 2], beyond the largest magnitude a weight may"
                        + " have (2^64, about 1.8e19: its square overflows float32)");
        assertRefused(withWeight("above", "fc_out.weight", 0, -Math.nextUp(ModelWeights.MAX_WEIGHT), f32),
                "tensor 'fc_out.weight' holds -1.8446746E19 at [0, 0]");
        assertRefused(withWeight("f16", "layers.0.ffn.0.U.weight", 1, Float.POSITIVE_INFINITY,
                SafeTensors.DType.F16), "tensor 'layers.0.ffn.0.U.weight' holds Infinity at [0, 1]");
        Path edge = withWeight("edge", "fc_out.weight", 0, -ModelWeights.MAX_WEIGHT, f32); // the bound itself is fine
        try (LumensparkModel m = LumensparkModel.fromPretrained(edge); LumensparkModel l = LumensparkModel.load(edge)) {
            Params params = m.languageModel().params();
            assertEquals(-ModelWeights.MAX_WEIGHT, params.segment(params.get("fc_out.weight"))
                    .getAtIndex(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(params.count(), l.languageModel().params().count());
        }
    }

    @Test
    void optimizerMomentsMustBeFiniteToo() throws Exception {
        try (LumensparkModel m = LumensparkModel.load(folder); Arena arena = Arena.ofConfined()) {
            Params params = m.languageModel().params();
            MemorySegment moments = arena.allocate(params.flatSize() * 4, 64);
            Params.Param p = params.get("layers.1.attn.output_transform.bias");
            moments.setAtIndex(ValueLayout.JAVA_FLOAT, p.offset() + 2, Float.NaN);
            Path file = tmp.resolve("optimizer.safetensors");
            ModelWeights.writeBuffers(file, params, Map.of("exp_avg.", params.slicesOf(moments)));
            var e = assertThrows(LumensparkException.class,
                    () -> ModelWeights.readBuffers(file, params, Map.of("exp_avg.", params.slicesOf(moments))));
            assertTrue(e.getMessage().endsWith("tensor 'exp_avg.layers.1.attn.output_transform.bias' holds NaN at"
                    + " [2]; weights must be finite numbers"), e.getMessage());
        }
    }

    @Test
    void weightsThatOverflowTogetherGiveAnErrorNotALoss() {
        try (LanguageModel m = new LanguageModel(SmallModels.config(tokenizer, Map.of()))) {
            MemorySegment w = m.params().values();
            for (long i = 0; i < m.params().flatSize(); i++) w.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1e18f);
            int[] ids = tokenizer.encode("It was the best of times");
            var e = assertThrows(LumensparkException.class, () -> m.evaluate(ids, ids, 1, ids.length, null));
            assertTrue(e.getMessage().startsWith("the model's loss is "), e.getMessage());
            assertTrue(e.getMessage().contains("overflows float32"), e.getMessage());
        }
    }

    /** Runs call with System.err captured; returns what it printed. */
    private static String stderrOf(Runnable call) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            call.run();
        } finally {
            System.setErr(old);
        }
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void unknownConfigKeysAreIgnoredWithAWarningNamingTheNearestKey() throws Exception {
        Path dir = withConfig("typo", Map.of("casual", false, "transformers_version", "4.57.0", "use_cache", true,
                "Vocab_Sise", 1));
        String err = stderrOf(() -> LumensparkModel.load(dir).close());
        Path config = dir.resolve(ModelWeights.CONFIG);
        assertEquals(java.util.Set.of(
                "warning: " + config + ": unknown key \"casual\" is ignored (nearest known key: \"causal\")",
                "warning: " + config + ": unknown key \"Vocab_Sise\" is ignored (nearest known key: \"vocab_size\")"),
                java.util.Set.copyOf(err.lines().toList()), err);
        assertEquals(2, err.lines().count(), err);
        // the file this version writes (architectures, torch_dtype) warns about nothing
        assertEquals("", stderrOf(() -> LumensparkModel.fromPretrained(folder).close()));
    }

    @Test
    void aFolderWithoutTokenizerFilesAssumesGpt2OnlyWhereItFits() throws Exception {
        Path bare = copy("bare");
        for (String f : new String[]{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"}) {
            Files.delete(bare.resolve(f));
        }
        assertFalse(ModelFolder.hasTokenizerFiles(bare));
        try (LumensparkModel m = LumensparkModel.fromPretrained(bare)) {
            assertEquals(tokenizer.vocabSize(), m.logits(1, 2, 3)[0].length, "its ids still work");
            var e = assertThrows(LumensparkException.class, m::tokenizer);
            assertEquals(bare + " has no tokenizer files (tokenizer.json, or vocab.json and merges.txt), and GPT-2's"
                    + " 50,257 tokens do not fit its vocab_size " + tokenizer.vocabSize() + ": copy in the files of"
                    + " the tokenizer it was trained with", e.getMessage());
            Path saved = tmp.resolve("bare-saved");
            m.save(saved);
            assertFalse(ModelFolder.hasTokenizerFiles(saved), "saved as it came, without a tokenizer");
        }
        Path named = copy("named");
        Files.delete(named.resolve("tokenizer.json"));
        Files.delete(named.resolve("vocab.json"));
        Files.delete(named.resolve("merges.txt"));
        Files.writeString(named.resolve("tokenizer_config.json"), "{\"tokenizer\": \"gpt2\"}");
        try (LumensparkModel m = LumensparkModel.fromPretrained(named)) {
            var e = assertThrows(LumensparkException.class, m::tokenizer);
            assertEquals(named + ": its tokenizer (gpt2) has 50,257 tokens, more than the model's vocab_size "
                    + tokenizer.vocabSize(), e.getMessage());
        }
        Path gpt2 = tmp.resolve("gpt2-bare");
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(SmallModels.config(tokenizer,
                Map.of("vocab_size", "50257"))), null)) {
            m.save(gpt2);
        }
        for (String f : new String[]{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"}) {
            Files.delete(gpt2.resolve(f));
        }
        String err = stderrOf(() -> {
            try (LumensparkModel m = LumensparkModel.fromPretrained(gpt2)) {
                assertEquals("gpt2", m.tokenizer().name());
            }
        });
        assertEquals("warning: " + gpt2 + " has no tokenizer files (tokenizer.json, or vocab.json and merges.txt);"
                + " GPT-2 assumed\n", err);
    }

    @Test
    void saveNewWritesACompleteFolderAtomicallyAndReplacesOnlyWhenAsked() throws Exception {
        Path out = tmp.resolve("new");
        try (LumensparkModel m = LumensparkModel.fromPretrained(folder)) {
            ModelFolder.saveNew(m, out, false);
            assertEquals(m.generationConfig(), GenerationConfig.read(out.resolve(ModelFolder.GENERATION),
                    tokenizer.vocabSize()));
            Files.writeString(out.resolve("notes.txt"), "mine");
            var e = assertThrows(LumensparkException.class, () -> ModelFolder.saveNew(m, out, false));
            assertEquals(out + " is not empty (it holds config.json, generation_config.json, merges.txt, ...);"
                    + " choose a new or empty folder", e.getMessage());
            assertTrue(Files.exists(out.resolve("notes.txt")), "a refused folder is left as it was");
            ModelFolder.saveNew(m, out, true);
            assertFalse(Files.exists(out.resolve("notes.txt")), "replaced as a whole");
            Path file = Files.writeString(tmp.resolve("a-file"), "x");
            assertEquals(file + " is a file, not a folder", assertThrows(LumensparkException.class,
                    () -> ModelFolder.saveNew(m, file, true)).getMessage());
        }
        try (var names = Files.list(tmp)) {
            assertEquals(List.of(), names.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".new."))
                    .toList(), "no temporary folder is left");
        }
        try (LumensparkModel a = LumensparkModel.fromPretrained(folder);
             LumensparkModel b = LumensparkModel.fromPretrained(out)) {
            assertArrayEquals(a.logits(1, 2, 3)[2], b.logits(1, 2, 3)[2]);
            assertEquals(a.tokenizer().name(), b.tokenizer().name());
        }
    }

    @Test
    void aModelWithoutGenerationDefaultsSavesNewWithHuggingFacesAsTheyApply() throws Exception {
        Path bare = copy("bare-generation");
        Files.delete(bare.resolve(ModelFolder.GENERATION));
        Path out = tmp.resolve("bare-out");
        try (LumensparkModel m = LumensparkModel.fromPretrained(bare)) {
            ModelFolder.saveNew(m, out, false);
            assertEquals(GenerationConfig.builder().build(), GenerationConfig.read(out.resolve(ModelFolder.GENERATION),
                    tokenizer.vocabSize()), "the defaults the model generated with, not a new model's");
        }
    }
}
