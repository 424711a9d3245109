package io.lumenspark.io;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DefaultProgressBarRenderer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import me.tongfei.progressbar.ProgressState;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Every progress bar of Lumenspark (downloads, tokenizing, training, evaluation): one line of plain ASCII on a
 * stream, stderr by default, redrawn twice a second with elapsed time and ETA.
 * <p>
 * progressbar 0.10.1 ends a bar's line only when the bar's first scheduled redraw has run before it is closed; a
 * bar closed sooner (a short task, a busy machine) was drawn but its line left open, so the next message (a
 * result, an error) continued it. A bar made here ends its line exactly once, when it is closed, from whichever
 * thread comes first (the one that ran the work, or a shutdown hook: Ctrl-C ends every open bar's line), and prints
 * nothing after that.
 */
public final class ProgressBars {
    /**
     * The lines of the bars not yet closed. Ctrl-C or SIGTERM ends them (a shutdown hook), so that the shell's
     * prompt, or a command's last message, starts a line of its own.
     */
    private static final Set<Line> OPEN = ConcurrentHashMap.newKeySet();

    static {
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(Line::close), "lumenspark-bar-lines"));
        } catch (IllegalStateException shuttingDown) {
            // loaded while the process ends: no bar will be drawn
        }
    }

    private ProgressBars() {
    }

    /** What a bar counts, and how it shows the rate. */
    public enum Unit {
        /** Plain counts (steps), without a rate. */
        COUNT(null, 1, null),
        /** Tokens, with tokens per second. */
        TOKENS(" tok", 1, "#,##0"),
        /** Bytes, shown in MB (10^6 bytes), with MB per second. */
        MEGABYTES(" MB", 1_000_000, "#,##0.0");

        private final String name;
        private final long size;
        private final String speed;

        Unit(String name, long size, String speed) {
            this.name = name;
            this.size = size;
            this.speed = speed;
        }
    }

    /**
     * A bar on stderr for {@code max} units of work (negative: unknown), {@code start} of them already done (a
     * resumed task).
     */
    public static Bar open(String task, long max, long start, Unit unit) {
        return open(task, max, start, unit, System.err);
    }

    /** {@link #open(String, long, long, Unit)} on another stream. */
    public static Bar open(String task, long max, long start, Unit unit, PrintStream out) {
        Line line = new Line(out);
        ProgressBarBuilder b = new ProgressBarBuilder().setTaskName(task).setInitialMax(max)
                .startsFrom(start, Duration.ZERO).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(line).setRenderer(new Renderer(unit));
        return new Bar(b.build(), line);
    }

    /**
     * The library's rendering with numbers as people write them: counts with thousands separators
     * ({@code 15,360/20,032 tok}), megabytes with one decimal, and a rate from the first millisecond (the library
     * shows "?" for a bar that finished within its first second).
     */
    static final class Renderer extends DefaultProgressBarRenderer {
        private final Unit unit;

        Renderer(Unit unit) {
            super(ProgressBarStyle.ASCII, unit.name == null ? "" : unit.name, unit.size, unit.speed != null,
                    new DecimalFormat(unit.speed == null ? "#,##0" : unit.speed), ChronoUnit.SECONDS, true,
                    Renderer::eta);
            this.unit = unit;
        }

        private String amount(long units) {
            DecimalFormat f = new DecimalFormat(unit.size == 1 ? "#,##0" : "#,##0.0");
            return f.format(units / (double) unit.size);
        }

        @Override
        protected String ratio(ProgressState state) {
            if (state.isIndefinite() || state.getMax() < 0) return "?" + (unit.name == null ? "" : unit.name);
            String max = amount(state.getMax()), current = amount(state.getCurrent());
            return " ".repeat(Math.max(0, max.length() - current.length())) + current + "/" + max
                    + (unit.name == null ? "" : unit.name);
        }

        @Override
        protected String speed(ProgressState state) {
            double seconds = state.getElapsedAfterStart().toNanos() / 1e9;
            if (seconds <= 0) return "? " + unit.name.strip() + "/s";
            double perSecond = (state.getCurrent() - state.getStart()) / seconds / unit.size;
            return new DecimalFormat(unit.speed).format(perSecond) + unit.name + "/s";
        }

        /** Time left at the rate so far, none before the first unit is done. */
        private static Optional<Duration> eta(ProgressState state) {
            long done = state.getCurrent() - state.getStart();
            if (state.getMax() <= 0 || done <= 0) return Optional.empty();
            double left = (state.getMax() - state.getCurrent()) / (double) done;
            return Optional.of(Duration.ofNanos((long) (state.getElapsedAfterStart().toNanos() * left)));
        }
    }

    /** A bar being drawn; closing it draws it a last time and ends its line. */
    public static final class Bar implements AutoCloseable {
        private final ProgressBar bar;
        private final Line line;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Bar(ProgressBar bar, Line line) {
            this.bar = bar;
            this.line = line;
        }

        /** Sets the units done. */
        public void stepTo(long done) {
            bar.stepTo(done);
        }

        /** Text shown after the bar. */
        public void setExtraMessage(String message) {
            bar.setExtraMessage(message);
        }

        /**
         * Draws the bar a last time and ends its line; later calls, from any thread, do nothing. A thread that was
         * interrupted is still interrupted afterwards: the library waits for its last redraw and drops an
         * interrupt that cuts the wait short, which lost a cancelled Spark task's interrupt before the tokenizing
         * run could see it (it then took the failed write for bad input and deleted the part's files).
         */
        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                boolean interrupted = Thread.interrupted(); // cleared, so that the last redraw is waited for
                try {
                    bar.close(); // draws it a last time, after its last scheduled redraw
                    line.close(); // the library's own close leaves the line open when it comes before the first redraw
                } finally {
                    if (interrupted) Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * The bar's line on a stream, ended exactly once: by the first {@link #close}, and only if something was drawn;
     * whatever the library draws after that (a late redraw from its thread) is dropped.
     */
    static final class Line extends ConsoleProgressBarConsumer {
        /** The line that drew last on each stream: the one whose text its current line shows. */
        private static final Map<PrintStream, Line> LAST = new ConcurrentHashMap<>();

        private final PrintStream out;
        private boolean drawn;
        private boolean ended;

        Line(PrintStream out) {
            // on a terminal, its width; elsewhere (a log file, a pipe) the whole line rather than 80 columns of it
            super(out, System.console() != null && System.console().isTerminal() ? -1 : 120);
            this.out = out;
            OPEN.add(this);
        }

        @Override
        public void accept(String rendered) {
            synchronized (out) {
                if (ended) return;
                super.accept(rendered);
                out.flush();
                drawn = true;
                LAST.put(out, this);
            }
        }

        /**
         * Ends the line, if this bar drew it last: two bars drawn on one stream at once (two Spark tasks in one
         * process) share a line, which is ended once.
         */
        @Override
        public void close() {
            synchronized (out) {
                if (ended) return;
                ended = true;
                OPEN.remove(this);
                if (drawn && LAST.remove(out, this)) out.println();
                out.flush();
            }
        }
    }
}
