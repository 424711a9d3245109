package io.lumenspark.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Model folders written by Java load into the PyTorch reference with a strict load_state_dict and give the
 * same token losses. Needs Debian's python3-torch; skipped where it is not installed (CI machines).
 */
class PyTorchReadsCheckpointTest {
    static final String PYTHON = "/usr/bin/python3";
    static boolean torch;

    @BeforeAll
    static void findTorch() throws Exception {
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
            torch = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (java.io.IOException e) {
            torch = false;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lumenspark-v0.1", "lumenspark", "transformer", "conv-linformer"})
    void pytorchLoadsWhatJavaWrites(String preset, @TempDir Path dir) throws Exception {
        assumeTrue(torch, "needs " + PYTHON + " with torch (apt-get install python3-torch)");
        ModelConfig cfg = ModelConfig.preset(preset).with(Map.of("vocab_size", "61", "embed_dim", "32",
                "depth", "2", "heads", "4", "seq_length", "16", "k", "4", "rank", "8", "dropout", "0.1"));
        int[] ids = {3, 17, 5, 60, 2, 2, 9, 41, 33, 7, 0, 12};
        float[] ours = new float[ids.length - 1];
        long params;
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(5);
            m.evaluate(Arrays.copyOf(ids, ids.length - 1), Arrays.copyOfRange(ids, 1, ids.length), 1,
                    ids.length - 1, ours);
            params = m.params().count();
            new LumensparkModel(m, null).save(dir); // with GPT-2's tokenizer files, as a model folder has them
        }
        String list = Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
        Process p = new ProcessBuilder(PYTHON, Path.of("reference", "check_checkpoint.py").toString(),
                dir.toString(), "--ids", list).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "check_checkpoint.py failed: " + out);
        JsonNode result = Json.mapper().readTree(out);
        assertEquals(params, result.get("params").asLong());
        for (int i = 0; i < ours.length; i++) {
            double theirs = result.get("token_losses").get(i).asDouble();
            assertEquals(theirs, ours[i], 1e-4 * Math.max(1, Math.abs(theirs)), preset + " token " + i);
        }
    }
}
