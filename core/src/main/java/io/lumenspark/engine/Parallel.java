package io.lumenspark.engine;

import io.lumenspark.LumensparkException;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Runs loops over rows on a fixed number of threads: the caller plus threads - 1 workers. A training step is
 * hundreds of sub-millisecond loops and products, so the workers spin briefly between jobs instead of parking
 * at once (parking and waking cost about as much as a small loop), as OpenBLAS's own threads do. The split of a
 * range depends only on its length and the thread count, so results are reproducible for a given thread count.
 */
public final class Parallel {
    /** Work below this many elements runs on the calling thread: splitting costs more than it saves. */
    private static final long SERIAL_WORK = 1 << 15;
    /** Work per chunk of {@link #chunks}: small enough to balance, large enough that claiming costs nothing. */
    private static final long CHUNK_WORK = 1 << 18;
    /**
     * How long a caller spins for its workers before it yields its core while it waits, in onSpinWait calls (tens
     * of microseconds). bench serve, 16 streams, five alternating pairs of processes: 16-row steps 5.92-7.14 ms
     * against 6.50-8.22 with spinning only, first tokens sooner in four pairs; no change in a harness that has the
     * cores to itself (the README's serving section has the runs).
     */
    private static final int SPINS_BEFORE_YIELD = 500;
    /** How long an idle worker spins before parking, in onSpinWait calls (about a millisecond). */
    private static final int SPINS = 1 << 14;
    /** The most worker threads Lumenspark runs: 256, or 4 per core on a bigger machine (a run made there resumes here). */
    public static final int MAX_THREADS = Math.max(256, 4 * Runtime.getRuntime().availableProcessors());
    private static volatile int threads = Runtime.getRuntime().availableProcessors();
    private static volatile Pool pool;

    private Parallel() {
    }

    /** A body that handles rows [from, to). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /** A body that handles rows [from, to) as part number part of {@link #parts}. */
    @FunctionalInterface
    public interface PartBody {
        void run(int part, int from, int to);
    }

    /**
     * Threads that row loops and products use, the caller included; all cores unless {@link Blas#select} set
     * another count. The workers start when a backend is chosen (by {@code select} or the first
     * {@link Blas#get}); until then every loop runs on the calling thread.
     */
    public static int threads() {
        return threads;
    }

    static synchronized void setThreads(int n) {
        if (n < 1) throw new LumensparkException("threads must be at least 1, got " + n);
        if (n != threads || (pool == null && n > 1)) {
            threads = n;
            Pool old = pool;
            pool = n > 1 ? new Pool(n - 1) : null;
            if (old != null) old.shutdown();
        }
    }

    /**
     * How many parts {@link #rows(int, PartBody)} splits this many rows into: min(rows, threads), at least 1.
     * Callers size per-part partial results with it.
     */
    public static int parts(int rows) {
        return Math.max(1, Math.min(rows, threads));
    }

    /**
     * Runs body over [0, rows) split into contiguous parts, one per thread. workPerRow (e.g. the row length)
     * decides whether splitting is worth it: when rows * workPerRow is below 2^15, the caller runs all rows as
     * one range.
     */
    public static void rows(int rows, long workPerRow, RangeBody body) {
        if (threads == 1 || rows < 2 || rows * workPerRow < SERIAL_WORK) {
            body.run(0, rows);
            return;
        }
        rows(rows, (part, from, to) -> body.run(from, to));
    }

    /**
     * One contiguous part per thread, numbered, so each part can own a partial result (summed afterwards in part
     * order, reproducibly for a given thread count). The caller runs part 0 and returns when all parts are done.
     * One caller at a time gets the workers: a nested call, a call from a worker, or a call while another thread
     * holds them runs all parts on the calling thread, in order. An exception in any part is rethrown to the
     * caller; with workers, only after every part has finished.
     */
    public static void rows(int rows, PartBody body) {
        int parts = parts(rows);
        Pool p = pool;
        if (parts == 1 || p == null || p.size() < parts - 1 || !p.begin()) {
            // one thread, a nested call from a worker, or another caller using the pool: run here
            for (int i = 0; i < parts; i++) body.run(i, bound(rows, parts, i), bound(rows, parts, i + 1));
            return;
        }
        p.run(body, rows, parts);
    }

    private static int bound(int rows, int parts, int part) {
        return (int) ((long) rows * part / parts);
    }

    /**
     * Lets the workers park now rather than spin for a millisecond waiting for the next job: for a caller that is
     * about to leave the cores to other threads for a while (a server between decoding steps, while its network
     * threads send the tokens). The next job wakes them as usual.
     */
    public static void rest() {
        Pool p = pool;
        if (p != null) p.resting = true;
    }

    /**
     * Runs body over [0, rows) in chunks that the caller and the workers claim as they come free, for bodies
     * whose rows are independent of one another: each row's result must not depend on which thread runs it or
     * with which neighbours (a matrix-vector product's output rows, for example). A worker the operating system
     * has descheduled then delays the call by at most the chunk it holds, not by a whole part, which matters on
     * a machine whose cores are shared (a server's network threads, other processes). Chunks hold about
     * 2^18 units of work (rows x workPerRow), at least one per thread; below 2^17 in all the caller runs
     * everything: a decoding step's small products (a few microseconds each) are not worth waking a worker for.
     */
    public static void chunks(int rows, long workPerRow, RangeBody body) {
        long work = rows * Math.max(1, workPerRow);
        Pool p = pool;
        if (threads == 1 || rows < 2 || work < CHUNK_WORK / 2 || p == null || !p.begin()) {
            body.run(0, rows);
            return;
        }
        int count = (int) Math.min(rows, Math.max(threads, work / CHUNK_WORK));
        p.runChunks(body, rows, count);
    }

    /** Workers that take parts 1.. of a job while the caller does part 0. */
    private static final class Pool {
        /**
         * One job; a new object per job, so a worker never mixes the fields of two jobs. A job of parts gives
         * part i to worker i; a job of chunks (chunks > 0) lets every thread claim chunks through next, and is
         * complete when done reaches chunks, whether or not every worker has looked at it.
         */
        private record Job(PartBody body, int rows, int parts, long epoch, int chunks, AtomicInteger next,
                           AtomicInteger done, AtomicReference<Throwable> error) {
            /**
             * Claims and runs chunks until none is left. The first failure is kept (before its chunk counts as
             * done) and the chunks claimed after it are skipped.
             */
            void runChunks() {
                for (int c; (c = next.getAndIncrement()) < chunks; ) {
                    try {
                        if (error.get() == null) body.run(c, bound(rows, chunks, c), bound(rows, chunks, c + 1));
                    } catch (Throwable e) {
                        error.compareAndSet(null, e);
                    }
                    done.incrementAndGet();
                }
            }
        }

        private final Worker[] workers;
        private final ReentrantLock owner = new ReentrantLock();
        private final AtomicInteger pending = new AtomicInteger();
        private volatile Job current;
        private volatile boolean stopped;
        /** Set by {@link Parallel#rest}: idle workers park at once; cleared by the next job. */
        private volatile boolean resting;
        private volatile Throwable failure;
        private long epoch;

        Pool(int size) {
            workers = new Worker[size];
            for (int i = 0; i < size; i++) {
                workers[i] = new Worker(i + 1);
                workers[i].start();
            }
        }

        int size() {
            return workers.length;
        }

        /**
         * Claims the pool for the calling thread; false for a worker, for a nested call from the caller's own
         * part (the lock is reentrant, the job slot is not), and while another thread holds it.
         */
        boolean begin() {
            return !(Thread.currentThread() instanceof Worker) && !owner.isHeldByCurrentThread() && owner.tryLock();
        }

        void run(PartBody body, int rows, int parts) {
            try {
                resting = false;
                failure = null;
                pending.set(parts - 1);
                current = new Job(body, rows, parts, ++epoch, 0, null, null, null);
                for (int i = 0; i < parts - 1; i++) LockSupport.unpark(workers[i]);
                Throwable mine = null;
                try {
                    body.run(0, 0, bound(rows, parts, 1));
                } catch (Throwable e) {
                    mine = e;
                }
                for (int spins = 0; pending.get() > 0; ) spins = waitABit(spins);
                Throwable e = mine != null ? mine : failure;
                if (e instanceof RuntimeException r) throw r;
                if (e instanceof Error err) throw err;
            } finally {
                owner.unlock();
            }
        }

        void runChunks(RangeBody body, int rows, int chunks) {
            try {
                Job job = new Job((part, from, to) -> body.run(from, to), rows, 0, ++epoch, chunks,
                        new AtomicInteger(), new AtomicInteger(), new AtomicReference<>());
                resting = false;
                current = job;
                for (Worker w : workers) LockSupport.unpark(w);
                job.runChunks();
                for (int spins = 0; job.done().get() < chunks; ) spins = waitABit(spins);
                Throwable e = job.error().get();
                if (e instanceof RuntimeException r) throw r;
                if (e instanceof Error err) throw err;
            } finally {
                owner.unlock();
            }
        }

        /**
         * One turn of the caller's wait for the workers' parts or chunks: a spin (onSpinWait) the first
         * {@link #SPINS_BEFORE_YIELD} times, then Thread.yield each time. A worker usually finishes within the
         * spins; one the operating system has descheduled (on a server's two cores, for the network threads of
         * requests arriving) does not, and then the caller's core goes to whatever else is ready to run instead of
         * to the spin, so those threads finish and the worker gets a core back sooner.
         */
        private static int waitABit(int spins) {
            if (spins < SPINS_BEFORE_YIELD) {
                Thread.onSpinWait();
                return spins + 1;
            }
            Thread.yield();
            return spins;
        }

        void shutdown() {
            stopped = true;
            for (Worker w : workers) LockSupport.unpark(w);
        }

        private final class Worker extends Thread {
            private final int part;

            Worker(int part) {
                super("lumenspark-worker-" + part);
                this.part = part;
                setDaemon(true);
            }

            @Override
            public void run() {
                long seen = 0;
                while (true) {
                    Job job;
                    int spins = 0;
                    while (((job = current) == null || job.epoch() == seen) && !stopped) {
                        if (++spins < SPINS && !resting) Thread.onSpinWait();
                        else LockSupport.park(this);
                    }
                    if (stopped) return;
                    seen = job.epoch();
                    if (job.chunks() > 0) {
                        job.runChunks();
                        continue;
                    }
                    if (part >= job.parts()) continue;
                    try {
                        job.body().run(part, bound(job.rows(), job.parts(), part),
                                bound(job.rows(), job.parts(), part + 1));
                    } catch (Throwable e) {
                        failure = e;
                    }
                    pending.decrementAndGet();
                }
            }
        }
    }
}
