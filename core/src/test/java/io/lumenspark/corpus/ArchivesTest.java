package io.lumenspark.corpus;

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
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class ArchivesTest {
    /** 1 MiB and 100 entries. */
    static final Archives.Limits LIMITS = new Archives.Limits(1 << 20, 100);

    @TempDir
    Path tmp;

    /** A zip of (name, content) pairs; a name ending in '/' is a folder. */
    public static byte[] zip(String... namesAndContents) throws IOException {
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
    public static byte[] markSymlink(byte[] zip, String name) {
        int p = central(zip, name);
        zip[p + 5] = 3; // made by: Unix
        le(zip).putInt(p + 38, 0120777 << 16);
        return zip;
    }

    /** The bytes as a little-endian buffer, as zip fields are written. */
    public static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Where the central directory record of the entry {@code name} starts. */
    public static int central(byte[] zip, String name) {
        ByteBuffer b = le(zip);
        byte[] wanted = name.getBytes(StandardCharsets.UTF_8);
        for (int p = 0; p + 46 < zip.length; p++) {
            if (b.getInt(p) == 0x02014b50 && (b.getShort(p + 28) & 0xFFFF) == wanted.length
                    && new String(zip, p + 46, wanted.length, StandardCharsets.UTF_8).equals(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("no entry " + name);
    }

    /** Where the end of central directory record starts. */
    public static int end(byte[] zip) {
        for (int p = zip.length - 22; p >= 0; p--) {
            if (le(zip).getInt(p) == 0x06054b50) return p;
        }
        throw new IllegalArgumentException("no end record");
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
        Archives.extractInto(z, tmp.resolve("z"), LIMITS);
        assertEquals("alpha", Files.readString(tmp.resolve("z/corpus/a.txt")));
        assertEquals("beta", Files.readString(tmp.resolve("z/corpus/sub/b.txt")));

        Path t = write("good.tar.gz", new TarArchiveTest.TarBuilder().file("c/a.txt", "alpha").gzipped());
        Archives.extractInto(t, tmp.resolve("t"), LIMITS);
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
            var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(z, target, LIMITS), "#" + i);
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
            var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(t, target, LIMITS), "#" + i);
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
        var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(z, tmp.resolve("o1"), LIMITS));
        assertTrue(e.getMessage().contains("not a zip file"), e.getMessage());
        Path t = write("fake.tgz", "not gzip".getBytes(StandardCharsets.UTF_8));
        var g = assertThrows(LumensparkException.class, () -> Archives.extractInto(t, tmp.resolve("o2"), LIMITS));
        assertTrue(g.getMessage().contains("not a gzip file"), g.getMessage());
        assertEquals(List.of(), everythingBut(z, t));
    }

    /** The refusal of a zip as one line naming it: no raw control character, no Java class name, nothing written. */
    private String refusedZip(String name, byte[] zip) throws IOException {
        Path z = write(name, zip);
        Path target = tmp.resolve("out-" + name);
        var e = assertThrows(LumensparkException.class, () -> Archives.extractInto(z, target, LIMITS), name);
        assertTrue(e.getMessage().startsWith("archive " + name + " "), e.getMessage());
        assertTrue(e.getMessage().chars().noneMatch(Character::isISOControl), e.getMessage());
        assertFalse(e.getMessage().contains("Exception") || e.getMessage().contains("null"), e.getMessage());
        assertEquals(List.of(), everythingBut(z), "nothing written for " + name);
        Files.delete(z);
        return e.getMessage().substring(("archive " + name + " ").length());
    }

    @Test
    void hostileZipsAreOneCleanLine() throws IOException {
        assertEquals("has an unsafe path: 'a\\0b.txt'", refusedZip("nul.zip", zip("a\0b.txt", "x")));
        assertEquals("has an unsafe path: 'x\\u001b[2J\\nl.txt'", refusedZip("esc.zip", zip("x\u001b[2J\nl.txt", "x")));

        byte[] good = zip("a.txt", "alpha ".repeat(10_000), "b.txt", "beta");
        assertEquals("is not a zip file (no end of central directory)",
                refusedZip("half.zip", Arrays.copyOf(good, good.length / 2)));

        byte[] shortData = good.clone(); // the directory says a.txt's compressed data is 10 bytes long
        le(shortData).putInt(central(shortData, "a.txt") + 20, 10);
        assertEquals("is truncated (an entry's data ends early)", refusedZip("short.zip", shortData));

        byte[] garbled = good.clone(); // a.txt's compressed data overwritten
        for (int i = 30 + 5 + 10; i < 30 + 5 + 40; i++) garbled[i] = (byte) 0xFF;
        assertTrue(refusedZip("garbled.zip", garbled).startsWith("is not a readable zip file ("));

        byte[] crc = good.clone(); // java.util.zip.ZipFile does not compare an entry's data with its CRC-32
        le(crc).putInt(central(crc, "b.txt") + 16, le(crc).getInt(central(crc, "b.txt") + 16) ^ 1);
        assertEquals("has a corrupt entry (checksum mismatch): b.txt", refusedZip("crc.zip", crc));

        byte[] outside = good.clone(); // the directory said to lie past the end of the file
        le(outside).putInt(end(outside) + 16, 0x7FFFFFFF);
        assertEquals("is truncated or corrupt (its central directory lies outside the file)",
                refusedZip("outside.zip", outside));

        // A zip64 locator pointing before the start of the file.
        int end = end(good);
        ByteBuffer z64 = le(new byte[good.length + 20]);
        z64.put(good, 0, end).putInt(0x07064b50).putInt(0).putLong(-1).putInt(1).put(good, end, good.length - end);
        byte[] negative = z64.array();
        le(negative).putInt(end + 20 + 16, 0xFFFFFFFF);
        assertEquals("has a corrupt central directory", refusedZip("z64.zip", negative));
    }

    @Test
    void zipEntriesAndSizesAreCappedWhateverTheyDeclare() throws IOException {
        String[] entries = new String[2 * 101];
        for (int i = 0; i < 101; i++) {
            entries[2 * i] = "f" + i;
            entries[2 * i + 1] = "";
        }
        byte[] many = zip(entries);
        assertEquals("holds more than 100 files and folders; refusing it", refusedZip("many.zip", many));
        le(many).putShort(end(many) + 8, (short) 1).putShort(end(many) + 10, (short) 1); // says it holds one
        assertEquals("holds more than 100 files and folders; refusing it", refusedZip("liar.zip", many));

        // 2 MB of zeros whose entry says 10 bytes: counted as they come out, refused at the 1 MiB cap.
        byte[] lies = zip("big.txt", "0".repeat(2 << 20));
        le(lies).putInt(central(lies, "big.txt") + 24, 10);
        assertTrue(refusedZip("lies.zip", lies).contains("decompression bomb"));

        Archives.extractInto(write("hundred.zip", zip(Arrays.copyOf(entries, 200))), tmp.resolve("h"), LIMITS);
        assertEquals(100, everythingBut().stream().filter(p -> p.startsWith("h/")).count());
    }
}
