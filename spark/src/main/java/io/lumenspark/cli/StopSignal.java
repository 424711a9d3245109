package io.lumenspark.cli;

import org.apache.hadoop.util.ShutdownHookManager;
import org.apache.spark.SparkContext;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C and SIGTERM during a run of the Spark command line. On its own, the JVM runs Spark's shutdown hook, which
 * stops the Spark context under the command, and exits as soon as the hooks are done: the command's thread is cut off
 * wherever it is (writing a checkpoint, removing a failed job's output) and says nothing, or says what the stopped
 * context made of its job. This class's hook runs first (Hadoop's hook manager runs hooks by priority, Spark's at 40):
 * it marks the run as stopping, cancels the context's jobs (again every 100 ms, so that a job the command starts
 * meanwhile is cancelled too) and waits until the command has ended (its cancelled job settled, its output removed
 * or its checkpoint written, its one line printed), at most {@link #LIMIT}. Then Spark's hook stops the context and
 * the JVM exits with the signal's status (130 for SIGINT, 143 for SIGTERM).
 */
final class StopSignal {
    /** Above Spark's shutdown hook (40, which stops the context): runs before it. */
    static final int PRIORITY = 50;
    /** How long the hook waits for the command at most: a failed job's own wait for its tasks, and some. */
    static final Duration LIMIT = Duration.ofMinutes(2).plusSeconds(30);
    /** When the hook says what it waits for, if the command has not said it stopped by then. */
    private static final Duration QUIET = Duration.ofSeconds(3);

    private static StopSignal current;

    private final Runnable hook = this::stop;
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile SparkContext context;
    private volatile boolean requested;
    private boolean reported; // the command's line is out: the hook says nothing more

    private StopSignal() {
    }

    /** Watches for the signals during one run of the command line, until {@link #end}. */
    static synchronized void begin() {
        end();
        current = new StopSignal();
        try {
            ShutdownHookManager.get().addShutdownHook(current.hook, PRIORITY, LIMIT.toSeconds() + 10,
                    TimeUnit.SECONDS);
        } catch (IllegalStateException shuttingDown) { // the signal came as the command started
            current.requested = true;
        }
    }

    /** The context whose jobs a signal cancels, from now on. */
    static synchronized void watch(SparkContext sc) {
        if (current != null) current.context = sc;
    }

    /** Whether a signal has come during this run. */
    static synchronized boolean requested() {
        return current != null && current.requested;
    }

    /** Whether a signal has come while the command ran jobs on {@code sc}, or the context was stopped otherwise. */
    static boolean stopping(SparkContext sc) {
        return requested() || sc.isStopped();
    }

    /** Prints the command's one line about its stop on stderr; the hook says nothing after it. */
    static void report(String line) {
        StopSignal s;
        synchronized (StopSignal.class) {
            s = current;
        }
        if (s == null) {
            System.err.println(line);
        } else {
            s.say(line, true);
        }
    }

    /** The command has ended (its line printed): the hook, if it runs, returns. */
    static synchronized void end() {
        StopSignal s = current;
        if (s == null) return;
        current = null;
        s.ended.countDown();
        try {
            ShutdownHookManager.get().removeShutdownHook(s.hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running: it returns now
        }
    }

    private synchronized void say(String line, boolean last) {
        if (reported) return;
        reported = last;
        System.err.println(line);
        System.err.flush();
    }

    private void stop() {
        requested = true;
        long start = System.nanoTime();
        boolean told = false;
        try {
            while (!ended.await(100, TimeUnit.MILLISECONDS)) {
                SparkContext sc = context;
                if (sc != null && !sc.isStopped()) sc.cancelAllJobs();
                long waited = System.nanoTime() - start;
                if (waited > LIMIT.toNanos()) return;
                if (!told && sc != null && waited > QUIET.toNanos()) {
                    say("stopping: waiting for the running Spark tasks to end (kill -9 ends the process at once)",
                            false);
                    told = true;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // Hadoop's manager gave up on the hook
        }
    }
}
