package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.Params;
import io.lumenspark.tokenizer.BpeTrainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A small model saved as published lumenspark saved its own (reference/make_published_checkpoints.py): a
 * config.json with model_type "linformer", no rank and Hugging Face's extra keys, and the weights as
 * {@code torch.save} wrote them (fp32, fp16, bf16, non-contiguous views and shared storages, a sharded pair). Every
 * form gives the safetensors route's logits, bit for bit where the values are the same, and the reference's logits
 * of the rounded weights where they are not.
 */
public class PublishedCheckpointTest {
    /** The fixture folder: config.json, model.safetensors, fp32.bin, ..., sharded/, expected.safetensors. */
    public static final Path FIXTURES = Path.of("core", "src", "test", "resources", "published");
    static int[] ids;
    static Map<String, float[]> expected = new LinkedHashMap<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void readExpected() {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File file = SafeTensors.open(FIXTURES.resolve("expected.safetensors"), arena);
            ids = file.toIntArray(file.get("input_ids"));
            for (String dtype : List.of("fp32", "fp16", "bf16")) {
                expected.put(dtype, file.toFloatArray(file.get("logits." + dtype)));
            }
        }
    }

    /**
     * A model folder of the fixture's config.json, its weights in one of their forms (the name of a .bin file, which
     * becomes pytorch_model.bin; "sharded", the sharded pair; "safetensors", model.safetensors) and a byte-level
     * tokenizer of 257 tokens (the 256 bytes and end of text), which the model's vocabulary fits.
     */
    public static Path folder(Path dir, String weights) throws IOException {
        Files.createDirectories(dir);
        Files.copy(FIXTURES.resolve("config.json"), dir.resolve("config.json"));
        switch (weights) {
            case "safetensors" -> Files.copy(FIXTURES.resolve("model.safetensors"), dir.resolve("model.safetensors"));
            case "sharded" -> {
                try (Stream<Path> files = Files.list(FIXTURES.resolve("sharded"))) {
                    for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
            default -> Files.copy(FIXTURES.resolve(weights), dir.resolve("pytorch_model.bin"));
        }
        Path text = Files.writeString(dir.resolve("text.txt"), "Hi!");
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        new BpeTrainer(257, 2, List.of(), 1, quiet).train(List.of(text)).save(dir, 8);
        Files.delete(text);
        return dir;
    }

    static float[] logits(LumensparkModel model) {
        float[][] rows = model.logits(ids);
        float[] flat = new float[rows.length * rows[0].length];
        for (int i = 0; i < rows.length; i++) System.arraycopy(rows[i], 0, flat, i * rows[0].length, rows[0].length);
        return flat;
    }

    static float[] logits(Path dir) {
        try (LumensparkModel model = LumensparkModel.fromPretrained(dir)) {
            return logits(model);
        }
    }

    static void assertClose(float[] want, float[] got, double tolerance, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance * Math.max(1, Math.abs(want[i])), what + " element " + i);
        }
    }

    @Test
    void thePublishedConfigLoadsAsV01WithRank32AndNoWarnings() throws IOException {
        Path dir = folder(tmp.resolve("m"), "fp32.bin");
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (LumensparkModel model = LumensparkModel.fromPretrained(dir)) {
            assertEquals(ModelConfig.preset("lumenspark-v0.1").with(Map.of("vocab_size", "257", "embed_dim", "8",
                    "depth", "2", "heads", "2", "seq_length", "8", "k", "4")), model.config());
            assertEquals(32, model.config().rank());
            assertFalse(model.config().causal());
        } finally {
            System.setErr(err);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8), "Hugging Face's keys are ignored silently");
    }

    @Test
    void theSafetensorsRouteGivesTheReferenceLogits() throws IOException {
        assertClose(expected.get("fp32"), logits(folder(tmp.resolve("st"), "safetensors")), 1e-4, "safetensors");
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32.bin", "views.bin", "sharded"})
    void float32CheckpointsGiveTheSafetensorsLogitsBitForBit(String weights) throws IOException {
        float[] want = logits(folder(tmp.resolve("st"), "safetensors"));
        Path dir = folder(tmp.resolve("bin"), weights);
        assertArrayEquals(want, logits(dir), weights);
        try (LumensparkModel trainable = LumensparkModel.load(dir)) {
            assertArrayEquals(want, logits(trainable), weights + ", copied for training");
        }
    }

    @Test
    void contiguousFloat32TensorsAreMappedNotCopied() throws IOException {
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder(tmp.resolve("bin"), "fp32.bin"))) {
            Params params = model.languageModel().params();
            // a view of the file is read-only, as the mapping is; a copy would be memory of its own
            for (Params.Param p : params.list()) assertTrue(params.segment(p).isReadOnly(), p.name());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp16", "bf16"})
    void halfPrecisionCheckpointsGiveTheLogitsOfTheRoundedWeights(String dtype) throws IOException {
        float[] got = logits(folder(tmp.resolve(dtype), dtype + ".bin"));
        assertClose(expected.get(dtype), got, 1e-4, dtype);
        float[] full = expected.get("fp32");
        double diff = 0;
        for (int i = 0; i < full.length; i++) diff = Math.max(diff, Math.abs(full[i] - got[i]));
        assertTrue(diff > 1e-4, "the rounding shows: the comparison is with the rounded weights (" + diff + ")");
    }

    @Test
    void shardedSafetensorsGiveTheSameLogits() throws IOException {
        float[] want = logits(folder(tmp.resolve("st"), "safetensors"));
        Path dir = folder(tmp.resolve("sharded"), "safetensors");
        writeShards(dir, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
        assertArrayEquals(want, logits(dir));
    }

    /** Splits the folder's model.safetensors into two shards and an index (first half, second half), and deletes it. */
    static void writeShards(Path dir, String first, String second) throws IOException {
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (Arena arena = Arena.ofConfined()) {
            var all = new ArrayList<>(SafeTensors.open(dir.resolve("model.safetensors"), arena).tensors().values());
            int half = all.size() / 2;
            SafeTensors.write(dir.resolve(first), all.subList(0, half), Map.of("format", "pt"));
            SafeTensors.write(dir.resolve(second), all.subList(half, all.size()), Map.of("format", "pt"));
            for (int i = 0; i < all.size(); i++) {
                index.append(i == 0 ? "" : ", ").append('"').append(all.get(i).name()).append("\": \"")
                        .append(i < half ? first : second).append('"');
            }
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
        Files.delete(dir.resolve("model.safetensors"));
    }

    @Test
    void shardedSafetensorsAreCheckedLikeShardedCheckpoints() throws IOException {
        Path dir = folder(tmp.resolve("sharded"), "safetensors");
        writeShards(dir, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        String good = Files.readString(index);

        Files.writeString(index, good.replace("\"model-00002-of-00002.safetensors\"", "\"../model-00002-of-00002.safetensors\""));
        assertTrue(error(dir).endsWith("which is not a file name in the index's folder"), error(dir));

        // a tensor of the second shard claimed by the first
        Files.writeString(index, good.replaceFirst("(\"fc_out.bias\": )\"model-00002-of-00002.safetensors\"",
                "$1\"model-00001-of-00002.safetensors\""));
        assertEquals(index + ": the index assigns tensor 'fc_out.bias' to shard model-00001-of-00002.safetensors,"
                + " which does not hold it", error(dir));

        Files.writeString(index, good.replace(", \"fc_out.bias\": \"model-00002-of-00002.safetensors\"", ""));
        assertEquals(index + ": shard model-00002-of-00002.safetensors holds tensor 'fc_out.bias', which the index"
                + " does not assign to it", error(dir));

        Files.writeString(index, good.replace("}}", ", \"extra\": \"model-00001-of-00002.safetensors\"}}"));
        assertEquals(index + ": the index assigns tensor 'extra' to shard model-00001-of-00002.safetensors, which"
                + " does not hold it", error(dir));

        Files.writeString(index, "{\"weight_map\": []}");
        assertEquals(index + ": expected a non-empty \"weight_map\" object of tensor name -> shard file", error(dir));
    }

    static String error(Path dir) {
        return assertThrows(LumensparkException.class, () -> LumensparkModel.fromPretrained(dir)).getMessage();
    }

    @Test
    void theFirstWeightsFileByPreferenceIsRead() throws IOException {
        Path dir = folder(tmp.resolve("both"), "fp16.bin");
        Files.copy(FIXTURES.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        assertArrayEquals(logits(folder(tmp.resolve("st"), "safetensors")), logits(dir), "model.safetensors first");
        Files.delete(dir.resolve("model.safetensors"));
        assertClose(expected.get("fp16"), logits(dir), 1e-4, "then pytorch_model.bin");
        Files.delete(dir.resolve("pytorch_model.bin"));
        assertEquals(dir + " has no weights: no model.safetensors, model.safetensors.index.json, pytorch_model.bin"
                + " or pytorch_model.bin.index.json", error(dir));
    }

    @Test
    void theLaterPublishedArchitectureIsNamed() throws IOException {
        Path dir = folder(tmp.resolve("later"), "safetensors");
        try (Arena arena = Arena.ofConfined()) {
            var tensors = new ArrayList<>(SafeTensors.open(FIXTURES.resolve("model.safetensors"), arena).tensors()
                    .values());
            tensors.add(SafeTensors.Entry.f32("final_norm.weight", new long[]{8}, new float[8]));
            SafeTensors.write(dir.resolve("model.safetensors"), tensors, Map.of());
        }
        assertEquals(dir.resolve("model.safetensors") + " holds weights of published lumenspark's later architecture"
                + " (0.1.4 and on: LayerNorm before full attention, LayerScale, a final norm), which Lumenspark does"
                + " not run; it runs the Linformer of lumenspark 0.1.1 to 0.1.3 (lumenspark-v0.1)", error(dir));
    }

    @Test
    void savingAPublishedModelWritesOurConfigAndFloat32() throws IOException {
        Path out = tmp.resolve("saved");
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder(tmp.resolve("bf16"), "bf16.bin"))) {
            model.save(out);
        }
        assertEquals("lumenspark", Json.read(out.resolve("config.json")).get("model_type").textValue());
        try (Arena arena = Arena.ofConfined()) {
            for (var e : SafeTensors.open(out.resolve("model.safetensors"), arena).tensors().values()) {
                assertEquals(SafeTensors.DType.F32, e.dtype(), e.name());
            }
        }
        assertClose(expected.get("bf16"), logits(out), 1e-4, "saved");
    }
}
