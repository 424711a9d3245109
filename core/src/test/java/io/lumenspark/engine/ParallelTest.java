package io.lumenspark.engine;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParallelTest {
    @Test
    void everyRowRunsOnceEvenWithNestedAndConcurrentCallers() throws Exception {
        Blas.select(Backend.AUTO, 3);
        try {
            AtomicLong sum = new AtomicLong();
            Runnable job = () -> {
                for (int rep = 0; rep < 200; rep++) {
                    Parallel.rows(1000, 1 << 20, (from, to) -> {
                        for (int i = from; i < to; i++) sum.addAndGet(i);
                        // a nested loop from inside a part runs serially, whichever thread it is on
                        Parallel.rows(10, 1 << 20, (a, b) -> sum.addAndGet(b - a));
                    });
                }
            };
            Thread other = new Thread(job);
            other.start();
            job.run();
            other.join();
            // each of 2 callers x 200 reps: sum 0..999 plus 10 per part (3 parts)
            assertEquals(2 * 200 * (999L * 1000 / 2 + 3 * 10), sum.get());
        } finally {
            Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
        }
    }

    @Test
    void partsAreContiguousNumberedAndFixedForAThreadCount() {
        Blas.select(Backend.AUTO, 2);
        var seen = new ConcurrentHashMap<Integer, int[]>();
        Parallel.rows(7, (part, from, to) -> seen.put(part, new int[]{from, to}));
        assertEquals(2, seen.size());
        assertEquals(0, seen.get(0)[0]);
        assertEquals(3, seen.get(0)[1]);
        assertEquals(7, seen.get(1)[1]);
    }

    @Test
    void anExceptionInAPartReachesTheCaller() {
        Blas.select(Backend.AUTO, 2);
        assertThrows(IllegalStateException.class, () -> Parallel.rows(100, 1 << 20, (from, to) -> {
            if (from > 0) throw new IllegalStateException("worker part failed");
        }));
        // the pool still works afterwards
        AtomicLong n = new AtomicLong();
        Parallel.rows(100, 1 << 20, (from, to) -> n.addAndGet(to - from));
        assertEquals(100, n.get());
    }

    @Test
    void chunksCoverEveryRowOnceWhateverThreadIsLateAndMixWithParts() throws Exception {
        Blas.select(Backend.AUTO, 3);
        try {
            int rows = 10_000;
            for (int rep = 0; rep < 50; rep++) {
                int[] hits = new int[rows];
                var threads = ConcurrentHashMap.<String>newKeySet();
                Parallel.chunks(rows, 1 << 10, (from, to) -> {
                    threads.add(Thread.currentThread().getName());
                    for (int i = from; i < to; i++) hits[i]++;
                    // a nested call from a chunk runs serially
                    Parallel.chunks(100, 1 << 20, (a, b) -> hits[from] += 0);
                });
                for (int i = 0; i < rows; i++) assertEquals(1, hits[i], "row " + i);
                // a job of parts right after a job of chunks: a worker still busy with (or late for) the chunks
                // must still take its part
                AtomicLong n = new AtomicLong();
                Parallel.rows(9, (part, from, to) -> n.addAndGet(to - from));
                assertEquals(9, n.get());
            }
            // small work runs on the caller alone
            var who = ConcurrentHashMap.<String>newKeySet();
            Parallel.chunks(4, 1 << 14, (from, to) -> who.add(Thread.currentThread().getName()));
            assertEquals(java.util.Set.of(Thread.currentThread().getName()), who);
        } finally {
            Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
        }
    }

    /** Workers sent to rest park at once, and the next job of either kind wakes them and still runs everywhere. */
    @Test
    void restingWorkersWakeForTheNextJob() throws Exception {
        Blas.select(Backend.AUTO, 3);
        try {
            var threads = ConcurrentHashMap.<String>newKeySet();
            for (int rep = 0; rep < 200; rep++) {
                Parallel.rest();
                if (rep % 50 == 0) Thread.sleep(5); // parked by now
                int rows = 3_000;
                int[] hits = new int[rows];
                Parallel.chunks(rows, 1 << 12, (from, to) -> {
                    threads.add(Thread.currentThread().getName());
                    for (int i = from; i < to; i++) hits[i]++;
                    Thread.onSpinWait();
                });
                for (int i = 0; i < rows; i++) assertEquals(1, hits[i], "row " + i);
                Parallel.rest();
                AtomicLong n = new AtomicLong();
                Parallel.rows(9, (part, from, to) -> n.addAndGet(to - from));
                assertEquals(9, n.get());
            }
            assertTrue(threads.stream().anyMatch(t -> t.startsWith("lumenspark-worker-")), "workers took chunks: " + threads);
        } finally {
            Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
        }
    }

    @Test
    void anExceptionInAChunkReachesTheCallerAndSkipsTheRest() {
        Blas.select(Backend.AUTO, 2);
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.chunks(1000, 1 << 20,
                    (from, to) -> {
                        if (from >= 500) throw new IllegalStateException("chunk failed at " + from);
                    }));
            assertTrue(e.getMessage().startsWith("chunk failed at "), e.getMessage());
            AtomicLong n = new AtomicLong();
            Parallel.chunks(1000, 1 << 20, (from, to) -> n.addAndGet(to - from));
            assertEquals(1000, n.get());
        } finally {
            Blas.select(Backend.AUTO, Runtime.getRuntime().availableProcessors());
        }
    }
}
