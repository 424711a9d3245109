package io.lumenspark.io;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static java.nio.file.StandardCopyOption.ATOMIC_MOVE;
import static java.nio.file.StandardCopyOption.REPLACE_EXISTING;
import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Writes files so that readers see either the old content or the complete new content, never a torn file:
 * the data goes to a temporary file in the same folder, is forced to disk, and is then renamed over the target.
 * A crash or exception mid-write leaves the previous file untouched. Failures become {@link LumensparkException}s
 * reading {@code "cannot write <path>: <reason>"}.
 */
public final class AtomicFiles {
    /** The names of {@link #write}'s temporary files: a dot, the target's name, a dot, 1-16 hex digits, ".tmp". */
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.[0-9a-f]{1,16}\\.tmp");

    private AtomicFiles() {}

    /** Writes to an open channel; may throw {@link IOException}. */
    @FunctionalInterface
    public interface IoConsumer<T> {
        void accept(T value) throws IOException;
    }

    /** Atomically replaces {@code path} with {@code text} encoded as UTF-8. */
    public static void writeString(Path path, String text) {
        writeBytes(path, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Atomically replaces {@code path} with {@code bytes}. */
    public static void writeBytes(Path path, byte[] bytes) {
        write(path, channel -> writeFully(channel, ByteBuffer.wrap(bytes)));
    }

    /**
     * Atomically replaces {@code path} with whatever {@code writer} writes to the channel (positioned at 0 of an
     * empty file). Parent folders are created as needed. If the writer throws, the temporary file is deleted and
     * the exception propagates (IOExceptions wrapped, runtime exceptions as they are).
     */
    public static void write(Path path, IoConsumer<FileChannel> writer) {
        Path target = path.toAbsolutePath();
        // the move's own error would name the folder twice ("Is a directory (PATH)")
        if (Files.isDirectory(target)) throw new LumensparkException("cannot write " + path + ": it is a folder");
        Path dir = target.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = createTemp(dir, target.getFileName().toString());
            try (FileChannel channel = FileChannel.open(tmp, WRITE)) {
                writer.accept(channel);
                channel.force(true);
            }
            Files.move(tmp, target, ATOMIC_MOVE, REPLACE_EXISTING);
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + path + ": " + reason(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original failure is the one worth reporting
                }
            }
        }
    }

    /**
     * Deletes the temporary files that {@link #write} left directly in {@code dir} when its process was killed
     * before the rename ({@code .NAME.HEX.tmp}; nothing else is touched). Call it only while no other process can
     * be writing there, e.g. holding the folder's {@link FolderLock}: a live writer's file looks the same.
     *
     * @return the names deleted, sorted
     */
    public static List<String> deleteStaleTemporaries(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> entries = Files.list(dir)) {
            List<Path> stale = entries.filter(p -> TEMPORARY.matcher(p.getFileName().toString()).matches())
                    .filter(Files::isRegularFile).sorted().toList();
            for (Path p : stale) Files.deleteIfExists(p);
            return stale.stream().map(p -> p.getFileName().toString()).toList();
        } catch (IOException | UncheckedIOException e) {
            throw new LumensparkException("cannot clean up " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Writes all remaining bytes of {@code buffer}; a channel may accept fewer bytes per call. */
    static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    // Files.createTempFile would give the file mode 0600; CREATE_NEW keeps the user's umask like a plain write.
    // The names match TEMPORARY, which deleteStaleTemporaries relies on.
    private static Path createTemp(Path dir, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                FileChannel.open(tmp, CREATE_NEW, WRITE).close();
                return tmp;
            } catch (FileAlreadyExistsException e) {
                if (attempt == 10) throw e;
            }
        }
    }

    // Makes the rename itself durable; not every platform can open a directory, so this is best effort.
    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, READ)) {
            channel.force(true);
        } catch (IOException | RuntimeException ignored) {
            // the file content is already on disk; only the rename might be lost on power failure
        }
    }

    /** A short human-readable reason for an I/O failure, without repeating the path when possible. */
    public static String reason(IOException e) {
        return switch (e) {
            case NoSuchFileException x -> "no such file or directory" + other(x);
            case AccessDeniedException x -> "permission denied" + other(x);
            case NotDirectoryException x -> "not a directory: " + x.getFile();
            case FileAlreadyExistsException x -> "a file is in the way: " + x.getFile();
            case FileSystemException x when x.getReason() != null -> x.getReason() + other(x);
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
    }

    private static String other(FileSystemException e) {
        return e.getOtherFile() != null ? " (" + e.getOtherFile() + ")" : "";
    }

    /** Deletes a file or a folder with everything in it; nothing happens when it does not exist. */
    public static void deleteTree(Path path) {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException | UncheckedIOException e) {
            throw new LumensparkException("cannot delete " + path + ": " + e.getMessage(), e);
        }
    }
}
