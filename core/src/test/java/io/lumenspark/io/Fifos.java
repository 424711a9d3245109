package io.lumenspark.io;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Named pipes for tests of readers that must not open them (a read would block until a writer comes). */
public final class Fifos {
    private Fifos() {
    }

    /** Makes a named pipe at path with mkfifo; skips the calling test where there is no mkfifo. */
    public static Path make(Path path) {
        try {
            Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
            assumeTrue(p.waitFor() == 0, "mkfifo failed");
        } catch (IOException e) {
            assumeTrue(false, "no mkfifo here: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return path;
    }
}
