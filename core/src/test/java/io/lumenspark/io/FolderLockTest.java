package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A folder's lock held by another process: refused at once, or waited for with a line that says so. */
class FolderLockTest {
    /** The other process: holds the lock on its argument until its stdin ends. */
    public static final class Holder {
        public static void main(String[] args) throws Exception {
            try (FolderLock _ = FolderLock.acquire(Path.of(args[0]), false, "holding")) {
                System.out.println("held");
                System.out.flush();
                while (System.in.read() >= 0) {
                    // until the test closes our stdin
                }
            }
        }
    }

    @Test
    @Timeout(120)
    void aLockHeldByAnotherProcessIsRefusedOrWaitedForVisibly(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("cache");
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("surefire.test.class.path",
                System.getProperty("java.class.path")), Holder.class.getName(), dir.toString()));
        Process holder = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                    StandardCharsets.UTF_8));
            assertEquals("held", out.readLine());

            assertEquals("another process is fetching into " + dir, assertThrows(LumensparkException.class,
                    () -> FolderLock.acquire(dir, false, "fetching into")).getMessage());

            ByteArrayOutputStream said = new ByteArrayOutputStream();
            PrintStream waiting = new PrintStream(said, true, StandardCharsets.UTF_8);
            CompletableFuture<FolderLock> waiter = CompletableFuture.supplyAsync(
                    () -> FolderLock.acquire(dir, true, "fetching into", waiting));
            String expected = "waiting: another process is fetching into " + dir + System.lineSeparator();
            while (!said.toString(StandardCharsets.UTF_8).equals(expected)) {
                assertFalse(waiter.isDone(), "it waits: " + said);
                Thread.sleep(10);
            }
            holder.getOutputStream().close(); // the holder ends, and its lock with it
            try (FolderLock _ = waiter.get(60, TimeUnit.SECONDS)) {
                assertEquals(expected, said.toString(StandardCharsets.UTF_8), "announced once");
            }
        } finally {
            holder.destroyForcibly();
        }
    }
}
