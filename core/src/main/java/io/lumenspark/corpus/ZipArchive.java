package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Printable;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Extracts zip files safely: only regular files and folders, never a path that is absolute, climbs out with
 * {@code ..} or holds control characters, never a symbolic link or special file (as a Unix zip tool records them),
 * never two entries for one path, and never more bytes (counted as they come out, whatever the entries claim) or
 * entries than {@link Archives.Limits} allow. The central directory is checked before anything is written, and each
 * entry's data against its CRC-32 as it comes out; a truncated or corrupt zip is refused with one line saying so.
 */
final class ZipArchive {

    private static final int END_SIGNATURE = 0x06054b50;
    private static final int ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
    private static final int ZIP64_END_SIGNATURE = 0x06064b50;
    private static final int CENTRAL_SIGNATURE = 0x02014b50;
    private static final int UNIX_HOST = 3;
    private static final int TYPE_MASK = 0170000, REGULAR = 0100000, FOLDER = 0040000;
    /** A central directory above this is refused: 100,000 entries with 300-byte names take 35 MB. */
    private static final long MAX_DIRECTORY_BYTES = 64L << 20;

    private ZipArchive() {
    }

    /** Extracts {@code zip} into {@code dest} within {@code limits}; returns the files written, in archive order. */
    static List<Path> extract(Path zip, Path dest, Archives.Limits limits) throws IOException {
        String label = zip.getFileName().toString();
        Path root = dest.toAbsolutePath().normalize();
        Set<String> special = specialEntries(zip, label, limits);
        Files.createDirectories(root);
        List<Path> written = new ArrayList<>();
        long total = 0;
        int entries = 0;
        try (ZipFile zf = new ZipFile(zip.toFile())) {
            for (Enumeration<? extends ZipEntry> all = zf.entries(); all.hasMoreElements(); ) {
                ZipEntry e = all.nextElement();
                if (++entries > limits.maxEntries()) {
                    throw limits.tooManyEntries(label);
                }
                String name = e.getName();
                if (special.contains(name)) {
                    throw Archives.bad(label, "contains a link or special file: " + Printable.of(name));
                }
                Path path = TarArchive.resolve(root, name, label);
                try {
                    if (e.isDirectory()) {
                        Files.createDirectories(path);
                        continue;
                    }
                    Files.createDirectories(path.getParent());
                    CRC32 crc = new CRC32();
                    try (InputStream in = zf.getInputStream(e);
                         OutputStream out = Files.newOutputStream(path, StandardOpenOption.CREATE_NEW)) {
                        total = copy(in, out, crc, total, limits, label);
                    }
                    if (e.getCrc() != -1 && crc.getValue() != e.getCrc()) { // ZipFile itself does not check it
                        throw Archives.bad(label, "has a corrupt entry (checksum mismatch): " + Printable.of(name));
                    }
                } catch (FileAlreadyExistsException x) {
                    throw TarArchive.colliding(label, name);
                }
                written.add(path);
            }
        } catch (ZipException e) {
            String why = String.valueOf(e.getMessage()).replaceFirst("^ZipFile ", ""); // the JDK's class name
            throw Archives.bad(label, "is not a readable zip file (" + Printable.of(why) + ")");
        } catch (EOFException e) {
            throw Archives.bad(label, "is truncated (an entry's data ends early)");
        }
        return written;
    }

    /** Copies into crc, counting the bytes really produced (an entry's declared size may lie). */
    private static long copy(InputStream in, OutputStream out, CRC32 crc, long total, Archives.Limits limits,
                             String label) throws IOException {
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
            total += n;
            if (total > limits.maxBytes()) {
                throw limits.tooManyBytes(label);
            }
            crc.update(buf, 0, n);
            out.write(buf, 0, n);
        }
        return total;
    }

    /**
     * Names of entries that a Unix zip tool marked as something other than a file or folder (symbolic links, above
     * all), read from the central directory: {@link ZipEntry} does not expose the mode bits. Checks on the way that
     * the directory lies inside the file and that neither its entries nor the sizes they declare exceed
     * {@code limits} (the bytes are counted again as they come out, since a declared size may lie).
     */
    static Set<String> specialEntries(Path zip, String label, Archives.Limits limits) throws IOException {
        try (FileChannel ch = FileChannel.open(zip, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 22) {
                throw Archives.bad(label, "is not a zip file (no end of central directory)");
            }
            int tailLength = (int) Math.min(size, 22 + 65535);
            ByteBuffer tail = read(ch, size - tailLength, tailLength);
            int end = -1;
            for (int i = tailLength - 22; i >= 0; i--) {
                if (tail.getInt(i) == END_SIGNATURE) {
                    end = i;
                    break;
                }
            }
            if (end < 0) {
                throw Archives.bad(label, "is not a zip file (no end of central directory)");
            }
            long dirSize = tail.getInt(end + 12) & 0xFFFFFFFFL;
            long dirOffset = tail.getInt(end + 16) & 0xFFFFFFFFL;
            if ((dirOffset == 0xFFFFFFFFL || dirSize == 0xFFFFFFFFL || (tail.getShort(end + 10) & 0xFFFF) == 0xFFFF)
                    && end >= 20 && tail.getInt(end - 20) == ZIP64_LOCATOR_SIGNATURE) {
                long at = tail.getLong(end - 20 + 8);
                if (at < 0 || at > size - 56) {
                    throw corrupt(label);
                }
                ByteBuffer z = read(ch, at, 56);
                if (z.getInt(0) != ZIP64_END_SIGNATURE) {
                    throw corrupt(label);
                }
                dirSize = z.getLong(40);
                dirOffset = z.getLong(48);
            }
            if (dirOffset < 0 || dirSize < 0 || dirOffset > size || dirSize > size - dirOffset) {
                throw Archives.bad(label, "is truncated or corrupt (its central directory lies outside the file)");
            }
            if (dirSize > MAX_DIRECTORY_BYTES) {
                throw Archives.bad(label, "has a central directory over " + (MAX_DIRECTORY_BYTES >> 20)
                        + " MiB; refusing it");
            }
            ByteBuffer dir = read(ch, dirOffset, (int) dirSize);
            Set<String> special = new HashSet<>();
            int entries = 0;
            long declared = 0;
            for (int p = 0; p < dir.limit(); ) { // every record, whatever count the end record gives
                if (p + 46 > dir.limit() || dir.getInt(p) != CENTRAL_SIGNATURE) {
                    throw corrupt(label);
                }
                if (++entries > limits.maxEntries()) {
                    throw limits.tooManyEntries(label);
                }
                int host = (dir.getShort(p + 4) >> 8) & 0xFF;
                int nameLength = dir.getShort(p + 28) & 0xFFFF;
                int extraLength = dir.getShort(p + 30) & 0xFFFF;
                int commentLength = dir.getShort(p + 32) & 0xFFFF;
                int mode = dir.getInt(p + 38) >>> 16;
                long bytes = dir.getInt(p + 24) & 0xFFFFFFFFL; // all ones: in the zip64 field, counted as it comes
                if (bytes != 0xFFFFFFFFL && (declared += bytes) > limits.maxBytes()) {
                    throw limits.tooManyBytes(label);
                }
                if (p + 46 + nameLength > dir.limit()) {
                    throw corrupt(label);
                }
                int type = mode & TYPE_MASK;
                if (host == UNIX_HOST && type != 0 && type != REGULAR && type != FOLDER) {
                    byte[] name = new byte[nameLength];
                    dir.get(p + 46, name);
                    special.add(new String(name, StandardCharsets.UTF_8));
                }
                p += 46 + nameLength + extraLength + commentLength;
            }
            return special;
        }
    }

    private static LumensparkException corrupt(String label) {
        return Archives.bad(label, "has a corrupt central directory");
    }

    private static ByteBuffer read(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, position + b.position()) < 0) {
                throw new EOFException();
            }
        }
        return b.flip();
    }
}
