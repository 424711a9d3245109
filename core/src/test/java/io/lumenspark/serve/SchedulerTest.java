package io.lumenspark.serve;

import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler: a fault of ours in a step, the order of a job's events, and closing while a step runs. */
class SchedulerTest {
    @TempDir
    Path tmp;

    @Test
    void aFailedStepFailsItsRequestsAndTheSchedulerGoesOn() throws Exception {
        Path folder = small();
        AtomicInteger steps = new AtomicInteger();
        Scheduler.Step faulty = (batch, decoders, tokens) -> {
            if (steps.incrementAndGet() == 3) throw new IllegalStateException("planted fault");
            batch.step(decoders, tokens);
        };
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder);
             Scheduler scheduler = new Scheduler("small", model, 4, 4, new Metrics(), faulty)) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(8).minNewTokens(8).build();
            int[] prompt = model.tokenizer().encode("It was the best");
            Scheduler.Job first = scheduler.submit(List.of(new Scheduler.Spec(prompt, cfg, 1L, -1),
                    new Scheduler.Spec(prompt, cfg, 2L, -1)));
            Scheduler.Failed failed = assertInstanceOf(Scheduler.Failed.class, last(first));
            assertEquals(Scheduler.FAULT, failed.message(), "the details go to the log, not to the client");
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
    void eventsComeInOrderAndNothingAfterTheDone() throws Exception {
        Path folder = small();
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder);
             Scheduler scheduler = new Scheduler("in-order", model, 4, 4, new Metrics())) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(12).minNewTokens(12).doSample(true)
                    .temperature(1.5).topK(0).build();
            int[] prompt = model.tokenizer().encode("It was the best");
            List<List<Integer>> firstIds = null;
            List<List<Double>> firstLogprobs = null;
            for (int round = 0; round < 2; round++) { // the second with decoders the first gave back
                Scheduler.Job job = scheduler.submit(List.of(new Scheduler.Spec(prompt, cfg, 1L, 0),
                        new Scheduler.Spec(prompt, cfg, 2L, 0)));
                // each choice's tokens in the order chosen, then its Done, whose result holds those same tokens
                List<List<Integer>> ids = List.of(new ArrayList<>(), new ArrayList<>());
                List<List<Double>> logprobs = List.of(new ArrayList<>(), new ArrayList<>());
                for (int done = 0; done < 2; ) {
                    Scheduler.Event e = job.events.poll(60, TimeUnit.SECONDS);
                    assertNotNull(e, "no event within 60 s");
                    switch (e) {
                        case Scheduler.TokenEvent t -> {
                            ids.get(t.choice()).add(t.token().id());
                            logprobs.get(t.choice()).add(t.token().logprobs().logprob());
                        }
                        case Scheduler.Done d -> {
                            assertEquals(Arrays.stream(d.result().ids()).boxed().toList(), ids.get(d.choice()));
                            assertEquals(12, ids.get(d.choice()).size());
                            done++;
                        }
                        case Scheduler.Failed f -> throw new AssertionError("failed: " + f.message());
                    }
                }
                assertNull(job.events.poll(200, TimeUnit.MILLISECONDS), "an event after the last Done");
                assertTrue(!ids.get(0).equals(ids.get(1)), "two seeds drew the same tokens: choices could be mixed up");
                if (round == 1) { // a pooled decoder computes as a new one: the same draws, the same log-probabilities
                    assertEquals(firstIds, ids);
                    assertEquals(firstLogprobs, logprobs);
                }
                firstIds = ids;
                firstLogprobs = logprobs;
            }
        }
    }

    /**
     * Two jobs decode together until the shorter ends; the longer's later events then go onto its queue from the
     * scheduler's thread rather than through the handing thread (counted by the scheduler): every job still gets its
     * tokens in order, each once, its Done last. Sampled at a high temperature, so that tokens out of order would
     * show; five rounds, so that some switches to the direct path come while the handing thread still holds a batch.
     * Each step takes a millisecond more than the small model needs, as a real model's does, so that the handing
     * thread catches up while the longer job runs alone (with sub-millisecond steps on a loaded machine it may not,
     * and then the scheduler rightly hands every pass over).
     */
    @Test
    void aJobLeftAloneGetsItsEventsInOrderWhenTheyStopBeingHandedOver() throws Exception {
        Path folder = small();
        Scheduler.Step slower = (batch, decoders, tokens) -> {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            batch.step(decoders, tokens);
        };
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder);
             Scheduler scheduler = new Scheduler("alone", model, 4, 4, new Metrics(), slower)) {
            int[] prompt = model.tokenizer().encode("It was the best");
            long direct = scheduler.directPasses();
            for (int round = 0; round < 5; round++) {
                Scheduler.Job shortJob = scheduler.submit(List.of(new Scheduler.Spec(prompt, sampled(2), 1L, -1)));
                Scheduler.Job longJob = scheduler.submit(List.of(new Scheduler.Spec(prompt, sampled(24), 2L, -1)));
                for (Scheduler.Job job : List.of(shortJob, longJob)) {
                    List<Integer> ids = new ArrayList<>();
                    Scheduler.Event e;
                    while ((e = job.events.poll(60, TimeUnit.SECONDS)) instanceof Scheduler.TokenEvent t) {
                        ids.add(t.token().id());
                    }
                    Scheduler.Done done = assertInstanceOf(Scheduler.Done.class, e, "a token, a failure or nothing");
                    assertEquals(Arrays.stream(done.result().ids()).boxed().toList(), ids, "tokens out of order");
                    assertNull(job.events.poll(50, TimeUnit.MILLISECONDS), "an event after the Done");
                    if (job == longJob) assertTrue(new HashSet<>(ids).size() > 1, "one token throughout: order unseen");
                }
            }
            assertTrue(scheduler.directPasses() > direct, "no pass of a job left alone went directly");
        }
    }

    private static GenerationConfig sampled(int tokens) {
        return GenerationConfig.builder().maxNewTokens(tokens).minNewTokens(tokens).doSample(true).temperature(1.5)
                .topK(0).build();
    }

    /**
     * Closing while a step runs: the step finishes, its tokens are delivered, then the job fails with a message, as
     * does a job still waiting; nothing is lost or left waiting, a new job is refused, and both threads end.
     */
    @Test
    void closingWhileAStepRunsDeliversItsTokensThenFailsTheJob() throws Exception {
        Path folder = small();
        CountDownLatch inStep = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicInteger steps = new AtomicInteger();
        Scheduler.Step held = (batch, decoders, tokens) -> {
            if (steps.incrementAndGet() == 3) {
                inStep.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            batch.step(decoders, tokens);
        };
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder)) {
            Scheduler scheduler = new Scheduler("closing", model, 4, 4, new Metrics(), held);
            Thread closer = null;
            try {
                assertTrue(alive("lumenspark-scheduler-closing") && alive("lumenspark-events-closing"));
                GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(8).minNewTokens(8).build();
                Scheduler.Job job = scheduler.submit(List.of(new Scheduler.Spec(
                        model.tokenizer().encode("It was the best"), cfg, 1L, -1)));
                assertTrue(inStep.await(60, TimeUnit.SECONDS), "the third step never came");
                Scheduler.Spec one = new Scheduler.Spec(model.tokenizer().encode("It"), cfg, 2L, -1);
                Scheduler.Job waiting = scheduler.submit(List.of(one, one, one, one)); // no room: it waits
                closer = Thread.ofPlatform().start(scheduler::close);
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (closer.getState() != Thread.State.TIMED_WAITING && System.nanoTime() < deadline) Thread.sleep(5);
                release.countDown();
                int tokens = 0;
                Scheduler.Event e;
                while ((e = job.events.poll(60, TimeUnit.SECONDS)) instanceof Scheduler.TokenEvent) tokens++;
                Scheduler.Failed failed = assertInstanceOf(Scheduler.Failed.class, e);
                assertTrue(failed.message().contains("stopped generating"), failed.message());
                assertEquals(3, tokens, "the tokens of the three steps that ran");
                assertNull(job.events.poll(200, TimeUnit.MILLISECONDS), "an event after the failure");
                Scheduler.Failed notStarted = assertInstanceOf(Scheduler.Failed.class,
                        waiting.events.poll(60, TimeUnit.SECONDS), "the waiting job fails too");
                assertTrue(notStarted.message().contains("stopped generating"), notStarted.message());
                closer.join(30_000);
                assertThrows(IllegalStateException.class, () -> scheduler.submit(List.of(new Scheduler.Spec(
                        model.tokenizer().encode("It"), cfg, 1L, -1))));
                assertTrue(!alive("lumenspark-scheduler-closing") && !alive("lumenspark-events-closing"),
                        "a thread of the closed scheduler still runs");
            } finally {
                release.countDown();
                scheduler.close();
                if (closer != null) closer.join(30_000);
            }
        }
    }

    /**
     * A request of two prompts whose second fails as its context slides (no token left to choose) while its first
     * is already in the step: that request fails, and another request in the same steps goes on to its end.
     */
    @Test
    void aSequenceFailingBeforeTheStepFailsOnlyItsOwnRequest() throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        int n = 512;
        Path folder = SmallModels.write(tmp.resolve("small"), tok, Map.of("seq_length", "" + n, "k", "8"));
        try (LumensparkModel model = LumensparkModel.fromPretrained(folder);
             Scheduler scheduler = new Scheduler("sibling", model, 4, 4, new Metrics())) {
            int v = model.config().vocabSize(), eos = model.tokenizer().eosId();
            int missing = eos == 5 ? 6 : 5; // the one id (besides those it bans) the long prompt lacks
            int[] full = new int[n - 1];
            for (int i = 0, id = 0; i < full.length; i++, id = (id + 1) % v) {
                if (id == missing) id = (id + 1) % v;
                full[i] = id;
            }
            GenerationConfig plain = GenerationConfig.builder().maxNewTokens(20).minNewTokens(20).build();
            // every token of the context banned once it slides: its next choice fails
            GenerationConfig banning = GenerationConfig.builder().maxNewTokens(20).noRepeatNgramSize(1)
                    .contextOverflow("slide").build();
            int[] prompt = model.tokenizer().encode("It was the best");
            Scheduler.Job other = scheduler.submit(List.of(new Scheduler.Spec(prompt, plain, 7L, -1)));
            Scheduler.Job pair = scheduler.submit(List.of(new Scheduler.Spec(prompt, plain, 1L, -1),
                    new Scheduler.Spec(full, banning, 2L, -1)));
            assertInstanceOf(Scheduler.Failed.class, last(pair), "the request whose sequence failed");
            Scheduler.Done done = assertInstanceOf(Scheduler.Done.class, last(other), "the other request");
            assertEquals(20, done.tokens());
        }
    }

    /** A small model of context 64 in a folder of tmp. */
    private Path small() throws Exception {
        return SmallModels.write(tmp.resolve("small"), SmallModels.tokenizer(tmp), Map.of("seq_length", "64", "k", "8"));
    }

    private static boolean alive(String name) {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(name) && t.isAlive());
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
