package io.lumenspark.serve;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Parallel;
import io.lumenspark.generate.FinishReason;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.model.DecodeBatch;
import io.lumenspark.model.Decoder;
import io.lumenspark.model.DecoderPool;
import io.lumenspark.pretrained.LumensparkModel;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Continuous batching for one model: one thread runs decoding steps over every active sequence at once. Between
 * steps, waiting jobs are admitted while the batch has room, and finished or cancelled sequences leave. The
 * prompts of the jobs admitted together are fed together ({@link DecodeBatch#feed}: short prompts as the rows of
 * the same steps, each prompt's state the same as fed alone), and jobs that arrive meanwhile are admitted before
 * the next step, so that requests sent together start together. Each sequence samples with its own random
 * stream, and a batched step gives each sequence the logits it would get alone ({@link DecodeBatch}), so what a
 * request generates does not depend on what else is running.
 *
 * <p>The events of a pass (a step's tokens, ends, failures) go to the jobs' queues from a second thread, in order,
 * handed over in one batch: putting an event on a queue wakes the request's thread, and with sixteen streams
 * those wake-ups held the scheduler about 0.7 ms a step (the woken threads take the cores at once) before the
 * next step could start; handed over, they happen while it runs. A pass whose events are all one request's (a
 * single stream, or the choices of one request) puts them on its queue itself when the second thread has nothing
 * left to hand over: one wake-up, where handing over costs two (the second thread's, then the request's). On a
 * 2-core machine whose cores the step keeps busy, every thread woken at each token takes time from the next step.
 *
 * <p>Feeding prompts holds the running sequences' next step for its duration (on this project's 2-core machine
 * 24-40 ms for sixteen 31-token prompts of the 55 M-parameter presets, 0.1-0.3 s for a 512-token one); the README
 * gives the measured figures.
 */
final class Scheduler implements AutoCloseable {
    /** One sequence to generate: its prompt, settings and seed (null: random), and log-probabilities (-1: none). */
    record Spec(int[] prompt, GenerationConfig config, Long seed, int logprobs) {
    }

    /** What a job's sequences produce, in order, on its queue. */
    sealed interface Event {
    }

    /** A token of sequence choice. */
    record TokenEvent(int choice, Generation.Token token) implements Event {
    }

    /** Sequence choice has finished; tokens counts every token it chose (an end-of-text token included). */
    record Done(int choice, Generator.Result result, int tokens) implements Event {
    }

    /** The job failed (its sequences are stopped). */
    record Failed(String message) implements Event {
    }

    /** Jobs whose cancellation was asked (a client gone, a server closing), whether or not it has taken effect. */
    private final AtomicInteger cancellations = new AtomicInteger();

    /** The jobs whose cancellation was asked so far; the scheduler ends their sequences at its next step. */
    int cancellationsAsked() {
        return cancellations.get();
    }

    /** A request's sequences, their events, and its cancellation. */
    final class Job {
        final List<Spec> specs;
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        final long submitted = System.nanoTime();
        private final AtomicBoolean cancelled = new AtomicBoolean();
        private int left; // sequences not yet ended (the scheduler's thread, or under lock while queued)

        private Job(List<Spec> specs) {
            this.specs = List.copyOf(specs);
            left = specs.size();
        }

        /** Stops the job's sequences at the next step boundary (or takes it out of the queue). */
        void cancel() {
            if (cancelled.compareAndSet(false, true)) cancellations.incrementAndGet();
            synchronized (lock) {
                if (queue.remove(this)) { // never started: nothing runs for it
                    metrics.queueDepth(name, queue.size());
                    metrics.cancelled(name, left);
                    left = 0;
                    events.add(new Failed("cancelled"));
                }
                lock.notifyAll();
            }
        }

        boolean cancelled() {
            return cancelled.get();
        }
    }

    /**
     * A batched decoding step ({@link DecodeBatch#step}; another in tests, to make one fail): it runs that step on
     * exactly these decoders and tokens, or throws, since the sampling then reads the step's rows from the batch.
     */
    interface Step {
        void run(DecodeBatch batch, List<Decoder> decoders, int[] tokens);
    }

    /** Thrown by {@link #submit} when the queue is full. */
    static final class QueueFull extends Exception {
        QueueFull(String message) {
            super(message);
        }
    }

    private final String name;
    private final LumensparkModel model;
    private final int maxBatch, maxQueue;
    private final Metrics metrics;
    private final Step stepper;
    private final Object lock = new Object();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final List<Active> active = new ArrayList<>();
    private final Thread thread;
    /** Events not yet handed over (the scheduler's thread), and the batches the handing thread puts on the queues. */
    private List<Posted> posted = new ArrayList<>();
    private final BlockingQueue<List<Posted>> handOver = new LinkedBlockingQueue<>();
    /** Batches given to the handing thread whose events are not all on their queues yet. */
    private final AtomicInteger handing = new AtomicInteger();
    /** Passes whose events the scheduler's thread put on their queue itself (written by that thread only). */
    private volatile long directPasses;
    private final Thread hander;
    private volatile boolean stopped;
    private int running; // sequences active, for the gauge and drain (under lock)

    /** An event for a job's queue. */
    private record Posted(Job job, Event event) {
    }

    /** Ends the handing thread: queued by the scheduler's thread as it ends, after its last batch. */
    private static final List<Posted> END = new ArrayList<>(0);

    /** One running sequence, and when it last produced a token. */
    private static final class Active {
        private final Job job;
        private final int choice;
        private final Generation generation;
        private long last;

        Active(Job job, int choice, Generation generation) {
            this.job = job;
            this.choice = choice;
            this.generation = generation;
        }

        Job job() {
            return job;
        }

        int choice() {
            return choice;
        }

        Generation generation() {
            return generation;
        }
    }

    Scheduler(String name, LumensparkModel model, int maxBatch, int maxQueue, Metrics metrics) {
        this(name, model, maxBatch, maxQueue, metrics, DecodeBatch::step);
    }

    Scheduler(String name, LumensparkModel model, int maxBatch, int maxQueue, Metrics metrics, Step stepper) {
        this.name = name;
        this.model = model;
        this.maxBatch = maxBatch;
        this.maxQueue = maxQueue;
        this.metrics = metrics;
        this.stepper = stepper;
        hander = Thread.ofPlatform().name("lumenspark-events-" + name).daemon(true).start(this::handOver);
        try {
            thread = Thread.ofPlatform().name("lumenspark-scheduler-" + name).daemon(true).start(this::run);
        } catch (RuntimeException | Error e) { // no scheduler: the handing thread ends too
            handOver.add(END);
            throw e;
        }
    }

    /** The most sequences in one step. */
    int maxBatch() {
        return maxBatch;
    }

    /**
     * Queues a job.
     *
     * @throws QueueFull when max-queue jobs are already waiting
     */
    Job submit(List<Spec> specs) throws QueueFull {
        if (specs.isEmpty() || specs.size() > maxBatch) {
            throw new IllegalArgumentException(specs.size() + " sequences in one job of at most " + maxBatch);
        }
        Job job = new Job(specs);
        synchronized (lock) {
            if (stopped) throw new IllegalStateException("the scheduler has stopped");
            if (queue.size() >= maxQueue) {
                throw new QueueFull("the server is busy: " + queue.size() + " requests are waiting for model "
                        + name + "; retry later");
            }
            queue.add(job);
            metrics.queueDepth(name, queue.size());
            lock.notifyAll();
        }
        return job;
    }

    /** Passes whose events went onto their request's queue without the handing thread (see the class comment). */
    long directPasses() {
        return directPasses;
    }

    /** Whether no job is waiting or running. */
    boolean idle() {
        synchronized (lock) {
            return queue.isEmpty() && running == 0;
        }
    }

    private void run() {
        int vocab = model.config().vocabSize();
        float[][] logits = new float[maxBatch][vocab];
        // the decoders of finished sequences serve the next ones (their state mapped and resident already)
        try (DecodeBatch batch = model.languageModel().decodeBatch(maxBatch);
             DecoderPool decoders = new DecoderPool(model.languageModel(), maxBatch)) {
            while (true) {
                synchronized (lock) {
                    while (!stopped && queue.isEmpty() && active.isEmpty()) lock.wait();
                    if (stopped) break;
                }
                try {
                    // new requests first, prefilled to join the next step, and again for those that came meanwhile
                    // (at most maxBatch times: jobs that end at once give their room back); what an admission
                    // ended or failed goes out at once, not after the next feed
                    for (int pass = 0; pass < maxBatch; pass++) {
                        boolean admitted = admit(batch, decoders);
                        handOverPosted();
                        if (!admitted) break;
                    }
                    leaveCancelled();
                    handOverPosted();
                    if (!active.isEmpty()) step(batch, logits);
                } catch (RuntimeException e) { // a fault of ours: the running requests fail, the server goes on
                    String message = failure(e);
                    for (Active a : List.copyOf(active)) if (active.contains(a)) end(a.job(), message, false);
                }
                handOverPosted();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stop();
        }
    }

    /**
     * The scheduler's thread ends (closed, or an Error in a step): no job is taken any more, those running or
     * waiting fail, and the handing thread ends after their events.
     */
    private void stop() {
        List<Job> waiting;
        synchronized (lock) {
            stopped = true;
            waiting = new ArrayList<>(queue);
            queue.clear();
            metrics.queueDepth(name, 0);
            lock.notifyAll();
        }
        String message = "model " + name + " stopped generating (the server is closing)";
        try {
            for (Active a : List.copyOf(active)) {
                try {
                    boolean gone = a.job().cancelled(); // its client left before: counted as cancelled
                    if (active.contains(a)) end(a.job(), gone ? "cancelled" : message, gone);
                } catch (RuntimeException e) { // its decoder failed to close: the others still end
                    active.remove(a);
                }
            }
            for (Job job : waiting) {
                post(job, new Failed(message));
                job.left = 0;
            }
        } finally {
            handOverPosted();
            handOver.add(END);
        }
    }

    /** Puts an event on its job's queue after those posted before it (see {@link #handOverPosted}). */
    private void post(Job job, Event event) {
        posted.add(new Posted(job, event));
    }

    /**
     * Hands the events posted so far over: to the handing thread as one batch or, when they are all one job's and
     * every batch handed over before has been delivered (so they cannot overtake its events), onto that job's queue
     * from here.
     */
    private void handOverPosted() {
        if (posted.isEmpty()) return;
        Job first = posted.getFirst().job();
        if (handing.get() == 0 && posted.stream().allMatch(p -> p.job() == first)) {
            List<Posted> events = posted;
            posted = new ArrayList<>(); // taken before they go out: an Error halfway cannot send them twice
            for (Posted p : events) first.events.add(p.event());
            directPasses++;
            return;
        }
        handing.incrementAndGet();
        handOver.add(posted);
        posted = new ArrayList<>();
    }

    /** The handing thread: puts each batch's events on their jobs' queues, in order, until the end. */
    private void handOver() {
        while (true) {
            List<Posted> b;
            try {
                b = handOver.take();
            } catch (InterruptedException e) { // nobody interrupts it; the end comes as END
                continue;
            }
            if (b == END) return;
            for (Posted p : b) p.job().events.add(p.event());
            handing.decrementAndGet();
        }
    }

    /**
     * Starts waiting jobs, first come first served, while the batch has room for all of a job's sequences: their
     * prompts are fed together ({@link Generation#prefillButLast(DecodeBatch, List)}), and their first tokens come
     * from the next step. Returns whether any job was started.
     */
    private boolean admit(DecodeBatch batch, DecoderPool decoders) {
        List<Job> jobs = new ArrayList<>();
        synchronized (lock) {
            int room = maxBatch - active.size();
            for (Job job; (job = queue.peek()) != null && job.specs.size() <= room; room -= job.specs.size()) {
                jobs.add(queue.poll());
                running += job.specs.size();
            }
            if (jobs.isEmpty()) return false;
            metrics.queueDepth(name, queue.size());
            metrics.running(name, running);
        }
        List<Active> made = new ArrayList<>();
        try {
            start(jobs, made, batch, decoders);
        } catch (Error e) { // the scheduler stops (see stop): these jobs, taken from the queue, fail with the rest
            for (Active a : made) a.generation().close();
            for (Job job : jobs) end(job, "internal error while starting the request (" + e + ")", false);
            throw e;
        }
        return true;
    }

    /** Starts jobs taken from the queue (admit); made collects every sequence made, for admit's cleanup. */
    private void start(List<Job> jobs, List<Active> made, DecodeBatch batch, DecoderPool decoders) {
        List<Active> started = new ArrayList<>();
        for (Job job : jobs) {
            List<Active> sequences = new ArrayList<>();
            try {
                for (int i = 0; i < job.specs.size(); i++) {
                    Spec s = job.specs.get(i);
                    Generation g = new Generation(model.languageModel(), model.tokenizer(), s.prompt(), s.config(),
                            s.seed(), decoders);
                    Active a = new Active(job, i, g);
                    sequences.add(a);
                    made.add(a);
                    if (s.logprobs() >= 0) g.withLogprobs(s.logprobs());
                }
                started.addAll(sequences);
            } catch (RuntimeException e) {
                sequences.forEach(a -> a.generation().close());
                end(job, failure(e), false);
            }
        }
        started.removeIf(a -> a.job().cancelled() && close(a));
        long t0 = System.nanoTime();
        try {
            // the prompts but their last tokens; each first token comes from the next step, with the batch
            Generation.prefillButLast(batch, started.stream().map(Active::generation).toList());
            if (!started.isEmpty()) metrics.feed(name, (System.nanoTime() - t0) / 1e9);
            for (Active a : started) metrics.promptTokens(name, a.generation().promptTokens());
        } catch (RuntimeException e) {
            String message = failure(e);
            for (Active a : started) end(a.job(), message, false);
        }
        for (Active a : started) {
            if (a.job().cancelled() || a.job().left == 0) continue; // cancelled meanwhile, or failed: see below
            try {
                Generation g = a.generation();
                if (g.stepsNext() || deliver(a, g.next())) active.add(a); // no decoder: the prompt's pass, a token
            } catch (RuntimeException e) {
                end(a.job(), failure(e), false);
            }
        }
        for (Job job : jobs) if (job.cancelled()) end(job, "cancelled", true);
        for (Active a : started) if (!active.contains(a)) close(a); // ended, failed or cancelled before joining
    }

    /** Frees a sequence's generation; true, for removeIf. */
    private boolean close(Active a) {
        a.generation().close();
        return true;
    }

    /** Sends a token to its job; returns whether the sequence goes on (else its end is sent too). */
    private boolean deliver(Active a, Generation.Token t) {
        post(a.job(), new TokenEvent(a.choice(), t));
        long now = System.nanoTime();
        if (a.last == 0) metrics.firstToken(name, (now - a.job().submitted) / 1e9);
        metrics.token(name, a.last == 0 ? Double.NaN : (now - a.last) / 1e9);
        a.last = now;
        if (a.generation().hasNext()) return true;
        Generator.Result r = a.generation().result();
        post(a.job(), new Done(a.choice(), r, r.ids().length + (r.finishReason() == FinishReason.EOS ? 1 : 0)));
        a.job().left--;
        release(1);
        return false;
    }

    private void release(int sequences) {
        synchronized (lock) {
            running -= sequences;
            metrics.running(name, running);
            lock.notifyAll();
        }
    }

    /** Ends a job's sequences that are still running: a failure (message) or a cancellation. */
    private void end(Job job, String message, boolean cancelled) {
        active.removeIf(a -> {
            if (a.job() != job) return false;
            a.generation().close();
            return true;
        });
        if (job.left == 0) return;
        if (cancelled) metrics.cancelled(name, job.left);
        post(job, new Failed(message));
        release(job.left);
        job.left = 0;
    }

    /**
     * A failure's message for its request: a LumensparkException's own (bad input or a known limit); anything else
     * is a fault of ours, reported as an internal error in general terms and, with its stack trace, on standard error.
     */
    private String failure(RuntimeException e) {
        if (e instanceof LumensparkException) return e.getMessage();
        System.err.println("error: model " + name + ": a decoding step failed: " + e);
        e.printStackTrace();
        return FAULT;
    }

    /** What a request is told of a fault of ours; the details go to standard error. */
    static final String FAULT = "internal error while generating (the server's log has the details)";

    /** Closes the sequences of cancelled jobs. */
    private void leaveCancelled() {
        for (Active a : List.copyOf(active)) if (a.job().cancelled()) end(a.job(), "cancelled", true);
    }

    /**
     * One decoding step over every active sequence: those whose next logits are a step go through the batch
     * together; the rest (a slide of the context) run on their own. Then each sequence chooses its token, in
     * parallel (sampling is per sequence).
     */
    private void step(DecodeBatch batch, float[][] logits) {
        List<Active> stepping = new ArrayList<>();
        for (Active a : List.copyOf(active)) {
            if (!active.contains(a)) continue; // its job failed at an earlier sequence of this loop
            if (a.generation().stepsNext()) {
                stepping.add(a);
                continue;
            }
            try {
                if (!deliver(a, a.generation().next())) active.remove(a);
            } catch (RuntimeException e) {
                end(a.job(), failure(e), false);
            }
        }
        stepping.removeIf(a -> !active.contains(a)); // its job failed at a later sequence of the loop above
        int n = stepping.size();
        if (n == 0) return;
        List<Decoder> decoders = new ArrayList<>(n);
        int[] tokens = new int[n];
        for (int b = 0; b < n; b++) {
            decoders.add(stepping.get(b).generation().decoder());
            tokens[b] = stepping.get(b).generation().pendingToken();
        }
        long t0 = System.nanoTime();
        try {
            stepper.run(batch, decoders, tokens);
        } catch (RuntimeException e) { // every sequence of the step fails; the others and later requests go on
            String message = failure(e);
            for (Active a : stepping) if (active.contains(a)) end(a.job(), message, false);
            return;
        }
        Generation.Token[] chosen = new Generation.Token[n];
        String[] errors = new String[n];
        // a row's sampling passes over its logits several times (checks, processors, the draw): counted as 8
        // units of work per logit, a batch's rows go out one or two per chunk rather than five. The thread that
        // samples a row copies it out of the batch first, so its passes find it in that core's cache: 16-row steps
        // 0.26-0.29 ms shorter than with the scheduler's thread copying every row before the sampling (measured)
        Parallel.chunks(n, 8L * logits[0].length, (from, to) -> {
            for (int b = from; b < to; b++) {
                try {
                    batch.logits(b, logits[b]);
                    chosen[b] = stepping.get(b).generation().next(logits[b]);
                } catch (RuntimeException e) {
                    errors[b] = failure(e);
                }
            }
        });
        metrics.step(name, n, (System.nanoTime() - t0) / 1e9);
        // the handing thread and the requests' threads wake as the next step starts: a worker parked rather than
        // spinning leaves them a core until that step needs it (no slower than spinning, measured)
        Parallel.rest();
        for (int b = 0; b < n; b++) {
            Active a = stepping.get(b);
            if (errors[b] != null) {
                end(a.job(), errors[b], false);
            } else if (active.contains(a) && !deliver(a, chosen[b])) {
                active.remove(a);
            }
        }
    }

    /**
     * Stops the scheduler: the running and waiting jobs fail (their events delivered), then both threads end. Waits
     * up to 10 s for each; a step that runs longer ends them later (said on standard error).
     */
    @Override
    public void close() {
        synchronized (lock) {
            stopped = true;
            lock.notifyAll();
        }
        // up to 10 s each (a step still running ends first; the handing thread after the scheduler's last batch),
        // an interrupt of the caller's kept for it
        boolean interrupted = false;
        for (Thread t : List.of(thread, hander)) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            for (long left; t.isAlive() && (left = deadline - System.nanoTime()) > 0; ) {
                try {
                    t.join(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (thread.isAlive()) {
            System.err.println("warning: model " + name + ": a decoding step still runs 10 s after the server began"
                    + " closing");
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
