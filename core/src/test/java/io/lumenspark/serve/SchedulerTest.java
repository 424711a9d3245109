package io.lumenspark.serve;

import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler survives a fault of ours in a decoding step: that step's requests fail, later ones run. */
class SchedulerTest {
    @TempDir
    Path tmp;

    @Test
    void aFailedStepFailsItsRequestsAndTheSchedulerGoesOn() throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        Path folder = SmallModels.write(tmp.resolve("small"), tok, Map.of("seq_length", "64", "k", "8"));
        AtomicInteger steps = new AtomicInteger();
        Scheduler.Step faulty = (batch, decoders, tokens, logits) -> {
            if (steps.incrementAndGet() == 3) throw new IllegalStateException("planted fault");
            batch.next(decoders, tokens, logits);
        };
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder);
             Scheduler scheduler = new Scheduler("small", model, 4, 4, new Metrics(), faulty)) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(8).minNewTokens(8).build();
            int[] prompt = model.tokenizer().encode("It was the best");
            Scheduler.Job first = scheduler.submit(List.of(new Scheduler.Spec(prompt, cfg, 1L, -1),
                    new Scheduler.Spec(prompt, cfg, 2L, -1)));
            Scheduler.Failed failed = assertInstanceOf(Scheduler.Failed.class, last(first));
            assertEquals("internal error while generating (planted fault)", failed.message());
            Scheduler.Job second = scheduler.submit(List.of(new Scheduler.Spec(prompt, cfg, 1L, -1)));
            Scheduler.Done done = assertInstanceOf(Scheduler.Done.class, last(second));
            assertEquals(8, done.tokens());
            long deadline = System.nanoTime() + 10_000_000_000L; // the sequence is released as its Done is handed over
            while (!scheduler.idle() && System.nanoTime() < deadline) Thread.sleep(5);
            assertTrue(scheduler.idle(), "nothing left running");
        }
        assertTrue(steps.get() > 3, "steps ran after the fault: " + steps.get());
    }

    @Test
    void eventsComeInOrderAndClosingEndsBothThreads() throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        Path folder = SmallModels.write(tmp.resolve("small"), tok, Map.of("seq_length", "64", "k", "8"));
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder)) {
            Scheduler scheduler = new Scheduler("order", model, 4, 4, new Metrics());
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(12).minNewTokens(12).build();
            int[] prompt = model.tokenizer().encode("It was the best");
            Scheduler.Job job = scheduler.submit(List.of(new Scheduler.Spec(prompt, cfg, 1L, -1),
                    new Scheduler.Spec(prompt, cfg, 2L, -1)));
            // each choice's tokens in the order chosen, then its Done, whose result holds those same tokens
            List<List<Integer>> ids = List.of(new java.util.ArrayList<>(), new java.util.ArrayList<>());
            for (int done = 0; done < 2; ) {
                Scheduler.Event e = job.events.poll(60, TimeUnit.SECONDS);
                assertNotNull(e, "no event within 60 s");
                switch (e) {
                    case Scheduler.TokenEvent t -> ids.get(t.choice()).add(t.token().id());
                    case Scheduler.Done d -> {
                        assertEquals(java.util.Arrays.stream(d.result().ids()).boxed().toList(), ids.get(d.choice()));
                        assertEquals(12, ids.get(d.choice()).size());
                        done++;
                    }
                    case Scheduler.Failed f -> throw new AssertionError("failed: " + f.message());
                }
            }
            scheduler.close();
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                assertTrue(!t.getName().endsWith("-order") || !t.isAlive(), t.getName() + " still runs after close");
            }
        }
    }

    /** The job's last event: a Failed, or the Done of its last sequence (every event within 60 s). */
    private static Scheduler.Event last(Scheduler.Job job) throws InterruptedException {
        int left = job.specs.size();
        while (true) {
            Scheduler.Event e = job.events.poll(60, TimeUnit.SECONDS);
            assertNotNull(e, "no event within 60 s: the scheduler hangs");
            if (e instanceof Scheduler.Failed || (e instanceof Scheduler.Done && --left == 0)) return e;
        }
    }
}
