package io.lumenspark.cli;

import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.serve.Server;
import io.lumenspark.training.Checkpoint;
import io.lumenspark.training.RunFolder;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.TrainerState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** train and demo on folders that already hold something, resuming with a new step budget, eval's progress bar. */
class TrainCliTest {
    private static final List<String> SMALL = List.of("--preset", "tiny", "--set", "embed_dim=32", "--set", "depth=1",
            "--set", "seq_length=32", "--set", "k=8", "--batch", "2", "--eval-every", "2", "--checkpoint-every", "2",
            "--threads", "1");

    private static Path corpus(Path dir) throws Exception {
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, "It was the best of times, it was the worst of times.\n".repeat(200));
        return f;
    }

    private static CliTest.Run train(Path data, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(), "--out", out.toString()));
        args.addAll(SMALL);
        args.addAll(List.of(more));
        return CliTest.run(args.toArray(String[]::new));
    }

    private static void assertOneErrorLine(CliTest.Run r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void trainRefusesAnOccupiedFolderUnlessForcedAndResumesWithALargerStepBudget(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run");
        assertEquals(0, train(data, out, "--steps", "3").code());
        assertOneErrorLine(train(data, out, "--steps", "3"), "holds a training run (checkpoint at step 3 of 3)");
        CliTest.Run forced = train(data, out, "--steps", "4", "--force", "--seed", "9");
        assertEquals(0, forced.code(), forced.err());
        assertTrue(forced.out().contains("replacing the earlier run in " + out), forced.out());
        assertEquals(4, MetricsLog.read(out.resolve(RunFolder.METRICS)).size());

        CliTest.Run longer = CliTest.run("train", "--resume", "--out", out.toString(), "--steps", "6");
        assertEquals(0, longer.code(), longer.err());
        assertTrue(longer.out().contains("the run now ends at step 6 instead of 4: from step 4 on, the learning rate"
                + " follows a cosine over 6 steps"), longer.out());
        assertTrue(longer.out().contains("done: 6 steps"), longer.out());
        assertEquals(6, MetricsLog.read(out.resolve(RunFolder.METRICS)).size());
        assertOneErrorLine(CliTest.run("train", "--resume", "--out", out.toString(), "--steps", "5"),
                "--steps 5 must be above step 6, which the run in " + out + " has already reached");

        Path state = out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE);
        Files.writeString(state, Files.readString(state).replaceFirst("\"step\": 6", "\"step\": -5"));
        assertOneErrorLine(CliTest.run("train", "--resume", "--out", out.toString()), state + ": \"step\" is -5");
        assertEquals(6, MetricsLog.read(out.resolve(RunFolder.METRICS)).size());
    }

    /**
     * A model too large for memory is refused with the training plan's figures (parameters, gradients, AdamW
     * moments, activations) before anything is allocated or tokenized: a fresh run, one from --init, and a resumed
     * one, whose folder stays as it was.
     */
    @Test
    void aConfigurationTooLargeToTrainIsRefusedBeforeAnythingIsDone(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("unique.txt"); // text no other test tokenizes: its token cache entry would be new
        Files.writeString(data, ("Training memory is planned first, " + System.nanoTime() + ".\n").repeat(100));
        Path cache = io.lumenspark.Home.tokenCache();
        List<String> cached = entries(cache);
        Path fresh = tmp.resolve("fresh");
        CliTest.Run r = train(data, fresh, "--steps", "2", "--set", "vocab_size=2000000000");
        assertOneErrorLine(r, "error: this configuration needs about");
        assertTrue(r.err().contains("gradients") && r.err().contains("AdamW moments")
                && r.err().contains("activations ") && r.err().contains("make the model smaller"), r.err());
        assertFalse(Files.exists(fresh), "no run folder");
        assertEquals(cached, entries(cache), "nothing tokenized");

        Path run = tmp.resolve("run");
        assertEquals(0, train(data, run, "--steps", "2").code());
        Path checkpointConfig = run.resolve(Checkpoint.FOLDER).resolve("config.json");
        Files.writeString(checkpointConfig, Files.readString(checkpointConfig)
                .replaceFirst("\"embed_dim\"\\s*:\\s*\\d+", "\"embed_dim\": 100000000"));
        String metrics = Files.readString(run.resolve(RunFolder.METRICS));
        assertOneErrorLine(CliTest.run("train", "--resume", "--out", run.toString(), "--steps", "4"),
                "AdamW moments");
        assertEquals(metrics, Files.readString(run.resolve(RunFolder.METRICS)));
        assertOneErrorLine(CliTest.run("train", "--data", data.toString(), "--out", tmp.resolve("init").toString(),
                "--init", run.resolve(Checkpoint.FOLDER).toString()), "AdamW moments");
    }

    private static List<String> entries(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) return List.of();
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** --set is named as typed: not with the vocab_size that follows the tokenizer. */
    @Test
    void aBadOverrideIsNamedAsTyped(@TempDir Path tmp) throws Exception {
        assertOneErrorLine(CliTest.run("train", "--data", corpus(tmp).toString(), "--out", tmp.resolve("o").toString(),
                "--set", "embed_dim=abc"), "error: --set embed_dim=abc: embed_dim must be an integer, got \"abc\"");
    }

    /** Training a bidirectional model warns as eval and score do, on stderr, before tokenizing. */
    @Test
    void trainingABidirectionalModelWarnsWithTheSameText(@TempDir Path tmp) throws Exception {
        CliTest.Run r = train(corpus(tmp), tmp.resolve("run"), "--steps", "1", "--set", "causal=false");
        assertEquals(0, r.code(), r.err());
        String warning = "warning: " + io.lumenspark.model.ModelConfig.preset("lumenspark-v0.1")
                .nextTokenLossWarning().orElseThrow();
        assertEquals(1, r.err().lines().filter(warning::equals).count(), r.err());
        assertFalse(r.out().contains("warning"), r.out());
    }

    /** --config is checked as a config.json is, and named: not blamed on --set. --set's typos get the nearest key. */
    @Test
    void configFileErrorsNameTheFileAndTheNearestKey(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run"), cfg = tmp.resolve("c4.json");
        Map<String, String> refused = Map.of("{\"depth\": 1.5}", cfg + ": depth must be an integer, got 1.5",
                "{\"depth\": \"1\"}", cfg + ": depth must be an integer, got \"1\"",
                "{\"casual\": false}", cfg + ": unknown config key \"casual\" (did you mean \"causal\"?)",
                "{\"causal\": \"false\"}", cfg + ": causal must be true or false, got \"false\"");
        for (var e : refused.entrySet()) {
            Files.writeString(cfg, e.getKey());
            assertOneErrorLine(train(data, out, "--steps", "1", "--config", cfg.toString()), "error: " + e.getValue());
        }
        assertOneErrorLine(train(data, out, "--steps", "1", "--set", "casual=false"),
                "error: unknown config key 'casual' (did you mean 'causal'?)");
        assertFalse(Files.exists(out));
    }

    /** --init trains the model's own config: --preset, --set and --config beside it are refused, not dropped. */
    @Test
    void initRefusesOptionsThatWouldChangeTheModel(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), run = tmp.resolve("run");
        assertEquals(0, train(data, run, "--steps", "1").code());
        Path cfg = Files.writeString(tmp.resolve("cfg.json"), "{\"dropout\": 0}");
        for (String[] shape : new String[][]{{"--set", "dropout=0"}, {"--preset", "tiny"}, {"--config",
                cfg.toString()}}) {
            CliTest.Run r = CliTest.run("train", "--data", data.toString(), "--out", tmp.resolve("o").toString(),
                    "--init", run.toString(), shape[0], shape[1]);
            assertOneErrorLine(r, "error: " + shape[0] + " does not apply with --init, which trains the model in "
                    + run + " with its own config.json; drop " + shape[0]);
        }
    }

    /**
     * trainer_state.json is checked as train checks its options: threads within what --threads allows, overrides
     * that make a model.
     */
    @Test
    void aTrainerStateIsCheckedAsTheCommandLineIs(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run");
        assertEquals(0, train(data, out, "--steps", "2").code());
        Path state = out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE);
        String good = Files.readString(state);
        Files.writeString(state, good.replaceFirst("\"threads\": 1", "\"threads\": 1000"));
        assertOneErrorLine(CliTest.run("train", "--resume", "--out", out.toString(), "--steps", "3"), state
                + ": \"threads\" is 1000; it must be from 1 to " + io.lumenspark.engine.Parallel.MAX_THREADS
                + " (what --threads allows)");
        Files.writeString(state, good.replaceFirst("\"embed_dim\": \"32\"", "\"embed_dim\": \"abc\""));
        assertOneErrorLine(CliTest.run("train", "--resume", "--out", out.toString(), "--steps", "3"), state
                + ": \"options.overrides\": embed_dim must be an integer, got \"abc\"");
    }

    /**
     * A refused run leaves the folder as it was (no lock file); a folder holding only the metrics of a run stopped
     * before its first checkpoint is free; a finished run resumed without --steps says so.
     */
    @Test
    void refusedRunsLeaveNoLockAndARunWithoutCheckpointLeavesNothingToKeep(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), other = Files.createDirectories(tmp.resolve("other"));
        Files.writeString(other.resolve("notes.txt"), "mine");
        assertOneErrorLine(train(data, other, "--steps", "1"), "holds other files (notes.txt)");
        assertEquals(List.of("notes.txt"), entries(other));
        assertOneErrorLine(CliTest.run("data", "prepare", data.toString(), "--out", other.toString()),
                "holds files that are not prepared tokens (notes.txt)");
        assertEquals(List.of("notes.txt"), entries(other));

        Path stopped = Files.createDirectories(tmp.resolve("stopped")); // as Ctrl-C before the first checkpoint
        Files.writeString(stopped.resolve(RunFolder.METRICS), "{\"step\": 1, \"train_loss\": 9.0}\n");
        CliTest.Run again = train(data, stopped, "--steps", "2");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("held the metrics of a run stopped before its first checkpoint"), again.out());
        assertEquals(2, MetricsLog.read(stopped.resolve(RunFolder.METRICS)).size());
        assertFalse(Files.exists(stopped.resolve(".lock")), "a finished run keeps no lock file");
        assertFalse(Files.readString(stopped.resolve(RunFolder.METRICS)).contains("9.0"));

        CliTest.Run finished = CliTest.run("train", "--resume", "--out", stopped.toString());
        assertEquals(0, finished.code(), finished.err());
        assertTrue(finished.out().contains("the run in " + stopped + " is finished (step 2 of 2): nothing to train;"
                + " to train it further: lumenspark train --resume --out " + stopped + " --steps N (N above 2)"),
                finished.out());
        assertFalse(finished.err().contains("100%"), "no bar: " + finished.err());
    }

    /** The same text twice (--data X --data X, a folder and a file in it) is refused, not trained on twice. */
    @Test
    void theSameDataTwiceIsRefused(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        assertOneErrorLine(train(data, tmp.resolve("o"), "--data", data.toString()),
                "error: " + data + " is given twice; give each file once");
        assertOneErrorLine(train(data, tmp.resolve("o"), "--data", tmp.resolve(".").toString()),
                "error: " + data + " and " + tmp.resolve(".").resolve("corpus.txt") + " are the same file");
        Path prepared = tmp.resolve("prepared");
        assertEquals(0, CliTest.run("data", "prepare", data.toString(), "--out", prepared.toString()).code());
        assertOneErrorLine(CliTest.run("data", "prepare", prepared.toString(), "--out", tmp.resolve("p2").toString()),
                "error: " + prepared + " is a prepared token folder (it holds manifest.json): train and eval take it"
                        + " as their only --data; it is not text to tokenize");
    }

    /**
     * A learning rate that blows the weights up is caught before a checkpoint is written that could not be
     * loaded, with advice that works (--resume refuses --lr).
     */
    @Test
    void divergenceIsCaughtBeforeACheckpointThatWouldNotLoad(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run");
        CliTest.Run r = CliTest.run("train", "--data", data.toString(), "--out", out.toString(), "--preset", "tiny",
                "--set", "embed_dim=32", "--set", "depth=1", "--set", "seq_length=32", "--set", "k=8", "--batch", "2",
                "--steps", "4", "--lr", "1e30", "--checkpoint-every", "1", "--threads", "1");
        assertEquals(2, r.code(), r.err());
        String last = r.err().lines().reduce((a, b) -> b).orElse(""); // after the progress bar's line
        assertTrue(last.startsWith("error: training diverged at step 1 (weight "), r.err());
        assertTrue(last.contains("no checkpoint was written; start again with a lower --lr: lumenspark train"
                + " ... --out " + out + " --lr LOWER"), r.err());
        assertFalse(Files.exists(out.resolve(Checkpoint.FOLDER)));
    }

    @Test
    void evalDrawsItsProgressBarOnStderrAndEndsItsLine(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run");
        assertEquals(0, train(data, out, "--steps", "2").code());
        CliTest.Run eval = CliTest.run("eval", "--model", out.toString(), "--data", data.toString(), "--json");
        assertEquals(0, eval.code(), eval.err());
        assertEquals(1, eval.out().lines().count(), "stdout holds the result alone: " + eval.out());
        assertTrue(eval.out().startsWith("{\"loss\":"), eval.out());
        assertTrue(eval.err().contains("eval 100%") && eval.err().contains(" tok/s"), eval.err());
        assertTrue(eval.err().endsWith(System.lineSeparator()), "the bar's line is ended: " + eval.err());
    }

    @Test
    void theDemoReplacesOnlyItsOwnRuns(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("demo");
        TrainOptions demo = DemoCommand.options(tmp.resolve("sotu"), 150, out, null, 1337);
        TrainerState state = new TrainerState(150, 2, "java", "", null, "causal_lm", 8, List.of(), demo);
        List<String> files = List.of("checkpoint", "loss.png", "metrics.jsonl", "model.safetensors");
        assertTrue(DemoCommand.holdsDemoRun(new RunFolder.Contents(files, List.of(), state)));
        assertTrue(DemoCommand.holdsDemoRun(new RunFolder.Contents(List.of("metrics.jsonl"), List.of(), null)),
                "stopped before its first checkpoint");
        assertFalse(DemoCommand.holdsDemoRun(new RunFolder.Contents(files, List.of(), new TrainerState(150, 2,
                "java", "", null, "causal_lm", 8, List.of(), demo.withSteps(300)))), "trained on by hand (train --resume --steps)");
        assertFalse(DemoCommand.holdsDemoRun(new RunFolder.Contents(files, List.of("notes.txt"), state)));
        assertFalse(DemoCommand.holdsDemoRun(new RunFolder.Contents(files, List.of(), null)), "unreadable checkpoint");
        assertFalse(DemoCommand.holdsDemoRun(new RunFolder.Contents(List.of(), List.of(), null)), "empty");

        Files.createDirectories(out);
        Files.writeString(out.resolve("notes.txt"), "mine");
        assertOneErrorLine(CliTest.run("demo", "--out", out.toString()),
                "--out " + out + " holds something that is not a demo run (notes.txt)");
    }

    /**
     * The demo checks its options before it says anything (not "holds an earlier demo run", "corpus: ..." and then
     * an error), and its prompts end without a space: the model's next token brings its own (" that"), which
     * printed a double space ("Fellow citizens,  that").
     */
    @Test
    void theDemoChecksFirstAndItsPromptsEndWithoutASpace(@TempDir Path tmp) {
        Path missing = tmp.resolve("nonexistent.txt");
        CliTest.Run steps = CliTest.run("demo", "--steps", "0", "--out", tmp.resolve("d").toString());
        assertOneErrorLine(steps, "error: --steps must be at least 1");
        assertEquals("", steps.out());
        CliTest.Run data = CliTest.run("demo", "--data", missing.toString(), "--out", tmp.resolve("d").toString());
        assertOneErrorLine(data, "error: no such file: " + missing);
        assertEquals("", data.out());
        for (String prompt : DemoCommand.PROMPTS) assertEquals(prompt.strip(), prompt);
    }

    @Test
    void demoContinuationsEndAtASentenceEnd() {
        assertEquals(" of the people.", DemoCommand.toSentenceEnd(" of the people. We shall"));
        assertEquals(" is strong. Congress acted!", DemoCommand.toSentenceEnd(" is strong. Congress acted! And the"));
        assertEquals(" said \"no.\"", DemoCommand.toSentenceEnd(" said \"no.\" Then"));
        assertEquals(" ended.", DemoCommand.toSentenceEnd(" ended."));
        assertEquals(" and 3.5 percent of it ...", DemoCommand.toSentenceEnd(" and 3.5 percent of it "),
                "no sentence end");
        assertEquals(". Then the long run of words that never ends ...",
                DemoCommand.toSentenceEnd(". Then the long run of words that never ends"), "it would keep too little");
    }

    /** The demo's last lines: the serve command for its folder, and a curl line that this server answers. */
    @Test
    void demoEndsWithTheServeCommandAndACurlLineThatWorks(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("my demo");
        String[] lines = DemoCommand.serveHint(out, "It was").split(System.lineSeparator());
        assertEquals("serve it: lumenspark serve --model runs/demo",
                DemoCommand.serveHint(Path.of("runs", "demo"), "It was").lines().findFirst().orElseThrow());
        assertEquals("serve it: lumenspark serve --model 'my-demo=" + out + "'", lines[0], "a name without spaces");
        Matcher curl = Pattern.compile("then try: curl -s (http://\\S+) -H 'Content-Type: application/json' -d '(.*)'")
                .matcher(lines[1]);
        assertTrue(curl.matches(), lines[1]);
        assertEquals("http://127.0.0.1:8000/v1/completions", curl.group(1), "serve's default address");
        SmallModels.write(out, SmallModels.tokenizer(tmp), Map.of("seq_length", "64", "k", "8"));
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, null, 2, 2, null, Server.DEFAULT_MAX_BODY,
                Map.of("my-demo", out)))) {
            server.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            HttpResponse<String> r;
            try (HttpClient http = HttpClient.newHttpClient()) {
                r = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(curl.group(2))).build(), HttpResponse.BodyHandlers.ofString());
            }
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("my-demo", Json.mapper().readTree(r.body()).get("model").asText());
        }
    }

    /**
     * A real process: a second train into its folder is refused while it runs, and SIGTERM makes it print one line,
     * after the progress bar's, that says how to resume, which then works.
     */
    @Test
    void sigtermReportsWhereTheRunStoppedAndASecondRunIsRefusedMeanwhile(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp), out = tmp.resolve("run");
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments()); // the module flags, lumenspark.home
        cmd.addAll(List.of("-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                Main.class.getName(), "train", "--data", data.toString(), "--out", out.toString(), "--steps",
                "1000000"));
        cmd.addAll(SMALL);
        Path stdout = tmp.resolve("stdout.txt"), stderr = tmp.resolve("stderr.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        try {
            for (int i = 0; i < 1200 && !io.lumenspark.io.FolderLock.isHeldElsewhere(out) && p.isAlive(); i++) {
                Thread.sleep(100);
            }
            // whatever the folder holds yet (no checkpoint, at first), what stops a resume is the other process
            assertOneErrorLine(CliTest.run("train", "--resume", "--out", out.toString()),
                    "error: another process is training in " + out + "; resume once it has ended");
            Path state = out.resolve(Checkpoint.FOLDER).resolve(Checkpoint.STATE);
            for (int i = 0; i < 1200 && !Files.exists(state) && p.isAlive(); i++) Thread.sleep(100);
            assertTrue(Files.exists(state), "no checkpoint within 2 minutes: " + Files.readString(stderr));

            assertOneErrorLine(train(data, out, "--steps", "3", "--force"), "another process is training in " + out);

            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the process did not end");
        } finally {
            p.destroyForcibly();
        }
        String err = Files.readString(stderr, StandardCharsets.UTF_8);
        int at = err.indexOf("stopped at step");
        assertTrue(at > 0 && err.indexOf("stopped at step", at + 1) < 0, "one report: " + err);
        assertEquals('\n', err.charAt(at - 1), "the bar's line is ended before the report");
        String report = err.substring(at);
        assertTrue(report.endsWith("\n") && report.indexOf('\n') == report.length() - 1, "the last line: " + report);
        long checkpoint = TrainerState.read(out).step();
        Matcher m = Pattern.compile("stopped at step (\\d+) of 1000000; last checkpoint: step " + checkpoint + " in "
                + Pattern.quote(out.resolve(Checkpoint.FOLDER).toString()) + "; continue with: lumenspark train"
                + " --resume --out " + Pattern.quote(out.toString())).matcher(report.strip());
        assertTrue(m.matches(), report);
        assertTrue(checkpoint >= 2 && checkpoint <= Long.parseLong(m.group(1)), report);

        CliTest.Run resumed = CliTest.run("train", "--resume", "--out", out.toString(), "--steps",
                Long.toString(checkpoint + 1));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("done: " + (checkpoint + 1) + " steps"), resumed.out());
        assertEquals(Map.of("at_step", (int) checkpoint, "from", 1000000, "to", (int) checkpoint + 1),
                TrainerState.read(out).budgetChanges().getFirst());
    }
}
