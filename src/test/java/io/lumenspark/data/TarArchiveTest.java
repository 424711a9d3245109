package io.lumenspark.data;

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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TarArchiveTest {

    @TempDir
    Path tmp;

    /** Builds ustar archives in memory. */
    static final class TarBuilder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        TarBuilder file(String name, String content) {
            return entry(name, '0', "", content.getBytes(StandardCharsets.UTF_8));
        }

        TarBuilder entry(String name, char type, String link, byte[] data) {
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

        TarBuilder pax(String path) {
            String rec = " path=" + path + "\n";
            int len = rec.length() + 1;
            while (String.valueOf(len).length() + rec.length() != len) {
                len++;
            }
            return entry("PaxHeader", 'x', "", (len + rec).getBytes(StandardCharsets.UTF_8));
        }

        byte[] bytes() {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(out.toByteArray());
            b.writeBytes(new byte[1024]);
            return b.toByteArray();
        }

        byte[] gzipped() throws IOException {
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
}
