package io.lumenspark.training;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A run folder written before the package redesign (issue 11) still resumes, and continues with the numbers the
 * uninterrupted run had then. The fixture (fixtures/resume-v0) was made by the code of commit 1cd5e67: a small
 * causal Linformer (embed_dim 32, depth 1, a 320-token BPE trained on the fixture's text) trained for 4 steps
 * with 2 threads, once whole (whole-metrics.jsonl) and once stopped after its step-2 checkpoint (run/).
 */
class OldCheckpointTest {
    static final Path FIXTURE = Path.of("core", "src", "test", "resources", "fixtures", "resume-v0");

    @Test
    void aCheckpointWrittenBeforeTheRedesignResumesToTheSameNumbers(@TempDir Path tmp) throws IOException {
        Path run = tmp.resolve("run"), data = tmp.resolve("data.txt");
        copyTree(FIXTURE.resolve("run"), run);
        Files.copy(FIXTURE.resolve("data.txt"), data);
        // the data's path is the fixture maker's; everything else in the file is as that code wrote it
        Path stateFile = run.resolve("checkpoint").resolve(Checkpoint.STATE);
        ObjectNode state = (ObjectNode) Json.read(stateFile);
        ((ObjectNode) state.get("options")).putArray("data").add(data.toUri().toString());
        AtomicFiles.writeString(stateFile, Json.toPretty(state));

        TrainerState saved = TrainerState.read(run);
        assertEquals(2, saved.step());
        assertEquals(CausalLmObjective.NAME, saved.objective()); // the file predates the key
        assertEquals(new TrainOptions(List.of(data), 0.1, "lumenspark", Map.of("embed_dim", "32", "depth", "1",
                "heads", "2", "seq_length", "32", "k", "8", "rank", "4", "dropout", "0.1"), null, 2, 0, 4, 2, 3e-3,
                3e-4, 0.25, 0.01, 1.0, 2, 256, 100, 42, run, "/tmp/i11-fix/out/tok", null, null), saved.options());

        int threads = Parallel.threads();
        Blas.select(Backend.AUTO, saved.threads()); // as `train --resume` does
        boolean sameMachine = Blas.get().name().equals(saved.backend());
        try {
            new Trainer(Trainer.savedOptions(run), new PrintStream(new ByteArrayOutputStream())).run(true);
        } finally {
            Blas.select(Backend.AUTO, threads);
        }
        assertEquals(CausalLmObjective.NAME, Json.read(stateFile).get("objective").asText());
        List<Map<String, Object>> expected = MetricsLog.read(FIXTURE.resolve("whole-metrics.jsonl"));
        List<Map<String, Object>> got = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(4, got.size());
        for (int i = 0; i < expected.size(); i++) {
            for (String key : List.of("step", "train_loss", "grad_norm", "lr", "val_loss")) {
                Object want = expected.get(i).get(key), have = got.get(i).get(key);
                String what = "record " + i + " " + key;
                if (sameMachine || !(want instanceof Double w)) {
                    assertEquals(want, have, what); // bit for bit with the checkpoint's backend and threads
                } else {
                    assertEquals(w, ((Number) have).doubleValue(), 1e-4 * Math.abs(w), what); // another CPU's sums
                }
            }
        }
    }

    @Test
    void aStateNamingAnObjectiveThisVersionLacksIsRefused(@TempDir Path tmp) throws IOException {
        Path run = tmp.resolve("run");
        copyTree(FIXTURE.resolve("run"), run);
        Path stateFile = run.resolve("checkpoint").resolve(Checkpoint.STATE);
        ObjectNode state = (ObjectNode) Json.read(stateFile);
        state.put("objective", "span_corruption");
        AtomicFiles.writeString(stateFile, Json.toPretty(state));
        var e = assertThrows(LumensparkException.class, () -> TrainerState.read(run));
        assertEquals(stateFile + ": \"objective\" must be one of causal_lm, masked_lm, got \"span_corruption\"",
                e.getMessage());
        // an objective this version trains, but not the one the options name
        state.put("objective", "masked_lm");
        AtomicFiles.writeString(stateFile, Json.toPretty(state));
        e = assertThrows(LumensparkException.class, () -> TrainerState.read(run));
        assertEquals(stateFile + ": \"objective\" is \"masked_lm\" but \"options.objective\" is \"causal_lm\"",
                e.getMessage());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(target);
                else Files.copy(f, target);
            }
        }
    }
}
