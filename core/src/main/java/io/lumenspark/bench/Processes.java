package io.lumenspark.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The processes benchmarks start: the reference scripts (PyTorch, numpy) and this program again in a fresh JVM,
 * each printing its figures as JSON lines; and the memory this process has used.
 */
public final class Processes {
    private Processes() {
    }

    /** The repository's reference/ folder (the launcher passes the repository root). */
    public static Path reference(String script) {
        Path p = Path.of(System.getProperty("lumenspark.root", ".")).resolve("reference").resolve(script);
        if (!Files.exists(p)) throw new LumensparkException("cannot find " + p + " (run from the repository)");
        return p;
    }

    /** Runs a command (a reference script, a child JVM) and returns the JSON lines it printed. */
    public static List<JsonNode> runScript(List<String> command, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().putAll(env);
        List<JsonNode> lines = new ArrayList<>();
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("{")) lines.add(Json.mapper().readTree(line));
                }
            }
            if (p.waitFor() != 0) throw new LumensparkException(String.join(" ", command) + " failed (exit " + p.exitValue() + ")");
        } catch (IOException e) {
            throw new LumensparkException("cannot run " + command.getFirst() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted");
        }
        return lines;
    }

    /**
     * A command line that runs mainClass with args in a fresh JVM with this one's flags and class path (its peak
     * memory is then that run's alone).
     */
    public static List<String> javaCommand(Class<?> mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass.getName()));
        cmd.addAll(args);
        return cmd;
    }

    /**
     * Starts {@link #peakRssMib} over from the current resident memory (Linux 4.0 and later: writes 5 to
     * /proc/self/clear_refs), so that it measures what follows; does nothing where that is not possible.
     */
    public static void resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | UnsupportedOperationException | SecurityException ignored) {
            // not Linux, or not allowed: the peak then covers the whole process
        }
    }

    /** Peak resident memory of this process in MiB (Linux VmHWM), NaN elsewhere. */
    public static double peakRssMib() {
        return statusMib("VmHWM:");
    }

    /** Resident memory of this process now, in MiB (Linux VmRSS), NaN elsewhere. */
    public static double rssMib() {
        return statusMib("VmRSS:");
    }

    private static double statusMib(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: report NaN below
        }
        return Double.NaN;
    }
}
