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

    /**
     * The command that runs Lumenspark as the user typed it, for commands printed to be run next: the launcher
     * passes the path it was started by (system property lumenspark.command, e.g. {@code ./lumenspark}), else
     * {@code lumenspark}. A path holding characters a shell would read differently is quoted.
     */
    public static String command() {
        String typed = System.getProperty("lumenspark.command", "");
        if (typed.isBlank()) return "lumenspark";
        return Words.shellWord(typed);
    }
}
