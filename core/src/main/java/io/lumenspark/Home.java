package io.lumenspark;

import java.nio.file.Path;

/**
 * Where Lumenspark keeps downloaded corpora and token caches: the system property lumenspark.home (tests use
 * it), else $LUMENSPARK_HOME, else ~/.cache/lumenspark.
 */
public final class Home {
    private Home() {
    }

    /** The home folder as described above; it is not created here. */
    public static Path dir() {
        String env = System.getProperty("lumenspark.home", System.getenv("LUMENSPARK_HOME"));
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".cache", "lumenspark");
    }

    /** Where tokenized corpora are cached: {@code <home>/tokens}. */
    public static Path tokenCache() {
        return dir().resolve("tokens");
    }
}
