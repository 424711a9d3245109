package io.lumenspark.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one progress bar: its line is ended exactly once, however and whenever it is closed. */
class ProgressBarsTest {
    @Test
    void aBarEndsItsLineOnceWhoeverClosesIt() {
        for (ProgressBars.Unit unit : ProgressBars.Unit.values()) {
            for (int i = 0; i < 20; i++) { // closed at once or after its first redraw: the library's race, both ways
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                ProgressBars.Bar bar = ProgressBars.open("eval", 100, 0, unit,
                        new PrintStream(bytes, true, StandardCharsets.UTF_8));
                bar.stepTo(40);
                bar.close();
                bar.close(); // e.g. the shutdown hook, then the try-with-resources
                String text = bytes.toString(StandardCharsets.UTF_8);
                assertTrue(text.endsWith("\n") && text.indexOf('\n') == text.length() - 1, unit + ": " + text);
                assertTrue(text.contains("eval"), text);
            }
        }
    }

    /** A process with a bar drawn and never closed, as a command is when Ctrl-C comes. */
    public static final class OpenBar {
        public static void main(String[] args) throws InterruptedException {
            ProgressBars.Bar bar = ProgressBars.open("working", 100, 0, ProgressBars.Unit.COUNT);
            bar.stepTo(40);
            Thread.sleep(60_000);
        }
    }

    /** A cancelled task's thread closes its bar on the way out: the interrupt must outlive the close. */
    @Test
    void closingABarKeepsTheThreadsInterrupt() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBars.Bar bar = ProgressBars.open("tokenizing", 100, 0, ProgressBars.Unit.values()[0],
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        bar.stepTo(40);
        Thread.currentThread().interrupt();
        try {
            bar.close();
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt was lost");
        } finally {
            Thread.interrupted();
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.endsWith("\n") && text.contains("40"), "drawn a last time and ended: " + text);
    }

    @Test
    void sigtermEndsTheLineOfABarStillOpen(@TempDir Path tmp) throws Exception {
        Path err = tmp.resolve("stderr.txt");
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(), "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                OpenBar.class.getName()).redirectError(err.toFile()).start();
        try {
            for (int i = 0; i < 300 && !Files.readString(err).contains("working"); i++) Thread.sleep(100);
            assertTrue(Files.readString(err).contains("working"), "the bar is drawn: " + Files.readString(err));
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the process did not end");
        } finally {
            p.destroyForcibly();
        }
        String text = Files.readString(err);
        assertTrue(text.endsWith("\n") && text.indexOf('\n') == text.length() - 1, "one line, ended: " + text);
    }

    /** Two bars drawn on one stream at once (two Spark tasks in one process) share its line, ended once. */
    @Test
    void twoBarsOnOneStreamEndTheirSharedLineOnce() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream stream = new PrintStream(err, true, StandardCharsets.UTF_8);
        ProgressBars.Line a = new ProgressBars.Line(stream), b = new ProgressBars.Line(stream);
        a.accept("part 0: 10%");
        b.accept("part 1: 20%");
        a.close(); // the line shows b's text: b ends it
        b.accept("part 1: 30%");
        b.close();
        assertEquals("\rpart 0: 10%\rpart 1: 20%\rpart 1: 30%\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theLineEndsOnceAndOnlyIfSomethingWasDrawn() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ProgressBars.Line quiet = new ProgressBars.Line(new PrintStream(err, true, StandardCharsets.UTF_8));
        quiet.close();
        assertEquals("", err.toString(StandardCharsets.UTF_8), "no bar, no empty line");

        // As the library does when it is closed before its first scheduled update: it draws, but never closes.
        ProgressBars.Line line = new ProgressBars.Line(new PrintStream(err, true, StandardCharsets.UTF_8));
        line.accept("x.bin 0% [   ] 0/1 MB");
        line.close();
        line.accept("x.bin 100% [===] 1/1 MB"); // a late update from the library's thread
        line.close();
        assertEquals("\rx.bin 0% [   ] 0/1 MB\n", err.toString(StandardCharsets.UTF_8));
    }

    /**
     * Counts with thousands separators, megabytes with a decimal, and a rate even for a bar closed within its first
     * second (the library shows "? tok/s" then); on a stream that is not a terminal the line is not cut at 80
     * columns.
     */
    @Test
    void unitsShowTheirCountsAndRates() {
        String tokens = drawn(ProgressBars.Unit.TOKENS, 2_000_000, 1_500_000);
        assertTrue(tokens.contains("1,500,000/2,000,000 tok") && tokens.matches("(?s).* [0-9,]+ tok/s.*"), tokens);
        assertFalse(tokens.contains("? tok/s"), tokens);
        String bytes = drawn(ProgressBars.Unit.MEGABYTES, 5_000_000, 2_000_000);
        assertTrue(bytes.contains("2.0/5.0 MB") && bytes.matches("(?s).* [0-9,.]+ MB/s.*"), bytes);
        String steps = drawn(ProgressBars.Unit.COUNT, 150, 57);
        assertTrue(steps.contains(" 57/150") && !steps.contains("/s"), steps);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ProgressBars.Bar bar = ProgressBars.open("train", 1_000_000, 0, ProgressBars.Unit.TOKENS,
                new PrintStream(out, true, StandardCharsets.UTF_8))) {
            bar.setExtraMessage(" loss 3.456 val 3.789 | 4,177 tok/s");
            bar.stepTo(123_456);
        }
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("| 4,177 tok/s"), out.toString());
    }

    private static String drawn(ProgressBars.Unit unit, long max, long done) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressBars.Bar bar = ProgressBars.open("task", max, 0, unit,
                new PrintStream(bytes, true, StandardCharsets.UTF_8))) {
            bar.stepTo(done);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
