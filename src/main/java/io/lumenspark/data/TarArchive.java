package io.lumenspark.data;

import io.lumenspark.LumensparkException;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * A minimal reader for (gzip-compressed) ustar/pax/GNU tar archives, enough for npm packages and corpus archives.
 * Only regular files and folders are extracted; links, devices, absolute paths, {@code ..} and two entries for one
 * path are refused, so an archive cannot write outside its destination, and the total size is capped.
 */
final class TarArchive {

    private static final int BLOCK = 512;
    /** Refuses archives that would unpack to more than this (decompression bombs). */
    static final long MAX_TOTAL_BYTES = Archives.MAX_TOTAL_BYTES;

    private TarArchive() {
    }

    /** Extracts a {@code .tgz} file into {@code dest}; returns the files written, in archive order. */
    static List<Path> extractTgz(Path tgz, Path dest) throws IOException {
        return extractFile(tgz, true, dest, MAX_TOTAL_BYTES);
    }

    /** Extracts a tar file, gzip-compressed or not, into {@code dest}, writing at most {@code maxBytes}. */
    static List<Path> extractFile(Path tar, boolean gzipped, Path dest, long maxBytes) throws IOException {
        InputStream raw = new BufferedInputStream(Files.newInputStream(tar));
        try (InputStream in = gzipped ? new GZIPInputStream(raw) : raw) {
            return extract(in, dest, tar.getFileName().toString(), maxBytes);
        } catch (java.util.zip.ZipException e) {
            throw bad(tar.getFileName().toString(), "is not a gzip file (" + e.getMessage() + ")");
        } finally {
            raw.close();
        }
    }

    /** Extracts an uncompressed tar stream into {@code dest}; {@code label} names the archive in errors. */
    static List<Path> extract(InputStream in, Path dest, String label) throws IOException {
        return extract(in, dest, label, MAX_TOTAL_BYTES);
    }

    /** As {@link #extract(InputStream, Path, String)}, refusing to write more than {@code maxBytes} in all. */
    static List<Path> extract(InputStream in, Path dest, String label, long maxBytes) throws IOException {
        Path root = dest.toAbsolutePath().normalize();
        Files.createDirectories(root);
        List<Path> written = new ArrayList<>();
        byte[] header = new byte[BLOCK];
        String longName = null; // from a preceding GNU 'L' or pax 'x' entry
        long total = 0;
        while (readBlock(in, header)) {
            if (isZero(header)) {
                break; // end-of-archive marker
            }
            checkChecksum(header, label);
            long size = octal(header, 124, 12, label);
            char type = (char) header[156];
            String name = longName != null ? longName : fullName(header);
            longName = null;
            switch (type) {
                case '0', '\0', '7' -> {
                    total += size;
                    if (total > maxBytes) {
                        throw bad(label, "unpacks to more than " + maxBytes
                                + " bytes; refusing it as a decompression bomb");
                    }
                    Path file = resolve(root, name, label);
                    try {
                        Files.createDirectories(file.getParent());
                        try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.CREATE_NEW,
                                StandardOpenOption.WRITE)) {
                            copy(in, out, size);
                        }
                    } catch (FileAlreadyExistsException e) {
                        throw bad(label, "has colliding entries at " + name);
                    }
                    skipPadding(in, size);
                    written.add(file);
                }
                case '5' -> {
                    try {
                        Files.createDirectories(resolve(root, name, label));
                    } catch (FileAlreadyExistsException e) {
                        throw bad(label, "has colliding entries at " + name);
                    }
                    skipData(in, size);
                }
                case 'L' -> longName = cString(readData(in, size, label), 0, (int) size);
                case 'x' -> longName = paxPath(readData(in, size, label));
                case 'g' -> skipData(in, size); // global pax defaults: nothing we use
                case '1', '2' -> throw bad(label, "contains a link: " + name);
                default -> throw bad(label, "contains an unsupported entry of type '" + type + "': " + name);
            }
        }
        return written;
    }

    /** {@code dest/name}, refusing names that could escape {@code root}. */
    static Path resolve(Path root, String name, String label) {
        if (name.isEmpty() || name.startsWith("/") || name.contains("\\") || name.contains(":")) {
            throw bad(label, "has an unsafe path: '" + name + "'");
        }
        for (String part : name.split("/")) {
            if (part.equals("..")) {
                throw bad(label, "has an unsafe path: '" + name + "'");
            }
        }
        Path p = root.resolve(name).normalize();
        if (!p.startsWith(root)) {
            throw bad(label, "has an unsafe path: '" + name + "'");
        }
        return p;
    }

    private static LumensparkException bad(String label, String what) {
        return new LumensparkException("archive " + label + " " + what);
    }

    private static String fullName(byte[] h) {
        String name = cString(h, 0, 100);
        boolean ustar = new String(h, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
        String prefix = ustar ? cString(h, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /** The {@code path} record of a pax extended header ("LEN path=VALUE\n" records), or null. */
    private static String paxPath(byte[] data) {
        int i = 0;
        while (i < data.length) {
            int space = indexOf(data, (byte) ' ', i);
            if (space < 0) {
                break;
            }
            int len = Integer.parseInt(new String(data, i, space - i, StandardCharsets.US_ASCII).trim());
            if (len <= 0 || i + len > data.length) {
                break;
            }
            String record = new String(data, space + 1, i + len - space - 2, StandardCharsets.UTF_8);
            if (record.startsWith("path=")) {
                return record.substring(5);
            }
            i += len;
        }
        return null;
    }

    private static int indexOf(byte[] a, byte b, int from) {
        for (int i = from; i < a.length; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
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
            throw bad(label, "has an entry over 8 GB (base-256 size), which is not supported");
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
                throw bad(label, "has a corrupt header (bad octal number)");
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
            throw bad(label, "has a corrupt header (checksum mismatch); is it a tar file?");
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
            throw new EOFException("truncated tar header");
        }
        return true;
    }

    private static byte[] readData(InputStream in, long size, String label) throws IOException {
        if (size > 1 << 20) {
            throw bad(label, "has an oversized extended header");
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length < size) {
            throw new EOFException("truncated tar entry");
        }
        skipPadding(in, size);
        return data;
    }

    private static void copy(InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[1 << 16];
        for (long left = size; left > 0; ) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new EOFException("truncated tar entry");
            }
            out.write(buf, 0, n);
            left -= n;
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
