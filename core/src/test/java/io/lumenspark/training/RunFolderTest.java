package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.FolderLock;
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
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run folder is never destroyed by a new run, a tampered state file or a second process. */
class RunFolderTest {
    private static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream());
    }

    private static TrainOptions seeded(TrainOptions o, long seed) {
        return o.toBuilder().seed(seed).build();
    }

    /** Every file under dir (hidden ones too) and its bytes. */
    /**
     * Asserts that out holds the earlier files byte for byte plus one hidden .metrics-RUNID.jsonl: what a replacing
     * run that failed before its first checkpoint leaves. Returns the hidden file's name.
     */
    static String assertUnchangedButPendingMetrics(Map<String, byte[]> earlier, Path out) throws IOException {
        Map<String, byte[]> now = snapshot(out);
        List<String> pending = now.keySet().stream().filter(n -> n.startsWith(".metrics-")).toList();
        assertEquals(1, pending.size(), "the failed run's metrics wait in a hidden file: " + now.keySet());
        now.remove(pending.getFirst());
        assertEquals(earlier.keySet(), now.keySet());
        for (String name : earlier.keySet()) assertArrayEquals(earlier.get(name), now.get(name), name);
        return pending.getFirst();
    }

    static Map<String, byte[]> snapshot(Path dir) throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
            }
        }
        return files;
    }

    static void assertSameFiles(Map<String, byte[]> before, Path dir, String... added) throws IOException {
        Map<String, byte[]> now = snapshot(dir);
        for (String name : added) assertTrue(now.remove(name) != null, name + " was expected to appear");
        assertEquals(before.keySet(), now.keySet());
        for (String name : before.keySet()) assertArrayEquals(before.get(name), now.get(name), name);
    }

    private static List<Object> column(Path metrics, String key) {
        return MetricsLog.read(metrics).stream().map(r -> r.get(key)).toList();
    }

    @Test
    void aNewRunRefusesAFolderThatIsNotEmpty(@TempDir Path tmp) throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run");
        new Trainer(TrainerTest.options(data, out, 4, 2), quiet()).run(false);
        Map<String, byte[]> before = snapshot(out);
        var e = assertThrows(LumensparkException.class,
                () -> new Trainer(TrainerTest.options(data, out, 4, 2), quiet()).run(false));
        assertEquals("--out " + out + " holds a training run (checkpoint at step 4 of 4); continue it with --resume"
                + " (--steps N to train it longer), replace it with --force, or choose another --out", e.getMessage());
        assertSameFiles(before, out);

        Path partial = tmp.resolve("partial"), other = tmp.resolve("other");
        Files.createDirectories(partial);
        Files.copy(out.resolve(RunFolder.METRICS), partial.resolve(RunFolder.METRICS));
        Files.copy(out.resolve("config.json"), partial.resolve("config.json")); // a model: more than a stopped run
        e = assertThrows(LumensparkException.class,
                () -> new Trainer(TrainerTest.options(data, partial, 4, 2), quiet()).run(false));
        assertTrue(e.getMessage().contains("holds files of an earlier training run (config.json, metrics.jsonl)"),
                e.getMessage());
        Files.createDirectories(other);
        Files.writeString(other.resolve("notes.txt"), "mine");
        e = assertThrows(LumensparkException.class,
                () -> new Trainer(TrainerTest.options(data, other, 4, 2), quiet()).run(false));
        assertTrue(e.getMessage().contains("holds other files (notes.txt)"), e.getMessage());
        Trainer.Result r = new Trainer(TrainerTest.options(data, other, 4, 2), quiet()).replace(true).run(false);
        assertEquals(4, r.steps());
        assertEquals("mine", Files.readString(other.resolve("notes.txt")), "--force leaves other files alone");

        Path file = tmp.resolve("file");
        Files.writeString(file, "x");
        e = assertThrows(LumensparkException.class,
                () -> new Trainer(TrainerTest.options(data, file, 4, 2), quiet()).run(false));
        assertEquals("--out " + file + " is a file, not a folder", e.getMessage());
        Path bad = tmp.resolve("bad");
        assertThrows(LumensparkException.class, () -> new Trainer(TrainOptions.builder().data(List.of(data))
                .preset("huge").batch(2).steps(2).lr(1e-3).minLr(1e-4).warmupFraction(0).weightDecay(0).gradClip(1)
                .evalEvery(1).evalTokens(0).checkpointEvery(1).seed(1).out(bad).build(), quiet()).run(false));
        assertFalse(Files.exists(bad), "a failed run leaves no empty folder behind");
    }

    @Test
    void aForcedRunLeavesTheEarlierRunUntilItsFirstCheckpointThenReplacesItWhole(@TempDir Path tmp)
            throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run"), clean = tmp.resolve("clean");
        new Trainer(TrainerTest.options(data, out, 6, 2), quiet()).run(false); // the earlier run, finished
        Map<String, byte[]> earlier = snapshot(out);
        String earlierRun = TrainerState.read(out).runId();

        // a replacing run that fails before its first checkpoint (it diverges) changes none of the earlier files
        TrainOptions o = TrainerTest.options(data, out, 6, 4);
        TrainOptions diverging = o.toBuilder().lr(1e30).minLr(0.0).warmupFraction(0).weightDecay(0).gradClip(1e30)
                .evalEvery(100).evalTokens(0).checkpointEvery(100).seed(7).out(out).build();
        var e = assertThrows(LumensparkException.class, () -> new Trainer(diverging, quiet()).replace(true).run(false));
        assertTrue(e.getMessage().contains("diverged"), e.getMessage());
        String pending = assertUnchangedButPendingMetrics(earlier, out);
        Trainer.Result resumed = new Trainer(Trainer.savedOptions(out), quiet()).run(true); // the earlier run is intact
        assertEquals(6, resumed.steps());
        assertFalse(Files.exists(out.resolve(pending)), "a dead run's hidden metrics are removed");

        // a replacing run (another seed) stopped right after its first checkpoint: the folder is that run's alone
        TrainOptions other = seeded(TrainerTest.options(data, out, 6, 3), 43);
        new Trainer(other, quiet()).replace(true).stopAfter(3).run(false);
        new Trainer(seeded(TrainerTest.options(data, clean, 6, 3), 43), quiet()).run(false);
        assertNotEquals(earlierRun, TrainerState.read(out).runId());
        assertEquals(3, TrainerState.read(out).step());
        assertEquals(column(clean.resolve(RunFolder.METRICS), "train_loss").subList(0, 3),
                column(out.resolve(RunFolder.METRICS), "train_loss"));
        for (String name : RunFolder.MODEL_FILES) {
            assertFalse(Files.exists(out.resolve(name)), "the earlier run's final model is gone: " + name);
        }
        assertTrue(Files.exists(out.resolve(RunFolder.CHART)), "the new run's chart");
        assertFalse(snapshot(out).keySet().stream().anyMatch(n -> n.startsWith(".metrics-")));

        Trainer.Result r = new Trainer(Trainer.savedOptions(out), quiet()).run(true);
        assertEquals(6, r.steps());
        assertEquals(column(clean.resolve(RunFolder.METRICS), "train_loss"),
                column(out.resolve(RunFolder.METRICS), "train_loss"));
        assertArrayEquals(Files.readAllBytes(clean.resolve("model.safetensors")),
                Files.readAllBytes(out.resolve("model.safetensors")));
    }

    @Test
    void aReplacementKilledBetweenItsCheckpointAndItsMetricsIsCompletedByTheNextRun(@TempDir Path tmp)
            throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run"), clean = tmp.resolve("clean");
        new Trainer(TrainerTest.options(data, out, 6, 2), quiet()).run(false);
        byte[] earlierMetrics = Files.readAllBytes(out.resolve(RunFolder.METRICS));
        byte[] earlierWeights = Files.readAllBytes(out.resolve("model.safetensors"));
        new Trainer(seeded(TrainerTest.options(data, out, 6, 3), 43), quiet()).replace(true).stopAfter(3).run(false);
        // as if killed after the checkpoint swap and before the metrics moved: the earlier run's files are back
        String runId = TrainerState.read(out).runId();
        Files.move(out.resolve(RunFolder.METRICS), RunFolder.pendingMetrics(out, runId));
        Files.write(out.resolve(RunFolder.METRICS), earlierMetrics);
        Files.write(out.resolve("model.safetensors"), earlierWeights);
        Files.writeString(RunFolder.pendingMetrics(out, "0123456789abcdef"), "{\"step\": 1}\n"); // a dead run's

        new Trainer(Trainer.savedOptions(out), quiet()).run(true);
        new Trainer(seeded(TrainerTest.options(data, clean, 6, 3), 43), quiet()).run(false);
        assertEquals(column(clean.resolve(RunFolder.METRICS), "train_loss"),
                column(out.resolve(RunFolder.METRICS), "train_loss"));
        assertFalse(snapshot(out).keySet().stream().anyMatch(n -> n.startsWith(".metrics-")));
    }

    /** A change to one key of trainer_state.json and what the error must say. */
    private record Edit(String key, String value, String expected) {
        String apply(String json) {
            return json.replaceFirst("\"" + key + "\": [^,\\n]+", "\"" + key + "\": " + value);
        }
    }

    @Test
    void aBadStateFileIsOneLineAndTouchesNothing(@TempDir Path tmp) throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run");
        new Trainer(TrainerTest.options(data, out, 6, 3), quiet()).run(false);
        Path file = out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE);
        String good = Files.readString(file);
        List<Edit> edits = List.of(
                new Edit("step", "-5", "\"step\" is -5; it must be from 1 to 6 (\"options.steps\")"),
                new Edit("step", "1000000000000", "\"step\" is 1000000000000; it must be from 1 to 6"),
                new Edit("step", "2.5", "\"step\" must be a whole number, got 2.5"),
                new Edit("threads", "0", "\"threads\" is 0; it must be from 1 to "
                        + io.lumenspark.engine.Parallel.MAX_THREADS + " (what --threads allows)"),
                new Edit("steps", "-3", "\"options\": --steps must be at least 1"),
                new Edit("seed", "\"x\"", "bad value for \"options.seed\""),
                new Edit("seed", "1.5", "bad value for \"options.seed\""), // Jackson would take it as 1
                new Edit("batch", "\"2\"", "bad value for \"options.batch\""), // and this as 2
                new Edit("data_key", "7", "\"data_key\" must be a string, got 7"));
        Map<String, byte[]> before = snapshot(out);
        for (Edit edit : edits) {
            String tampered = edit.apply(good);
            assertNotEquals(good, tampered, edit.toString());
            Files.writeString(file, tampered);
            before.put("checkpoint/" + Checkpoint.STATE, Files.readAllBytes(file));
            var e = assertThrows(LumensparkException.class,
                    () -> new Trainer(TrainerTest.options(data, out, 6, 3), quiet()).run(true), edit.toString());
            assertTrue(e.getMessage().startsWith(file + ": " + edit.expected()), edit + ": " + e.getMessage());
            assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("io.lumenspark"), e.getMessage());
            assertSameFiles(before, out);
        }
        Files.writeString(file, good.replaceFirst("\\{", "{\"colour\": 1,"));
        var e = assertThrows(LumensparkException.class, () -> Trainer.savedOptions(out));
        assertEquals(file + ": unknown key \"colour\"", e.getMessage());
        Files.writeString(file, good.replaceFirst("\"seed\": [^,\\n]+,\\s*", ""));
        e = assertThrows(LumensparkException.class, () -> Trainer.savedThreads(out));
        assertEquals(file + ": \"options.seed\" is missing", e.getMessage());

        Files.writeString(file, good);
        assertEquals(6, new Trainer(Trainer.savedOptions(out), quiet()).run(true).steps());
        assertEquals(6, MetricsLog.read(out.resolve(RunFolder.METRICS)).size(), "the metrics are all there");
    }

    @Test
    void leftoversOfKilledWritesAreRemovedAndASecondRunIsRefused(@TempDir Path tmp) throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run");
        new Trainer(TrainerTest.options(data, out, 4, 2), quiet()).stopAfter(2).run(false);
        List<String> left = List.of(".model.safetensors.5f3a9c0e12.tmp", ".loss.png.a.tmp", ".metrics.jsonl.77.tmp");
        for (String name : left) Files.writeString(out.resolve(name), "partial");
        Files.createDirectories(out.resolve(Checkpoint.TMP));
        Files.writeString(out.resolve(Checkpoint.TMP).resolve("model.safetensors"), "partial");
        Files.writeString(out.resolve(".mine.tmp"), "not a temporary of ours");

        FolderLock held = FolderLock.acquire(out, false, "testing");
        try {
            var e = assertThrows(LumensparkException.class,
                    () -> new Trainer(Trainer.savedOptions(out), quiet()).run(true));
            assertEquals("this process is already training in " + out, e.getMessage());
            assertTrue(Files.exists(out.resolve(left.getFirst())), "nothing is cleaned without the lock");
        } finally {
            held.close();
        }
        assertEquals(4, new Trainer(Trainer.savedOptions(out), quiet()).run(true).steps());
        for (String name : left) assertFalse(Files.exists(out.resolve(name)), name);
        assertFalse(Files.exists(out.resolve(Checkpoint.TMP)));
        assertTrue(Files.exists(out.resolve(".mine.tmp")));
        assertTrue(Json.read(out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE)).has("run_id"));
    }
}
