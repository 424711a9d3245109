package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchSamplerTest {

    /** Token i has value i, so a window's content reveals its position. */
    private static TokenFile ramp(int length) {
        return TokenFile.of(IntStream.range(0, length).toArray());
    }

    @Test
    void fillsContiguousWindowsWithShiftedTargets() {
        int batch = 4;
        int n = 8;
        BatchSampler s = new BatchSampler(ramp(100), batch, n, 42);
        int[] x = new int[batch * n];
        int[] y = new int[batch * n];
        for (long step = 0; step < 200; step++) {
            s.fill(step, (int) (step % 3), x, y);
            for (int r = 0; r < batch; r++) {
                int start = x[r * n];
                assertTrue(start >= 0 && start + n < 100, "window inside the file");
                for (int t = 0; t < n; t++) {
                    assertEquals(start + t, x[r * n + t]);
                    assertEquals(start + t + 1, y[r * n + t]);
                }
            }
        }
    }

    @Test
    void isDeterministicAndResumable() {
        TokenFile tokens = ramp(10_000);
        BatchSampler a = new BatchSampler(tokens, 3, 16, 7);
        BatchSampler b = new BatchSampler(tokens, 3, 16, 7);
        int[] xa = new int[48], ya = new int[48], xb = new int[48], yb = new int[48];
        // b "resumes" at step 500 without having drawn earlier batches.
        b.fill(500, 1, xb, yb);
        for (long step = 0; step <= 500; step++) {
            a.fill(step, 1, xa, ya);
        }
        assertArrayEquals(xa, xb);
        assertArrayEquals(ya, yb);

        BatchSampler otherSeed = new BatchSampler(tokens, 3, 16, 8);
        otherSeed.fill(500, 1, xb, yb);
        assertFalse(Arrays.equals(xa, xb), "seed changes the batches");
        a.fill(500, 2, xb, yb);
        assertFalse(Arrays.equals(xa, xb), "micro-step changes the batches");
    }

    @Test
    void reachesEveryStartIncludingTheLast() {
        int n = 4;
        BatchSampler s = new BatchSampler(ramp(n + 3), 1, n, 1); // starts 0..2
        Set<Long> seen = new HashSet<>();
        for (long step = 0; step < 200; step++) {
            long start = s.windowStart(step, 0, 0);
            assertTrue(start >= 0 && start <= 2);
            seen.add(start);
        }
        assertEquals(Set.of(0L, 1L, 2L), seen);
        // Exactly n + 1 tokens: a single possible window.
        assertEquals(0, new BatchSampler(ramp(n + 1), 1, n, 9).windowStart(12345, 0, 0));
    }

    @Test
    void explainsTooShortSplit() {
        var e = assertThrows(LumensparkException.class, () -> new BatchSampler(ramp(10), 2, 10, 0));
        assertTrue(e.getMessage().contains("has 10 tokens") && e.getMessage().contains("at least 11"), e.getMessage());
    }

    @Test
    void evalWindowsCoverEveryTargetOnce() {
        for (int length : new int[] {0, 1, 2, 3, 9, 10, 11, 12, 100, 101}) {
            for (int n : new int[] {1, 3, 10}) {
                TokenFile tokens = ramp(length);
                EvalWindows windows = BatchSampler.evalWindows(tokens, n);
                int[] hits = new int[length];
                long count = 0;
                for (EvalWindows.Window w : windows) {
                    assertTrue(w.length() >= 2 && w.length() <= n + 1, "window " + w);
                    assertTrue(w.start() + w.length() <= length);
                    for (int t = 1; t < w.length(); t++) {
                        hits[(int) (w.start() + t)]++;
                    }
                    count++;
                }
                assertEquals(windows.count(), count);
                assertEquals(Math.max(0, length - 1), windows.targetCount());
                for (int i = 0; i < length; i++) {
                    assertEquals(i == 0 ? 0 : 1, hits[i], "token " + i + " of " + length + ", n=" + n);
                }
            }
        }
        EvalWindows w = new EvalWindows(ramp(12), 5);
        assertEquals(new EvalWindows.Window(0, 6), w.get(0));
        assertEquals(new EvalWindows.Window(5, 6), w.get(1));
        assertEquals(new EvalWindows.Window(10, 2), w.get(2));
        assertEquals(3, w.count());
    }
}
