package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.PublishedCheckpointTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class LoadBenchTest {
    static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path tmp;

    static String printed(java.util.function.Consumer<PrintStream> body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        body.accept(new PrintStream(out, true, StandardCharsets.UTF_8));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void oneLoadIsOneJsonLineOfItsWeightsTimeAndMemory() throws Exception {
        Path folder = PublishedCheckpointTest.folder(tmp.resolve("bin"), "fp32.bin");
        JsonNode j = Json.mapper().readTree(printed(out -> LoadBench.measure(folder, out)));
        assertEquals("pytorch_model.bin", j.get("weights").asText());
        assertEquals(Files.size(folder.resolve("pytorch_model.bin")), j.get("bytes").asLong());
        assertEquals(7121, j.get("parameters").asLong());
        assertTrue(j.get("seconds").asDouble() > 0);
        assertTrue(j.get("peak_rss_mib").asDouble() >= j.get("rss_before_mib").asDouble(), j.toString());
    }

    @Test
    void bothFormatsAreMeasuredInTheirOwnProcessesAndTheFolderIsDeleted() {
        assumeTrue(torch(), "needs " + PYTHON + " with torch to write pytorch_model.bin");
        LoadBench bench = new LoadBench("tiny", Map.of("vocab_size", "300", "embed_dim", "16", "heads", "2",
                "depth", "1", "seq_length", "32", "k", "8"), 2);
        Set<Path> folders = new HashSet<>();
        String out = printed(o -> bench.run(folder -> {
            folders.add(folder);
            return Processes.javaCommand(Child.class, List.of(folder.toString()));
        }, PYTHON, o));
        List<String> lines = out.lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(4, lines.size(), out);
        assertEquals(2, lines.stream().filter(l -> l.contains("\"weights\":\"pytorch_model.bin\"")).count(), out);
        assertTrue(out.contains("| `model.safetensors` |") && out.contains("| `pytorch_model.bin` |"), out);
        assertTrue(out.contains("pytorch_model.bin / model.safetensors: "), out);
        assertEquals(2, folders.size(), "one folder per format");
        for (Path folder : folders) assertFalse(Files.exists(folder.getParent()), "deleted: " + folder.getParent());
    }

    @Test
    void runsAreCheckedFirst() {
        assertEquals("--runs must be at least 1", assertThrows(LumensparkException.class,
                () -> new LoadBench("lumenspark-v0.1", Map.of(), 0)).getMessage());
    }

    /** A child process: measures the folder it is given. */
    public static final class Child {
        public static void main(String[] args) {
            LoadBench.measure(Path.of(args[0]), System.out);
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
