package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.hub.FakeHub;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.PublishedCheckpointTest;
import io.lumenspark.pretrained.SmallModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code convert}: any model folder or hub model to a Lumenspark folder, atomically, and only where asked. */
class ConvertCliTest {
    static final String PYTHON = "/usr/bin/python3";
    static final int[] IDS = {256, 72, 105, 33, 32, 72};

    @TempDir
    Path tmp;

    static float[][] logits(Path dir) {
        try (LumensparkModel m = LumensparkModel.fromPretrained(dir)) {
            return m.logits(IDS);
        }
    }

    /** The folder's entries, sorted; hidden ones included (a temporary folder left behind would show). */
    static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aPytorchCheckpointBecomesAFloat32LumensparkFolder() throws Exception {
        Path source = PublishedCheckpointTest.folder(tmp.resolve("published"), "bf16.bin");
        Path out = tmp.resolve("converted");
        CliTest.Run r = CliTest.run("convert", "--model", source.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("wrote " + out + ": 7,121 parameters from pytorch_model.bin as float32 model.safetensors,"
                + " config.json, generation_config.json, tokenizer files\n", r.out());
        assertEquals(List.of("config.json", "generation_config.json", "merges.txt", "model.safetensors",
                "tokenizer.json", "tokenizer_config.json", "vocab.json"), names(out));
        assertEquals(List.of("converted", "published"), names(tmp), "no temporary folder is left");
        try (Arena arena = Arena.ofConfined()) {
            for (var e : SafeTensors.open(out.resolve("model.safetensors"), arena).tensors().values()) {
                assertEquals(SafeTensors.DType.F32, e.dtype(), e.name());
            }
        }
        JsonNode config = Json.read(out.resolve("config.json"));
        assertEquals("lumenspark", config.get("model_type").textValue());
        assertEquals(32, config.get("rank").intValue());
        assertFalse(config.get("causal").booleanValue());
        assertFalse(config.has("transformers_version"), "Hugging Face's extra keys are not carried over");
        float[][] want = logits(source), got = logits(out);
        for (int i = 0; i < IDS.length; i++) assertArrayEquals(want[i], got[i], "position " + i);
    }

    @Test
    void aFolderThatHoldsFilesIsReplacedOnlyWithForce() throws Exception {
        Path source = PublishedCheckpointTest.folder(tmp.resolve("published"), "fp32.bin");
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.writeString(out.resolve("mine.txt"), "keep me");
        CliTest.Run refused = CliTest.run("convert", "--model", source.toString(), "--out", out.toString());
        assertEquals(2, refused.code());
        assertEquals("error: --out " + out + " is not empty (it holds mine.txt); choose a new or empty folder, or"
                + " --force to replace it\n", refused.err());
        assertEquals(List.of("mine.txt"), names(out));

        CliTest.Run forced = CliTest.run("convert", "--model", source.toString(), "--out", out.toString(), "--force");
        assertEquals(0, forced.code(), forced.err());
        assertFalse(names(out).contains("mine.txt"));
        assertEquals(List.of("out", "published"), names(tmp));

        CliTest.Run inside = CliTest.run("convert", "--model", source.toString(), "--out", tmp.toString(), "--force");
        assertEquals(2, inside.code());
        assertEquals("error: --out " + tmp + " holds the model to convert (" + source + "); write the new folder"
                + " elsewhere\n", inside.err());
        assertTrue(Files.exists(source.resolve("pytorch_model.bin")));

        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        CliTest.Run onFile = CliTest.run("convert", "--model", source.toString(), "--out", file.toString());
        assertEquals("error: " + file + " is a file, not a folder\n", onFile.err());
    }

    @Test
    void aRefusedModelLeavesNoFolder() throws Exception {
        Path source = PublishedCheckpointTest.folder(tmp.resolve("hostile"), "fp32.bin");
        Files.copy(Path.of("core", "src", "test", "resources", "torch", "hostile-os-system.bin"),
                source.resolve("pytorch_model.bin"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        CliTest.Run r = CliTest.run("convert", "--model", source.toString(), "--out", tmp.resolve("out").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: " + source.resolve("pytorch_model.bin") + ": refusing to load: the"
                + " pickle calls os.system"), r.err());
        assertEquals(List.of("hostile"), names(tmp));
        assertFalse(Files.exists(Path.of("lumenspark-pickle-ran")));
    }

    @Test
    void aHubModelConverts() throws Exception {
        Path served = PublishedCheckpointTest.folder(tmp.resolve("served"), "sharded");
        Path out = tmp.resolve("from-hub");
        try (FakeHub hub = new FakeHub(); FakeHub.ProcessSettings ignored = hub.useForThisProcess(tmp.resolve("hf"))) {
            hub.repo("anto/published").commit("main", "0123456789abcdef0123456789abcdef01234567",
                    SmallModels.files(served));
            CliTest.Run r = CliTest.run("convert", "--model", "anto/published", "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("from pytorch_model.bin.index.json"), r.out());
        }
        float[][] want = logits(served), got = logits(out);
        for (int i = 0; i < IDS.length; i++) assertArrayEquals(want[i], got[i], "position " + i);
    }

    /** The other direction: PyTorch's strict load_state_dict reads what convert writes, with the same losses. */
    @Test
    void pytorchReadsWhatConvertWrites() throws Exception {
        assumeTrue(torch(), "needs " + PYTHON + " with torch (apt-get install python3-torch)");
        Path out = tmp.resolve("converted");
        CliTest.Run r = CliTest.run("convert", "--model",
                PublishedCheckpointTest.folder(tmp.resolve("published"), "fp16.bin").toString(), "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        float[] ours = new float[IDS.length - 1];
        try (LumensparkModel m = LumensparkModel.fromPretrained(out)) {
            assertEquals(ModelConfig.v01().attention(), m.config().attention());
            m.languageModel().evaluate(Arrays.copyOf(IDS, IDS.length - 1), Arrays.copyOfRange(IDS, 1, IDS.length),
                    1, IDS.length - 1, ours);
        }
        String list = Arrays.stream(IDS).mapToObj(Integer::toString).collect(Collectors.joining(","));
        Process p = new ProcessBuilder(PYTHON, Path.of("reference", "check_checkpoint.py").toString(),
                out.toString(), "--ids", list).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "check_checkpoint.py failed: " + printed);
        JsonNode result = Json.mapper().readTree(printed);
        assertEquals(7121, result.get("params").asLong());
        for (int i = 0; i < ours.length; i++) {
            double theirs = result.get("token_losses").get(i).asDouble();
            assertEquals(theirs, ours[i], 1e-4 * Math.max(1, Math.abs(theirs)), "token " + i);
        }
    }

    private static boolean torch() {
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }
}
