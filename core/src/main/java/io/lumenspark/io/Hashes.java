package io.lumenspark.io;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** Message digests that every JDK has. */
public final class Hashes {
    private Hashes() {
    }

    /** A new SHA-256 digest (content keys, download checks, tokenizer hashes). */
    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }
}
