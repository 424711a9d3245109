package io.lumenspark.training;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A progress bar on one line of stderr (ASCII, redrawn twice a second, with elapsed time and ETA). Closing it
 * draws it a last time and ends its line, so what is printed next (a result, an error) starts on a line of its
 * own. It closes once, from whichever thread comes first: the one that ran the work, or a shutdown hook.
 */
public final class ProgressLine implements AutoCloseable {
    private final ProgressBar bar;
    private final Console console;
    private final AtomicBoolean closed = new AtomicBoolean();

    private ProgressLine(ProgressBar bar, Console console) {
        this.bar = bar;
        this.console = console;
    }

    /**
     * The console consumer, ending the line at most once. progressbar 0.10.1 ends it only when its first redraw
     * has run before the bar is closed; a bar closed sooner (a short eval on a busy machine) left its line open.
     */
    private static final class Console implements ProgressBarConsumer {
        private final ConsoleProgressBarConsumer out;
        private final AtomicBoolean ended = new AtomicBoolean();

        Console(PrintStream stream) {
            out = new ConsoleProgressBarConsumer(stream);
        }

        @Override
        public int getMaxRenderedLength() {
            return out.getMaxRenderedLength();
        }

        @Override
        public void accept(String line) {
            out.accept(line);
        }

        @Override
        public void close() {
            if (ended.compareAndSet(false, true)) out.close();
        }
    }

    /**
     * A bar for {@code max} units of work, {@code start} of them already done (a resumed run). With a unit name
     * (e.g. "tok"), counts are shown with it and the rate per second is shown too; with null, plain counts.
     */
    public static ProgressLine open(String task, long max, long start, String unit) {
        return open(task, max, start, unit, System.err);
    }

    static ProgressLine open(String task, long max, long start, String unit, PrintStream stream) {
        Console console = new Console(stream);
        ProgressBarBuilder b = new ProgressBarBuilder().setTaskName(task).setInitialMax(max)
                .startsFrom(start, Duration.ZERO).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(console);
        if (unit != null) b.setUnit(" " + unit, 1).showSpeed(new DecimalFormat("#,##0"));
        return new ProgressLine(b.build(), console);
    }

    /** Sets the units done. */
    public void stepTo(long done) {
        bar.stepTo(done);
    }

    /** Text shown after the bar. */
    public void setExtraMessage(String message) {
        bar.setExtraMessage(message);
    }

    /** Draws the bar a last time and ends its line; later calls do nothing. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            bar.close(); // draws it a last time, after its last redraw
            console.close();
        }
    }
}
