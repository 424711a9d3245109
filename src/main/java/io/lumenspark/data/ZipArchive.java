package io.lumenspark.data;

import io.lumenspark.LumensparkException;

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
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Extracts zip files safely: only regular files and folders, never a path that is absolute or climbs out with
 * {@code ..}, never a symbolic link or special file (as a Unix zip tool records them), never two entries for one
 * path, and never more than a given number of bytes in all, whatever the entries claim.
 */
final class ZipArchive {

    private static final int END_SIGNATURE = 0x06054b50;
    private static final int ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
    private static final int ZIP64_END_SIGNATURE = 0x06064b50;
    private static final int CENTRAL_SIGNATURE = 0x02014b50;
    private static final int UNIX_HOST = 3;
    private static final int TYPE_MASK = 0170000, REGULAR = 0100000, FOLDER = 0040000;

    private ZipArchive() {
    }

    /** Extracts {@code zip} into {@code dest}; returns the files written, in archive order. */
    static List<Path> extract(Path zip, Path dest, long maxBytes) throws IOException {
        String label = zip.getFileName().toString();
        Path root = dest.toAbsolutePath().normalize();
        Files.createDirectories(root);
        Set<String> special = specialEntries(zip, label);
        List<Path> written = new ArrayList<>();
        long total = 0;
        try (ZipFile zf = new ZipFile(zip.toFile())) {
            for (ZipEntry e : Collections.list(zf.entries())) {
                String name = e.getName();
                if (special.contains(name)) {
                    throw bad(label, "contains a link or special file: " + name);
                }
                Path path = TarArchive.resolve(root, name, label);
                try {
                    if (e.isDirectory()) {
                        Files.createDirectories(path);
                        continue;
                    }
                    Files.createDirectories(path.getParent());
                    try (InputStream in = zf.getInputStream(e);
                         OutputStream out = Files.newOutputStream(path, StandardOpenOption.CREATE_NEW)) {
                        total = copy(in, out, total, maxBytes, label);
                    }
                } catch (FileAlreadyExistsException x) {
                    throw bad(label, "has colliding entries at " + name);
                }
                written.add(path);
            }
        } catch (ZipException e) {
            throw bad(label, "is not a readable zip file (" + e.getMessage() + ")");
        }
        return written;
    }

    /** Copies, counting the bytes really produced (an entry's declared size may lie). */
    private static long copy(InputStream in, OutputStream out, long total, long maxBytes, String label)
            throws IOException {
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
            total += n;
            if (total > maxBytes) {
                throw bad(label, "unpacks to more than " + maxBytes + " bytes; refusing it as a decompression bomb");
            }
            out.write(buf, 0, n);
        }
        return total;
    }

    /**
     * Names of entries that a Unix zip tool marked as something other than a file or folder (symbolic links, above
     * all), read from the central directory: {@link ZipEntry} does not expose the mode bits.
     */
    static Set<String> specialEntries(Path zip, String label) throws IOException {
        try (FileChannel ch = FileChannel.open(zip, StandardOpenOption.READ)) {
            long size = ch.size();
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
                throw bad(label, "is not a zip file (no end of central directory)");
            }
            long entries = tail.getShort(end + 10) & 0xFFFF;
            long dirSize = tail.getInt(end + 12) & 0xFFFFFFFFL;
            long dirOffset = tail.getInt(end + 16) & 0xFFFFFFFFL;
            if ((entries == 0xFFFF || dirOffset == 0xFFFFFFFFL || dirSize == 0xFFFFFFFFL) && end >= 20
                    && tail.getInt(end - 20) == ZIP64_LOCATOR_SIGNATURE) {
                ByteBuffer z = read(ch, tail.getLong(end - 20 + 8), 56);
                if (z.getInt(0) != ZIP64_END_SIGNATURE) {
                    throw bad(label, "has a corrupt zip64 directory");
                }
                entries = z.getLong(32);
                dirSize = z.getLong(40);
                dirOffset = z.getLong(48);
            }
            if (dirOffset + dirSize > size || dirSize > Integer.MAX_VALUE) {
                throw bad(label, "has a corrupt central directory");
            }
            ByteBuffer dir = read(ch, dirOffset, (int) dirSize);
            Set<String> special = new HashSet<>();
            int p = 0;
            for (long i = 0; i < entries; i++) {
                if (p + 46 > dir.limit() || dir.getInt(p) != CENTRAL_SIGNATURE) {
                    throw bad(label, "has a corrupt central directory");
                }
                int host = (dir.getShort(p + 4) >> 8) & 0xFF;
                int nameLength = dir.getShort(p + 28) & 0xFFFF;
                int extraLength = dir.getShort(p + 30) & 0xFFFF;
                int commentLength = dir.getShort(p + 32) & 0xFFFF;
                int mode = dir.getInt(p + 38) >>> 16;
                if (p + 46 + nameLength > dir.limit()) {
                    throw bad(label, "has a corrupt central directory");
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

    private static ByteBuffer read(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, position + b.position()) < 0) {
                throw new java.io.EOFException("truncated zip file");
            }
        }
        return b.flip();
    }

    private static LumensparkException bad(String label, String what) {
        return new LumensparkException("archive " + label + " " + what);
    }
}
