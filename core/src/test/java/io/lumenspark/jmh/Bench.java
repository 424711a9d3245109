package io.lumenspark.jmh;

import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/** What every kernel benchmark shares: the thread count, the backend, and buffers of arbitrary data. */
public final class Bench {
    /** Tokens of one training batch of the lumenspark presets: 8 sequences of 512. */
    public static final int TOKENS = 4096;
    public static final int D = 512, VOCAB = 50257, HEADS = 4;

    private Bench() {
    }

    /** Threads for products and row loops: -Dlumenspark.threads (KernelReport's --threads), else all cores. */
    public static int threads() {
        return Integer.getInteger("lumenspark.threads", Runtime.getRuntime().availableProcessors());
    }

    /** Chooses the backend as the commands do, which also starts the worker pool of {@code Parallel}. */
    public static void selectBackend() {
        Blas.select(Backend.AUTO, threads());
    }

    /** count new floats uniform in [-scale, scale); see {@link #fill}. */
    public static MemorySegment floats(Arena arena, long count, float scale, long seed) {
        return fill(arena.allocate(count * 4, 64), scale, seed);
    }

    /**
     * Fills m with floats uniform in [-scale, scale) from a cheap hash of the index: the values only have to
     * be ordinary numbers (no denormals, no NaN), and filling the 823 MB operands must not take long.
     */
    public static MemorySegment fill(MemorySegment m, float scale, long seed) {
        for (long i = 0, n = m.byteSize() / 4; i < n; i++) {
            long h = (i + seed * 0x632BE59BD9B4E019L) * 0x9E3779B97F4A7C15L;
            h ^= h >>> 29;
            m.setAtIndex(JAVA_FLOAT, i, ((h >>> 40) * 0x1p-24f * 2 - 1) * scale);
        }
        return m;
    }
}
