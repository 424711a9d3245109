package io.lumenspark.hub;

import io.lumenspark.LumensparkException;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * What a user names as a model: a local folder, or a model on the Hugging Face Hub, {@code owner/name} with an
 * optional {@code @revision}. The rule, in order:
 * <ol>
 *     <li>an existing local folder of that name is that folder (so {@code runs/demo} is never looked up on the
 *     hub once it exists; {@code ./owner/name} or an absolute path is never a hub id at all);</li>
 *     <li>an existing file (or named pipe, device, socket) of that name is an error: it is not a model folder;</li>
 *     <li>text of the form {@code owner/name} or {@code owner/name@revision}, where {@code owner/name} is a valid
 *     {@link RepoId}, is a hub model; the revision is a branch, a tag, a 40-hex commit or a ref such as
 *     {@code refs/pr/1} (path segments of letters, digits, {@code . _ + -}, none starting with a dot), {@code main}
 *     when none is given;</li>
 *     <li>anything else is a missing folder: {@code no such model folder: X}.</li>
 * </ol>
 */
public sealed interface ModelRef {
    /** The revision of a hub model named without one. */
    String DEFAULT_REVISION = "main";

    /** A model folder on this machine. */
    record Folder(Path dir) implements ModelRef {
    }

    /**
     * A model on the hub.
     *
     * @param repo     the repository
     * @param revision a branch, tag or ref name, or a 40-hex commit
     */
    record Remote(RepoId repo, String revision) implements ModelRef {
        private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
        private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9_+-][A-Za-z0-9._+-]*");
        /** The longest revision accepted. */
        static final int MAX_REVISION = 255;

        /** @throws LumensparkException if the revision is not one this class accepts */
        public Remote {
            if (!validRevision(revision)) {
                throw new LumensparkException("not a revision of a Hugging Face model: '" + revision + "' (" + repo
                        + "@REVISION takes a branch, tag or commit)");
            }
        }

        /** Whether the revision is a full commit hash (40 lower-case hex digits), as huggingface_hub tells. */
        public boolean pinned() {
            return isCommit(revision);
        }

        static boolean isCommit(String text) {
            return COMMIT.matcher(text).matches();
        }

        static boolean validRevision(String revision) {
            if (revision == null || revision.isEmpty() || revision.length() > MAX_REVISION) return false;
            for (String segment : revision.split("/", -1)) {
                if (!SEGMENT.matcher(segment).matches() || segment.contains("..")) return false;
            }
            return true;
        }

        /** {@code owner/name}, with {@code @revision} unless it is {@code main}. */
        @Override
        public String toString() {
            return revision.equals(DEFAULT_REVISION) ? repo.toString() : repo + "@" + revision;
        }
    }

    /**
     * Reads a user's model argument by the rule above.
     *
     * @throws LumensparkException (one line) for an existing file, an invalid revision of a hub id, or a name that
     *                             is neither a folder nor a hub id
     */
    static ModelRef parse(String text) {
        if (text == null || text.isBlank()) {
            throw new LumensparkException("no model given: the name is empty (give a model folder, or a Hugging Face"
                    + " Hub id owner/name)");
        }
        if (text.codePoints().anyMatch(c -> Character.isISOControl(c) || Character.getType(c) == Character.FORMAT)) {
            throw new LumensparkException("no such model folder: the name given holds control characters");
        }
        Path path = localPath(text);
        if (path != null && Files.isDirectory(path)) return new Folder(path);
        if (path != null && Files.exists(path)) {
            throw new LumensparkException("not a model folder: " + text + " is "
                    + (Files.isRegularFile(path) ? "a file" : "a named pipe, device or socket")
                    + " (a model folder holds config.json and the weights)");
        }
        int at = text.indexOf('@');
        RepoId repo = RepoId.parse(at < 0 ? text : text.substring(0, at));
        if (repo != null) return new Remote(repo, at < 0 ? DEFAULT_REVISION : text.substring(at + 1));
        throw new LumensparkException("no such model folder: " + text);
    }

    private static Path localPath(String text) {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            return null;
        }
    }
}
