package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.pretrained.Truncation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.lumenspark.training.RunFolderTest.assertSameFiles;
import static io.lumenspark.training.RunFolderTest.assertUnchangedButPendingMetrics;
import static io.lumenspark.training.RunFolderTest.snapshot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A classifier's run folder under --force, as a language model's: the earlier run stays loadable and resumable
 * until the new run's first checkpoint, then the folder is the new run's alone.
 */
class ClassifierRunFolderTest {
    private static final List<List<LabeledText>> SPLIT = ClassifierTrainer.split(ClassifierTrainerTest.records(30),
            0.2, 3);
    private static final List<LabeledText> TRAIN = SPLIT.get(0), VAL = SPLIT.get(1);

    /** 24 training texts in batches of 4: 6 steps an epoch, a validation (and checkpoint) every evalEvery steps. */
    private static ClassifierOptions options(Path out, int epochs, double lr, long evalEvery, long seed) {
        return new ClassifierOptions(null, "tiny", ClassifierTrainerTest.SMALL, "gpt2",
                ProblemType.SINGLE_LABEL_CLASSIFICATION, ",", null, ClassWeights.NONE, Truncation.RIGHT, 4, epochs, lr,
                lr / 10, 0.1, 0.01, 1.0, evalEvery, 0, seed, out);
    }

    private static ClassifierTrainer trainer(ClassifierOptions o, ByteArrayOutputStream log) {
        return new ClassifierTrainer(o, new PrintStream(log, true));
    }

    private static ClassifierTrainer trainer(ClassifierOptions o) {
        return trainer(o, new ByteArrayOutputStream());
    }

    /** Metrics lines without their timings. */
    private static List<String> metrics(Path out) throws Exception {
        return Files.readAllLines(out.resolve(RunFolder.METRICS)).stream()
                .map(l -> l.replaceAll(",\"(texts_per_s|elapsed_s)\":[0-9.E-]+", "")).toList();
    }

    @Test
    void aForcedRunLeavesTheEarlierRunUntilItsFirstCheckpointThenReplacesItWhole(@TempDir Path tmp)
            throws Exception {
        Path out = tmp.resolve("run"), clean = tmp.resolve("clean");
        trainer(options(out, 2, 3e-3, 3, 3)).run(TRAIN, VAL, false); // the earlier run, finished
        Map<String, byte[]> earlier = snapshot(out);
        String earlierRun = RunFolder.runId(out);

        var e = assertThrows(LumensparkException.class, () -> trainer(options(out, 2, 3e-3, 3, 3)).run(TRAIN, VAL,
                false));
        assertEquals("--out " + out + " holds a classifier's training run (checkpoint at step 12); continue it with"
                + " --resume, replace it with --force, or choose another --out", e.getMessage());
        assertSameFiles(earlier, out);

        // a replacing run that fails before its first checkpoint (it diverges) changes none of the earlier files
        e = assertThrows(LumensparkException.class, () -> trainer(options(out, 2, 1e30, 0, 7)).replace(true)
                .run(TRAIN, VAL, false));
        assertTrue(e.getMessage().contains("diverged"), e.getMessage());
        String pending = assertUnchangedButPendingMetrics(earlier, out);
        try (TextClassifier loaded = TextClassifier.fromPretrained(out)) { // the earlier model is intact
            assertEquals(VAL.size(), loaded.predict(VAL.stream().map(LabeledText::text).toList()).size());
        }
        assertEquals(12, trainer(ClassifierTrainer.savedOptions(out)).run(TRAIN, VAL, true).steps());
        assertFalse(Files.exists(out.resolve(pending)), "a dead run's hidden metrics are removed");

        // a replacing run (another seed) stopped before its first validation: the folder is that run's alone
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        trainer(options(out, 2, 3e-3, 3, 43), log).replace(true).stopAfter(2).run(TRAIN, VAL, false);
        assertTrue(log.toString().contains("replacing the earlier run in " + out + ": its files stay until this"
                + " run's first checkpoint (step 3)"), log.toString());
        trainer(options(clean, 2, 3e-3, 3, 43)).run(TRAIN, VAL, false);
        assertNotEquals(earlierRun, RunFolder.runId(out));
        assertEquals(metrics(clean).subList(0, 2), metrics(out));
        for (String name : RunFolder.MODEL_FILES) {
            assertFalse(Files.exists(out.resolve(name)), "the earlier run's model is gone: " + name);
        }
        assertFalse(Files.exists(out.resolve(ClassifierTrainer.CONFUSION)), "and its confusion matrix");
        assertTrue(Files.exists(out.resolve(RunFolder.CHART)), "the new run's chart");
        assertFalse(snapshot(out).keySet().stream().anyMatch(n -> n.startsWith(".metrics-")));

        assertEquals(12, trainer(ClassifierTrainer.savedOptions(out)).run(TRAIN, VAL, true).steps());
        assertEquals(metrics(clean), metrics(out));
        assertArrayEquals(Files.readAllBytes(clean.resolve("model.safetensors")),
                Files.readAllBytes(out.resolve("model.safetensors")));
        assertArrayEquals(Files.readAllBytes(clean.resolve(ClassifierTrainer.CONFUSION)),
                Files.readAllBytes(out.resolve(ClassifierTrainer.CONFUSION)));
    }

    @Test
    void otherFilesAreLeftAloneAndARunStoppedBeforeItsCheckpointIsTakenOver(@TempDir Path tmp) throws Exception {
        Path other = tmp.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("notes.txt"), "mine");
        var e = assertThrows(LumensparkException.class, () -> trainer(options(other, 1, 3e-3, 0, 3)).run(TRAIN, VAL,
                false));
        assertEquals("--out " + other + " holds other files (notes.txt); train there anyway with --force (they are"
                + " left alone), or choose another --out", e.getMessage());
        assertEquals(6, trainer(options(other, 1, 3e-3, 0, 3)).replace(true).run(TRAIN, VAL, false).steps());
        assertEquals("mine", Files.readString(other.resolve("notes.txt")), "--force leaves other files alone");

        Path stopped = tmp.resolve("stopped");
        Files.createDirectories(stopped);
        Files.writeString(stopped.resolve(RunFolder.METRICS), "{\"step\": 1, \"train_loss\": 1.5}\n");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        assertEquals(6, trainer(options(stopped, 1, 3e-3, 0, 3), log).run(TRAIN, VAL, false).steps());
        assertTrue(log.toString().contains(stopped + " held the metrics of a run stopped before its first"
                + " checkpoint (nothing to resume); this run replaces them"), log.toString());
        assertEquals(metrics(other), metrics(stopped), "the new run's metrics alone");
    }

    @Test
    void aReplacementKilledBetweenItsCheckpointAndItsModelWritesTheModelWhenResumed(@TempDir Path tmp)
            throws Exception {
        Path out = tmp.resolve("run");
        trainer(options(out, 1, 3e-3, 0, 3)).run(TRAIN, VAL, false);
        // one epoch, validated (and checkpointed) at its last step: the replacing run's first checkpoint is its best
        trainer(options(out, 1, 3e-3, 0, 43)).replace(true).run(TRAIN, VAL, false);
        byte[] best = Files.readAllBytes(out.resolve("checkpoint/model.safetensors"));
        byte[] confusion = Files.readAllBytes(out.resolve(ClassifierTrainer.CONFUSION));
        // as if killed right after the checkpoint and the earlier run's files went, before its model was written
        for (String name : RunFolder.MODEL_FILES) Files.deleteIfExists(out.resolve(name));
        Files.delete(out.resolve(ClassifierTrainer.CONFUSION));

        ClassifierTrainer.Result r = trainer(ClassifierTrainer.savedOptions(out)).run(TRAIN, VAL, true);
        assertEquals(6, r.bestStep());
        assertArrayEquals(best, Files.readAllBytes(out.resolve("model.safetensors")));
        assertArrayEquals(confusion, Files.readAllBytes(out.resolve(ClassifierTrainer.CONFUSION)));
        try (TextClassifier loaded = TextClassifier.fromPretrained(out)) {
            assertEquals(List.of("c0", "c1", "c2"), loaded.labels());
        }
    }
}
