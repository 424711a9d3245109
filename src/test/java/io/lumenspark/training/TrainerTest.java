package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.ModelFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    static final Map<String, String> SMALL = Map.of("embed_dim", "32", "depth", "2", "heads", "2",
            "seq_length", "32", "k", "8", "rank", "8", "dropout", "0.1");

    static TrainOptions options(Path data, Path out, long steps, long checkpointEvery) {
        return new TrainOptions(List.of(data), 0.1, "lumenspark", SMALL, null, 2, 0, steps, 2, 3e-3, 3e-4, 0.2,
                0.01, 1.0, 3, 256, checkpointEvery, 42, out);
    }

    static Path corpus(Path dir) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) sb.append("The quick brown fox ").append(i % 17).append(" jumps over the lazy dog.\n");
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, sb);
        return f;
    }

    private static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream());
    }

    @Test
    void resumedRunRepeatsTheUninterruptedLossCurveExactly(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        Path whole = tmp.resolve("whole"), split = tmp.resolve("split");
        new Trainer(options(data, whole, 8, 100), quiet()).run(false);
        new Trainer(options(data, split, 8, 100), quiet()).stopAfter(5).run(false);
        assertEquals(5, MetricsLog.read(split.resolve("metrics.jsonl")).size());
        new Trainer(Trainer.savedOptions(split), quiet()).run(true);

        List<Map<String, Object>> a = MetricsLog.read(whole.resolve("metrics.jsonl"));
        List<Map<String, Object>> b = MetricsLog.read(split.resolve("metrics.jsonl"));
        assertEquals(8, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            for (String key : List.of("step", "train_loss", "grad_norm", "lr")) {
                assertEquals(a.get(i).get(key), b.get(i).get(key), "record " + i + " " + key);
            }
            assertEquals(a.get(i).get("val_loss"), b.get(i).get("val_loss"), "record " + i + " val_loss");
        }
        try (LumensparkModel m1 = ModelFiles.load(whole); LumensparkModel m2 = ModelFiles.load(split)) {
            int[] ids = {1, 2, 3, 4};
            assertArrayEquals(m1.logits(ids, 1, 4), m2.logits(ids, 1, 4));
        }
        assertTrue(Files.size(whole.resolve("loss.png")) > 1000);
    }

    @Test
    void sameSeedGivesSameNumbersAndTrainingLowersTheLoss(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        new Trainer(options(data, tmp.resolve("a"), 12, 100), quiet()).run(false);
        new Trainer(options(data, tmp.resolve("b"), 12, 100), quiet()).run(false);
        List<Map<String, Object>> a = MetricsLog.read(tmp.resolve("a/metrics.jsonl"));
        List<Map<String, Object>> b = MetricsLog.read(tmp.resolve("b/metrics.jsonl"));
        for (int i = 0; i < a.size(); i++) assertEquals(a.get(i).get("train_loss"), b.get(i).get("train_loss"));
        double first = ((Number) a.getFirst().get("train_loss")).doubleValue();
        double last = ((Number) a.getLast().get("train_loss")).doubleValue();
        assertTrue(last < first - 0.5, "loss went from " + first + " to " + last);
    }

    @Test
    void badInputsAreClearErrors(@TempDir Path tmp) throws Exception {
        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "");
        var e = assertThrows(LumensparkException.class,
                () -> new Trainer(options(empty, tmp.resolve("o"), 2, 1), quiet()).run(false));
        assertTrue(e.getMessage().contains("no text"), e.getMessage());
        e = assertThrows(LumensparkException.class,
                () -> new Trainer(options(tmp.resolve("missing.txt"), tmp.resolve("o"), 2, 1), quiet()).run(false));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
        e = assertThrows(LumensparkException.class, () -> Trainer.savedOptions(tmp.resolve("nothing")));
        assertTrue(e.getMessage().contains("no checkpoint"), e.getMessage());
    }
}
