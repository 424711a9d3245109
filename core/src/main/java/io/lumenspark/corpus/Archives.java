package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Printable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Safe extraction of the archive kinds corpora come in: {@code .zip}, {@code .tar.gz} / {@code .tgz} and
 * {@code .tar}. Nothing is written outside the destination (absolute paths, {@code ..}, links, control
 * characters in names and colliding entries are refused), the total size and the number of entries are capped, and
 * the destination appears only once complete. Every refusal is one line naming the archive, with whatever it holds
 * printed through {@link Printable}.
 */
final class Archives {

    /** No archive may unpack to more than this (4 GiB); WikiText-103 unpacks to 0.55 GB. */
    static final long MAX_TOTAL_BYTES = 4L << 30;

    /** No archive may hold more files and folders than this; those of the catalogue hold a few hundred at most. */
    static final int MAX_ENTRIES = 100_000;

    /**
     * What an archive may unpack to.
     *
     * @param maxBytes   bytes of entry data in all (files, and anything else the reader has to go through)
     * @param maxEntries files and folders
     */
    record Limits(long maxBytes, int maxEntries) {
        /** {@link #MAX_TOTAL_BYTES} and {@link #MAX_ENTRIES}. */
        static final Limits DEFAULT = new Limits(MAX_TOTAL_BYTES, MAX_ENTRIES);

        /** The refusal of an archive with more than {@link #maxBytes} of data. */
        LumensparkException tooManyBytes(String label) {
            return bad(label, "unpacks to more than " + InputFiles.humanSize(maxBytes)
                    + "; refusing it as a decompression bomb");
        }

        /** The refusal of an archive with more than {@link #maxEntries} entries. */
        LumensparkException tooManyEntries(String label) {
            return bad(label, String.format("holds more than %,d files and folders; refusing it", maxEntries));
        }
    }

    /** The archive formats, told apart by file name. */
    enum Kind { ZIP, TAR_GZ, TAR }

    private Archives() {
    }

    /** The archive kind a file name says, or null for anything else. */
    static Kind kind(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".zip")) return Kind.ZIP;
        if (name.endsWith(".tar.gz") || name.endsWith(".tgz")) return Kind.TAR_GZ;
        if (name.endsWith(".tar")) return Kind.TAR;
        return null;
    }

    /** The file name without its archive extension: {@code wikitext-2-raw-v1.zip} gives {@code wikitext-2-raw-v1}. */
    static String stem(Path file) {
        String name = file.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        for (String ext : new String[]{".tar.gz", ".tgz", ".zip", ".tar"}) {
            if (lower.endsWith(ext) && lower.length() > ext.length()) return name.substring(0, name.length() - ext.length());
        }
        return name + "-files";
    }

    /**
     * Extracts {@code archive} into the folder {@code target}, which must not exist yet: into a hidden temporary
     * folder beside it first, renamed to {@code target} when complete, so {@code target} is never half-written.
     */
    static void extractInto(Path archive, Path target, Limits limits) {
        Kind kind = kind(archive);
        if (kind == null) {
            throw new LumensparkException("not an archive (.zip, .tar.gz, .tgz or .tar): " + archive);
        }
        Path work = null;
        try {
            Files.createDirectories(target.getParent());
            work = newHiddenFolder(target.getParent(), target.getFileName().toString());
            switch (kind) {
                case ZIP -> ZipArchive.extract(archive, work, limits);
                case TAR_GZ -> TarArchive.extractFile(archive, true, work, limits);
                case TAR -> TarArchive.extractFile(archive, false, work, limits);
            }
            Files.move(work, target, StandardCopyOption.ATOMIC_MOVE);
            work = null;
        } catch (IOException e) {
            throw new LumensparkException("cannot extract " + archive + " into " + target + ": "
                    + Printable.reason(e), e);
        } finally {
            if (work != null) deleteQuietly(work);
        }
    }

    /**
     * A new hidden folder {@code .NAME-RANDOM} in {@code parent}, with the permissions of any new folder (the
     * umask's: Files.createTempDirectory would make it 700, and it keeps them when renamed into place).
     */
    static Path newHiddenFolder(Path parent, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path dir = parent.resolve("." + name + "-" + Long.toHexString(RANDOM.nextLong() >>> 1));
            try {
                return Files.createDirectory(dir);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt == 9) throw e;
            }
        }
    }

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** The refusal of archive {@code label} for {@code what}, the archive's name made printable. */
    static LumensparkException bad(String label, String what) {
        return new LumensparkException("archive " + Printable.of(label) + " " + what);
    }

    /** Removes leftovers of a failed step; the failure itself is what gets reported. */
    static void deleteQuietly(Path path) {
        try {
            AtomicFiles.deleteTree(path);
        } catch (LumensparkException ignored) {
            // a hidden leftover folder is harmless
        }
    }
}
