package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void writesAndReplacesCreatingParents() throws IOException {
        Path file = dir.resolve("a/b/c.txt");
        AtomicFiles.writeString(file, "first");
        assertEquals("first", Files.readString(file));
        AtomicFiles.writeBytes(file, new byte[] {1, 2, 3});
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(file));
        AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap("third".getBytes())));
        assertEquals("third", Files.readString(file));
        assertEquals(1, listing(file.getParent()), "no temporary files left behind");
    }

    @Test
    void failingWriterLeavesOldFileIntact() throws IOException {
        Path file = dir.resolve("model.bin");
        AtomicFiles.writeString(file, "old content");

        LumensparkException io = assertThrows(LumensparkException.class, () -> AtomicFiles.write(file, ch -> {
            ch.write(ByteBuffer.wrap("partial new".getBytes()));
            throw new IOException("disk full");
        }));
        assertEquals("cannot write " + file + ": disk full", io.getMessage());
        assertEquals("old content", Files.readString(file));

        IllegalStateException runtime = assertThrows(IllegalStateException.class, () -> AtomicFiles.write(file, ch -> {
            ch.write(ByteBuffer.wrap("partial new".getBytes()));
            throw new IllegalStateException("bug");
        }));
        assertEquals("bug", runtime.getMessage());
        assertEquals("old content", Files.readString(file));
        assertEquals(1, listing(dir), "temporary file deleted after failure");
    }

    @Test
    void unwritableLocationNamesThePath() throws IOException {
        Path blocker = dir.resolve("plain-file");
        Files.writeString(blocker, "x");
        Path target = blocker.resolve("child.json");
        LumensparkException e = assertThrows(LumensparkException.class, () -> AtomicFiles.writeString(target, "{}"));
        assertTrue(e.getMessage().startsWith("cannot write " + target + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    /** A folder where the file should go is said once, plainly (the move's error names it twice). */
    @Test
    void aFolderInTheWayIsNamedOnce() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("chart.png"));
        LumensparkException e = assertThrows(LumensparkException.class, () -> AtomicFiles.writeString(folder, "x"));
        assertEquals("cannot write " + folder + ": it is a folder", e.getMessage());
    }

    @Test
    void newFileGetsOrdinaryPermissionsNotTempFilePermissions() throws IOException {
        assumeTrue(Files.getFileAttributeView(dir, PosixFileAttributeView.class) != null);
        Path plain = Files.writeString(dir.resolve("plain"), "x");
        Path atomic = dir.resolve("atomic");
        AtomicFiles.writeString(atomic, "x");
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(atomic));
    }

    @Test
    void deletesOnlyTheTemporariesOfKilledWrites() throws IOException {
        Path file = dir.resolve("model.safetensors");
        java.util.List<String> seen = new java.util.ArrayList<>();
        AtomicFiles.write(file, ch -> {
            try (var s = Files.list(dir)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).forEach(seen::add);
            }
        });
        assertEquals(1, seen.size(), "the write's own temporary: " + seen);
        Files.writeString(dir.resolve(seen.getFirst()), "left by a killed write"); // as kill -9 leaves it
        Files.writeString(dir.resolve(".loss.png.0.tmp"), "x");
        for (String keep : java.util.List.of(".lock", ".notes.tmp", "x.1f.tmp", ".a.1f.tmp.keep", ".a.xyz.tmp")) {
            Files.writeString(dir.resolve(keep), "not ours");
        }
        Files.createDirectory(dir.resolve(".dir.1f.tmp"));

        assertEquals(java.util.List.of(".loss.png.0.tmp", seen.getFirst()).stream().sorted().toList(),
                AtomicFiles.deleteStaleTemporaries(dir));
        assertFalse(Files.exists(dir.resolve(seen.getFirst())));
        assertTrue(Files.exists(file));
        assertEquals(7, listing(dir), "the file, five look-alikes and the folder stay");
        assertEquals(java.util.List.of(), AtomicFiles.deleteStaleTemporaries(dir.resolve("missing")));
    }

    private static long listing(Path folder) throws IOException {
        try (var s = Files.list(folder)) {
            return s.count();
        }
    }
}
