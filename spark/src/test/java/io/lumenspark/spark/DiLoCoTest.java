package io.lumenspark.spark;

import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenSplits;
import io.lumenspark.training.Evaluator;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DiLoCoTest {
    static final Map<String, String> SMALL = Map.of("embed_dim", "32", "depth", "2", "heads", "2",
            "seq_length", "32", "k", "8", "rank", "8", "dropout", "0.1");

    @TempDir
    static Path shared;
    static Path data;
    static JavaSparkContext sc;

    @BeforeAll
    static void setUp() throws Exception {
        data = prepared(shared, 300);
        sc = LocalSpark.context();
    }

    /** A prepared token folder of a small repetitive corpus (GPT-2 tokens). */
    static Path prepared(Path dir, int lines) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < lines; i++) {
            sb.append("The quick brown fox ").append(i % 17).append(" jumps over the lazy dog.\n");
        }
        Path text = Files.writeString(dir.resolve("corpus-" + lines + ".txt"), sb);
        Path out = dir.resolve("tokens-" + lines);
        TokenCorpus.prepareFolder(List.of(text), Tokenizer.byName("gpt2"), CorpusOptions.text(0.1), out, false, 1);
        return out;
    }

    static TrainOptions train(Path data, Path out, long steps) {
        return TrainOptions.builder().data(List.of(data)).overrides(SMALL).batch(2).steps(steps).accumulation(1)
                .lr(3e-3).minLr(3e-4).warmupFraction(0.2).evalEvery(1000).evalTokens(256).checkpointEvery(1000)
                .seed(42).out(out).build();
    }

    static DiLoCoOptions diloco(Path out, int workers, int inner, int rounds, double outerLr, double momentum) {
        return DiLoCoOptions.of(train(data, out, 1), workers, inner, rounds, outerLr, momentum);
    }

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream());
    }

    static float[] weights(Path modelDir) {
        try (LanguageModel m = ModelWeights.load(modelDir)) {
            return m.params().values().toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    @Test
    void oneWorkerWithOuterLrOneAndNoMomentumIsPlainTrainingBitForBit(@TempDir Path tmp) {
        // two rounds of three inner steps: the inner AdamW state is carried from one round to the next
        new Trainer(train(data, tmp.resolve("plain"), 6), quiet()).run(false);
        DiLoCo.Result r = new DiLoCo(diloco(tmp.resolve("diloco"), 1, 3, 2, 1.0, 0.0), quiet()).run(sc, false);
        assertEquals(2, r.rounds());
        assertArrayEquals(weights(tmp.resolve("plain")), weights(tmp.resolve("diloco")));
        assertFalse(Files.exists(tmp.resolve("diloco").resolve(DiLoCo.INNER)), "the replicas' state is removed at the end");
    }

    @Test
    void aRunKilledBeforeItsFirstCheckpointIsStartedAgainByTheSameCommand(@TempDir Path tmp) throws Exception {
        // what a driver killed during round 1 leaves: the metrics log (empty) and a replica's moments
        Path out = tmp.resolve("run");
        Files.createDirectories(out.resolve(DiLoCo.INNER).resolve("round-0"));
        Files.writeString(out.resolve(DiLoCo.INNER).resolve("round-0").resolve("part-0.safetensors"), "partial");
        Files.writeString(out.resolve(DiLoCo.METRICS), "");
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.lumenspark.LumensparkException.class,
                () -> DiLoCo.savedOptions(out));
        assertEquals(out + " has no checkpoint yet: its run stopped before round 1 finished; the same command"
                + " without --resume starts it again", e.getMessage());
        assertEquals("stopped in round 1 of 3; this run has no checkpoint yet, so there is nothing to resume; the"
                + " same command starts it again", DiLoCo.stoppedMessage(out, 3));
        DiLoCo.Result r = new DiLoCo(diloco(out, 1, 1, 1, 1.0, 0.0), quiet()).run(sc, false);
        assertEquals(1, r.rounds());
        assertEquals(1, MetricsLog.read(out.resolve(DiLoCo.METRICS)).size(), "the new run's one round");
        assertTrue(Files.isRegularFile(out.resolve(DiLoCo.CHECKPOINT).resolve(DiLoCo.STATE)));
        // resumed once finished: said so, with the run's last losses, and nothing trained or written
        byte[] model = Files.readAllBytes(out.resolve(ModelWeights.WEIGHTS));
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        DiLoCo.Result again = new DiLoCo(DiLoCo.savedOptions(out), new PrintStream(said, true)).run(sc, true);
        assertEquals("the run in " + out + " is finished (round 1 of 1): nothing to train\n", said.toString());
        assertEquals(r.valLoss(), again.valLoss());
        assertEquals(r.trainLoss(), again.trainLoss());
        assertArrayEquals(model, Files.readAllBytes(out.resolve(ModelWeights.WEIGHTS)));
        assertEquals(1, MetricsLog.read(out.resolve(DiLoCo.METRICS)).size());
        assertEquals("stopped in round 2 of 3; last checkpoint: round 1 in " + out.resolve(DiLoCo.CHECKPOINT)
                + "; continue with: lumenspark spark train --resume --out " + out, DiLoCo.stoppedMessage(out, 3));
        // stopped after its last checkpoint, before the final model was saved: --resume saves it
        Files.delete(out.resolve(ModelWeights.WEIGHTS));
        assertEquals("stopped after round 1 of 1, before the final model was saved; save it with: lumenspark spark"
                + " train --resume --out " + out, DiLoCo.stoppedMessage(out, 1));
        said.reset();
        new DiLoCo(DiLoCo.savedOptions(out), new PrintStream(said, true)).run(sc, true);
        assertTrue(said.toString().startsWith("saved the final model of the run in " + out), said.toString());
        assertArrayEquals(model, Files.readAllBytes(out.resolve(ModelWeights.WEIGHTS)), "the checkpoint's model");
    }

    @Test
    void twoWorkersOnIdenticalShardsComputeIdenticalChanges(@TempDir Path tmp) throws Exception {
        // a training split made of the same tokens twice: both halves, the two workers' shards, are equal
        Path twice = tmp.resolve("twice");
        Files.createDirectories(twice);
        byte[] train = Files.readAllBytes(data.resolve("train.bin"));
        byte[] doubled = new byte[train.length * 2];
        System.arraycopy(train, 0, doubled, 0, train.length);
        System.arraycopy(train, 0, doubled, train.length, train.length);
        Files.write(twice.resolve("train.bin"), doubled);
        Files.copy(data.resolve("val.bin"), twice.resolve("val.bin"));
        var manifest = (com.fasterxml.jackson.databind.node.ObjectNode) Json.read(data.resolve("manifest.json"));
        manifest.put("trainTokens", manifest.path("trainTokens").asLong() * 2);
        Json.write(twice.resolve("manifest.json"), manifest);

        DiLoCoOptions o = DiLoCoOptions.of(train(twice, tmp.resolve("run"), 1), 2, 3, 1, 0.7, 0.9);
        ModelConfig cfg = ModelConfig.preset(o.preset()).with(o.overrides()).with("vocab_size", "50257");
        InnerSpec spec = new InnerSpec(o.data(), null, InnerSpec.configMap(cfg), o.batch(), 32, 1, o.seed(), o.lr(),
                o.minLr(), o.warmupSteps(), o.totalSteps(), o.gradClip(), o.weightDecay(), 3, 2,
                tmp.resolve("inner").toString(), "identical-shards", 1, "auto", -1, -1);
        float[] start;
        try (LanguageModel m = new LanguageModel(cfg)) {
            m.initialize(42);
            start = m.params().values().toArray(ValueLayout.JAVA_FLOAT);
        }
        try {
            double[] a = Replicas.train(spec, 0, 0, start).sum();
            double[] b = Replicas.train(spec, 0, 1, start).sum();
            assertArrayEquals(a, b);
            assertTrue(java.util.Arrays.stream(a).anyMatch(x -> x != 0), "the replicas trained");
        } finally {
            Replicas.evict("identical-shards");
        }
    }

    @Test
    void retriedTasksAndResumedJobsGiveTheUninterruptedResultAndTheLossFalls(@TempDir Path tmp) throws Exception {
        Path whole = tmp.resolve("whole"), failing = tmp.resolve("failing"), resumed = tmp.resolve("resumed");
        DiLoCo.Result r = new DiLoCo(diloco(whole, 2, 3, 3, 0.7, 0.9), quiet()).run(sc, false);
        assertFalse(Files.exists(whole.resolve(FolderLock.FILE)), "a finished run's folder (a model) has no lock file");
        assertTrue(Files.size(whole.resolve("loss.png")) > 0, "the loss chart, as train draws it");
        // partition 1's task of round 2 fails half-way on its first attempt; Spark (local[2,2]) retries it
        CountDownLatch failed = new CountDownLatch(1);
        sc.sc().addSparkListener(new SparkListener() {
            @Override
            public void onTaskEnd(SparkListenerTaskEnd end) {
                if (end.reason() instanceof ExceptionFailure f && f.description().contains("injected failure")) {
                    failed.countDown();
                }
            }
        });
        new DiLoCo(diloco(failing, 2, 3, 3, 0.7, 0.9), quiet()).injectFailure(1, 1).run(sc, false);
        assertTrue(failed.await(5, TimeUnit.MINUTES), "the injected failure happened (and was retried)");
        // killed after round 1 (its checkpoint written), moved, then resumed where it is now
        Path stopped = tmp.resolve("stopped");
        new DiLoCo(diloco(stopped, 2, 3, 3, 0.7, 0.9), quiet()).stopAfter(1).run(sc, false);
        assertEquals(1, MetricsLog.read(stopped.resolve("metrics.jsonl")).size());
        Files.move(stopped, resumed);
        new DiLoCo(DiLoCo.savedOptions(resumed), quiet()).run(sc, true);
        assertFalse(Files.exists(stopped), "the moved run was resumed where it is, not where it was");

        float[] expected = weights(whole);
        assertArrayEquals(expected, weights(failing), "a retried task changes nothing");
        assertArrayEquals(expected, weights(resumed), "a resumed job repeats the uninterrupted one");
        List<Map<String, Object>> a = MetricsLog.read(whole.resolve("metrics.jsonl"));
        List<Map<String, Object>> b = MetricsLog.read(resumed.resolve("metrics.jsonl"));
        assertEquals(3, a.size());
        for (int i = 0; i < 3; i++) assertEquals(a.get(i).get("val_loss"), b.get(i).get("val_loss"));

        double initial;
        DiLoCoOptions o = diloco(whole, 2, 3, 3, 0.7, 0.9);
        ModelConfig cfg = ModelConfig.preset(o.preset()).with(o.overrides()).with("vocab_size", "50257");
        try (LanguageModel m = new LanguageModel(cfg); TokenSplits s = TokenCorpus.openPrepared(data,
                Tokenizer.byName("gpt2"), Tokenizer.byName("gpt2"))) {
            m.initialize(42);
            initial = Evaluator.evaluate(m, s.val(), 2, 32, 256).loss();
        }
        double first = ((Number) a.getFirst().get("val_loss")).doubleValue();
        assertTrue(first < initial && r.valLoss() < first, "validation loss " + initial + " -> " + first + " -> "
                + r.valLoss());
    }
}
