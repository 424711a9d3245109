package io.lumenspark.spark;

import org.apache.spark.JobExecutionStatus;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkJobInfo;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.SparkStatusTracker;
import org.apache.spark.api.java.JavaSparkContext;
import org.slf4j.LoggerFactory;
import scala.Option;

import java.time.Duration;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * Spark actions whose failure reaches the caller only after their tasks have ended. Spark fails a job at the first
 * task that fails for good and cancels the others without waiting for them: a cancelled task runs on until it next
 * reads its input (or to its end), and may write meanwhile, e.g. into an output folder that the failed run has
 * already removed (Hadoop's writers make the missing parent folders again), or into a folder whose lock the run has
 * released. {@link #run} tags the action's jobs and, when it throws, waits for their tasks first, so that what the
 * caller does about the failure comes after the last write.
 */
final class SettledJobs {
    /** How long a failure waits for cancelled tasks at most (one that ignores its cancellation runs to its end). */
    static final Duration LIMIT = Duration.ofMinutes(2);

    private SettledJobs() {
    }

    /**
     * Runs {@code action} (which runs Spark jobs on this thread) and returns its result; if it throws, rethrows once
     * no task of its jobs runs any more, or after {@link #LIMIT} (with a warning in Spark's log).
     */
    static <T> T run(SparkContext sc, Supplier<T> action) {
        String tag = "lumenspark-" + UUID.randomUUID();
        sc.addJobTag(tag);
        try {
            return action.get();
        } catch (Throwable t) { // Spark's SparkException too, which Java does not see declared
            try {
                if (!settle(sc, tag, LIMIT)) {
                    LoggerFactory.getLogger(SettledJobs.class).warn("tasks of a failed job still run after {} s;"
                            + " going on without them", LIMIT.toSeconds());
                }
            } catch (RuntimeException e) {
                t.addSuppressed(e);
            }
            throw t;
        } finally {
            sc.removeJobTag(tag);
        }
    }

    /** {@link #run(SparkContext, Supplier)} for an action without a result. */
    static void run(SparkContext sc, Runnable action) {
        run(sc, () -> {
            action.run();
            return null;
        });
    }

    /**
     * Waits until every job tagged {@code tag} has ended and none of its stages runs a task; false if that took
     * longer than {@code limit}. The status tracker reads a store that a listener thread fills behind the scheduler,
     * so a job without tasks is run first, under a tag of its own: Spark announces it from this thread, after the
     * tagged jobs' events, and once the store holds it, it holds theirs. A job's end reaches the store after its
     * stages' ends, whose counts of running tasks are then exact (later task ends only lower them), so a job that
     * still shows as running is waited for too.
     */
    static boolean settle(SparkContext sc, String tag, Duration limit) {
        if (sc.isStopped()) return true; // stopped under the action (Ctrl-C): its tasks were killed with it
        long deadline = System.nanoTime() + limit.toNanos();
        String barrier = tag + "-barrier";
        sc.addJobTag(barrier);
        try {
            JavaSparkContext.fromSparkContext(sc).emptyRDD().count();
        } finally {
            sc.removeJobTag(barrier);
        }
        SparkStatusTracker status = sc.statusTracker();
        while (!sc.isStopped() && (status.getJobIdsForTag(barrier).length == 0 || running(status, tag))) {
            if (System.nanoTime() >= deadline) return false;
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return true;
            }
        }
        return true;
    }

    private static boolean running(SparkStatusTracker status, String tag) {
        for (int job : status.getJobIdsForTag(tag)) {
            Option<SparkJobInfo> info = status.getJobInfo(job);
            if (info.isEmpty()) continue;
            if (info.get().status() == JobExecutionStatus.RUNNING) return true;
            for (int stage : info.get().stageIds()) {
                Option<SparkStageInfo> s = status.getStageInfo(stage);
                if (s.isDefined() && s.get().numActiveTasks() > 0) return true;
            }
        }
        return false;
    }
}
