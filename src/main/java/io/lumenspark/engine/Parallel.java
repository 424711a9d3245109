package io.lumenspark.engine;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Runs loops over rows on a fixed number of threads. The split of the range depends only on its length and the
 * thread count, so results are reproducible for a given thread count.
 */
public final class Parallel {
    /** Work below this many elements runs on the calling thread: forking costs more than it saves. */
    private static final long SERIAL_WORK = 1 << 15;
    private static volatile int threads = Runtime.getRuntime().availableProcessors();
    private static volatile ForkJoinPool pool;

    private Parallel() {
    }

    /** A body that handles rows [from, to) as part number part of {@link #parts}. */
    @FunctionalInterface
    public interface PartBody {
        void run(int part, int from, int to);
    }

    /** How many parts {@link #rows(int, PartBody)} splits this many rows into. */
    public static int parts(int rows) {
        return Math.max(1, Math.min(rows, threads));
    }

    /**
     * Like rows(rows, work, body) but always one contiguous part per thread, numbered, so each part can own a
     * partial result (summed afterwards in part order, reproducibly for a given thread count).
     */
    public static void rows(int rows, PartBody body) {
        int parts = parts(rows);
        rows(parts, Long.MAX_VALUE / parts, (p0, p1) -> {
            for (int p = p0; p < p1; p++) body.run(p, (int) ((long) rows * p / parts), (int) ((long) rows * (p + 1) / parts));
        });
    }

    /** A body that handles rows [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    public static int threads() {
        return threads;
    }

    static synchronized void setThreads(int n) {
        if (n < 1) throw new io.lumenspark.LumensparkException("threads must be at least 1, got " + n);
        if (n != threads || pool == null) {
            threads = n;
            if (pool != null) pool.shutdown();
            pool = n > 1 ? new ForkJoinPool(n) : null;
        }
    }

    /**
     * Runs body over [0, rows) split into contiguous parts, one per thread. workPerRow (e.g. the row length)
     * decides whether splitting is worth it.
     */
    public static void rows(int rows, long workPerRow, RangeBody body) {
        int t = threads;
        if (t == 1 || rows < 2 || rows * workPerRow < SERIAL_WORK) {
            body.run(0, rows);
            return;
        }
        ForkJoinPool p = pool;
        if (p == null) {
            setThreads(t);
            p = pool;
        }
        int parts = Math.min(rows, t);
        p.invoke(new Split(body, rows, parts, 0, parts));
    }

    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int rows, parts, lo, hi;

        Split(RangeBody body, int rows, int parts, int lo, int hi) {
            this.body = body;
            this.rows = rows;
            this.parts = parts;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                body.run((int) ((long) rows * lo / parts), (int) ((long) rows * hi / parts));
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Split(body, rows, parts, lo, mid), new Split(body, rows, parts, mid, hi));
        }
    }
}
