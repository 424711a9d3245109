package io.lumenspark.hub;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * One repository's folder in the hub cache, in huggingface_hub's layout (see the package documentation): blobs
 * named by ETag, refs naming commits, snapshots of relative symlinks, {@code .no_exist} markers. File names given
 * here are plain names (one path segment) and blob names safe names; callers check both.
 */
final class RepoCache {
    /** A name that is one harmless path segment: no separators, no leading dot, nothing but ASCII letters etc. */
    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}");
    private static final ConcurrentHashMap<Path, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();

    private final Path dir;
    private final Path lockFile;

    RepoCache(Path cache, RepoId repo) {
        this.dir = cache.resolve(repo.folderName());
        this.lockFile = cache.resolve(".locks").resolve(repo.folderName()).resolve("lumenspark.lock");
    }

    /** Whether {@code name} can be a file of a snapshot, or a blob: one path segment of safe characters. */
    static boolean safeName(String name) {
        return SAFE_NAME.matcher(name).matches();
    }

    Path dir() {
        return dir;
    }

    /** The commit that {@code refs/REVISION} names, or null when there is none (or it holds no commit hash). */
    String ref(String revision) {
        Path file = dir.resolve("refs").resolve(revision);
        try {
            if (!Files.isRegularFile(file)) return null;
            String commit = Files.readString(file).strip();
            return ModelRef.Remote.isCommit(commit) ? commit : null;
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Records that {@code revision} is at {@code commit}, as huggingface_hub does: the bare hash, no newline. */
    void writeRef(String revision, String commit) {
        if (commit.equals(ref(revision))) return;
        AtomicFiles.writeString(dir.resolve("refs").resolve(revision), commit);
    }

    Path snapshot(String commit) {
        return dir.resolve("snapshots").resolve(commit);
    }

    Path blob(String etag) {
        return dir.resolve("blobs").resolve(etag);
    }

    /** Whether the snapshot of {@code commit} holds {@code file} (a link to a blob that is there). */
    boolean has(String commit, String file) {
        return Files.isRegularFile(snapshot(commit).resolve(file));
    }

    /** Whether {@code file} is known to be missing at {@code commit}. */
    boolean knownMissing(String commit, String file) {
        return Files.exists(dir.resolve(".no_exist").resolve(commit).resolve(file));
    }

    /** Records that {@code file} is missing at {@code commit}: an empty {@code .no_exist/COMMIT/FILE}. */
    void markMissing(String commit, String file) {
        Path marker = dir.resolve(".no_exist").resolve(commit).resolve(file);
        try {
            Files.createDirectories(marker.getParent());
            Files.createFile(marker);
        } catch (FileAlreadyExistsException e) {
            // known already
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + marker + ": " + e.getMessage(), e);
        }
    }

    /**
     * Puts {@code snapshots/COMMIT/FILE} in place as a symlink to {@code ../../blobs/ETAG}, atomically: the link is
     * made under a temporary name and renamed over any old one.
     */
    void link(String commit, String file, String etag) {
        Path folder = snapshot(commit);
        Path target = folder.resolve(file);
        Path tmp = folder.resolve("." + file + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            Files.createDirectories(folder);
            Files.createSymbolicLink(tmp, Path.of("..", "..", "blobs", etag));
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | UnsupportedOperationException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original failure is the one worth reporting
            }
            throw new LumensparkException("cannot link " + target + " to its blob: " + e.getMessage(), e);
        }
    }

    /** Holds this repository's lock (other threads and processes that use it wait) until closed. */
    Lock lock() {
        ReentrantLock local = IN_PROCESS.computeIfAbsent(lockFile.toAbsolutePath().normalize(),
                k -> new ReentrantLock());
        local.lock();
        FileChannel channel = null;
        try {
            Files.createDirectories(lockFile.getParent());
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            channel.lock(); // released when the channel closes
            return new Lock(local, channel);
        } catch (IOException | RuntimeException e) {
            local.unlock();
            closeQuietly(channel);
            throw e instanceof LumensparkException le ? le
                    : new LumensparkException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            if (channel != null) channel.close();
        } catch (IOException ignored) {
            // nothing more to do: closing is all that releases the lock
        }
    }

    /** The lock on one repository's folder: a file lock for other processes, a plain lock for this one's threads. */
    static final class Lock implements AutoCloseable {
        private final ReentrantLock local;
        private final FileChannel channel;

        private Lock(ReentrantLock local, FileChannel channel) {
            this.local = local;
            this.channel = channel;
        }

        @Override
        public void close() {
            try {
                closeQuietly(channel);
            } finally {
                local.unlock();
            }
        }
    }
}
