package io.lumenspark.training;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.LmObjective;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokens.EvalWindows;
import io.lumenspark.tokens.TokenFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

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
        return TrainOptions.builder().data(List.of(data)).overrides(SMALL).batch(2).steps(steps).accumulation(2)
                .lr(3e-3).minLr(3e-4).warmupFraction(0.2).evalEvery(3).evalTokens(256).checkpointEvery(checkpointEvery)
                .seed(42).out(out).build();
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

    /**
     * Stopped after step 5 and resumed, a run logs and ends exactly as one that ran through: for the masked-LM
     * objective too, whose masks are a function of (seed, step, position) and so are drawn again alike.
     */
    @ParameterizedTest
    @EnumSource(value = LmObjective.class, names = {"CAUSAL_LM", "MASKED_LM"}) // classifiers: ClassifierTrainerTest
    void resumedRunRepeatsTheUninterruptedLossCurveExactly(LmObjective objective, @TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        Path whole = tmp.resolve("whole"), split = tmp.resolve("split");
        // the masked LM: the published model's bidirectional shape
        TrainOptions.Builder run = options(data, whole, 8, 100).toBuilder().objective(objective);
        if (objective == LmObjective.MASKED_LM) run.preset("lumenspark-v0.1");
        new Trainer(run.build(), quiet()).run(false);
        new Trainer(run.out(split).build(), quiet()).stopAfter(5).run(false);
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
        assertEquals(objective, Trainer.savedOptions(split).objective());
        try (LumensparkModel m1 = LumensparkModel.load(whole); LumensparkModel m2 = LumensparkModel.load(split)) {
            int[] ids = {1, 2, 3, 4};
            assertArrayEquals(m1.languageModel().logits(ids, 1, 4), m2.languageModel().logits(ids, 1, 4));
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

    @Test
    void aRunCanBeTrainedLongerWithTheCosineOverTheNewTotalAndItsOwnWarmUp(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), whole = tmp.resolve("whole"), split = tmp.resolve("split");
        for (Path out : List.of(whole, split)) new Trainer(options(data, out, 6, 3), quiet()).run(false);
        long warmup = options(data, whole, 6, 3).warmupSteps(); // ceil(0.2 * 6) = 2; over 12 steps it would be 3
        assertEquals(2, warmup);
        Trainer.Result r = new Trainer(Trainer.savedOptions(whole).withSteps(12), quiet()).run(true);
        assertEquals(12, r.steps());
        List<Map<String, Object>> records = MetricsLog.read(whole.resolve("metrics.jsonl"));
        assertEquals(12, records.size());
        LrSchedule before = new LrSchedule(3e-3, 3e-4, warmup, 6), after = new LrSchedule(3e-3, 3e-4, warmup, 12);
        for (int s = 0; s < 12; s++) {
            assertEquals((s < 6 ? before : after).at(s), records.get(s).get("lr"), "lr of step " + (s + 1));
        }
        TrainerState state = TrainerState.read(whole);
        assertEquals(12, state.step());
        assertEquals(12, state.options().steps());
        assertEquals(warmup, state.warmupSteps());
        assertEquals(List.of(Map.of("at_step", 6, "from", 6, "to", 12)), state.budgetChanges());

        // interrupted after the change and resumed without --steps: the same numbers as without the interruption
        new Trainer(Trainer.savedOptions(split).withSteps(12), quiet()).stopAfter(9).run(true);
        new Trainer(Trainer.savedOptions(split), quiet()).run(true);
        List<Map<String, Object>> b = MetricsLog.read(split.resolve("metrics.jsonl"));
        assertEquals(records.size(), b.size());
        for (int i = 0; i < b.size(); i++) {
            for (String key : List.of("step", "train_loss", "grad_norm", "lr", "val_loss")) {
                assertEquals(records.get(i).get(key), b.get(i).get(key), "record " + i + " " + key);
            }
        }
        assertEquals(state.budgetChanges(), TrainerState.read(split).budgetChanges());

        var e = assertThrows(LumensparkException.class,
                () -> new Trainer(Trainer.savedOptions(whole).withSteps(8), quiet()).run(true));
        assertEquals("--steps 8 must be above step 12, which the run in " + whole + " has already reached",
                e.getMessage());
        assertEquals(12, MetricsLog.read(whole.resolve("metrics.jsonl")).size());
    }

    @Test
    void evaluationSamplesWindowsSpreadEvenlyOverTheSplit() {
        int[] ids = new int[41];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        TokenFile tokens = TokenFile.of(ids); // 40 targets: 10 windows of 4
        assertEquals(List.of(0L, 20L), starts(Evaluator.windows(tokens, 4, 8)));
        assertEquals(List.of(0L, 12L, 24L), starts(Evaluator.windows(tokens, 4, 9)));
        assertEquals(starts(Evaluator.windows(tokens, 4, 9)), starts(Evaluator.windows(tokens, 4, 9)));
        assertEquals(10, starts(Evaluator.windows(tokens, 4, 0)).size());
        assertEquals(10, starts(Evaluator.windows(tokens, 4, 1000)).size());
        assertEquals(8, Evaluator.targets(tokens, 4, 8));
        assertEquals(40, Evaluator.targets(tokens, 4, 0));
        assertEquals(List.of(), starts(Evaluator.windows(TokenFile.of(new int[] {1}), 4, 8)));
    }

    private static List<Long> starts(Iterable<EvalWindows.Window> windows) {
        List<Long> starts = new java.util.ArrayList<>();
        for (EvalWindows.Window w : windows) starts.add(w.start());
        return starts;
    }

    @Test
    void theInterruptionLineSaysWhereTheRunStoppedAndHowToResume() {
        Path out = Path.of("runs", "my run");
        assertEquals("stopped at step 57 of 150; last checkpoint: step 50 in runs/my run/checkpoint; continue with:"
                + " lumenspark train --resume --out 'runs/my run'", Trainer.interruptMessage(57, 150, 50, 150, 25,
                out, false));
        // a run given 300 steps with --resume --steps 300, stopped before its first checkpoint at that budget
        assertEquals("stopped at step 160 of 300; last checkpoint: step 150 in runs/my run/checkpoint; continue with:"
                + " lumenspark train --resume --out 'runs/my run' --steps 300", Trainer.interruptMessage(160, 300,
                150, 150, 25, out, false));
        assertEquals("stopped at step 7 of 150; this run has no checkpoint yet (one is written every 25 steps), so"
                + " there is nothing to resume; the earlier run in runs/my run is unchanged",
                Trainer.interruptMessage(7, 150, 0, 150, 25, out, true));
        assertEquals("stopped before the first step; this run has no checkpoint yet (one is written every 25"
                + " steps), so there is nothing to resume; the same command starts it again",
                Trainer.interruptMessage(0, 150, 0, 150, 25, out, false));
        assertEquals("lumenspark train --resume --out runs/x", Trainer.resumeCommand(Path.of("runs/x")));
        String typed = System.getProperty("lumenspark.command");
        try {
            System.setProperty("lumenspark.command", "./lumenspark");
            assertEquals("./lumenspark train --resume --out runs/x", Trainer.resumeCommand(Path.of("runs/x")));
            System.setProperty("lumenspark.command", "/opt/my tools/lumenspark");
            assertEquals("'/opt/my tools/lumenspark' train --resume --out runs/x",
                    Trainer.resumeCommand(Path.of("runs/x")));
        } finally {
            if (typed == null) System.clearProperty("lumenspark.command");
            else System.setProperty("lumenspark.command", typed);
        }
        assertEquals("'it'\\''s'", Words.shellWord("it's"));
    }
}
