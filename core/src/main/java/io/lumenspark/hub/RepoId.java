package io.lumenspark.hub;

import java.util.regex.Pattern;

/**
 * A model repository on the Hugging Face Hub, {@code owner/name}, checked against the hub's own rules (those of
 * huggingface_hub's {@code validate_repo_id}, in ASCII): each part is letters, digits, {@code _}, {@code -} and
 * {@code .}, starts and ends with a letter, digit or {@code _}, and is at most 96 characters; {@code --} and
 * {@code ..} appear nowhere and the name does not end in {@code .git}. So an id is always one safe folder name in the
 * cache ({@link #folderName()}) and one safe piece of a URL path.
 *
 * @param owner the user or organisation
 * @param name  the repository's name
 */
public record RepoId(String owner, String name) {
    /** The longest owner or name the hub accepts. */
    public static final int MAX_PART = 96;
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?");

    /**
     * @throws IllegalArgumentException if either part breaks the rules above (use {@link #parse} for text that comes
     *                                  from a user)
     */
    public RepoId {
        if (!validPart(owner) || !validPart(name) || name.endsWith(".git")) {
            throw new IllegalArgumentException("not a Hugging Face repository id: " + owner + "/" + name);
        }
    }

    /** The id in {@code text} ({@code owner/name}), or null when the text is not one. */
    public static RepoId parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0 || text.indexOf('/', slash + 1) >= 0) return null;
        String owner = text.substring(0, slash), name = text.substring(slash + 1);
        return validPart(owner) && validPart(name) && !name.endsWith(".git") ? new RepoId(owner, name) : null;
    }

    private static boolean validPart(String part) {
        return part != null && part.length() <= MAX_PART && PART.matcher(part).matches() && !part.contains("--")
                && !part.contains("..");
    }

    /** The repository's folder in the hub cache, as huggingface_hub names it: {@code models--owner--name}. */
    public String folderName() {
        return "models--" + owner + "--" + name;
    }

    @Override
    public String toString() {
        return owner + "/" + name;
    }
}
