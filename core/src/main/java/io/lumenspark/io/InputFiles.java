package io.lumenspark.io;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Opening input files safely: only regular files (a named pipe would block the reader forever, a device could
 * stream without end, a folder gives a confusing "No such device"), and only up to a size the caller states, so a
 * small-looking input can never mean unbounded work or memory. Failures are one-line {@link LumensparkException}s
 * naming the file.
 */
public final class InputFiles {
    /** The most a Java array (and so a whole-file read) can hold. */
    public static final long MAX_ARRAY_BYTES = Integer.MAX_VALUE - 8;

    /**
     * The most {@link #readLenient(Path)} reads: 64 MiB, far more than any prompt or text to score (whose tokens
     * must fit a model's context), and little enough to hold in memory as a Java string.
     */
    public static final long MAX_TEXT_BYTES = 64L << 20;

    private InputFiles() {
    }

    /**
     * Checks that path is a regular file (a link to one is fine), before anything opens it: {@code no such file:
     * PATH}, {@code cannot read PATH: not a regular file (a folder)}, or {@code (a named pipe, device or socket?)}.
     *
     * @throws LumensparkException for a missing path, a folder, or anything that is not a regular file
     */
    public static void requireRegularFile(Path path) {
        if (Files.isRegularFile(path)) return;
        if (!Files.exists(path)) throw new LumensparkException("no such file: " + path);
        throw new LumensparkException("cannot read " + path + ": not a regular file ("
                + (Files.isDirectory(path) ? "a folder)" : "a named pipe, device or socket?)"));
    }

    /**
     * The bytes of a regular file of at most maxBytes (at most {@link #MAX_ARRAY_BYTES}).
     *
     * @throws LumensparkException if it is not a regular file, is larger, or cannot be read
     */
    public static byte[] readBytes(Path path, long maxBytes) {
        requireRegularFile(path);
        long cap = Math.min(maxBytes, MAX_ARRAY_BYTES);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > cap) throw tooLarge(path, size, cap);
            // one byte more than the cap: a file that grew since its size was read must not pass unnoticed
            byte[] bytes = Channels.newInputStream(channel).readNBytes((int) cap + 1);
            if (bytes.length > cap) throw tooLarge(path, bytes.length, cap);
            return bytes;
        } catch (NoSuchFileException e) {
            throw new LumensparkException("no such file: " + path, e);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + path + ": " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * The text of a regular file of at most maxBytes, which must be valid UTF-8.
     *
     * @throws LumensparkException as {@link #readBytes}, or for bytes that are not UTF-8
     */
    public static String readUtf8(Path path, long maxBytes) {
        byte[] bytes = readBytes(path, maxBytes);
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new LumensparkException(path + ": not valid UTF-8 text");
        }
    }

    /** {@link #readLenient(Path, long)} of at most {@link #MAX_TEXT_BYTES}: a prompt, a text to score. */
    public static String readLenient(Path path) {
        return readLenient(path, MAX_TEXT_BYTES);
    }

    /**
     * The text of a regular file of at most maxBytes, read as UTF-8 leniently: malformed bytes become U+FFFD, as
     * the tokenizers read any text.
     *
     * @throws LumensparkException as {@link #readBytes}: {@code no such file: PATH}, {@code cannot read PATH: not a
     *                             regular file (...)}, {@code cannot read PATH: reason}, or a file over the cap
     */
    public static String readLenient(Path path, long maxBytes) {
        return new String(readBytes(path, maxBytes), StandardCharsets.UTF_8); // replaces malformed input
    }

    /** A byte count for people: "812 bytes", "3.4 KiB", "221.5 MiB", "37.2 GiB", "2.1 TiB" (binary units). */
    public static String humanSize(long bytes) {
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        if (bytes < 1024) return bytes + " bytes";
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    private static LumensparkException tooLarge(Path path, long size, long cap) {
        return new LumensparkException(String.format("cannot read %s: %,d bytes, more than the %s such a file may"
                + " have; not the right file?", path, size, humanSize(cap)));
    }
}
