package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Inputs are regular files of a bounded size: named pipes, folders and huge files are refused before reading. */
class InputFilesTest {
    @Test
    void readsRegularFilesAndLinksToThem(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("a.txt"), new byte[]{1, 2, 3});
        assertArrayEquals(new byte[]{1, 2, 3}, InputFiles.readBytes(file, 3));
        Path link = Files.createSymbolicLink(dir.resolve("link"), file);
        assertArrayEquals(new byte[]{1, 2, 3}, InputFiles.readBytes(link, 10));
        assertEquals("h\u00e9", InputFiles.readUtf8(Files.writeString(dir.resolve("u"), "h\u00e9"), 10));
    }

    @Test
    void refusesPipesFoldersMissingFilesAndBadText(@TempDir Path dir) throws Exception {
        Path fifo = Fifos.make(dir.resolve("pipe"));
        assertRefused("cannot read " + fifo + ": not a regular file (a named pipe",
                () -> InputFiles.readBytes(fifo, 100));
        assertRefused("not a regular file", () -> Json.read(fifo)); // config.json, tokenizer files, ...
        assertRefused("cannot read " + dir + ": not a regular file (a folder)", () -> InputFiles.readBytes(dir, 100));
        assertRefused("no such file", () -> InputFiles.readBytes(dir.resolve("nope"), 100));
        Path dangling = Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("nope"));
        assertRefused("no such file", () -> InputFiles.readBytes(dangling, 100));
        Path latin1 = Files.write(dir.resolve("latin1"), new byte[]{'a', (byte) 0xE9});
        assertRefused("not valid UTF-8", () -> InputFiles.readUtf8(latin1, 100));
    }

    @Test
    void readsTextLenientlyAndNamesWhatItCannotRead(@TempDir Path dir) throws Exception {
        Path latin1 = Files.write(dir.resolve("latin1"), new byte[]{'a', (byte) 0xE9, 'b'});
        assertEquals("a\uFFFDb", InputFiles.readLenient(latin1), "malformed bytes become U+FFFD");
        Path missing = dir.resolve("nope.txt");
        assertEquals("no such file: " + missing, assertThrows(LumensparkException.class,
                () -> InputFiles.readLenient(missing)).getMessage()); // it said "cannot read PATH: PATH"
        Path fifo = Fifos.make(dir.resolve("pipe"));
        assertEquals("cannot read " + fifo + ": not a regular file (a named pipe, device or socket?)",
                assertThrows(LumensparkException.class, () -> InputFiles.readLenient(fifo)).getMessage());
        assertEquals("cannot read " + dir + ": not a regular file (a folder)",
                assertThrows(LumensparkException.class, () -> InputFiles.readLenient(dir)).getMessage());
        Path unreadable = Files.writeString(dir.resolve("secret.txt"), "x");
        if (unreadable.toFile().setReadable(false) && !Files.isReadable(unreadable)) { // not as root
            assertRefused("cannot read " + unreadable + ": permission denied",
                    () -> InputFiles.readLenient(unreadable));
        }
        Path huge = dir.resolve("huge.txt");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(InputFiles.MAX_TEXT_BYTES + 1);
        }
        assertRefused("67,108,865 bytes, more than the 64.0 MiB", () -> InputFiles.readLenient(huge));
    }

    @Test
    void refusesFilesOverTheCapWithoutReadingThem(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("four"), new byte[4]);
        assertRefused("4 bytes, more than the 3 bytes", () -> InputFiles.readBytes(file, 3));
        Path huge = dir.resolve("huge.json");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(Json.MAX_FILE_BYTES + 1); // sparse: nothing is written, and nothing may be read
        }
        assertRefused("134,217,729 bytes, more than the 128.0 MiB", () -> Json.read(huge));
    }

    @Test
    void sizesReadAsPeopleWriteThem() {
        assertEquals("812 bytes", InputFiles.humanSize(812));
        assertEquals("1.5 KiB", InputFiles.humanSize(1536));
        assertEquals("37.2 GiB", InputFiles.humanSize((long) (37.2 * (1L << 30))));
        assertEquals("8.0 EiB", InputFiles.humanSize(Long.MAX_VALUE));
    }

    private static void assertRefused(String expected, org.junit.jupiter.api.function.Executable call) {
        var e = assertThrows(LumensparkException.class, call);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
