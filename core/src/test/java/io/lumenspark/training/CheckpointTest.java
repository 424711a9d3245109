package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run killed in the middle of swapping checkpoints can still be resumed, and continues correctly. */
class CheckpointTest {
    @Test
    void resumeRecoversFromASaveInterruptedBetweenItsRenames(@TempDir Path tmp) throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run");
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        new Trainer(TrainerTest.options(data, out, 6, 2), quiet).stopAfter(4).run(false);
        // as if killed after "checkpoint -> .checkpoint.old" and before ".checkpoint.tmp -> checkpoint"
        Files.move(out.resolve(Checkpoint.FOLDER), out.resolve(".checkpoint.old"));
        assertEquals(out.resolve(".checkpoint.old"), Checkpoint.find(out));
        Trainer.Result r = new Trainer(Trainer.savedOptions(out), quiet).run(true);
        assertEquals(6, r.steps());
        assertTrue(Files.exists(out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE)));
        assertFalse(Files.exists(out.resolve(".checkpoint.old")));
    }

    @Test
    void resumingWithOtherDataIsRefused(@TempDir Path tmp) throws Exception {
        Path data = TrainerTest.corpus(tmp), out = tmp.resolve("run");
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        new Trainer(TrainerTest.options(data, out, 4, 2), quiet).run(false);
        Files.writeString(tmp.resolve("other.txt"), "Completely different text about ships and the sea.\n".repeat(200));
        var e = assertThrows(LumensparkException.class, () -> new Trainer(TrainerTest.options(
                tmp.resolve("other.txt"), out, 4, 2), quiet).stopAfter(0).run(true));
        assertTrue(e.getMessage().contains("training data changed"), e.getMessage());
    }
}
