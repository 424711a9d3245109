package io.lumenspark.model;

import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

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

    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;
    /** Floats with as many lanes as LONGS, so one hash lane decides one element. */
    private static final VectorSpecies<Float> FLOATS = VectorSpecies.of(float.class,
            VectorShape.forBitSize(LONGS.length() * 32));
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /**
     * out[oo + i] = x[xo + i] * keep(i) / (1 - p) for i in [0, count); element i is kept when the top 24 bits
     * of mix(key + i * golden) are at least p * 2^24. out may alias x.
     */
    static void apply(MemorySegment x, long xo, MemorySegment out, long oo, long count, double p, long key) {
        if (p <= 0) {
            Floats.copy(x, xo, out, oo, count);
            return;
        }
        long threshold = (long) (p * (1L << 24));
        float scale = (float) (1 / (1 - p));
        int chunks = (int) ((count + 4095) / 4096);
        int lanes = LONGS.length();
        LongVector iota = LongVector.zero(LONGS).addIndex(1);
        Parallel.rows(chunks, 4096, (from, to) -> {
            long i = (long) from * 4096, end = Math.min(count, (long) to * 4096);
            for (; i + lanes <= end; i += lanes) {
                LongVector z = iota.add(i).mul(GOLDEN).add(key);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(0xBF58476D1CE4E5B9L);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(0x94D049BB133111EBL);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
                VectorMask<Float> keep = z.lanewise(VectorOperators.LSHR, 40)
                        .compare(VectorOperators.GE, threshold).cast(FLOATS);
                FloatVector v = FloatVector.fromMemorySegment(FLOATS, x, (xo + i) * 4, ByteOrder.nativeOrder());
                v.mul(scale).blend(0f, keep.not()).intoMemorySegment(out, (oo + i) * 4, ByteOrder.nativeOrder());
            }
            for (; i < end; i++) {
                boolean keep = (mix(key + i * GOLDEN) >>> 40) >= threshold;
                out.setAtIndex(JAVA_FLOAT, oo + i, keep ? x.getAtIndex(JAVA_FLOAT, xo + i) * scale : 0f);
            }
        });
    }
}
