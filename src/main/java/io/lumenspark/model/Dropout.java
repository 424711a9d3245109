package io.lumenspark.model;

import io.lumenspark.engine.Parallel;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Inverted dropout whose mask is a hash of (key, element index): nothing is stored, backward recomputes the same
 * mask, and the result does not depend on the thread count.
 */
final class Dropout {
    private Dropout() {
    }

    /** SplitMix64's finalizer: a cheap, well-mixed 64-bit hash. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * out[oo + i] = x[xo + i] * keep(i) / (1 - p) for i in [0, count); the mask depends only on (key, i).
     * out may alias x.
     */
    static void apply(MemorySegment x, long xo, MemorySegment out, long oo, long count, double p, long key) {
        if (p <= 0) {
            MemorySegment.copy(x, xo * 4, out, oo * 4, count * 4);
            return;
        }
        long threshold = (long) (p * (1L << 24));
        float scale = (float) (1 / (1 - p));
        int chunks = (int) ((count + 4095) / 4096);
        Parallel.rows(chunks, 4096, (from, to) -> {
            long end = Math.min(count, (long) to * 4096);
            for (long i = (long) from * 4096; i < end; i++) {
                boolean keep = (mix(key + i * 0x9E3779B97F4A7C15L) >>> 40) >= threshold;
                out.setAtIndex(JAVA_FLOAT, oo + i, keep ? x.getAtIndex(JAVA_FLOAT, xo + i) * scale : 0f);
            }
        });
    }
}
