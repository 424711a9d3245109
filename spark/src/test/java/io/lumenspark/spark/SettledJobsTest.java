package io.lumenspark.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class SettledJobsTest {
    @Test
    void aFailedActionIsReportedOnceItsCancelledTasksHaveEnded(@TempDir Path tmp) {
        JavaSparkContext sc = LocalSpark.context();
        failWhileATaskRunsOn(sc, tmp.resolve("late"));
        assertEquals(0, sc.sc().getJobTags().size(), "the action's tags are removed from the thread");
        assertEquals(42, SettledJobs.run(sc.sc(), () -> (int) sc.parallelize(List.of(40, 2), 2).reduce(Integer::sum)));
    }

    @Test
    void theWaitDoesNotEndBeforeTheStatusStoreHasSeenTheJob(@TempDir Path tmp) {
        JavaSparkContext sc = LocalSpark.context();
        // the status store's listener queue held up for a second by the start of another job just before: the
        // failure reaches the caller while the store does not know its job yet
        AtomicBoolean first = new AtomicBoolean(true);
        SparkListener slow = new SparkListener() {
            @Override
            public void onJobStart(SparkListenerJobStart jobStart) {
                if (!first.getAndSet(false)) return;
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        sc.sc().listenerBus().addToStatusQueue(slow);
        try {
            assertEquals(1, sc.parallelize(List.of(1), 1).count());
            failWhileATaskRunsOn(sc, tmp.resolve("late"));
        } finally {
            sc.sc().listenerBus().removeListener(slow);
        }
    }

    /**
     * Partition 0 fails at once (both attempts); partition 1 runs on for a second after Spark cancels it, then
     * writes {@code late}, which must exist when the failure comes.
     */
    private static void failWhileATaskRunsOn(JavaSparkContext sc, Path late) {
        String file = late.toString();
        Exception e = assertThrows(Exception.class, () -> SettledJobs.run(sc.sc(),
                () -> sc.parallelize(List.of(0, 1), 2).foreach(p -> {
                    if (p == 0) throw new IllegalStateException("partition 0 fails");
                    Thread.sleep(1000);
                    Files.writeString(Path.of(file), "written after the job failed");
                })));
        assertTrue(e.getMessage().contains("partition 0 fails"), "Spark's failure is rethrown: " + e);
        assertTrue(Files.exists(late), "the cancelled task had ended (and written) when the failure came");
    }
}
