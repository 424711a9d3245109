package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Native float32 buffers addressed in floats: layer code counts elements, and this is where a count of floats
 * becomes a count of bytes.
 */
public final class Floats {
    private Floats() {
    }

    /** A view of count floats of segment, from its float at index from. */
    public static MemorySegment slice(MemorySegment segment, long from, long count) {
        return segment.asSlice(from * Float.BYTES, count * Float.BYTES);
    }

    /** Copies count floats from src (from its float srcFrom) to dst (from its float dstFrom). */
    public static void copy(MemorySegment src, long srcFrom, MemorySegment dst, long dstFrom, long count) {
        MemorySegment.copy(src, srcFrom * Float.BYTES, dst, dstFrom * Float.BYTES, count * Float.BYTES);
    }

    /** Sets count floats of segment, from its float at index from, to zero. */
    public static void zero(MemorySegment segment, long from, long count) {
        slice(segment, from, count).fill((byte) 0);
    }

    /** A new buffer of count floats (zeros), 64-byte aligned for vector loads. */
    public static MemorySegment allocate(Arena arena, long count) {
        return arena.allocate(count * Float.BYTES, 64);
    }
}
