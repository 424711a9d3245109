package io.lumenspark.tokens;

import java.nio.file.Path;

/**
 * The training and validation tokens of a prepared corpus.
 *
 * @param train  training tokens
 * @param val    validation tokens (empty when the validation fraction is 0)
 * @param dir    the cache or prepared folder holding the token files and {@code manifest.json}, or null for
 *               in-memory splits
 * @param reused whether the tokens came from the cache or a prepared folder instead of being tokenized now
 */
public record TokenSplits(TokenFile train, TokenFile val, Path dir, boolean reused) implements AutoCloseable {

    /** In-memory splits (no cache folder). */
    public TokenSplits(TokenFile train, TokenFile val) {
        this(train, val, null, false);
    }

    /** Unmaps both files. */
    @Override
    public void close() {
        train.close();
        val.close();
    }
}
