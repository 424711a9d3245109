package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class TarArchiveTest {

    @TempDir
    Path tmp;

    /** Builds ustar archives in memory. */
    public static final class TarBuilder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        /** A regular file. */
        public TarBuilder file(String name, String content) {
            return entry(name, '0', "", content.getBytes(StandardCharsets.UTF_8));
        }

        /** An entry of any type, its header checksum right. */
        public TarBuilder entry(String name, char type, String link, byte[] data) {
            byte[] h = new byte[512];
            put(h, 0, name, 100);
            put(h, 100, "0000644", 8);
            put(h, 108, "0000000", 8);
            put(h, 116, "0000000", 8);
            put(h, 124, String.format("%011o", data.length), 12);
            put(h, 136, "00000000000", 12);
            h[156] = (byte) type;
            put(h, 157, link, 100);
            put(h, 257, "ustar", 6);
            put(h, 263, "00", 2);
            for (int i = 148; i < 156; i++) {
                h[i] = ' ';
            }
            int sum = 0;
            for (byte b : h) {
                sum += b & 0xFF;
            }
            put(h, 148, String.format("%06o", sum), 7);
            out.writeBytes(h);
            out.writeBytes(data);
            out.writeBytes(new byte[(512 - data.length % 512) % 512]);
            return this;
        }

        /** A pax extended header giving the next entry's path. */
        public TarBuilder pax(String path) {
            byte[] rec = (" path=" + path + "\n").getBytes(StandardCharsets.UTF_8);
            int len = rec.length + 1; // the record's length in bytes, its own digits included
            while (String.valueOf(len).length() + rec.length != len) {
                len++;
            }
            byte[] digits = String.valueOf(len).getBytes(StandardCharsets.US_ASCII);
            byte[] data = java.util.Arrays.copyOf(digits, len);
            System.arraycopy(rec, 0, data, digits.length, rec.length);
            return entry("PaxHeader", 'x', "", data);
        }

        /** The archive, with its end-of-archive marker. */
        public byte[] bytes() {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(out.toByteArray());
            b.writeBytes(new byte[1024]);
            return b.toByteArray();
        }

        /** The archive gzip-compressed. */
        public byte[] gzipped() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            try (GZIPOutputStream gz = new GZIPOutputStream(b)) {
                gz.write(bytes());
            }
            return b.toByteArray();
        }

        private static void put(byte[] h, int off, String s, int max) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(b, 0, h, off, Math.min(b.length, max));
        }
    }

    private List<Path> extract(TarBuilder tar, Path dest) throws IOException {
        return TarArchive.extract(new ByteArrayInputStream(tar.bytes()), dest, "test.tar");
    }

    @Test
    void extractsFilesFoldersAndLongNames() throws IOException {
        String longName = "package/" + "d".repeat(120) + "/file.txt";
        Path tgz = Files.write(tmp.resolve("p.tgz"), new TarBuilder()
                .entry("package/", '5', "", new byte[0])
                .file("package/data/a.txt", "alpha")
                .file("./package/b.txt", "x".repeat(1500))
                .pax(longName).file("truncated-name", "long")
                .gzipped());
        Path dest = tmp.resolve("out");
        List<Path> files = TarArchive.extractTgz(tgz, dest);
        assertEquals(3, files.size());
        assertEquals("alpha", Files.readString(dest.resolve("package/data/a.txt")));
        assertEquals(1500, Files.size(dest.resolve("package/b.txt")));
        assertEquals("long", Files.readString(dest.resolve(longName)));
    }

    @Test
    void refusesHostileEntries() {
        Path dest = tmp.resolve("out");
        for (String evil : List.of("../evil.txt", "package/../../evil.txt", "/etc/evil.txt", "..", "a\\..\\evil")) {
            var e = assertThrows(LumensparkException.class, () -> extract(new TarBuilder().file(evil, "x"), dest));
            assertTrue(e.getMessage().contains("unsafe path"), e.getMessage());
        }
        var sym = assertThrows(LumensparkException.class,
                () -> extract(new TarBuilder().entry("package/link", '2', "/etc/passwd", new byte[0]), dest));
        assertTrue(sym.getMessage().contains("link"), sym.getMessage());
        var hard = assertThrows(LumensparkException.class,
                () -> extract(new TarBuilder().entry("package/link", '1', "../x", new byte[0]), dest));
        assertTrue(hard.getMessage().contains("link"), hard.getMessage());
        assertThrows(LumensparkException.class,
                () -> extract(new TarBuilder().entry("package/fifo", '6', "", new byte[0]), dest));
        assertThrows(LumensparkException.class,
                () -> extract(new TarBuilder().pax("../escape.txt").file("ok.txt", "x"), dest));
        var nul = assertThrows(LumensparkException.class, () -> extract(new TarBuilder() // a GNU long name: not "a"
                .entry("././@LongLink", 'L', "", "a\0b\0".getBytes(StandardCharsets.UTF_8)).file("ok.txt", "x"), dest));
        assertTrue(nul.getMessage().endsWith("has an unsafe path: 'a\\0b'"), nul.getMessage());
        assertFalse(Files.exists(tmp.resolve("evil.txt")));
        assertFalse(Files.exists(tmp.resolve("escape.txt")));
    }

    @Test
    void detectsCorruptHeaders() {
        byte[] tar = new TarBuilder().file("a.txt", "x").bytes();
        tar[10] ^= 1;
        var e = assertThrows(LumensparkException.class,
                () -> TarArchive.extract(new ByteArrayInputStream(tar), tmp.resolve("out"), "bad.tar"));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
    }

    /** A gzip stream is read to its end: damage or a cut after the tar's last entry is refused too. */
    @Test
    void aGzipDamagedOrCutPastTheLastEntryIsRefused() throws IOException {
        byte[] tgz = new TarBuilder().file("a.txt", "alpha").gzipped();
        byte[] badCrc = tgz.clone();
        badCrc[tgz.length - 8] ^= 1; // the trailer's CRC-32
        byte[] cut = java.util.Arrays.copyOf(tgz, tgz.length - 4); // the trailer's length field gone
        for (byte[] bad : List.of(badCrc, cut)) {
            Path file = Files.write(tmp.resolve("bad.tgz"), bad);
            var e = assertThrows(LumensparkException.class, () -> TarArchive.extractTgz(file, tmp.resolve("out")));
            assertTrue(e.getMessage().startsWith("archive bad.tgz has corrupt compressed data")
                    || e.getMessage().equals("archive bad.tgz is truncated (its compressed data ends early)"),
                    e.getMessage());
        }
        assertEquals(List.of(), java.util.Arrays.stream(tmp.toFile().list()).filter(n -> !n.equals("bad.tgz"))
                .toList(), "nothing extracted");
    }

    private int refusals;

    /** The refusal of {@code tar} (into a new folder): one line naming it, no raw control character or class name. */
    private LumensparkException refused(byte[] tar, Archives.Limits limits) {
        Path out = tmp.resolve("out" + ++refusals);
        var e = assertThrows(LumensparkException.class,
                () -> TarArchive.extract(new ByteArrayInputStream(tar), out, "bad.tar", limits));
        assertTrue(e.getMessage().startsWith("archive bad.tar "), e.getMessage());
        assertTrue(e.getMessage().chars().noneMatch(Character::isISOControl), e.getMessage());
        assertFalse(e.getMessage().contains("Exception") || e.getMessage().contains("null"), e.getMessage());
        return e;
    }

    private LumensparkException refused(byte[] tar) {
        return refused(tar, Archives.Limits.DEFAULT);
    }

    @Test
    void corruptPaxHeadersAreRefusedCleanly() {
        for (String pax : List.of("abc path=x.txt\n", "99999999999 path=x.txt\n", "-5 path=x.txt\n",
                "50 path=x.txt\n", "14 path=x.txt.", "3 a\n", "14 pathxxxxxx\n", " path=x.txt\n")) {
            byte[] tar = new TarBuilder().entry("PaxHeader", 'x', "", pax.getBytes(StandardCharsets.UTF_8))
                    .file("x.txt", "x").bytes();
            var e = refused(tar);
            assertTrue(e.getMessage().contains("corrupt pax header"), pax + ": " + e.getMessage());
        }
        // A well-formed header without a path (only other keys) leaves the entry's own name.
        List<Path> files = assertDoesNotThrow(() -> extract(new TarBuilder().entry("PaxHeader", 'x', "",
                "11 mtime=1\n".getBytes(StandardCharsets.UTF_8)).file("plain.txt", "p"), tmp.resolve("ok")));
        assertEquals(List.of(tmp.resolve("ok/plain.txt").toAbsolutePath()), files);
    }

    @Test
    void namesWithControlCharactersAreRefusedAndShownEscaped() {
        var nul = refused(new TarBuilder().pax("a\0b.txt").file("x", "x").bytes());
        assertTrue(nul.getMessage().equals("archive bad.tar has an unsafe path: 'a\\0b.txt'"), nul.getMessage());
        var esc = refused(new TarBuilder().file("\u001b[31mred\nline.txt", "x").bytes());
        assertTrue(esc.getMessage().contains("'\\u001b[31mred\\nline.txt'"), esc.getMessage());
        var type = refused(new TarBuilder().entry("dev\u0007", '\u001b', "", new byte[0]).bytes());
        assertTrue(type.getMessage().contains("type '\\u001b': dev\\u0007"), type.getMessage());
        var longLine = refused(new TarBuilder().pax("../" + "x".repeat(5000)).file("x", "x").bytes());
        assertTrue(longLine.getMessage().length() < 300, "a long name is cut short: " + longLine.getMessage());
    }

    @Test
    void truncatedArchivesAreRefusedCleanly() throws IOException {
        byte[] tar = new TarBuilder().file("a.txt", "x".repeat(3000)).file("b.txt", "y").bytes();
        for (int cut : new int[]{100, 512 + 1000, 512 + 3072 + 200}) { // in a header, in data, in the next header
            var e = refused(java.util.Arrays.copyOf(tar, cut));
            assertTrue(e.getMessage().equals("archive bad.tar is truncated (it ends inside an entry)"),
                    cut + ": " + e.getMessage());
        }
        byte[] tgz = new TarBuilder().file("a.txt", "x".repeat(100_000)).gzipped();
        Path cut = Files.write(tmp.resolve("cut.tgz"), java.util.Arrays.copyOf(tgz, tgz.length / 2));
        var gz = assertThrows(LumensparkException.class, () -> TarArchive.extractTgz(cut, tmp.resolve("o")));
        assertEquals("archive cut.tgz is truncated (it ends inside an entry)", gz.getMessage());
        byte[] damaged = tgz.clone();
        for (int i = 20; i < 60; i++) damaged[i] = (byte) 0xFF;
        Path bad = Files.write(tmp.resolve("damaged.tgz"), damaged);
        var d = assertThrows(LumensparkException.class, () -> TarArchive.extractTgz(bad, tmp.resolve("o2")));
        assertTrue(d.getMessage().startsWith("archive damaged.tgz has corrupt compressed data ("), d.getMessage());
    }

    @Test
    void entriesAndDataAreCountedAsTheyAreRead() {
        Archives.Limits limits = new Archives.Limits(1 << 20, 100);
        TarBuilder hundred = new TarBuilder().entry("d/", '5', "", new byte[0]);
        for (int i = 1; i < 100; i++) hundred.file("d/" + i, "");
        assertDoesNotThrow(() -> TarArchive.extract(new ByteArrayInputStream(hundred.bytes()), tmp.resolve("ok"),
                "ok.tar", limits));
        var many = refused(hundred.file("d/one-more", "").bytes(), limits);
        assertEquals("archive bad.tar holds more than 100 files and folders; refusing it", many.getMessage());

        // Extended headers count as data and may not pile up without an entry.
        TarBuilder piled = new TarBuilder();
        for (int i = 0; i < 9; i++) piled.entry("g", 'g', "", "11 mtime=1\n".getBytes(StandardCharsets.UTF_8));
        assertTrue(refused(piled.file("a", "a").bytes()).getMessage().contains("9 extended headers in a row"));
        // A folder's data is read through as well, and counted.
        var dir = refused(new TarBuilder().entry("d/", '5', "", new byte[2 << 20]).bytes(), limits);
        assertTrue(dir.getMessage().contains("decompression bomb"), dir.getMessage());
    }
}
