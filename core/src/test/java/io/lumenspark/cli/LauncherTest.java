package io.lumenspark.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The launcher script's stderr filter, in a real process group. */
class LauncherTest {
    /**
     * SIGTERM to the whole process group (timeout, kill %1, kill -TERM -- -PGID) reaches the filter too: it must
     * outlive the program, so that the line the program prints while stopping gets through. A stand-in for java
     * prints the incubator warning, then a line on SIGTERM, a moment after it.
     */
    @Test
    void theStderrFilterOutlivesSigtermSentToTheProcessGroup(@TempDir Path tmp) throws Exception {
        Path launcher = Path.of("lumenspark");
        assumeTrue(Files.isRegularFile(launcher) && Files.isExecutable(Path.of("/usr/bin/setsid")), "needs setsid");
        String text = Files.readString(launcher);
        int from = text.indexOf("drop_incubator_warning() {");
        String filter = text.substring(from, text.indexOf("\n}\n", from) + 3);
        String program = "trap 'sleep 0.3; echo stopped-line >&2; exit 0' TERM;"
                + " echo 'WARNING: Using incubator modules: jdk.incubator.vector' >&2; echo started >&2;"
                + " while :; do sleep 0.05; done";
        String script = filter + "exec bash -c \"" + program + "\" 2> >(drop_incubator_warning >&2)\n";
        Path err = tmp.resolve("stderr.txt");
        Process p = new ProcessBuilder("setsid", "bash", "-c", script).redirectError(err.toFile()).start();
        try {
            for (int i = 0; i < 100 && !Files.readString(err).contains("started"); i++) Thread.sleep(50);
            assertTrue(Files.readString(err).contains("started"), Files.readString(err));
            Process kill = new ProcessBuilder("kill", "-TERM", "--", "-" + p.pid()).start();
            assertEquals(0, kill.waitFor(), "kill");
            assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the stand-in did not end");
            // the filter copies what the program wrote before it ended: wait for it, a bounded time
            for (int i = 0; i < 100 && !Files.readString(err).contains("stopped-line"); i++) Thread.sleep(50);
        } finally {
            p.destroyForcibly();
        }
        String got = Files.readString(err, StandardCharsets.UTF_8);
        assertTrue(got.startsWith("started\n") && got.endsWith("stopped-line\n"), got); // bash may say "Terminated"
        assertFalse(got.contains("WARNING"), got);
    }
}
