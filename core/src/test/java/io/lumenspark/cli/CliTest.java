package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.Words;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The commands end to end, and every kind of bad input: one line on stderr, exit code 2, no stack trace. */
class CliTest {
    @TempDir
    static Path tmp;
    static Path model, corpus;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @BeforeAll
    static void trainSmallModel() throws Exception {
        corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, "It was the best of times, it was the worst of times.\n".repeat(200));
        model = tmp.resolve("model");
        Run r = run("train", "--data", corpus.toString(), "--out", model.toString(), "--preset", "tiny",
                "--set", "embed_dim=32", "--set", "depth=1", "--set", "seq_length=32", "--set", "k=8",
                "--batch", "2", "--steps", "3", "--eval-every", "3", "--threads", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("done: 3 steps"), r.out());
    }

    /** A 2-step run of the small model on the corpus into out, with extra options. */
    private static Run trainSmall(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--data", corpus.toString(), "--out", out.toString(),
                "--preset", "tiny", "--set", "embed_dim=32", "--set", "depth=1", "--set", "seq_length=32", "--set",
                "k=8", "--batch", "2", "--steps", "2", "--eval-every", "1", "--threads", "2"));
        args.addAll(List.of(extra));
        return run(args.toArray(String[]::new));
    }

    /**
     * Without a usable oneDNN (here: the library forced to a path that does not exist), --precision bf16 says why
     * in one warning line and trains in fp32: the same weights, bit for bit, as an fp32 run.
     */
    @Test
    void bf16PrecisionFallsBackToFp32WithAWarning() throws Exception {
        Run fp32 = trainSmall(tmp.resolve("fp32-ref"));
        assertEquals(0, fp32.code(), fp32.err());
        Path missing = tmp.resolve("no-such-libdnnl.so.2");
        System.setProperty(Bf16Gemm.LIBRARY_PROPERTY, missing.toString());
        Run r;
        try {
            r = trainSmall(tmp.resolve("bf16-fallback"), "--precision", "bf16");
        } finally {
            System.clearProperty(Bf16Gemm.LIBRARY_PROPERTY);
        }
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("warning: bf16 products unavailable (oneDNN not found (" + missing
                + ")): training in fp32"), r.err().lines().filter(l -> l.startsWith("warning: bf16")).toList());
        assertFalse(r.out().contains("precision: bf16"), r.out());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("fp32-ref").resolve("model.safetensors")),
                Files.readAllBytes(tmp.resolve("bf16-fallback").resolve("model.safetensors")));
    }

    /**
     * With oneDNN, --precision bf16 trains in bf16 (other weights than fp32's, the same from run to run), records
     * it in trainer_state.json, and --resume continues in bf16.
     */
    @Test
    void bf16PrecisionTrainsInBf16AndResumesInIt() throws Exception {
        assumeTrue(Bf16Gemm.find().isPresent(), () -> "skipped: " + Bf16Gemm.unavailableReason());
        Path a = tmp.resolve("bf16-a"), b = tmp.resolve("bf16-b"), fp32 = tmp.resolve("fp32-b");
        Run r = trainSmall(a, "--precision", "bf16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("precision: bf16 products with fp32 accumulation"
                + " (oneDNN ")), r.out());
        assertFalse(r.err().contains("warning: bf16"), r.err());
        assertEquals(0, trainSmall(b, "--precision", "bf16").code());
        assertEquals(0, trainSmall(fp32).code());
        byte[] weights = Files.readAllBytes(a.resolve("model.safetensors"));
        assertArrayEquals(weights, Files.readAllBytes(b.resolve("model.safetensors")));
        assertFalse(Arrays.equals(weights, Files.readAllBytes(fp32.resolve("model.safetensors"))));
        JsonNode state = Json.read(a.resolve("checkpoint").resolve("trainer_state.json"));
        assertEquals("bf16", state.get("options").get("precision").asText());

        Run resumed = run("train", "--resume", "--out", a.toString(), "--steps", "3");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("precision: bf16 products"), resumed.out());
        assertEquals("bf16", Json.read(a.resolve("checkpoint").resolve("trainer_state.json")).get("options")
                .get("precision").asText());
    }

    @Test
    void evalScoreAndInfoWork() {
        Run eval = run("eval", "--model", model.toString(), "--data", corpus.toString(), "--json");
        assertEquals(0, eval.code(), eval.err());
        JsonNode e = Json.mapper().valueToTree(parse(eval.out()));
        assertTrue(e.get("loss").asDouble() > 0 && e.get("perplexity").asDouble() > 1);

        Run score = run("score", "--model", model.toString(), "--text", "It was the best of times", "--json");
        assertEquals(0, score.code(), score.err());
        JsonNode s = parse(score.out());
        assertEquals(s.get("ids").size() - 1, s.get("logprobs").size());
        for (JsonNode lp : s.get("logprobs")) assertTrue(lp.asDouble() <= 0);

        Run gen = run("generate", "--model", model.toString(), "--prompt", "It was", "--max-new-tokens", "5",
                "--seed", "1", "--json");
        assertEquals(0, gen.code(), gen.err());
        JsonNode g = parse(gen.out());
        assertTrue(g.get("ids").size() <= 5 && g.has("finish_reason") && g.has("text"), gen.out());
        Run streamed = run("generate", "--model", model.toString(), "--prompt", "It was", "--max-new-tokens", "5",
                "--seed", "1");
        assertEquals(0, streamed.code(), streamed.err());
        assertTrue(streamed.out().startsWith("It was" + g.get("text").asText()), streamed.out());

        Run info = run("info", "--model", model.toString());
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("causal"), info.out());
        assertTrue(Files.exists(model.resolve("loss.png")));
        assertTrue(Files.exists(model.resolve("checkpoint/trainer_state.json")));
    }

    @Test
    void generateHandlesBatchesTruncationSlidingAndInteractivePrompts() throws Exception {
        Run batch = run("generate", "--model", model.toString(), "--prompt", "It was", "--prompt", "the worst",
                "--num-return-sequences", "2", "--max-new-tokens", "4", "--seed", "3", "--json");
        assertEquals(0, batch.code(), batch.err());
        var lines = batch.out().lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(4, lines.size(), batch.out());
        assertEquals(1, Json.mapper().readTree(lines.get(3)).get("prompt_index").asInt());

        String longPrompt = "word ".repeat(100);
        Run truncated = run("generate", "--model", model.toString(), "--prompt", longPrompt, "--truncate", "left",
                "--max-new-tokens", "4", "--json");
        assertEquals(0, truncated.code(), truncated.err());
        JsonNode t = parse(truncated.out());
        assertEquals(28, t.get("prompt_tokens").asInt()); // 32 - 4
        assertTrue(t.get("dropped_prompt_tokens").asInt() > 0);

        Run slid = run("generate", "--model", model.toString(), "--prompt", "It was", "--slide",
                "--max-new-tokens", "50", "--min-new-tokens", "50", "--json");
        assertEquals(0, slid.code(), slid.err());
        assertEquals(50, parse(slid.out()).get("ids").size()); // beyond the 32-token context

        var stdin = System.in;
        System.setIn(new java.io.ByteArrayInputStream(("It was\n\n" + longPrompt + "\nthe worst\n")
                .getBytes(StandardCharsets.UTF_8)));
        try {
            Run chat = run("generate", "--model", model.toString(), "--interactive", "--max-new-tokens", "3",
                    "--json");
            assertEquals(2, chat.code(), "a bad line makes the exit code 2: " + chat.err());
            var results = chat.out().lines().filter(l -> l.startsWith("{")).map(CliTest::parseLine).toList();
            assertEquals(2, results.size(), chat.out());
            // prompt_index is the 0-based line number (the blank line and the bad one count), so that "line N" in
            // an error and prompt_index N - 1 are the same line
            assertEquals(0, results.get(0).get("prompt_index").asInt());
            assertEquals("It was", results.get(0).get("prompt").asText());
            assertEquals(3, results.get(1).get("prompt_index").asInt());
            assertEquals("the worst", results.get(1).get("prompt").asText());
            assertTrue(chat.err().contains("error: line 3: the prompt has"), chat.err());
        } finally {
            System.setIn(stdin);
        }
    }

    private static JsonNode parseLine(String line) {
        try {
            return Json.mapper().readTree(line);
        } catch (Exception ex) {
            throw new AssertionError("not JSON: " + line, ex);
        }
    }

    private static JsonNode parse(String out) {
        try {
            return Json.mapper().readTree(out.lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        } catch (Exception ex) {
            throw new AssertionError("not JSON: " + out, ex);
        }
    }

    private static void assertBadInput(String expected, String... args) {
        Run r = run(args);
        assertEquals(2, r.code(), "exit code for " + String.join(" ", args) + ": " + r.err());
        assertTrue(r.err().contains(expected), "stderr for " + String.join(" ", args) + ": " + r.err());
        assertFalse(r.err().contains("\tat "), "stack trace printed: " + r.err());
    }

    /**
     * score --file and generate --prompt-file read any bytes (malformed UTF-8 as U+FFFD) from a regular file of at
     * most 64 MiB; anything else is one line naming the file, whose name is escaped when it holds a line break or an
     * escape sequence.
     */
    @Test
    void textFilesAreReadLenientlyAndEveryRefusalIsOneEscapedLine() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("texts"));
        Path odd = dir.resolve("line\nbreak\u001b[31m.txt");
        String oddShown = dir + "/line\\nbreak\\u001b[31m.txt";
        Path fifo = io.lumenspark.io.Fifos.make(dir.resolve("pipe.txt"));
        Path huge = dir.resolve("huge.txt");
        try (var f = new java.io.RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength((64L << 20) + 1); // sparse
        }
        Path latin1 = Files.write(dir.resolve("latin1.txt"),
                "It was the caf\u00e9".getBytes(StandardCharsets.ISO_8859_1));
        List<List<String>> commands = List.of(List.of("score", "--model", model.toString(), "--file"),
                List.of("generate", "--model", model.toString(), "--max-new-tokens", "1", "--prompt-file"));
        for (List<String> command : commands) {
            for (var refused : Map.of(odd, "no such file: " + oddShown,
                    dir, "cannot read " + dir + ": not a regular file (a folder)",
                    fifo, "cannot read " + fifo + ": not a regular file (a named pipe, device or socket?)",
                    huge, "cannot read " + huge + ": 67,108,865 bytes, more than the 64.0 MiB").entrySet()) {
                Run r = run(with(command, refused.getKey().toString()));
                assertEquals(2, r.code(), r.err());
                assertEquals(1, r.err().lines().count(), r.err());
                assertTrue(r.err().startsWith("error: " + refused.getValue()), r.err());
            }
            Run lenient = run(with(command, latin1.toString()));
            assertEquals(0, lenient.code(), lenient.err());
        }
    }

    private static String[] with(List<String> command, String last) {
        List<String> args = new ArrayList<>(command);
        args.add(last);
        return args.toArray(String[]::new);
    }

    @Test
    void aPromptFileLosesOneTrailingNewlineAndAMissingOneIsNamed() throws Exception {
        Path file = tmp.resolve("prompt.txt");
        Files.writeString(file, "It was\n"); // as echo writes it
        Run fromFile = run("generate", "--model", model.toString(), "--prompt-file", file.toString(),
                "--max-new-tokens", "3", "--greedy", "--json");
        Run typed = run("generate", "--model", model.toString(), "--prompt", "It was", "--max-new-tokens", "3",
                "--greedy", "--json");
        assertEquals(0, fromFile.code(), fromFile.err());
        assertEquals("It was", parse(fromFile.out()).get("prompt").asText());
        assertEquals(parse(typed.out()).get("ids"), parse(fromFile.out()).get("ids"));
        Files.writeString(file, "It was\n\n"); // only one is dropped
        assertEquals("It was\n", parse(run("generate", "--model", model.toString(), "--prompt-file",
                file.toString(), "--max-new-tokens", "1", "--json").out()).get("prompt").asText());
        Path missing = tmp.resolve("missing.txt");
        Run r = run("generate", "--model", model.toString(), "--prompt-file", missing.toString());
        assertEquals(2, r.code());
        assertEquals("error: no such file: " + missing, r.err().strip());
    }

    @Test
    void optionsWithoutEffectWarnAndCountsAreSingularForOne() {
        Run r = run("generate", "--model", model.toString(), "--prompt", "It was", "--max-new-tokens", "1",
                "--greedy", "--temperature", "0.5", "--top-k", "5");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("warning: --temperature, --top-k have no effect with --greedy"), r.err());
        assertTrue(r.err().contains("[1 token, "), r.err());
        assertEquals("1 token", Words.count(1, "token"));
        assertEquals("2,048 tokens", Words.count(2048, "token"));
        assertEquals("0 passes", Words.count(0, "pass"));
    }

    /** The hint shows exactly when greedy output ends in a loop and nothing against loops is on. */
    @Test
    void greedyOutputEndingInALoopGetsAHint() {
        Path looping = tmp.resolve("looping");
        try (LumensparkModel m = LumensparkModel.load(model)) { // a bias that makes one token win every time
            var params = m.languageModel().params();
            params.values().setAtIndex(ValueLayout.JAVA_FLOAT, params.get("fc_out.bias").offset() + 318, 1e4f);
            m.save(looping);
        }
        for (Path folder : new Path[]{model, looping}) {
            Run r = run("generate", "--model", folder.toString(), "--prompt", "It was", "--max-new-tokens", "24",
                    "--greedy", "--json");
            assertEquals(0, r.code(), r.err());
            int[] ids = Json.mapper().convertValue(parse(r.out()).get("ids"), int[].class);
            boolean hinted = r.err().contains("hint: the greedy output ends in a loop; try --repetition-penalty");
            assertEquals(GenerateCommand.endsInLoop(ids), hinted, r.out() + r.err());
            assertEquals(folder == looping, hinted, r.out() + r.err());
        }
        Run penalized = run("generate", "--model", looping.toString(), "--prompt", "It was", "--max-new-tokens", "24",
                "--greedy", "--repetition-penalty", "1.3");
        assertFalse(penalized.err().contains("hint:"), penalized.err());

        assertTrue(GenerateCommand.endsInLoop(new int[]{5, 9, 9, 9, 9, 9, 9}));
        assertTrue(GenerateCommand.endsInLoop(new int[]{1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7}));
        assertFalse(GenerateCommand.endsInLoop(new int[]{9, 9, 9, 9, 9, 9, 1, 2, 3, 4}), "the loop must be at the end");
        assertFalse(GenerateCommand.endsInLoop(new int[]{1, 2, 3, 4, 1, 2, 3, 4}), "two occurrences are not a loop");
        assertFalse(GenerateCommand.endsInLoop(new int[]{9, 9, 9}));
    }

    @Test
    void parameterErrorsHaveOnePrefixAndUnknownCommandsAreNamed() {
        Run missing = run("generate", "--model", model.toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().startsWith("error: give one of --prompt TEXT, --prompt-file FILE, --interactive"),
                missing.err());
        Run both = run("generate", "--model", model.toString(), "--prompt", "x", "--interactive");
        assertTrue(both.err().startsWith("error: --prompt and --interactive cannot be used together"), both.err());
        Run chat = run("chat");
        assertEquals(2, chat.code());
        assertEquals("error: unknown command 'chat'; the commands are demo, train, eval, score, generate, serve,"
                + " fill-mask, info, convert, quantize, data, classify, tokenizer, bench, study (see 'lumenspark --help')", chat.err().strip());
        assertTrue(run("genrate").err().startsWith("error: unknown command 'genrate' (did you mean 'generate'?)"));
        assertTrue(run("data", "gett").err().startsWith("error: unknown command 'gett' (did you mean 'get'?);"
                + " the commands are get, list, prepare"));
        assertEquals("train", io.lumenspark.Words.nearest("trian", java.util.List.of("demo", "train", "eval")));
        assertEquals("generate", io.lumenspark.Words.nearest("gen", java.util.List.of("demo", "generate")));
        assertEquals(null, io.lumenspark.Words.nearest("chat", java.util.List.of("demo", "data", "train")));
    }

    @Test
    void helpListsTheLaunchersCommandsAndOnlyOptionsThatDoSomething() {
        Run top = run("--help");
        assertTrue(top.out().contains("test [maven args]") && top.out().contains("jmh [--quick] [regex]"), top.out());
        assertFalse(run("info", "--help").out().contains("--threads"), "info computes nothing");
        assertFalse(run("info", "--help").out().contains("--backend"), "info computes nothing");
        assertTrue(run("info", "--help").out().replaceAll("\\s+", " ").contains("Describe a model: a folder, a Hugging"
                + " Face Hub id or a training run's checkpoint."), "info takes Hub ids too");
        for (String[] command : new String[][]{{"tokenizer", "train"}, {"data", "prepare"},
                {"bench", "tokenizer"}}) {
            Run help = run(java.util.stream.Stream.concat(java.util.Arrays.stream(command), java.util.stream.Stream.of(
                    "--help")).toArray(String[]::new));
            assertTrue(help.out().contains("--threads") && !help.out().contains("--backend"), help.out());
        }
        for (String command : new String[]{"eval", "generate", "score", "info"}) {
            Run help = run(command, "--help");
            assertFalse(help.out().contains("resuming"), "only train resumes: " + help.out());
        }
        assertTrue(run("train", "--help").out().replaceAll("\\s+", " ").contains("saved settings and thread count"));
    }

    @Test
    void aMovedRunResumesInItsNewFolder() throws Exception {
        Path moved = tmp.resolve("moved");
        try (var files = Files.walk(model)) {
            for (Path p : files.toList()) Files.copy(p, moved.resolve(model.relativize(p).toString()));
        }
        Run r = run("train", "--resume", "--out", moved.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("model in " + moved), r.out());
        assertFalse(r.out().contains("NaN"), "an already complete run reports its last numbers: " + r.out());
    }

    /**
     * An empty path is refused by every path option and parameter, one rule for all (a failed $(...) gives one),
     * before anything runs: it would mean the current folder.
     */
    @Test
    void anEmptyPathIsRefusedEverywhere() {
        Path out = tmp.resolve("empty-path-out");
        String[][] commands = {
                {"train", "--data", "", "--out", out.toString()},
                {"train", "--data", corpus.toString(), "--out", ""},
                {"train", "--data", corpus.toString(), "--out", out.toString(), "--init", ""},
                {"train", "--data", corpus.toString(), "--out", out.toString(), "--config", ""},
                {"eval", "--model", model.toString(), "--data", ""},
                {"data", "prepare", "", "--out", out.toString()},
                {"data", "prepare", corpus.toString(), "--out", ""},
                {"demo", "--data", ""},
                {"demo", "--out", ""},
                {"score", "--model", model.toString(), "--file", ""},
                {"generate", "--model", model.toString(), "--prompt-file", ""},
                {"tokenizer", "train", "--input", "", "--vocab-size", "300", "--out", out.toString()},
                {"bench", "tokenizer", "--data", ""},
                {"info", "--model", ""},
                {"serve", "--model", ""},
                {"serve", "--model", "demo="},
                {"tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out", ""},
                // a name or a folder: empty, it would be the current folder too
                {"train", "--data", corpus.toString(), "--out", out.toString(), "--tokenizer", ""},
                {"data", "prepare", corpus.toString(), "--out", out.toString(), "--tokenizer", ""},
                {"demo", "--tokenizer", "", "--out", out.toString()},
                {"bench", "tokenizer", "--tokenizer", ""},
        };
        for (String[] args : commands) {
            Run r = run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.err().matches("error: (--[a-z-]+|INPUT) is empty \\(an empty path would mean the current"
                    + " folder; did a \\$\\(\\.\\.\\.\\) fail\\?\\) \\(see '.*--help'\\)\\R"), r.err());
            assertFalse(Files.exists(out), "nothing written");
        }
    }

    /** picocli's messages in our words: option names as typed, no Java types, lower case, one form. */
    @Test
    void badCommandLinesAreSaidInPlainWords() {
        String data = corpus.toString();
        assertBadLine("error: --steps must be a whole number, got 'abc'", "train", "--data", data, "--steps", "abc");
        assertBadLine("error: --lr must be a number, got 'nan'", "train", "--data", data, "--lr", "nan");
        assertBadLine("error: --batch must be at most 2,147,483,647, got '99999999999'", "train", "--data", data,
                "--batch", "99999999999");
        assertBadLine("error: --set must be KEY=VALUE, got 'depth'", "train", "--data", data, "--set", "depth");
        assertBadLine("error: unknown option '--stesp' (did you mean '--steps'?)", "train", "--data", data,
                "--stesp", "3");
        assertBadLine("error: --out needs a value (DIR)", "train", "--data", data, "--out");
        assertBadLine("error: unknown option '--tekst' (did you mean '--text'?)", "fill-mask", "--model", "m",
                "--tekst", "a <mask>"); // a misspelt required option: unknown, not missing
        assertBadLine("error: unknown option '--modle' (did you mean '--model'?)", "info", "--modle", "x");
        assertBadLine("error: missing INPUT", "data", "prepare", "--out", "x");
        for (String command : new String[]{"train", "eval", "generate", "score", "data", "bench", "tokenizer",
                "classify train", "classify eval", "classify predict", "bench classify"}) {
            String help = run((command + " --help").split(" ")).out();
            // (<mask> and <pad> are token names in --objective's description)
            assertFalse(help.replace("<mask>", "").replace("<pad>", "").contains("<") || help.contains("String"),
                    "labels, not Java types: " + help);
        }
    }

    private static void assertBadLine(String expected, String... args) {
        Run r = run(args);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith(expected + " (see '"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    /** Help lines break between words, never inside a file name. */
    @Test
    void helpBreaksLinesBetweenWords() {
        for (String[] command : new String[][]{{"data", "prepare"}, {"eval"}, {"train"}, {"data", "get"}}) {
            String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(command),
                    java.util.stream.Stream.of("--help")).toArray(String[]::new);
            String help = run(args).out();
            for (String line : help.lines().toList()) {
                assertFalse(line.matches(".*(manifest|train|val|\\s)\\.$"), "a line ends inside a file name: " + line);
                assertTrue(line.length() <= 80, line);
            }
        }
        String prepare = run("data", "prepare", "--help").out().replaceAll("\\s+", " ");
        assertTrue(prepare.contains("manifest.json") && prepare.contains(".jsonl/.json"), prepare);
        String eval = run("eval", "--help").out().replaceAll("\\s+", " ");
        assertTrue(eval.contains("uint16, or uint32") && eval.contains("rounded up"), eval);
        assertTrue(run("train", "--help").out().replaceAll("\\s+", " ").contains("folder made by data prepare"));
    }

    @Test
    void evalChecksItsNumbersAndReadsFoldersAsTrainDoes() throws Exception {
        assertBadInput("error: --max-tokens must not be negative (0: all), got -3", "eval", "--model",
                model.toString(), "--data", corpus.toString(), "--max-tokens", "-3");
        for (String n : new String[]{"0", "100000"}) {
            Run r = run("eval", "--model", model.toString(), "--data", corpus.toString(), "--seq-length", n);
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith(n.equals("0") ? "error: --seq-length must be at least 1, got 0"
                    : "error: --seq-length must be in 1..32, got 100000"), r.err());
        }
        assertBadInput("error: --seq-length must be in 1..32, got 64", "train", "--data", corpus.toString(),
                "--out", tmp.resolve("seq").toString(), "--preset", "tiny", "--set", "seq_length=32", "--set",
                "k=8", "--seq-length", "64");
        // a folder: hidden files are skipped, as train and data prepare skip them
        Path folder = Files.createDirectories(tmp.resolve("eval-folder"));
        Files.copy(corpus, folder.resolve("text.txt"));
        Run plain = run("eval", "--model", model.toString(), "--data", folder.toString(), "--json");
        Files.writeString(folder.resolve(".hidden.txt"), "zzz qqq xxx ".repeat(500));
        Run withHidden = run("eval", "--model", model.toString(), "--data", folder.toString(), "--json");
        assertEquals(0, withHidden.code(), withHidden.err());
        assertEquals(parse(plain.out()).get("tokens"), parse(withHidden.out()).get("tokens"));
        assertEquals(parse(plain.out()).get("loss"), parse(withHidden.out()).get("loss"));
        assertEquals(parse(plain.out()).get("loss"), parse(run("eval", "--model", model.toString(), "--data",
                corpus.toString(), "--json").out()).get("loss"), "a folder of one file is that file");
    }

    /**
     * --max-length counting the whole prompt leaves no room: refused (Hugging Face warns and makes nothing), and a
     * sequence with no token has no first-token time: null in JSON, never "NaN".
     */
    @Test
    void generateRefusesAMaxLengthWithoutRoomAndWritesNoNaN() throws Exception {
        assertBadInput("error: the prompt has", "generate", "--model", model.toString(), "--prompt",
                "It was the best of times", "--max-length", "3");
        Run r = run("generate", "--model", model.toString(), "--prompt", "It was the best of times",
                "--max-length", "3");
        assertTrue(r.err().contains("--max-length 3 counts them too, which leaves no room for a new token"), r.err());
        assertEquals("{\"x\":null}", Json.toLine(Map.of("x", Double.NaN)));
        assertEquals("{\"a\":null}", Json.toLine(Map.of("a", Double.POSITIVE_INFINITY)));
        Path empty = Files.writeString(tmp.resolve("empty-prompt.txt"), "\n");
        assertBadInput("error: --prompt-file " + empty + " is empty", "generate", "--model", model.toString(),
                "--prompt-file", empty.toString());
    }

    @Test
    void badInputIsOneClearLine() throws Exception {
        assertBadInput("no such model folder", "eval", "--model", tmp.resolve("nope").toString(), "--data",
                corpus.toString());
        assertBadInput("no such file", "eval", "--model", model.toString(), "--data", tmp.resolve("x.txt").toString());
        assertBadInput("unknown preset", "train", "--data", corpus.toString(), "--preset", "huge", "--out",
                tmp.resolve("o1").toString());
        assertBadInput("unknown config key 'colour'", "train", "--data", corpus.toString(), "--set", "colour=red",
                "--out", tmp.resolve("o2").toString());
        assertBadInput("must be divisible by k", "train", "--data", corpus.toString(), "--set", "k=7", "--out",
                tmp.resolve("o3").toString());
        assertBadInput("error: unknown option '--bogus'", "eval", "--model", model.toString(), "--data",
                corpus.toString(), "--bogus");
        assertBadInput("error: missing --model", "eval", "--data", corpus.toString());
        assertBadInput("--threads must be between 1 and", "eval", "--model", model.toString(), "--data",
                corpus.toString(), "--threads", "0");
        assertBadInput("--threads must be between 1 and " + ThreadOptions.MAX_THREADS + ", got 100000", "score", "--model",
                model.toString(), "--text", "x", "--threads", "100000");
        assertBadInput("tokens, more than the 33 this model scores at once (its context of 32 positions, each"
                + " predicting the token after it)", "score", "--model", model.toString(), "--text", "word ".repeat(100));
        assertBadInput("--lr must be positive", "train", "--data", corpus.toString(), "--lr", "-1", "--out",
                tmp.resolve("o4").toString());
        assertBadInput("--precision must be fp32 or bf16, got 'fp16'", "train", "--data", corpus.toString(),
                "--precision", "fp16", "--out", tmp.resolve("o5").toString());
        Path cfg = tmp.resolve("cfg.json");
        Files.writeString(cfg, "{\"embed_dim\": 30, \"heads\": 4}");
        assertBadInput("not divisible by heads", "train", "--data", corpus.toString(), "--config", cfg.toString(),
                "--out", tmp.resolve("o6").toString());
        assertBadInput("error: --temperature must be positive", "generate", "--model", model.toString(), "--prompt", "Hi",
                "--temperature", "0");
        assertBadInput("error: --top-p must be in (0, 1]", "generate", "--model", model.toString(), "--prompt", "Hi",
                "--top-p", "1.5");
        assertBadInput("leaves no room to generate", "generate", "--model", model.toString(), "--prompt",
                "word ".repeat(100));
        assertBadInput("error: --truncate must be none or left, got 'right'", "generate", "--model", model.toString(),
                "--prompt", "Hi", "--truncate", "right");
        assertBadInput("(--truncate left keeps its end)", "generate", "--model", model.toString(), "--prompt",
                "word ".repeat(100));
        assertBadInput("error: --num-return-sequences > 1 needs sampling", "generate", "--model", model.toString(),
                "--prompt", "Hi", "--num-return-sequences", "2", "--greedy");
        assertBadInput("error: --min-new-tokens 9 exceeds --max-new-tokens 3", "generate", "--model",
                model.toString(), "--prompt", "Hi", "--min-new-tokens", "9", "--max-new-tokens", "3");
        assertBadInput("error: a stop string must not be empty (--stop)", "generate", "--model", model.toString(),
                "--prompt", "Hi", "--stop", "");
        assertBadInput("error: --set embed_dim=abc: embed_dim must be an integer, got \"abc\"", "bench", "train",
                "--preset", "tiny", "--set", "embed_dim=abc");
        assertBadInput("AdamW moments", "bench", "train", "--preset", "tiny", "--set", "vocab_size=2000000000");
        Path ablation = tmp.resolve("ablation");
        assertBadInput("gradients", "bench", "ablation", "--max-n", "268435456", "--out", ablation.toString());
        assertFalse(Files.exists(ablation), "refused before anything is measured or written");
        assertBadInput("context 600 must be in", "bench", "generate", "--preset", "tiny", "--contexts", "600");
        assertBadInput("drop --lr", "train", "--resume", "--out", model.toString(), "--lr", "1");
        assertBadInput("is not MxNxK", "bench", "gemm", "--shapes", "12x3");
        assertBadInput("no checkpoint to resume", "train", "--resume", "--out", tmp.resolve("o5").toString());

        Path broken = tmp.resolve("broken");
        Files.createDirectories(broken);
        Files.copy(model.resolve("config.json"), broken.resolve("config.json"));
        byte[] weights = Files.readAllBytes(model.resolve("model.safetensors"));
        Files.write(broken.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
        assertBadInput("model.safetensors", "info", "--model", broken.toString());

        Files.writeString(broken.resolve("config.json"), "{\"model_type\": \"lumenspark\", \"embed_dim\": ");
        assertBadInput("config.json", "info", "--model", broken.toString());
        Files.writeString(broken.resolve("config.json"), "{\"model_type\": \"lumenspark\", \"heads\": 5}");
        assertBadInput("not divisible by heads", "info", "--model", broken.toString());
        // as strict as generation_config.json and trainer_state.json: a number is a JSON number
        Files.writeString(broken.resolve("config.json"), "{\"model_type\": \"lumenspark\", \"depth\": \"1\"}");
        assertBadInput("config.json: depth must be an integer, got \"1\"", "info", "--model", broken.toString());
        Files.writeString(broken.resolve("config.json"), "{\"model_type\": \"lumenspark\", \"causal\": 1}");
        assertBadInput("config.json: causal must be true or false, got 1", "info", "--model", broken.toString());

        Path generating = tmp.resolve("generating");
        try (LumensparkModel m = LumensparkModel.load(model)) {
            m.save(generating);
        }
        Path gen = generating.resolve("generation_config.json");
        Files.writeString(gen, "{\"temperature\": NaN}");
        assertBadInput(gen + ": not valid JSON at line 1: NaN is not a JSON number (JSON has no NaN or infinities)",
                "generate", "--model", generating.toString(), "--prompt", "It was");
        Files.writeString(gen, "{\"temprature\": 0.5, \"colour\": 1}");
        Run typo = run("generate", "--model", generating.toString(), "--prompt", "It was", "--max-new-tokens", "1");
        assertEquals(0, typo.code(), typo.err());
        assertTrue(typo.err().contains("warning: " + gen + ": ignoring unknown keys temprature (did you mean"
                + " temperature?), colour"), typo.err());
        Path empty1 = Files.writeString(tmp.resolve("empty1.txt"), ""), empty2 = Files.writeString(
                tmp.resolve("empty2.txt"), "");
        assertBadInput("error: corpus " + empty1 + ", " + empty2 + " has no text", "train", "--data",
                empty1.toString(), "--data", empty2.toString(), "--out", tmp.resolve("o7").toString());
    }
}
