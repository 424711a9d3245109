package io.lumenspark.io;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * An exclusive lock on a folder that one process writes (a token folder, a training run), held through an OS file
 * lock on its hidden {@value #FILE} file; closing releases it, and so does the end of the process, however it ends.
 */
public final class FolderLock implements AutoCloseable {
    /** The lock file's name inside the locked folder. */
    public static final String FILE = ".lock";

    private final FileChannel channel;
    private final Path dir;
    /** What acquiring made: the lock file, and the folder itself; {@link #closeAndUndo} removes them again. */
    private final boolean createdFile, createdDir;

    private FolderLock(FileChannel channel, Path dir, boolean createdFile, boolean createdDir) {
        this.channel = channel;
        this.dir = dir;
        this.createdFile = createdFile;
        this.createdDir = createdDir;
    }

    /**
     * Locks {@code dir} (creating it), waiting for another process to finish when {@code wait}, else failing at
     * once. {@code activity} completes the messages, e.g. "training in" gives "another process is training in DIR".
     * A wait is announced on stderr ("waiting: another process is ... DIR"), so that it does not look like a hang.
     *
     * @throws LumensparkException if the folder is locked and {@code wait} is false, or cannot be locked
     */
    public static FolderLock acquire(Path dir, boolean wait, String activity) {
        return acquire(dir, wait, activity, System.err);
    }

    /** {@link #acquire(Path, boolean, String)}, announcing a wait on {@code waiting}. */
    static FolderLock acquire(Path dir, boolean wait, String activity, PrintStream waiting) {
        FileChannel ch = null;
        boolean createdDir = !Files.exists(dir), createdFile = false;
        try {
            Files.createDirectories(dir);
            createdFile = !Files.exists(dir.resolve(FILE));
            ch = FileChannel.open(dir.resolve(FILE), CREATE, WRITE);
            FileLock lock = ch.tryLock();
            if (lock == null && wait) {
                waiting.println("waiting: another process is " + activity + " " + dir);
                waiting.flush();
                lock = ch.lock();
            }
            if (lock == null) {
                throw new LumensparkException("another process is " + activity + " " + dir);
            }
            return new FolderLock(ch, dir, createdFile, createdDir);
        } catch (OverlappingFileLockException e) {
            close(ch);
            throw new LumensparkException("this process is already " + activity + " " + dir);
        } catch (IOException e) {
            close(ch);
            throw new LumensparkException("cannot lock " + dir + ": " + AtomicFiles.reason(e), e);
        } catch (RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    /**
     * Whether another process holds the lock of {@code dir} now; creates nothing (a folder without a lock file is
     * not locked). For messages: "another process is training in DIR" rather than a confusing consequence of it.
     */
    public static boolean isHeldElsewhere(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) return false;
        try (FileChannel ch = FileChannel.open(file, WRITE)) {
            FileLock lock = ch.tryLock();
            if (lock == null) return true;
            lock.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return false; // this process holds it
        } catch (IOException e) {
            return false;
        }
    }

    private static void close(FileChannel ch) {
        try {
            if (ch != null) {
                ch.close();
            }
        } catch (IOException ignored) {
            // the original failure is the one worth reporting
        }
    }

    @Override
    public void close() {
        close(channel); // releases the lock
    }

    /**
     * Removes the lock file and releases the lock, for a run that has ended: its folder (e.g. one uploaded as a
     * model) keeps no lock file. Only for locks acquired without waiting: a process that waits on the removed file
     * would hold a lock nobody else sees.
     */
    public void closeAndRemove() {
        try {
            Files.deleteIfExists(dir.resolve(FILE)); // while still held: no other process locks the file meanwhile
        } catch (IOException ignored) {
            // the lock file stays: harmless, the next run locks it again
        }
        close();
    }

    /**
     * Releases the lock and leaves the folder as it was before {@link #acquire}, for work that was refused or
     * failed: the lock file goes if acquiring created it, and the folder too if acquiring created it and nothing
     * else is in it now.
     */
    public void closeAndUndo() {
        close();
        try {
            if (createdFile) Files.deleteIfExists(dir.resolve(FILE));
            if (createdDir) {
                try (var entries = Files.list(dir)) {
                    if (entries.findAny().isPresent()) return;
                }
                Files.deleteIfExists(dir);
            }
        } catch (IOException | java.io.UncheckedIOException ignored) {
            // something appeared meanwhile, or it is gone: leave it as it is
        }
    }
}
