package io.lumenspark.engine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pages of a read-only file mapping are given back after their contents are copied, and only those: allocated
 * memory (which madvise would zero) is never taken for one, and released pages read the same values again.
 */
class PagesTest {
    @Test
    void onlyAReadOnlyFileMappingIsReleasedAndItsValuesStay(@TempDir Path dir) throws IOException {
        int rows = 300, columns = 96; // several pages, rows not a multiple of the panel
        float[] values = new float[rows * columns];
        Random random = new Random(3);
        for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian();
        Path file = dir.resolve("w.bin");
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.nativeOrder());
        buffer.asFloatBuffer().put(values);
        byte[] bytes = buffer.array();
        Files.write(file, bytes);
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes.length, arena);
            MemorySegment allocated = arena.allocate(bytes.length, 64);
            MemorySegment.copy(mapped, 0, allocated, 0, bytes.length);
            boolean linux = System.getProperty("os.name").startsWith("Linux");
            assertEquals(linux, Pages.readOnlyFileMapping(mapped, 0, bytes.length), "the file mapping");
            assertFalse(Pages.readOnlyFileMapping(allocated, 0, bytes.length), "allocated memory");
            assertFalse(Pages.readOnlyFileMapping(mapped, 0, bytes.length + (1L << 40)), "past the mapping");

            // the same products from the mapping (pages released while copied) and from allocated memory
            DecodeMatrix a = DecodeMatrix.f32(mapped, 0, rows, columns, null, 0, arena, true);
            DecodeMatrix b = DecodeMatrix.f32(allocated, 0, rows, columns, null, 0, arena, true);
            MemorySegment x = arena.allocate(2L * columns * 4, 64), ya = arena.allocate(2L * rows * 4, 64),
                    yb = arena.allocate(2L * rows * 4, 64);
            for (int i = 0; i < 2 * columns; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
            a.multiply(x, 2, ya);
            b.multiply(x, 2, yb);
            assertEquals(-1, ya.mismatch(yb), "the same outputs");
            for (int i = 0; i < values.length; i++) {
                assertEquals(values[i], mapped.getAtIndex(ValueLayout.JAVA_FLOAT, i), "the file's value " + i);
                assertEquals(values[i], allocated.getAtIndex(ValueLayout.JAVA_FLOAT, i), "the copy's value " + i);
            }
            Pages.releaseMapped(mapped, 0, bytes.length); // everything at once: read again from the file
            assertEquals(values[values.length - 1], mapped.getAtIndex(ValueLayout.JAVA_FLOAT, values.length - 1));
            assertTrue(values.length * 4L > 3 * 4096, "the test spans whole pages");
        }
    }

    @Test
    void largeUntouchedMemoryIsZeroWritableAndStartsOnAHugePageWhereMapped() {
        long bytes = (5L << 20) + 12345; // past two huge pages, not a whole number of small ones
        try (Arena arena = Arena.ofShared()) {
            MemorySegment m = Pages.allocateUntouched(bytes, arena);
            assertEquals(bytes, m.byteSize());
            if (Pages.HUGE_PAGES && System.getProperty("os.name", "").startsWith("Linux")
                    && System.getProperty("os.arch", "").matches("amd64|x86_64|aarch64")) {
                assertEquals(0, m.address() % (2L << 20), "a 2 MiB boundary");
            }
            for (long i = 0; i < bytes; i += 4093) assertEquals(0, m.get(ValueLayout.JAVA_BYTE, i));
            m.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
            m.set(ValueLayout.JAVA_BYTE, 0, (byte) 9);
            assertEquals(7, m.get(ValueLayout.JAVA_BYTE, bytes - 1));
            assertEquals(9, m.get(ValueLayout.JAVA_BYTE, 0));
        } // unmapped here: the whole mapping, not only the slice handed out
    }
}
