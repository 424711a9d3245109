package io.lumenspark.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class SettledJobsTest {
    @Test
    void aFailedActionIsReportedOnceItsCancelledTasksHaveEnded(@TempDir Path tmp) {
        JavaSparkContext sc = LocalSpark.context();
        String late = tmp.resolve("late").toString();
        // partition 0 fails at once (both attempts); partition 1 runs on for a second after Spark cancels it
        Exception e = assertThrows(Exception.class, () -> SettledJobs.run(sc.sc(),
                () -> sc.parallelize(List.of(0, 1), 2).foreach(p -> {
                    if (p == 0) throw new IllegalStateException("partition 0 fails");
                    Thread.sleep(1000);
                    Files.writeString(Path.of(late), "written after the job failed");
                })));
        assertTrue(e.getMessage().contains("partition 0 fails"), "Spark's failure is rethrown: " + e);
        assertTrue(Files.exists(Path.of(late)), "the cancelled task had ended (and written) when the failure came");
        assertEquals(0, sc.sc().getJobTags().size(), "the action's tag is removed from the thread");
        assertEquals(42, SettledJobs.run(sc.sc(), () -> (int) sc.parallelize(List.of(40, 2), 2).reduce(Integer::sum)));
    }
}
