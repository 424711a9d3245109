package io.lumenspark.data;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArchivesTest {
    @TempDir
    Path tmp;

    /** A zip of (name, content) pairs; a name ending in '/' is a folder. */
    static byte[] zip(String... namesAndContents) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(b)) {
            for (int i = 0; i < namesAndContents.length; i += 2) {
                z.putNextEntry(new ZipEntry(namesAndContents[i]));
                z.write(namesAndContents[i + 1].getBytes(StandardCharsets.UTF_8));
                z.closeEntry();
            }
        }
        return b.toByteArray();
    }

    /** Marks an entry of a zip as a Unix symbolic link, as Info-ZIP's {@code zip -y} records one. */
    static byte[] markSymlink(byte[] zip, String name) {
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        byte[] wanted = name.getBytes(StandardCharsets.UTF_8);
        for (int p = 0; p + 46 < zip.length; p++) {
            if (b.getInt(p) == 0x02014b50 && (b.getShort(p + 28) & 0xFFFF) == wanted.length
                    && new String(zip, p + 46, wanted.length, StandardCharsets.UTF_8).equals(name)) {
                zip[p + 5] = 3; // made by: Unix
                b.putInt(p + 38, 0120777 << 16);
                return zip;
            }
        }
        throw new IllegalArgumentException("no entry " + name);
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(tmp.resolve(name), bytes);
    }

    /** Every path under {@code tmp} other than the archives themselves. */
    private List<String> everythingBut(Path... archives) throws IOException {
        try (Stream<Path> walk = Files.walk(tmp)) {
            return walk.filter(p -> !p.equals(tmp) && !List.of(archives).contains(p))
                    .map(p -> tmp.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void extractsGoodArchives() throws IOException {
        Path z = write("good.zip", zip("corpus/", "", "corpus/a.txt", "alpha", "corpus/sub/b.txt", "beta"));
        Archives.extractInto(z, tmp.resolve("z"), 1 << 20);
        assertEquals("alpha", Files.readString(tmp.resolve("z/corpus/a.txt")));
        assertEquals("beta", Files.readString(tmp.resolve("z/corpus/sub/b.txt")));

        Path t = write("good.tar.gz", new TarArchiveTest.TarBuilder().file("c/a.txt", "alpha").gzipped());
        Archives.extractInto(t, tmp.resolve("t"), 1 << 20);
        assertEquals("alpha", Files.readString(tmp.resolve("t/c/a.txt")));
        assertEquals(List.of("good.tar.gz", "good.zip", "t", "t/c", "t/c/a.txt", "z", "z/corpus", "z/corpus/a.txt",
                "z/corpus/sub", "z/corpus/sub/b.txt"), everythingBut(), "no work folders left");
        assertEquals("good", Archives.stem(z));
        assertEquals("good", Archives.stem(t));
        assertEquals(Archives.Kind.TAR_GZ, Archives.kind(Path.of("x.TGZ")));
    }

    @Test
    void refusesHostileZips() throws IOException {
        List<byte[]> hostile = List.of(
                zip("../evil.txt", "x"),
                zip("ok/../../evil.txt", "x"),
                zip("/tmp/evil.txt", "x"),
                zip("a\\..\\evil.txt", "x"),
                markSymlink(zip("ok.txt", "x", "link", "/etc/passwd"), "link"),
                zip("same", "x", "same/inside.txt", "y"),        // a file, then a folder of the same name
                zip("big.txt", "0".repeat(2 << 20)));             // 2 MB of zeros under a 1 MB cap
        List<String> reasons = List.of("unsafe path", "unsafe path", "unsafe path", "unsafe path", "link",
                "colliding entries", "decompression bomb");
        for (int i = 0; i < hostile.size(); i++) {
            Path z = write("hostile" + i + ".zip", hostile.get(i));
            Path target = tmp.resolve("out" + i);
            var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(z, target, 1 << 20), "#" + i);
            assertTrue(e.getMessage().startsWith("archive hostile" + i + ".zip ")
                    && e.getMessage().contains(reasons.get(i)), e.getMessage());
            assertFalse(Files.exists(target));
            assertEquals(List.of(), everythingBut(z), "nothing written for #" + i);
            Files.delete(z);
        }
    }

    @Test
    void refusesHostileTarballs() throws IOException {
        List<TarArchiveTest.TarBuilder> hostile = List.of(
                new TarArchiveTest.TarBuilder().file("../evil.txt", "x"),
                new TarArchiveTest.TarBuilder().file("/etc/evil.txt", "x"),
                new TarArchiveTest.TarBuilder().entry("c/link", '2', "../../etc/passwd", new byte[0]),
                new TarArchiveTest.TarBuilder().entry("c/hard", '1', "/etc/passwd", new byte[0]),
                new TarArchiveTest.TarBuilder().file("c/a.txt", "x").file("c/a.txt", "y"),
                new TarArchiveTest.TarBuilder().file("c/big.txt", "0".repeat(2 << 20)));
        List<String> reasons = List.of("unsafe path", "unsafe path", "link", "link", "colliding entries",
                "decompression bomb");
        for (int i = 0; i < hostile.size(); i++) {
            Path t = write("hostile" + i + ".tgz", hostile.get(i).gzipped());
            Path target = tmp.resolve("out" + i);
            var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(t, target, 1 << 20), "#" + i);
            assertTrue(e.getMessage().startsWith("archive hostile" + i + ".tgz ")
                    && e.getMessage().contains(reasons.get(i)), e.getMessage());
            assertFalse(Files.exists(target));
            assertEquals(List.of(), everythingBut(t), "nothing written for #" + i);
            Files.delete(t);
        }
    }

    @Test
    void refusesFilesThatAreNotArchives() throws IOException {
        Path z = write("fake.zip", "not a zip at all".getBytes(StandardCharsets.UTF_8));
        var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(z, tmp.resolve("o1"), 1 << 20));
        assertTrue(e.getMessage().contains("not a zip file"), e.getMessage());
        Path t = write("fake.tgz", "not gzip".getBytes(StandardCharsets.UTF_8));
        var g = assertThrows(LumensparkException.class, () -> Archives.extractInto(t, tmp.resolve("o2"), 1 << 20));
        assertTrue(g.getMessage().contains("not a gzip file"), g.getMessage());
        assertEquals(List.of(), everythingBut(z, t));
    }
}
