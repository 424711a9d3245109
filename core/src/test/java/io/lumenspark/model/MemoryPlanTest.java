package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.InputFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A configuration's memory, known before anything is allocated: the layout gives exactly the parameters and
 * activation buffers a built model has, and plans too large for the machine are refused with the figures.
 */
class MemoryPlanTest {
    private static final Map<String, String> SMALL = Map.of("vocab_size", "50", "embed_dim", "32", "heads", "4",
            "seq_length", "64", "k", "8", "rank", "8", "dropout", "0.1");

    /** Every preset with each structural option, at depths that give conv-linformer one or both kinds of layer. */
    private static List<ModelConfig> variants() {
        List<Map<String, String>> options = List.of(Map.of(), Map.of("share_proj_across_layers", "true"),
                Map.of("separate_proj", "true"), Map.of("shared_kv", "false"), Map.of("kv_heads", "4"),
                Map.of("share_proj_across_layers", "true", "separate_proj", "true", "shared_kv", "false"));
        List<ModelConfig> out = new ArrayList<>();
        for (String preset : ModelConfig.PRESETS) {
            for (Map<String, String> o : options) {
                for (String depth : new String[]{"1", "3"}) {
                    Map<String, String> m = new java.util.HashMap<>(SMALL);
                    m.putAll(o);
                    m.put("depth", depth);
                    if (preset.equals("encoder")) m.putIfAbsent("kv_heads", m.get("heads")); // per-head keys
                    out.add(ModelConfig.preset(preset).with(m));
                }
            }
        }
        return out;
    }

    @Test
    void layoutNamesEveryParameterOfTheModelWithoutBuildingIt() {
        for (ModelConfig cfg : variants()) {
            Layout layout = Layout.of(cfg);
            List<String> made = new ArrayList<>();
            layout.forEach((name, shape) -> made.add(name + java.util.Arrays.toString(shape)));
            try (LanguageModel m = new LanguageModel(cfg)) {
                List<String> real = m.params().list().stream()
                        .map(p -> p.name() + java.util.Arrays.toString(p.shape())).toList();
                assertEquals(real, made, cfg.toString());
                assertEquals(m.params().flatSize(), layout.flatSize(), cfg.toString());
            }
        }
    }

    @Test
    void activationBytesAreWhatAPassAllocates() {
        SplittableRandom r = new SplittableRandom(3);
        List<ModelConfig> configs = new ArrayList<>(variants());
        // long enough for inference to run in several chunks of positions
        configs.add(ModelConfig.preset("lumenspark").with(Map.of("vocab_size", "50", "embed_dim", "32",
                "seq_length", "640", "k", "8", "rank", "8", "depth", "2")));
        for (ModelConfig cfg : configs) {
            for (int[] shape : new int[][]{{1, 17}, {3, cfg.seqLength()}}) {
                int batch = shape[0], n = shape[1];
                int[] ids = r.ints((long) batch * n, 0, cfg.vocabSize()).toArray();
                Layout layout = Layout.of(cfg);
                try (LanguageModel m = new LanguageModel(cfg)) {
                    m.evaluate(ids, ids, batch, n, null);
                    assertEquals(m.activationBytes(), layout.activationBytes(batch, n, true), cfg + " " + batch + "x" + n);
                }
                try (LanguageModel m = new LanguageModel(cfg)) {
                    m.trainStep(ids, ids, batch, n, 1f, 0, 0, 0);
                    assertEquals(m.activationBytes(), layout.activationBytes(batch, n, false), cfg + " " + batch + "x" + n);
                }
            }
        }
    }

    @Test
    void trainingNeedsParametersGradientsMomentsAndActivations() {
        ModelConfig cfg = ModelConfig.preset("lumenspark");
        MemoryPlan train = MemoryPlan.forTraining(cfg, 8, 512);
        long params = Layout.of(cfg).flatSize() * 4;
        assertEquals(params, train.parameters());
        assertEquals(params, train.gradients());
        assertEquals(2 * params, train.optimizer());
        assertEquals(Layout.of(cfg).activationBytes(8, 512, false), train.activations());
        assertEquals(params + params + 2 * params + train.activations(), train.total());
        MemoryPlan infer = MemoryPlan.forInference(cfg, 8, 512);
        assertEquals(params, infer.parameters());
        assertEquals(0, infer.gradients() + infer.optimizer());
        assertTrue(infer.activations() < train.activations() / 4, infer + " vs " + train);
        assertSame(train, train.check(train.total()));
        assertTrue(MemoryPlan.available() > 0);
        MemoryPlan pass = MemoryPlan.forTrainingPass(cfg, 8, 512); // a benchmark's passes: no optimizer
        assertEquals(train.total() - train.optimizer(), pass.total());
        assertEquals(0, pass.optimizer());
        assertEquals(params, pass.gradients());
    }

    @Test
    void plansThatDoNotFitAreRefusedWithTheirFigures() {
        ModelConfig cfg = ModelConfig.preset("lumenspark");
        MemoryPlan train = MemoryPlan.forTraining(cfg, 32, 512); // activations are most of it
        var e = assertThrows(LumensparkException.class, () -> train.check(1L << 30));
        assertEquals("this configuration needs about " + InputFiles.humanSize(train.total()) + " (parameters "
                + InputFiles.humanSize(train.parameters()) + ", gradients " + InputFiles.humanSize(train.gradients())
                + ", AdamW moments " + InputFiles.humanSize(train.optimizer()) + ", activations "
                + InputFiles.humanSize(train.activations()) + " for 32 x 512 tokens), more than the 1.0 GiB of memory"
                + " available; use a smaller batch or sequence length (--batch, --seq-length)", e.getMessage());
        var model = assertThrows(LumensparkException.class, () -> MemoryPlan.forTraining(cfg, 8, 512).check(1L << 30));
        assertTrue(model.getMessage().endsWith("make the model smaller (vocab_size, embed_dim, depth, seq_length, rank)"
                + " or the batch (--batch)"), model.getMessage());
        var big = assertThrows(LumensparkException.class,
                () -> MemoryPlan.forParameters(cfg.with("depth", "1000000")).check(1L << 40));
        assertTrue(big.getMessage().startsWith("this configuration needs about 2.2 TiB (parameters 2.2 TiB), more than"),
                big.getMessage());
        assertTrue(big.getMessage().endsWith("make the model smaller (vocab_size, embed_dim, depth, seq_length, rank)"),
                big.getMessage());
        // activations are most of it, but the parameters, gradients and moments alone do not fit: no batch helps
        MemoryPlan deep = MemoryPlan.forTraining(cfg.with("depth", "1000"), 8, 512);
        assertTrue(deep.activations() > deep.total() - deep.activations(), deep.toString());
        var deepError = assertThrows(LumensparkException.class,
                () -> deep.check(deep.total() - deep.activations() - 1));
        assertTrue(deepError.getMessage().endsWith("make the model smaller (vocab_size, embed_dim, depth, seq_length,"
                + " rank)"), deepError.getMessage());
        var tokens = assertThrows(LumensparkException.class,
                () -> MemoryPlan.forInference(cfg, Integer.MAX_VALUE, 512));
        assertEquals("a batch of 2,147,483,647 x 512 tokens is more than the 536,870,911 one pass can hold; use a"
                + " smaller batch", tokens.getMessage());
        var length = assertThrows(LumensparkException.class, () -> MemoryPlan.forInference(cfg, 1, 513));
        assertTrue(length.getMessage().contains("outside 1..512"), length.getMessage());
    }

    @Test
    @Timeout(60) // declaring a million layers took minutes before the plan came first; a hang is a failure
    void hugeConfigsAreRefusedBeforeAnythingIsDeclaredOrAllocated() {
        ModelConfig base = ModelConfig.preset("lumenspark");
        for (String set : new String[]{"depth=1000000", "depth=2147483647", "embed_dim=1000000000",
                "seq_length=1073741824", "vocab_size=2147483647", "rank=1000000000"}) {
            String[] kv = set.split("=");
            ModelConfig cfg = base.with(kv[0], kv[1]);
            var e = assertThrows(LumensparkException.class, () -> new LanguageModel(cfg), set);
            assertTrue(e.getMessage().startsWith("this configuration needs "), set + ": " + e.getMessage());
            assertTrue(e.getMessage().contains("of memory available; make the model smaller"), e.getMessage());
        }
        // sizes beyond a long: a clear error, not a wrapped-around count
        ModelConfig conv = ModelConfig.preset("conv-linformer").with(Map.of("embed_dim", "1073741824", "heads", "1"));
        var e = assertThrows(LumensparkException.class, () -> new LanguageModel(conv));
        assertTrue(e.getMessage().contains("is too large to hold"), e.getMessage());
    }
}
