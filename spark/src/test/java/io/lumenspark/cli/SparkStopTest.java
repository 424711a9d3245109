package io.lumenspark.cli;

import io.lumenspark.spark.DiLoCo;
import io.lumenspark.spark.SparkDataTest;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.corpus.CorpusOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGTERM (as Ctrl-C) to real processes of the Spark command line while their jobs run: each ends with the
 * signal's status and one line that says where it stopped, cleans up what it must (a batch job's output, a
 * checkpoint being written, Spark's log file), and leaves what a rerun goes on from.
 */
class SparkStopTest {
    /** A Spark command line in a process of its own, its output in files, its temporary files in a folder. */
    private record Child(Process process, Path stdout, Path stderr, Path temp) {
        static Child start(Path dir, String... args) throws Exception {
            Path temp = Files.createDirectories(dir.resolve("java-tmp"));
            List<String> cmd = new ArrayList<>();
            cmd.add(ProcessHandle.current().info().command().orElseThrow());
            cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments()); // Spark's and the kernels' flags
            cmd.add("-Djava.io.tmpdir=" + temp);
            cmd.addAll(List.of("-cp", System.getProperty("surefire.test.class.path",
                    System.getProperty("java.class.path")), SparkMain.class.getName()));
            cmd.addAll(List.of(args));
            Path out = dir.resolve("stdout.txt"), err = dir.resolve("stderr.txt");
            return new Child(new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start(),
                    out, err, temp);
        }

        /** Waits until {@code path} exists (looking every millisecond), at most 2 minutes, then sends SIGTERM. */
        void terminateOnceExists(Path path) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (!Files.exists(path) && process.isAlive() && System.nanoTime() < deadline) Thread.sleep(1);
            assertTrue(Files.exists(path), "no " + path + " within 2 minutes: " + Files.readString(stderr));
            process.destroy(); // SIGTERM
        }

        /** Its exit code and stderr once it has ended (within 3 minutes: the signal's own wait is 2.5). */
        String ended() throws Exception {
            try {
                assertTrue(process.waitFor(3, TimeUnit.MINUTES), "the process did not end");
            } finally {
                process.destroyForcibly();
            }
            String err = Files.readString(stderr, StandardCharsets.UTF_8);
            assertEquals(143, process.exitValue(), err);
            assertFalse(err.contains("Exception") || err.contains("error:") || err.contains("ERROR"), err);
            try (Stream<Path> files = Files.list(temp)) {
                assertEquals(List.of(), files.map(p -> p.getFileName().toString())
                        .filter(n -> n.startsWith("lumenspark-spark-")).toList(), "Spark's log is not kept");
            }
            return err;
        }
    }

    private static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1];
    }

    @Test
    void aStoppedBatchJobLeavesNoOutput(@TempDir Path tmp) throws Exception {
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        StringBuilder prompts = new StringBuilder();
        for (int i = 0; i < 20_000; i++) prompts.append("{\"prompt\": \"The quick brown fox ").append(i).append("\"}\n");
        Path input = Files.writeString(tmp.resolve("prompts.jsonl"), prompts);
        Path out = tmp.resolve("generated");
        Child c = Child.start(tmp, "generate", input.toString(), "--model", model.toString(), "--out", out.toString(),
                "--max-new-tokens", "30", "--threads", "1");
        c.terminateOnceExists(out.resolve("_temporary")); // its tasks write
        String err = c.ended();
        assertEquals("stopped before the job ended; nothing was written to " + out, lastLine(err), err);
        assertFalse(Files.exists(out), "the stopped job's output is removed, after its tasks have ended");
    }

    @Test
    void aStoppedTrainingRunEndsAfterItsCheckpointAndSaysHowToResume(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("tokens");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 300; i++) text.append("The quick brown fox ").append(i % 17).append(" jumps over the dog.\n");
        TokenCorpus.prepareFolder(List.of(Files.writeString(tmp.resolve("corpus.txt"), text)),
                Tokenizer.byName("gpt2"), CorpusOptions.text(0.1), data, false, 1);
        Path out = tmp.resolve("run");
        List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(), "--out", out.toString(),
                "--preset", "tiny", "--batch", "2", "--workers", "2", "--inner-steps", "4", "--rounds", "1000",
                "--threads", "1", "--eval-tokens", "64"));
        for (String set : List.of("embed_dim=32", "depth=2", "heads=2", "seq_length=32", "k=8", "rank=8")) {
            args.addAll(List.of("--set", set));
        }
        Child c = Child.start(tmp, args.toArray(String[]::new));
        // between the round's job and the next: while the driver writes a checkpoint (into a folder renamed into
        // place), which Spark's own shutdown hook would cut off, saying nothing
        c.terminateOnceExists(out.resolve(".checkpoint.tmp"));
        String err = c.ended();
        String line = lastLine(err);
        assertTrue(line.matches("stopped in round \\d+ of 1000; last checkpoint: round \\d+ in .*; continue with: .*"
                + " spark train --resume --out " + out), err);
        int round = Integer.parseInt(line.replaceAll(".*last checkpoint: round (\\d+) .*", "$1"));
        assertTrue(line.startsWith("stopped in round " + (round + 1) + " of"), line);
        assertFalse(Files.exists(out.resolve(".checkpoint.tmp")), "the checkpoint being written is finished");
        assertEquals(1, DiLoCo.savedThreads(out)); // the checkpoint named reads back
        List<String> logged = Files.readAllLines(c.stdout());
        assertTrue(logged.getLast().startsWith("round " + round + "/1000:"), "its last round is logged: " + logged);
    }

    @Test
    void aStoppedPrepareIsResumedByTheSameCommand(@TempDir Path tmp) throws Exception {
        Path corpus = Files.createDirectories(tmp.resolve("corpus"));
        Random random = new Random(5);
        String[] words = {"the", "state", "of", "union", "is", "strong", "people", "congress", "nation", "law"};
        for (int f = 0; f < 4; f++) { // 4 x 6 MB: a fraction of a second of tokenizing per task, so the stop
            // often comes as a task finishes, and the rerun then finishes that part
            StringBuilder sb = new StringBuilder();
            while (sb.length() < 6_000_000) {
                sb.append(words[random.nextInt(words.length)]).append(random.nextInt(10) == 0 ? ".\n" : " ");
            }
            Files.writeString(corpus.resolve("f" + f + ".txt"), sb);
        }
        Path out = tmp.resolve("tokens");
        Child c = Child.start(tmp, "prepare", corpus.toString(), "--out", out.toString(), "--partitions", "2",
                "--threads", "1");
        Path part = out.resolve(".parts").resolve("part-00001");
        c.terminateOnceExists(part.resolve("train.bin.partial")); // its task writes tokens
        String err = c.ended();
        assertEquals("stopped; the parts prepared so far are kept under " + out + " (each as far as its last"
                + " progress record): the same command goes on from them", lastLine(err), err);
        assertFalse(err.contains("\n\n"), "the two tasks' bars share a line, ended once: " + err);
        assertFalse(Files.exists(out.resolve("train.bin")), "nothing merged");
        // stopped while tokenizing (its partial files), while finishing (its files renamed, the manifest not yet
        // written: the progress record says it is complete), or after it had finished
        assertTrue(Files.exists(part.resolve("train.bin.partial")) || Files.exists(part.resolve("manifest.json"))
                        || (Files.exists(part.resolve("progress.json")) && Files.exists(part.resolve("train.bin"))
                        && Files.exists(part.resolve("val.bin"))),
                "an interrupted part keeps its files, as a killed one does (or it had finished)");

        SparkCliTest.Run again = SparkCliTest.run("prepare", corpus.toString(), "--out", out.toString(),
                "--partitions", "2", "--threads", "1");
        assertEquals(0, again.code(), again.err());
        Path whole = tmp.resolve("whole");
        TokenCorpus.prepareFolder(List.of(corpus), Tokenizer.byName("gpt2"), CorpusOptions.text(0.1), whole, false, 1);
        for (String file : List.of("train.bin", "val.bin")) {
            assertArrayEquals(Files.readAllBytes(whole.resolve(file)), Files.readAllBytes(out.resolve(file)), file);
        }
    }
}
