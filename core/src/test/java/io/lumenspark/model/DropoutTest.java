package io.lumenspark.model;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;

class DropoutTest {
    @Test
    void vectorAndScalarPathsAgreeAndKeepTheRightFraction() {
        try (Arena a = Arena.ofShared()) {
            int n = 100_003;
            MemorySegment x = a.allocate(4L * n, 64), y = a.allocate(4L * n, 64);
            for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, i, 1f + i % 7);
            Dropout.apply(x, 0, y, 0, n, 0.25, 12345);
            int kept = 0;
            for (int i = 0; i < n; i++) {
                boolean keep = (Dropout.mix(12345 + i * 0x9E3779B97F4A7C15L) >>> 40) >= (long) (0.25 * (1 << 24));
                float want = keep ? (1f + i % 7) * (float) (1 / 0.75) : 0f;
                assertEquals(want, y.getAtIndex(JAVA_FLOAT, i), "element " + i);
                if (keep) kept++;
            }
            assertEquals(0.75, kept / (double) n, 0.01);
        }
    }
}
