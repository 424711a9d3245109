package io.lumenspark.io;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

    @Test
    void unitsShowTheirCountsAndRates() {
        String tokens = drawn(ProgressBars.Unit.TOKENS, 2_000_000, 1_500_000);
        assertTrue(tokens.contains("1500000/2000000 tok") && tokens.contains(" tok/s"), tokens);
        String bytes = drawn(ProgressBars.Unit.MEGABYTES, 5_000_000, 2_000_000);
        assertTrue(bytes.contains("2/5 MB") && bytes.contains(" MB/s"), bytes);
        String steps = drawn(ProgressBars.Unit.COUNT, 150, 57);
        assertTrue(steps.contains("57/150") && !steps.contains("/s"), steps);
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
