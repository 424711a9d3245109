package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Printable;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * A minimal reader for (gzip-compressed) ustar/pax/GNU tar archives, enough for npm packages and corpus archives.
 * Only regular files and folders are extracted; links, devices, absolute paths, {@code ..}, control characters in
 * names and two entries for one path are refused, so an archive cannot write outside its destination, and the data
 * and the number of entries are capped ({@link Archives.Limits}). A truncated or corrupt archive is refused with
 * one line saying so; a gzip stream is read to its end, past the last entry, so that its checksum is checked.
 */
final class TarArchive {

    private static final int BLOCK = 512;
    /** Extended headers ({@code x}, {@code g}, {@code L}) above this size are refused. */
    private static final int MAX_EXTENDED_HEADER = 1 << 20;
    /** More extended headers than this in a row, with no entry they apply to, are refused as corrupt. */
    private static final int MAX_HEADERS_IN_A_ROW = 8;

    private TarArchive() {
    }

    /** Extracts a {@code .tgz} file into {@code dest} with the default limits; returns the files written. */
    static List<Path> extractTgz(Path tgz, Path dest) throws IOException {
        return extractFile(tgz, true, dest, Archives.Limits.DEFAULT);
    }

    /**
     * Extracts a tar file, gzip-compressed or not, into {@code dest} within {@code limits}. The file is read twice:
     * first without writing anything, so that a refused archive (too many entries or bytes, a bad name, header or
     * entry type, a truncated end) is refused before anything is on disk, however many entries it holds; then to
     * write.
     */
    static List<Path> extractFile(Path tar, boolean gzipped, Path dest, Archives.Limits limits) throws IOException {
        String label = tar.getFileName().toString();
        read(tar, gzipped, label, in -> extract(in, dest, label, limits, false));
        return read(tar, gzipped, label, in -> extract(in, dest, label, limits, true));
    }

    /** One pass through a tar stream. */
    private interface Pass {
        List<Path> run(InputStream in) throws IOException;
    }

    private static List<Path> read(Path tar, boolean gzipped, String label, Pass pass) throws IOException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(tar), 1 << 16)) {
            InputStream in = raw;
            if (gzipped) {
                try {
                    in = new GZIPInputStream(raw, 1 << 16);
                } catch (ZipException | EOFException e) {
                    throw Archives.bad(label, "is not a gzip file");
                }
            }
            try {
                return pass.run(in);
            } catch (ZipException e) {
                throw Archives.bad(label, "has corrupt compressed data (" + Printable.of(e.getMessage()) + ")");
            }
        }
    }

    /** Extracts an uncompressed tar stream into {@code dest} with the default limits. */
    static List<Path> extract(InputStream in, Path dest, String label) throws IOException {
        return extract(in, dest, label, Archives.Limits.DEFAULT);
    }

    /**
     * Extracts an uncompressed tar stream into {@code dest}; {@code label} names the archive in errors. Entries are
     * counted, and their data added up, as they are read, so a refusal comes at the first entry past a limit.
     */
    static List<Path> extract(InputStream in, Path dest, String label, Archives.Limits limits) throws IOException {
        return extract(in, dest, label, limits, true);
    }

    /** As {@link #extract(InputStream, Path, String, Archives.Limits)}; without {@code write}, only the checks. */
    private static List<Path> extract(InputStream in, Path dest, String label, Archives.Limits limits, boolean write)
            throws IOException {
        Path root = dest.toAbsolutePath().normalize();
        if (write) Files.createDirectories(root);
        List<Path> written = new ArrayList<>();
        byte[] header = new byte[BLOCK];
        String longName = null; // from a preceding GNU 'L' or pax 'x' entry
        long total = 0;
        int entries = 0;
        int headersInARow = 0;
        try {
            while (readBlock(in, header)) {
                if (isZero(header)) {
                    drain(in, total, limits, label);
                    break; // end-of-archive marker
                }
                checkChecksum(header, label);
                long size = octal(header, 124, 12, label);
                total += size;
                if (total > limits.maxBytes()) {
                    throw limits.tooManyBytes(label);
                }
                char type = (char) header[156];
                boolean extended = type == 'x' || type == 'g' || type == 'L';
                headersInARow = extended ? headersInARow + 1 : 0;
                if (headersInARow > MAX_HEADERS_IN_A_ROW) {
                    throw Archives.bad(label, "has a corrupt header (" + headersInARow + " extended headers in a row)");
                }
                if (!extended && ++entries > limits.maxEntries()) {
                    throw limits.tooManyEntries(label);
                }
                String name = longName != null ? longName : fullName(header);
                if (!extended) {
                    longName = null;
                }
                switch (type) {
                    case '0', '\0', '7' -> {
                        Path file = resolve(root, name, label);
                        if (!write) {
                            skipData(in, size);
                            continue;
                        }
                        try {
                            Files.createDirectories(file.getParent());
                            try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.CREATE_NEW,
                                    StandardOpenOption.WRITE)) {
                                copy(in, out, size);
                            }
                        } catch (FileAlreadyExistsException e) {
                            throw colliding(label, name);
                        }
                        skipPadding(in, size);
                        written.add(file);
                    }
                    case '5' -> {
                        Path folder = resolve(root, name, label);
                        try {
                            if (write) Files.createDirectories(folder);
                        } catch (FileAlreadyExistsException e) {
                            throw colliding(label, name);
                        }
                        skipData(in, size);
                    }
                    case 'L' -> longName = withoutTrailingNuls(readData(in, size, label));
                    case 'x' -> {
                        String path = paxPath(readData(in, size, label), label);
                        if (path != null) longName = path;
                    }
                    case 'g' -> readData(in, size, label); // global pax defaults: nothing we use
                    case '1', '2' -> throw Archives.bad(label, "contains a link: " + Printable.of(name));
                    default -> throw Archives.bad(label, "contains an unsupported entry of type '"
                            + Printable.of(String.valueOf(type)) + "': " + Printable.of(name));
                }
            }
        } catch (EOFException e) {
            throw Archives.bad(label, "is truncated (it ends inside an entry)");
        }
        return written;
    }

    /**
     * {@code dest/name}, refusing names that could escape {@code root} or that hold control characters (NUL, line
     * breaks, escape sequences), which no corpus needs and which could not be shown in a message as they are.
     */
    static Path resolve(Path root, String name, String label) {
        if (name.isEmpty() || name.startsWith("/") || name.contains("\\") || name.contains(":")
                || name.chars().anyMatch(Character::isISOControl)) {
            throw unsafe(label, name);
        }
        for (String part : name.split("/")) {
            if (part.equals("..")) {
                throw unsafe(label, name);
            }
        }
        Path p;
        try {
            p = root.resolve(name).normalize();
        } catch (InvalidPathException e) {
            throw unsafe(label, name);
        }
        if (!p.startsWith(root)) {
            throw unsafe(label, name);
        }
        return p;
    }

    private static LumensparkException unsafe(String label, String name) {
        return Archives.bad(label, "has an unsafe path: '" + Printable.of(name) + "'");
    }

    static LumensparkException colliding(String label, String name) {
        return Archives.bad(label, "has colliding entries at " + Printable.of(name));
    }

    private static String fullName(byte[] h) {
        String name = cString(h, 0, 100);
        boolean ustar = new String(h, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
        String prefix = ustar ? cString(h, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /**
     * The {@code path} record of a pax extended header, or null if it has none. The header is a sequence of
     * records {@code "LEN key=value\n"}, LEN the record's length in bytes, in decimal; anything else is refused.
     */
    private static String paxPath(byte[] data, String label) {
        String path = null;
        int i = 0;
        while (i < data.length) {
            int digits = 0;
            long len = 0;
            while (i + digits < data.length && data[i + digits] >= '0' && data[i + digits] <= '9' && digits < 8) {
                len = len * 10 + (data[i + digits] - '0');
                digits++;
            }
            int space = i + digits;
            if (digits == 0 || space >= data.length || data[space] != ' ' || len <= digits + 1
                    || len > data.length - i || data[(int) (i + len - 1)] != '\n') {
                throw Archives.bad(label, "has a corrupt pax header (bad record length)");
            }
            int end = (int) (i + len - 1);
            int eq = indexOf(data, (byte) '=', space + 1, end);
            if (eq < 0) {
                throw Archives.bad(label, "has a corrupt pax header (a record without '=')");
            }
            if (new String(data, space + 1, eq - space - 1, StandardCharsets.UTF_8).equals("path")) {
                path = new String(data, eq + 1, end - eq - 1, StandardCharsets.UTF_8);
            }
            i = (int) (i + len);
        }
        return path;
    }

    private static int indexOf(byte[] a, byte b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A GNU long name: the data up to its terminating NULs. A NUL inside it stays, so that the name is refused
     * rather than cut short ("a\0b" is not "a").
     */
    private static String withoutTrailingNuls(byte[] data) {
        int end = data.length;
        while (end > 0 && data[end - 1] == 0) {
            end--;
        }
        return new String(data, 0, end, StandardCharsets.UTF_8);
    }

    private static String cString(byte[] b, int off, int max) {
        int end = off;
        while (end < off + max && end < b.length && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static long octal(byte[] h, int off, int len, String label) {
        if ((h[off] & 0x80) != 0) {
            throw Archives.bad(label, "has an entry over 8 GB (base-256 size), which is not supported");
        }
        long v = 0;
        for (int i = off; i < off + len; i++) {
            byte c = h[i];
            if (c == 0 || c == ' ') {
                if (v > 0) {
                    break; // trailing terminator
                }
                continue; // leading padding
            }
            if (c < '0' || c > '7') {
                throw Archives.bad(label, "has a corrupt header (bad octal number); is it a tar file?");
            }
            v = v * 8 + (c - '0');
        }
        return v;
    }

    private static void checkChecksum(byte[] h, String label) {
        long sum = 0;
        for (int i = 0; i < BLOCK; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xFF);
        }
        if (sum != octal(h, 148, 8, label)) {
            throw Archives.bad(label, "has a corrupt header (checksum mismatch); is it a tar file?");
        }
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** Reads a full block; false at a clean end of stream. */
    private static boolean readBlock(InputStream in, byte[] block) throws IOException {
        int n = in.readNBytes(block, 0, BLOCK);
        if (n == 0) {
            return false;
        }
        if (n < BLOCK) {
            throw new EOFException();
        }
        return true;
    }

    private static byte[] readData(InputStream in, long size, String label) throws IOException {
        if (size > MAX_EXTENDED_HEADER) {
            throw Archives.bad(label, "has an oversized extended header");
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length < size) {
            throw new EOFException();
        }
        skipPadding(in, size);
        return data;
    }

    private static void copy(InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[1 << 16];
        for (long left = size; left > 0; ) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new EOFException();
            }
            out.write(buf, 0, n);
            left -= n;
        }
    }

    /**
     * Reads what follows the end-of-archive marker (its second block, the padding of the last record), so that a
     * gzip stream is read to its end, where its checksum and length are checked: a damaged or truncated stream is
     * refused even when the damage lies past the last entry. It counts toward the limit like entry data.
     */
    private static void drain(InputStream in, long total, Archives.Limits limits, String label) throws IOException {
        byte[] buf = new byte[1 << 16];
        try {
            for (int n; (n = in.read(buf)) > 0; ) {
                total += n;
                if (total > limits.maxBytes()) {
                    throw limits.tooManyBytes(label);
                }
            }
        } catch (EOFException e) {
            throw Archives.bad(label, "is truncated (its compressed data ends early)");
        }
    }

    private static void skipData(InputStream in, long size) throws IOException {
        in.skipNBytes(size);
        skipPadding(in, size);
    }

    private static void skipPadding(InputStream in, long size) throws IOException {
        long pad = (BLOCK - size % BLOCK) % BLOCK;
        in.skipNBytes(pad);
    }
}
