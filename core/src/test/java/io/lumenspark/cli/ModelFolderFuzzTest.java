package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lumenspark.corpus.ArchivesTest;
import io.lumenspark.corpus.TarArchiveTest;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Fifos;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.ModelFolder;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Broken inputs through the commands that read them, in process: over 800 seeded mutations of a good model folder
 * (config.json values of the wrong type or size, truncated and garbled safetensors headers, wrong dtypes,
 * shapes and offsets, NaN and overflowing weights, named pipes and folders where files belong, files too large to
 * be what they claim, hostile pytorch_model.bin files in place of the weights), of its generation_config.json
 * (through {@code generate}), of a finished training run's trainer_state.json and metrics.jsonl (through
 * {@code train --resume}) and of a zip and a tar.gz (through {@code data get}: truncations, bit flips, header
 * fields, hostile names, huge sizes). Each must end in exit code 2
 * and one line on stderr starting with {@code error: } (warnings and progress notes before it are fine), with no
 * Java class name, within {@value #MAX_CASE_MILLIS} ms and {@value #MAX_CASE_ALLOCATION} bytes allocated by the
 * command's thread, on the test JVM's own heap; a refused run folder must be left exactly as it was, a refused
 * pytorch_model.bin must run nothing and write nothing, and a refused archive must leave nothing in the cache (but
 * its lock files) and nothing anywhere else.
 *
 * <p>To cover another input, add a {@link Case}: a name, the good folder it starts from ({@link Base}), a
 * {@link Mutation} of a copy of it, the command, with {@code {folder}} and {@code {data}} standing for the copy and
 * its text file, and what else to {@link Check} afterwards.
 */
class ModelFolderFuzzTest {
    @TempDir
    static Path tmp;
    static Path good, goodRun, goodArchives, home;
    private static String savedHome;

    /** A case's command may take this long, on a loaded machine too (they take milliseconds, 0.2 s at most). */
    static final long MAX_CASE_MILLIS = 5_000;
    /** A case's command may allocate this many bytes on its thread (the test JVM's heap is shared by all). */
    static final long MAX_CASE_ALLOCATION = 512L << 20;

    /** Something done to a copy of the good folder; r is the case's own seeded random source. */
    @FunctionalInterface
    interface Mutation {
        void apply(Path folder, SplittableRandom r) throws Exception;
    }

    /** The good folder a case breaks a copy of. */
    enum Base { MODEL, RUN, ARCHIVES }

    /**
     * What else must hold after a case: given its folder before the command runs, a test of the command's run that
     * returns the problem, or null.
     */
    @FunctionalInterface
    interface Check {
        After watch(Path folder) throws Exception;

        /** The test after the command. */
        @FunctionalInterface
        interface After {
            String problem(CliTest.Run run) throws Exception;
        }

        Check NOTHING = folder -> run -> null;
    }

    /**
     * One input: what to break, and the command that must refuse it. mayPass marks a mutation that can leave a
     * valid input (a flipped bit in a zip's timestamp or a letter of a name): it may then succeed, and its check
     * still applies.
     */
    record Case(String name, Base base, Mutation mutation, List<String> command, Check check, boolean mayPass) {
        Case(String name, Mutation mutation, List<String> command) {
            this(name, Base.MODEL, mutation, command, Check.NOTHING, false);
        }
    }

    static final List<String> INFO = List.of("info", "--model", "{folder}");
    static final List<String> EVAL = List.of("eval", "--model", "{folder}", "--data", "{data}", "--threads", "1");
    static final List<String> SCORE = List.of("score", "--model", "{folder}", "--text", "It was the best of times",
            "--threads", "1");
    static final List<List<String>> LOADING = List.of(INFO, EVAL, SCORE);
    static final List<String> GENERATE = List.of("generate", "--model", "{folder}", "--prompt", "It was",
            "--max-new-tokens", "4", "--threads", "1");
    /** The good run has 2 steps; resuming it to 4 would train on. */
    static final List<String> RESUME = List.of("train", "--resume", "--out", "{folder}", "--steps", "4",
            "--threads", "1");
    /** An entry name whose extraction anywhere outside the cache would show: the test looks for it. */
    static final String MARK = "lumenspark-fuzz-escape";

    /** Signs of Java internals in a message: class names, a stack frame, Jackson's backquoted names and locations. */
    private static final Pattern CLASS_NAME = Pattern.compile(
            "Exception|Error\\b|\\b(java|javax|jdk|sun|com\\.fasterxml|picocli)\\.[a-z]|\\tat |`|\\[Source: |ZipFile");

    @BeforeAll
    static void writeGoodFolders() throws Exception {
        savedHome = System.getProperty("lumenspark.home");
        home = tmp.resolve("home"); // the cache the archive cases must leave empty, and the run's token cache
        System.setProperty("lumenspark.home", home.toString());
        BpeTokenizer tokenizer = SmallModels.tokenizer(tmp);
        good = SmallModels.write(tmp.resolve("good"), tokenizer, Map.of());
        Files.writeString(good.resolve("data.txt"), SmallModels.TEXT);
        Files.createDirectories(good.resolve("checkpoint"));
        Json.write(good.resolve("checkpoint/trainer_state.json"), Map.of("step", 4));
        Files.writeString(good.resolve("metrics.jsonl"), "{\"step\":2,\"train_loss\":5.1,\"val_loss\":5.0}\n"
                + "{\"step\":4,\"train_loss\":4.1,\"val_loss\":4.0}\n");
        List<List<String>> commands = new ArrayList<>(LOADING);
        commands.add(GENERATE);
        for (List<String> command : commands) {
            CliTest.Run r = run(command, good);
            // eval draws a progress bar on stderr; nothing else may be there
            assertTrue(r.code() == 0 && !r.err().contains("error:") && !r.err().contains("warning:"),
                    "the good folder works: " + command + ": " + r.err());
        }

        goodRun = tmp.resolve("good-run"); // 2 steps of a model as small as the folder's, with its tokenizer
        CliTest.Run trained = CliTest.run("train", "--data", good.resolve("data.txt").toString(), "--out",
                goodRun.toString(), "--tokenizer", good.toString(), "--preset", "tiny", "--set", "embed_dim=16",
                "--set", "heads=2", "--set", "depth=1", "--set", "seq_length=32", "--set", "k=8", "--set", "rank=4",
                "--batch", "2", "--steps", "2", "--eval-every", "1", "--checkpoint-every", "1", "--threads", "1");
        assertEquals(0, trained.code(), trained.err());
        Path resumable = tmp.resolve("good-run-resumed");
        copy(goodRun, resumable);
        CliTest.Run resumed = run(RESUME, resumable);
        assertTrue(resumed.code() == 0 && resumed.out().contains("done: 4 steps"), "the good run resumes: "
                + resumed.err());
        AtomicFiles.deleteTree(resumable);

        goodArchives = Files.createDirectories(tmp.resolve("good-archives"));
        Files.write(goodArchives.resolve("good.zip"), goodZip());
        Files.write(goodArchives.resolve("good.tar.gz"), gzip(goodTar()));
        for (String archive : List.of("good.zip", "good.tar.gz")) {
            CliTest.Run r = CliTest.run("data", "get", goodArchives.resolve(archive).toString());
            assertEquals(0, r.code(), r.err());
            assertEquals(TEXT_A, Files.readString(Path.of(r.out().strip()).resolve("corpus/a.txt")));
        }
        AtomicFiles.deleteTree(home.resolve("corpora"));
    }

    @AfterAll
    static void restoreHome() {
        if (savedHome == null) System.clearProperty("lumenspark.home");
        else System.setProperty("lumenspark.home", savedHome);
    }

    private static CliTest.Run run(List<String> command, Path folder) {
        return CliTest.run(command.stream().map(a -> a.replace("{folder}", folder.toString())
                .replace("{data}", folder.resolve("data.txt").toString())).toArray(String[]::new));
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a named pipe that is opened hangs
    void everyBrokenFolderIsOneClearError() throws Exception {
        List<Case> cases = cases(20260101L);
        assertTrue(cases.size() >= 300, cases.size() + " cases");
        check(cases);
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyBrokenGenerationConfigIsOneClearError() throws Exception {
        List<Case> cases = generationCases(20260102L);
        assertTrue(cases.size() >= 100, cases.size() + " cases");
        check(cases);
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyBrokenRunIsRefusedAndLeftAsItWas() throws Exception {
        List<Case> cases = runCases(20260103L);
        assertTrue(cases.size() >= 100, cases.size() + " cases");
        check(cases);
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void everyBrokenArchiveIsRefusedWithoutLeavingAnything() throws Exception {
        List<Case> cases = archiveCases(20260104L);
        assertTrue(cases.size() >= 200, cases.size() + " cases");
        check(cases);
    }

    /** Lines a command may print on stderr before its error: warnings, and progress notes of data get. */
    private static final Pattern NOTE = Pattern.compile("^(warning: |extracting )");
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Runs every case on a fresh copy of its good folder, which is deleted after it; fails listing all problems. */
    private static void check(List<Case> cases) throws Exception {
        List<String> failures = new ArrayList<>();
        long t0 = System.nanoTime(), slowest = 0, most = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            Path folder = tmp.resolve("case-" + c.base().name().toLowerCase(Locale.ROOT) + "-" + i);
            copy(switch (c.base()) {
                case MODEL -> good;
                case RUN -> goodRun;
                case ARCHIVES -> goodArchives;
            }, folder);
            c.mutation().apply(folder, new SplittableRandom(i));
            Check.After after = c.check().watch(folder);
            long allocated = THREADS.getCurrentThreadAllocatedBytes(), started = System.nanoTime();
            CliTest.Run r = run(c.command(), folder);
            long millis = (System.nanoTime() - started) / 1_000_000;
            allocated = THREADS.getCurrentThreadAllocatedBytes() - allocated;
            slowest = Math.max(slowest, millis);
            most = Math.max(most, allocated);
            List<String> lines = r.err().lines().toList();
            String problem = c.mayPass() && r.code() == 0 ? null
                    : r.code() != 2 ? "exit code " + r.code()
                    : lines.isEmpty() || !lines.getLast().startsWith("error: ") ? "no error line last"
                    : lines.stream().filter(l -> !NOTE.matcher(l).find()).count() != 1 ? "more than one line"
                    : CLASS_NAME.matcher(r.err()).find() ? "a Java class name" : null;
            if (problem == null && millis > MAX_CASE_MILLIS) problem = "took " + millis + " ms";
            if (problem == null && allocated > MAX_CASE_ALLOCATION) problem = "allocated " + allocated + " bytes";
            String afterwards = after.problem(r); // always: it may clean up for the next case
            if (problem == null) problem = afterwards;
            if (problem != null) failures.add(c.name() + " (" + c.command().getFirst() + "): " + problem + ": " + r.err());
            AtomicFiles.deleteTree(folder);
        }
        System.out.printf("%d cases in %.1f s; the slowest %d ms, the most allocated %,d bytes%n", cases.size(),
                (System.nanoTime() - t0) / 1e9, slowest, most);
        assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " cases failed:\n"
                + String.join("\n", failures));
    }

    // ---- the cases ----

    /** The fixed cases, then seeded random ones. */
    static List<Case> cases(long seed) {
        List<Case> cases = new ArrayList<>();
        List<String> everyCommand = List.of("config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json", "generation_config.json");
        for (String file : everyCommand) {
            for (List<String> command : LOADING) {
                cases.add(new Case("fifo " + file, (f, r) -> fifo(f.resolve(file)), command));
                cases.add(new Case("folder " + file, (f, r) -> folder(f.resolve(file)), command));
                cases.add(new Case("link to /dev/zero " + file, (f, r) -> link(f.resolve(file), Path.of("/dev/zero")),
                        command));
            }
        }
        for (String file : List.of("vocab.json", "merges.txt")) { // read when there is no tokenizer.json
            for (List<String> command : LOADING) {
                cases.add(new Case("fifo " + file, (f, r) -> {
                    Files.delete(f.resolve("tokenizer.json"));
                    fifo(f.resolve(file));
                }, command));
            }
        }
        for (String file : List.of("metrics.jsonl", "checkpoint/trainer_state.json")) { // info reads them
            cases.add(new Case("fifo " + file, (f, r) -> fifo(f.resolve(file)), INFO));
            cases.add(new Case("folder " + file, (f, r) -> folder(f.resolve(file)), INFO));
        }
        for (List<String> command : LOADING) {
            cases.add(new Case("no config.json", (f, r) -> Files.delete(f.resolve("config.json")), command));
            cases.add(new Case("no weights", (f, r) -> Files.delete(f.resolve("model.safetensors")), command));
            cases.add(new Case("no tokenizer files", (f, r) -> {
                for (String t : List.of("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")) {
                    Files.delete(f.resolve(t));
                }
            }, command));
            cases.add(new Case("huge config.json", (f, r) -> sparse(f.resolve("config.json"), Json.MAX_FILE_BYTES + 1),
                    command));
            cases.add(new Case("huge tokenizer.json", (f, r) -> sparse(f.resolve("tokenizer.json"), 1L << 31),
                    command));
        }
        for (String hostile : HOSTILE_CHECKPOINTS) { // the PyTorch reader's own tests cover the rest
            cases.add(new Case("pytorch_model.bin " + hostile, Base.MODEL, (f, r) -> {
                Files.delete(f.resolve("model.safetensors"));
                Files.copy(TORCH_FIXTURES.resolve(hostile), f.resolve("pytorch_model.bin"));
            }, INFO, NOTHING_RAN, false));
        }
        SplittableRandom r = new SplittableRandom(seed);
        List<RandomKind> kinds = List.of(ModelFolderFuzzTest::configValue, ModelFolderFuzzTest::configFile,
                ModelFolderFuzzTest::weightsFile, ModelFolderFuzzTest::weightsHeader, ModelFolderFuzzTest::weightValue,
                ModelFolderFuzzTest::tokenizerFile, ModelFolderFuzzTest::trainingFile);
        while (cases.size() < 320) cases.add(kinds.get(r.nextInt(kinds.size())).make(r));
        return cases;
    }

    /** Hostile PyTorch checkpoints written by reference/make_torch_checkpoints.py, and what their payloads write. */
    static final Path TORCH_FIXTURES = Path.of("core", "src", "test", "resources", "torch");
    static final List<String> HOSTILE_CHECKPOINTS = List.of("hostile-os-system.bin", "hostile-eval.bin",
            "hostile-huge-storage.bin", "hostile-truncated.bin", "hostile-zip-slip.bin");
    static final List<String> PAYLOAD_MARKERS = List.of("lumenspark-pickle-ran", "lumenspark-zip-slip.txt");

    /**
     * A pytorch_model.bin is refused (the error names it), having run nothing and written nothing: the model folder
     * is as it was, and no file its payload would make (in the working folder, the model folder or any folder above
     * it) is there.
     */
    private static final Check NOTHING_RAN = folder -> {
        Map<String, String> before = snapshot(folder);
        return run -> {
            if (!run.err().contains(folder.resolve("pytorch_model.bin") + ": ")) return "it was not the file refused";
            if (!before.equals(snapshot(folder))) return "the model folder changed";
            for (Path dir = folder; dir != null; dir = dir.getParent()) {
                for (String marker : PAYLOAD_MARKERS) {
                    if (Files.exists(dir.resolve(marker))) return "a payload ran: " + dir.resolve(marker);
                }
            }
            for (String marker : PAYLOAD_MARKERS) {
                if (Files.exists(Path.of(marker))) return "a payload ran: " + Path.of(marker).toAbsolutePath();
            }
            return null;
        };
    };

    /** Draws one random case. */
    @FunctionalInterface
    interface RandomKind {
        Case make(SplittableRandom r);
    }

    private static List<String> anyCommand(SplittableRandom r) {
        return LOADING.get(r.nextInt(LOADING.size()));
    }

    private static final List<String> INT_KEYS = List.of("vocab_size", "embed_dim", "depth", "heads", "seq_length",
            "k", "rank", "kv_heads");
    private static final List<String> STRUCTURE_KEYS = List.of("shared_kv", "separate_proj",
            "share_proj_across_layers"); // flipping one changes the tensors
    private static final List<String> BOOL_KEYS = List.of("causal", "shared_kv", "separate_proj",
            "share_proj_across_layers");

    /** A config.json key set to a value that is wrong for it (type, range, or disagreeing with the weights). */
    static Case configValue(SplittableRandom r) {
        JsonNodeFactory j = JsonNodeFactory.instance;
        List<JsonNode> junk = List.of(j.textNode("abc"), j.textNode("\n"), j.textNode("x".repeat(5000)),
                j.nullNode(), j.arrayNode().add(1), j.objectNode().put("a", 1), j.booleanNode(true));
        String key;
        JsonNode value;
        switch (r.nextInt(6)) {
            case 0, 1 -> {
                String intKey = INT_KEYS.get(r.nextInt(INT_KEYS.size()));
                List<JsonNode> bad = new ArrayList<>(junk);
                for (long v : new long[]{0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 1L << 31, 1_000_000,
                        1_000_000_000, 1L << 40}) {
                    bad.add(j.numberNode(v));
                }
                bad.addAll(List.of(j.numberNode(1.5), j.numberNode(1e300), j.textNode("12x")));
                bad.add(null); // stands for: the current value plus one
                bad.add(null); // and: twice the current value
                int pick = r.nextInt(bad.size());
                value = bad.get(pick);
                boolean plusOne = value == null && pick == bad.size() - 2;
                return new Case("config " + intKey + " = " + (value == null ? (plusOne ? "+1" : "x2") : shown(value)),
                        (f, rr) -> editConfig(f, c -> c.set(intKey, bad.get(pick) != null ? bad.get(pick)
                                : j.numberNode(plusOne ? c.get(intKey).asLong() + 1 : c.get(intKey).asLong() * 2))),
                        anyCommand(r));
            }
            case 2 -> {
                key = r.nextBoolean() ? "dropout" : "norm_eps";
                List<JsonNode> bad = new ArrayList<>(junk);
                bad.addAll(List.of(j.numberNode(-0.5), j.textNode("NaN"), j.textNode("Infinity"),
                        key.equals("dropout") ? j.numberNode(1) : j.numberNode(0)));
                value = bad.get(r.nextInt(bad.size()));
            }
            case 3 -> {
                key = BOOL_KEYS.get(r.nextInt(BOOL_KEYS.size()));
                value = List.of(j.textNode("yes"), j.numberNode(1), j.nullNode(), j.arrayNode(),
                        j.textNode("TRUE")).get(r.nextInt(5));
            }
            case 4 -> {
                String flip = STRUCTURE_KEYS.get(r.nextInt(STRUCTURE_KEYS.size()));
                return new Case("config " + flip + " flipped",
                        (f, rr) -> editConfig(f, c -> c.put(flip, !c.get(flip).asBoolean())), anyCommand(r));
            }
            default -> {
                key = r.nextBoolean() ? "attention" : "model_type";
                value = (key.equals("attention") ? List.of(j.textNode("full"), j.textNode("conv_linformer"),
                        j.textNode("LINFORMER"), j.textNode(""), j.numberNode(5), j.nullNode())
                        : List.of(j.textNode("gpt2"), j.textNode(""), j.nullNode(), j.numberNode(1),
                        j.textNode("Lumenspark"))).get(r.nextInt(key.equals("attention") ? 6 : 5));
            }
        }
        String k = key;
        JsonNode v = value;
        return new Case("config " + k + " = " + shown(v), (f, rr) -> editConfig(f, c -> c.set(k, v)), anyCommand(r));
    }

    private static String shown(JsonNode v) {
        String s = v.toString();
        return s.length() > 20 ? s.substring(0, 20) + "..." : s;
    }

    /** config.json as a whole: not JSON, not an object, truncated, nested too deep, a key twice. */
    static Case configFile(SplittableRandom r) {
        List<String> bad = List.of("", "{", "[]", "null", "\"x\"", "{\"model_type\": \"lumenspark\",}",
                "[".repeat(5000), "{\"depth\": 2, \"depth\": 2, \"model_type\": \"lumenspark\"}", "\u0000\u0001");
        int pick = r.nextInt(bad.size() + 1);
        if (pick == bad.size()) {
            return new Case("config.json truncated", (f, rr) -> {
                Path c = f.resolve("config.json");
                byte[] b = Files.readAllBytes(c);
                Files.write(c, Arrays.copyOf(b, rr.nextInt(b.length - 1)));
            }, anyCommand(r));
        }
        return new Case("config.json is " + bad.get(pick).substring(0, Math.min(10, bad.get(pick).length())),
                (f, rr) -> Files.writeString(f.resolve("config.json"), bad.get(pick)), anyCommand(r));
    }

    /** model.safetensors cut short, its header length field wrong, or a byte of its header garbled. */
    static Case weightsFile(SplittableRandom r) {
        return switch (r.nextInt(3)) {
            case 0 -> new Case("weights truncated", (f, rr) -> {
                Path w = f.resolve("model.safetensors");
                try (RandomAccessFile file = new RandomAccessFile(w.toFile(), "rw")) {
                    file.setLength(rr.nextLong(file.length()));
                }
            }, anyCommand(r));
            case 1 -> new Case("weights header length", (f, rr) -> {
                Path w = f.resolve("model.safetensors");
                long size = Files.size(w);
                long[] lengths = {0, 1, size, size - 7, 100L << 20, Long.MAX_VALUE, -1, rr.nextLong()};
                ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                b.putLong(lengths[rr.nextInt(lengths.length)]);
                try (RandomAccessFile file = new RandomAccessFile(w.toFile(), "rw")) {
                    file.write(b.array());
                }
            }, anyCommand(r));
            default -> new Case("weights header byte", (f, rr) -> {
                Path w = f.resolve("model.safetensors");
                long header = ByteBuffer.wrap(Files.readAllBytes(w), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                try (RandomAccessFile file = new RandomAccessFile(w.toFile(), "rw")) {
                    file.seek(8 + rr.nextLong(header));
                    file.write(1); // a control character is wrong anywhere in JSON
                }
            }, anyCommand(r));
        };
    }

    /** One tensor's header entry changed: dtype, shape, offsets, or the tensor removed, renamed or added. */
    static Case weightsHeader(SplittableRandom r) {
        JsonNodeFactory j = JsonNodeFactory.instance;
        int what = r.nextInt(6);
        String name = switch (what) {
            case 0 -> "dtype";
            case 1 -> "shape";
            case 2 -> "data_offsets";
            case 3 -> "removed";
            case 4 -> "renamed";
            default -> "extra";
        };
        return new Case("weights header " + name, (f, rr) -> editHeader(f, (header, tensor) -> {
            ObjectNode t = (ObjectNode) header.get(tensor);
            long[] shape = longs(t.get("shape"));
            long[] offsets = longs(t.get("data_offsets"));
            switch (what) {
                case 0 -> t.set("dtype", List.of(j.textNode("I32"), j.textNode("U8"), j.textNode("F64"),
                        j.textNode("BF16"), j.textNode("F16"), j.textNode("F99"), j.textNode(""), j.numberNode(5),
                        j.nullNode()).get(rr.nextInt(9)));
                case 1 -> {
                    ArrayNode s = j.arrayNode();
                    long all = Arrays.stream(shape).reduce(1, Math::multiplyExact);
                    switch (rr.nextInt(6)) {
                        case 0 -> s.add(all).add(1);
                        case 1 -> { // the dimensions swapped, or flattened where that changes nothing
                            if (shape.length == 2 && shape[0] != shape[1]) s.add(shape[1]).add(shape[0]);
                            else s.add(all).add(1).add(1);
                        }
                        case 2 -> s.add(-1);
                        case 3 -> s.add("x");
                        case 4 -> s.add(1L << 62).add(1L << 62);
                        default -> s.add(all + 1);
                    }
                    t.set("shape", s);
                }
                case 2 -> {
                    long b = offsets[0], e = offsets[1];
                    long[][] bad = {{b, e + 4}, {e, b}, {-1, e}, {0, 1L << 62}, {b + 4, e + 4}, {b, e - 4}};
                    long[] o = bad[rr.nextInt(bad.length)];
                    t.set("data_offsets", j.arrayNode().add(o[0]).add(o[1]));
                }
                case 3 -> header.remove(tensor);
                case 4 -> header.set(tensor + "_", header.remove(tensor));
                default -> header.set("extra.weight", j.objectNode().put("dtype", "F32")
                        .<ObjectNode>set("shape", j.arrayNode().add(0))
                        .set("data_offsets", j.arrayNode().add(0).add(0)));
            }
        }, rr), anyCommand(r));
    }

    /** One weight made NaN, infinite, or too large to compute with. */
    static Case weightValue(SplittableRandom r) {
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e38f, -3e19f, 0x1p65f,
                Float.MAX_VALUE};
        float v = bad[r.nextInt(bad.length)];
        return new Case("weight " + v, (f, rr) -> {
            Path w = f.resolve("model.safetensors");
            byte[] bytes = Files.readAllBytes(w);
            long header = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            ObjectNode h = (ObjectNode) Json.mapper().readTree(Arrays.copyOfRange(bytes, 8, (int) (8 + header)));
            List<String> names = tensorNames(h);
            long[] offsets = longs(h.get(names.get(rr.nextInt(names.size()))).get("data_offsets"));
            long at = 8 + header + offsets[0] + 4 * rr.nextLong((offsets[1] - offsets[0]) / 4);
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at, v);
            Files.write(w, bytes);
        }, anyCommand(r));
    }

    /** A tokenizer file cut short, or tokenizer_config.json naming an unknown tokenizer. */
    static Case tokenizerFile(SplittableRandom r) {
        if (r.nextInt(4) == 0) {
            return new Case("tokenizer_config.json names klingon", (f, rr) -> Files.writeString(
                    f.resolve("tokenizer_config.json"), "{\"tokenizer\": \"klingon\"}"), anyCommand(r));
        }
        String file = List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json").get(r.nextInt(3));
        return new Case(file + " truncated", (f, rr) -> {
            byte[] b = Files.readAllBytes(f.resolve(file));
            Files.write(f.resolve(file), Arrays.copyOf(b, rr.nextInt(b.length - 1)));
        }, anyCommand(r));
    }

    /** What info reads of a run: trainer_state.json and metrics.jsonl, garbled. */
    static Case trainingFile(SplittableRandom r) {
        List<String> states = List.of("", "[]", "{\"step\": \"x\"}", "{}", "{\"step\": 1,");
        List<String> metrics = List.of("{\"step\": 1}\nnot json\n{\"step\": 2}\n", "[1]\n{\"step\": 2}\n");
        if (r.nextBoolean()) {
            String s = states.get(r.nextInt(states.size()));
            return new Case("trainer_state.json is " + s, (f, rr) -> Files.writeString(
                    f.resolve("checkpoint/trainer_state.json"), s), INFO);
        }
        String m = metrics.get(r.nextInt(metrics.size()));
        return new Case("metrics.jsonl garbled", (f, rr) -> Files.writeString(f.resolve("metrics.jsonl"), m), INFO);
    }

    // ---- generation_config.json, through generate ----

    /** A key of generation_config.json and a JSON value wrong for it (type, range, or a method not implemented). */
    private static final String[][] GENERATION_VALUES = {
            {"temperature", "0"}, {"temperature", "-1"}, {"temperature", "\"hot\""}, {"temperature", "1e400"},
            {"temperature", "true"}, {"top_k", "-1"}, {"top_k", "1.5"}, {"top_k", "\"5\""}, {"top_k", "1e12"},
            {"top_k", "2147483648"}, {"top_p", "0"}, {"top_p", "1.5"}, {"top_p", "-0.1"}, {"top_p", "[]"},
            {"repetition_penalty", "0"}, {"repetition_penalty", "-1"}, {"repetition_penalty", "{}"},
            {"repetition_penalty_mode", "\"HF\""}, {"repetition_penalty_mode", "\"\""},
            {"repetition_penalty_mode", "5"}, {"no_repeat_ngram_size", "-1"}, {"no_repeat_ngram_size", "0.5"},
            {"max_length", "0"}, {"max_length", "-5"}, {"max_length", "1.5"}, {"max_length", "\"32\""},
            {"max_new_tokens", "0"}, {"max_new_tokens", "-1"}, {"max_new_tokens", "\"x\""},
            {"min_new_tokens", "-1"}, {"min_new_tokens", "2.5"}, {"min_new_tokens", "\"1\""},
            {"do_sample", "\"yes\""}, {"do_sample", "1"}, {"do_sample", "[]"},
            {"eos_token_id", "-1"}, {"eos_token_id", "100000"}, {"eos_token_id", "[1, -2]"},
            {"eos_token_id", "[[1]]"}, {"eos_token_id", "\"278\""}, {"eos_token_id", "1.5"},
            {"eos_token_id", "[1, 2147483648]"}, {"stop_strings", "\"\""}, {"stop_strings", "[\"\"]"},
            {"stop_strings", "[1]"}, {"stop_strings", "5"}, {"stop_strings", "{\"a\": 1}"},
            {"seed", "1.5"}, {"seed", "\"1\""}, {"seed", "18446744073709551616"}, {"seed", "[]"},
            {"num_return_sequences", "0"}, {"num_return_sequences", "-1"}, {"num_return_sequences", "\"2\""},
            {"prompt_truncation", "\"right\""}, {"prompt_truncation", "1"}, {"context_overflow", "\"wrap\""},
            {"context_overflow", "true"}, {"num_beams", "4"}, {"num_beam_groups", "2"}, {"typical_p", "0.5"},
            {"min_p", "0.1"}, {"penalty_alpha", "0.6"}, {"min_length", "5"}, {"bad_words_ids", "[[1]]"},
            {"suppress_tokens", "[1]"}, {"max_time", "5"}, {"dola_layers", "\"high\""}, {"constraints", "[1]"},
            {"epsilon_cutoff", "0.1"}, {"guidance_scale", "2"}, {"forced_eos_token_id", "3"}};

    /** generation_config.json as a whole, broken or replaced, then each bad value, then seeded pairs of them. */
    static List<Case> generationCases(long seed) {
        List<Case> cases = new ArrayList<>();
        String file = ModelFolder.GENERATION;
        cases.add(new Case("huge " + file, (f, r) -> sparse(f.resolve(file), Json.MAX_FILE_BYTES + 1), GENERATE));
        for (String bad : List.of("", "{", "[]", "null", "\"x\"", "{\"top_k\": 5,}", "[".repeat(5000),
                "{\"top_k\": 5, \"top_k\": 5}", "\u0000\u0001", "{\"top_k\": 5} {}")) {
            cases.add(new Case(file + " is " + shownText(bad), (f, r) -> Files.writeString(f.resolve(file), bad),
                    GENERATE));
        }
        for (String[] kv : GENERATION_VALUES) {
            cases.add(new Case(file + " " + kv[0] + " = " + kv[1], (f, r) -> editGeneration(f, kv), GENERATE));
        }
        cases.add(new Case(file + " greedy with 2 sequences", (f, r) -> editGeneration(f,
                new String[]{"do_sample", "false"}, new String[]{"num_return_sequences", "2"}), GENERATE));
        cases.add(new Case(file + " min_new_tokens over max_new_tokens", (f, r) -> editGeneration(f,
                new String[]{"max_new_tokens", "3"}, new String[]{"min_new_tokens", "9"}), GENERATE));
        SplittableRandom r = new SplittableRandom(seed);
        while (cases.size() < 130) {
            String[] a = GENERATION_VALUES[r.nextInt(GENERATION_VALUES.length)];
            String[] b = GENERATION_VALUES[r.nextInt(GENERATION_VALUES.length)];
            if (a[0].equals(b[0])) continue;
            cases.add(new Case(file + " " + a[0] + " = " + a[1] + ", " + b[0] + " = " + b[1],
                    (f, rr) -> editGeneration(f, a, b), GENERATE));
        }
        cases.add(new Case(file + " truncated", (f, rr) -> {
            byte[] bytes = Files.readAllBytes(f.resolve(file));
            Files.write(f.resolve(file), Arrays.copyOf(bytes, rr.nextInt(lastBrace(bytes))));
        }, GENERATE));
        return cases;
    }

    /** Sets keys of the folder's generation_config.json to JSON values given as text. */
    private static void editGeneration(Path folder, String[]... keysAndValues) throws IOException {
        Path file = folder.resolve(ModelFolder.GENERATION);
        ObjectNode config = (ObjectNode) Json.read(file);
        for (String[] kv : keysAndValues) config.set(kv[0], Json.mapper().readTree(kv[1]));
        Files.writeString(file, Json.mapper().writeValueAsString(config));
    }

    // ---- a finished training run, through train --resume ----

    /** A refused resume leaves every file of the run folder as it was, metrics.jsonl included. */
    private static final Check UNCHANGED = folder -> {
        Map<String, String> before = snapshot(folder);
        return run -> before.equals(snapshot(folder)) ? null : "the run folder changed";
    };

    private static Case runCase(String name, Mutation mutation) {
        return new Case(name, Base.RUN, mutation, RESUME, UNCHANGED, false);
    }

    /** A key of trainer_state.json (a dotted path into it) and a JSON value wrong for it. */
    private static final String[][] STATE_VALUES = {
            {"step", "0"}, {"step", "-1"}, {"step", "3"}, {"step", "\"x\""}, {"step", "1.5"}, {"step", "null"},
            {"step", "1e300"}, {"step", "9223372036854775808"}, {"step", "true"}, {"threads", "0"},
            {"threads", "-1"}, {"threads", "5000"}, {"threads", "\"1\""}, {"threads", "null"}, {"threads", "1.5"},
            {"run_id", "\"xyz\""}, {"run_id", "5"}, {"run_id", "\"ABCDEF0123456789\""}, {"backend", "5"},
            {"backend", "[]"}, {"data_key", "5"}, {"warmup_steps", "-1"}, {"warmup_steps", "1000"},
            {"warmup_steps", "\"x\""}, {"step_budget_changes", "\"x\""}, {"step_budget_changes", "[1]"},
            {"step_budget_changes", "[{\"at_step\": 0, \"from\": 1, \"to\": 2}]"}, {"step_budget_changes", "[{}]"},
            {"bogus", "1"}, {"options", "[]"}, {"options", "\"x\""}, {"options", "null"},
            {"options.batch", "0"}, {"options.batch", "\"2\""}, {"options.seqLength", "-1"},
            {"options.steps", "0"}, {"options.steps", "1"}, {"options.accumulation", "0"}, {"options.lr", "-1"},
            {"options.lr", "\"x\""}, {"options.minLr", "-1"}, {"options.warmupFraction", "1.5"},
            {"options.weightDecay", "-1"}, {"options.gradClip", "0"}, {"options.evalEvery", "0"},
            {"options.evalTokens", "-1"}, {"options.checkpointEvery", "0"}, {"options.valFraction", "2"},
            {"options.data", "[]"}, {"options.data", "5"}, {"options.overrides", "[]"}, {"options.bogus", "1"},
            {"options.seed", "1.5"}, {"options.seed", "\"x\""}};

    /** Required keys of the options (every one but init, out and tokenizer). */
    private static final List<String> REQUIRED_OPTIONS = List.of("data", "valFraction", "preset", "overrides",
            "batch", "seqLength", "steps", "accumulation", "lr", "minLr", "warmupFraction", "weightDecay",
            "gradClip", "evalEvery", "evalTokens", "checkpointEvery", "seed");

    /** Lines that make metrics.jsonl unreadable anywhere but as its unterminated last line. */
    private static final List<String> BAD_METRICS_LINES = List.of("not json", "[1]", "null", "\"x\"", "{",
            "{\"step\": }", "\u0000", "{\"step\": 1}{\"step\": 2}", "1", "{\"step\": 1, \"step\": 2}");

    /** trainer_state.json and metrics.jsonl: missing, special files, too large, garbled, keys wrong. */
    static List<Case> runCases(long seed) {
        List<Case> cases = new ArrayList<>();
        String state = "checkpoint/trainer_state.json", metrics = "metrics.jsonl";
        for (String file : List.of(state, metrics)) {
            cases.add(runCase("fifo " + file, (f, r) -> fifo(f.resolve(file))));
            cases.add(runCase("folder " + file, (f, r) -> folder(f.resolve(file))));
            cases.add(runCase("link to /dev/zero " + file, (f, r) -> link(f.resolve(file), Path.of("/dev/zero"))));
            cases.add(runCase("huge " + file, (f, r) -> sparse(f.resolve(file), 3L << 30)));
        }
        cases.add(runCase("no " + state, (f, r) -> Files.delete(f.resolve(state))));
        for (String bad : List.of("", "{", "[]", "null", "\"x\"", "\u0000", "{\"step\": 2}{}")) {
            cases.add(runCase(state + " is " + shownText(bad), (f, r) -> Files.writeString(f.resolve(state), bad)));
        }
        for (String[] kv : STATE_VALUES) {
            cases.add(runCase(state + " " + kv[0] + " = " + kv[1], (f, r) -> editState(f, kv[0], kv[1])));
        }
        for (String key : REQUIRED_OPTIONS) {
            cases.add(runCase(state + " without options." + key, (f, r) -> editState(f, "options." + key, null)));
        }
        for (String line : BAD_METRICS_LINES) {
            cases.add(runCase(metrics + " with the line " + shownText(line), (f, r) -> badMetricsLine(f, line, r)));
        }
        SplittableRandom r = new SplittableRandom(seed);
        while (cases.size() < 130) {
            if (r.nextBoolean()) {
                cases.add(runCase(state + " truncated", (f, rr) -> {
                    byte[] bytes = Files.readAllBytes(f.resolve(state));
                    Files.write(f.resolve(state), Arrays.copyOf(bytes, rr.nextInt(lastBrace(bytes))));
                }));
            } else {
                String line = BAD_METRICS_LINES.get(r.nextInt(BAD_METRICS_LINES.size()));
                cases.add(runCase(metrics + " with the line " + shownText(line) + " somewhere",
                        (f, rr) -> badMetricsLine(f, line, rr)));
            }
        }
        return cases;
    }

    /** Sets (or, with a null value, removes) a key of trainer_state.json; "options.lr" is a key of its options. */
    private static void editState(Path folder, String key, String value) throws IOException {
        Path file = folder.resolve("checkpoint/trainer_state.json");
        ObjectNode state = (ObjectNode) Json.read(file);
        ObjectNode parent = key.startsWith("options.") ? (ObjectNode) state.get("options") : state;
        String name = key.startsWith("options.") ? key.substring("options.".length()) : key;
        if (value == null) parent.remove(name);
        else parent.set(name, Json.mapper().readTree(value));
        Files.writeString(file, Json.mapper().writeValueAsString(state));
    }

    /** Puts a bad line before one of metrics.jsonl's lines (all of them end with a newline). */
    private static void badMetricsLine(Path folder, String bad, SplittableRandom r) throws IOException {
        Path file = folder.resolve("metrics.jsonl");
        List<String> lines = new ArrayList<>(Files.readAllLines(file));
        lines.add(r.nextInt(lines.size() + 1), bad);
        Files.writeString(file, String.join("\n", lines) + "\n");
    }

    /**
     * Every entry of a folder with its kind, size, modification time and file key (device and inode): a file
     * written in place or replaced shows, and nothing is opened (a named pipe, a sparse file of gigabytes).
     */
    private static Map<String, String> snapshot(Path folder) throws IOException {
        Map<String, String> entries = new java.util.TreeMap<>();
        try (Stream<Path> walk = Files.walk(folder)) {
            for (Path p : walk.toList()) {
                var a = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                        java.nio.file.LinkOption.NOFOLLOW_LINKS);
                // a folder's own time is left out: taking and dropping the run's lock file touches it, and what
                // the folder holds is compared entry by entry anyway
                entries.put(folder.relativize(p).toString(), a.isDirectory() && !a.isSymbolicLink() ? "folder"
                        : (a.isSymbolicLink() ? "link " : a.isRegularFile() ? "file " : "special ") + a.size() + " "
                        + a.lastModifiedTime().toInstant() + " " + a.fileKey());
            }
        }
        return entries;
    }

    // ---- archives, through data get ----

    static final String TEXT_A = "It was the best of times, it was the worst of times.\n".repeat(20);
    static final String TEXT_B = "It was the age of wisdom, it was the age of foolishness.\n";

    /** corpus/, corpus/a.txt, corpus/b.txt, deflated. */
    static byte[] goodZip() throws IOException {
        return ArchivesTest.zip("corpus/", "", "corpus/a.txt", TEXT_A, "corpus/b.txt", TEXT_B);
    }

    /** The same as a tar: corpus/ at 0, corpus/a.txt's header at 512, corpus/b.txt's after a.txt's data. */
    static byte[] goodTar() {
        return new TarArchiveTest.TarBuilder().entry("corpus/", '5', "", new byte[0])
                .file("corpus/a.txt", TEXT_A).file("corpus/b.txt", TEXT_B).bytes();
    }

    private static final int A_HEADER = 512, B_HEADER = 1024 + (TEXT_A.length() + 511) / 512 * 512;

    /**
     * A refused archive leaves nothing in the cache but lock files, and an accepted one (a mayPass case) only its
     * text, where data get says; neither writes beside the archive or anywhere an entry name could point. The cache
     * is emptied for the next case.
     */
    private static final Check CONTAINED = folder -> {
        Map<String, String> before = snapshot(folder);
        return run -> {
            Path cache = home.resolve("corpora");
            try {
                if (!before.equals(snapshot(folder))) return "wrote beside the archive: " + snapshot(folder).keySet();
                for (Path escaped : List.of(Path.of("/tmp", MARK), Path.of("/", MARK), Path.of(MARK).toAbsolutePath(),
                        tmp.resolve(MARK), tmp.getParent().resolve(MARK))) {
                    if (Files.exists(escaped, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        AtomicFiles.deleteTree(escaped);
                        return "wrote outside the cache: " + escaped;
                    }
                }
                Path text = run.code() == 0 ? Path.of(run.out().strip()) : null;
                if (text != null && !text.startsWith(cache)) return "its text is outside the cache: " + text;
                if (!Files.exists(cache)) return null;
                try (Stream<Path> walk = Files.walk(cache)) {
                    List<Path> left = walk.filter(p -> !Files.isDirectory(p) && !p.getFileName().toString()
                            .equals(".lock") && (text == null || !p.startsWith(text))).toList();
                    return left.isEmpty() ? null : "left in the cache: " + left;
                }
            } finally {
                AtomicFiles.deleteTree(cache);
            }
        };
    };

    private static Case archiveCase(String name, String file, boolean mayPass, Mutation mutation) {
        return new Case(name + " (" + file + ")", Base.ARCHIVES, mutation, List.of("data", "get",
                "{folder}/" + file), CONTAINED, mayPass);
    }

    /** Names no archive may extract: out of the folder, absolute, with control characters, or not a name. */
    private static final List<String> HOSTILE_NAMES = List.of("../" + MARK, "../".repeat(12) + MARK,
            "../../../../../../../tmp/" + MARK, "/tmp/" + MARK, "corpus/../../" + MARK, "corpus/../../../" + MARK,
            "a\u0000b", "a\nb", "\u001b[31m.txt", "a\u0007b", "", "..", "a\\..\\" + MARK, "C:" + MARK,
            "corpus/\u0085x", "..\\" + MARK);

    /** The zip and the tar.gz: truncated, bits flipped, header fields garbled, hostile names, huge sizes. */
    static List<Case> archiveCases(long seed) {
        List<Case> cases = new ArrayList<>();
        for (String name : HOSTILE_NAMES) {
            cases.add(archiveCase("zip entry " + shownText(name), "good.zip", false, (f, r) ->
                    Files.write(f.resolve("good.zip"), ArchivesTest.zip("corpus/a.txt", TEXT_A, name, "x"))));
            if (!name.contains("\u0000")) { // a tar's name field ends at a NUL: in a pax header instead
                cases.add(archiveCase("tar entry " + shownText(name), "good.tar.gz", false, (f, r) ->
                        Files.write(f.resolve("good.tar.gz"), gzip(new TarArchiveTest.TarBuilder()
                                .file("corpus/a.txt", TEXT_A).file(name, "x").bytes()))));
            }
            cases.add(archiveCase("pax path " + shownText(name), "good.tar.gz", false, (f, r) ->
                    Files.write(f.resolve("good.tar.gz"), gzip(new TarArchiveTest.TarBuilder()
                            .file("corpus/a.txt", TEXT_A).pax(name).file("ok.txt", "x").bytes()))));
            cases.add(archiveCase("GNU long name " + shownText(name), "good.tar.gz", false, (f, r) ->
                    Files.write(f.resolve("good.tar.gz"), gzip(new TarArchiveTest.TarBuilder()
                            .entry("././@LongLink", 'L', "", name.getBytes(StandardCharsets.UTF_8))
                            .file("ok.txt", "x").bytes()))));
        }
        cases.add(archiveCase("zip entries colliding", "good.zip", false, (f, r) -> {
            byte[] zip = goodZip(); // corpus/b.txt renamed corpus/a.txt in both of its headers
            int central = ArchivesTest.central(zip, "corpus/b.txt");
            int local = ArchivesTest.le(zip).getInt(central + 42);
            for (int at : new int[]{central + 46, local + 30}) zip[at + "corpus/".length()] = 'a';
            Files.write(f.resolve("good.zip"), zip);
        }));
        cases.add(archiveCase("zip file and folder at once", "good.zip", false, (f, r) -> Files.write(
                f.resolve("good.zip"), ArchivesTest.zip("corpus", "x", "corpus/a.txt", TEXT_A))));
        cases.add(archiveCase("tar entries colliding", "good.tar.gz", false, (f, r) -> Files.write(
                f.resolve("good.tar.gz"), gzip(new TarArchiveTest.TarBuilder().file("corpus/a.txt", TEXT_A)
                        .file("corpus/a.txt", TEXT_B).bytes()))));
        for (char type : new char[]{'1', '2', '3', '4', '6', 'K', 'V', 'S', 'A'}) {
            cases.add(archiveCase("tar entry of type " + type, "good.tar.gz", false, (f, r) -> Files.write(
                    f.resolve("good.tar.gz"), gzip(new TarArchiveTest.TarBuilder().file("corpus/a.txt", TEXT_A)
                            .entry("corpus/other", type, "/etc/passwd", new byte[0]).bytes()))));
        }
        cases.add(archiveCase("zip symbolic link", "good.zip", false, (f, r) -> Files.write(f.resolve("good.zip"),
                ArchivesTest.markSymlink(goodZip(), "corpus/b.txt"))));
        cases.add(archiveCase("zip declaring 8 GiB", "good.zip", false, (f, r) -> {
            byte[] zip = goodZip();
            for (String entry : List.of("corpus/a.txt", "corpus/b.txt")) {
                ArchivesTest.le(zip).putInt(ArchivesTest.central(zip, entry) + 24, 0xFFFFFF00);
            }
            Files.write(f.resolve("good.zip"), zip);
        }));
        cases.add(archiveCase("tar entry of 8 GiB", "good.tar.gz", false, (f, r) -> Files.write(
                f.resolve("good.tar.gz"), gzip(retar(goodTar(), A_HEADER, h -> field(h, 124, 12, "77777777777"))))));
        cases.add(archiveCase("tar entry over 8 GiB (base 256)", "good.tar.gz", false, (f, r) -> Files.write(
                f.resolve("good.tar.gz"), gzip(retar(goodTar(), A_HEADER, h -> h[124] = (byte) 0x80)))));
        SplittableRandom r = new SplittableRandom(seed);
        while (cases.size() < 240) {
            boolean zip = r.nextBoolean();
            String file = zip ? "good.zip" : "good.tar.gz";
            switch (r.nextInt(3)) {
                case 0 -> cases.add(archiveCase("truncated", file, false, (f, rr) -> {
                    byte[] bytes = Files.readAllBytes(f.resolve(file));
                    Files.write(f.resolve(file), Arrays.copyOf(bytes, rr.nextInt(bytes.length)));
                }));
                // a zip's flipped bit may leave a valid zip (a timestamp, a letter of a name); a tar.gz's past the
                // gzip header is caught by the deflate format or the gzip checksum
                case 1 -> cases.add(archiveCase("a bit flipped", file, zip, (f, rr) -> {
                    byte[] bytes = Files.readAllBytes(f.resolve(file));
                    int at = zip ? rr.nextInt(bytes.length) : 10 + rr.nextInt(bytes.length - 10);
                    bytes[at] ^= (byte) (1 << rr.nextInt(8));
                    Files.write(f.resolve(file), bytes);
                }));
                default -> cases.add(zip ? zipField(r) : tarField(r));
            }
        }
        return cases;
    }

    /** A field of the zip's end record, a central directory record or a local header set to garbage. */
    private static Case zipField(SplittableRandom r) {
        String[] fields = {"end: directory offset", "end: directory size", "central: signature",
                "central: name length", "central: local header offset", "central: method", "central: compressed size",
                "central: CRC", "local: signature", "zip64 locator pointing nowhere"};
        int which = r.nextInt(fields.length);
        // a deflated entry's compressed size too large is harmless: its data ends where the deflate stream says,
        // and its CRC-32 is checked
        return archiveCase("zip " + fields[which], "good.zip", which == 6, (f, rr) -> {
            byte[] zip = goodZip();
            ByteBuffer b = ArchivesTest.le(zip);
            int end = ArchivesTest.end(zip), central = ArchivesTest.central(zip, "corpus/a.txt");
            switch (which) {
                case 0 -> b.putInt(end + 16, 0x7FFFFFF0 - rr.nextInt(1000));
                case 1 -> b.putInt(end + 12, zip.length + 1 + rr.nextInt(1 << 20));
                case 2 -> b.putInt(central, rr.nextInt());
                case 3 -> b.putShort(central + 28, (short) (60000 + rr.nextInt(5000)));
                case 4 -> b.putInt(central + 42, zip.length + rr.nextInt(1 << 20));
                case 5 -> b.putShort(central + 10, (short) (99 + rr.nextInt(100)));
                case 6 -> b.putInt(central + 20, 0x7FFFFFF0);
                case 7 -> b.putInt(central + 16, b.getInt(central + 16) ^ (1 << rr.nextInt(32)));
                case 8 -> b.putInt(b.getInt(central + 42), 0x12345678);
                default -> {
                    ByteBuffer z64 = ArchivesTest.le(new byte[zip.length + 20]); // the locator before the end record
                    z64.put(zip, 0, end).putInt(0x07064b50).putInt(0).putLong(rr.nextLong(1L << 40)).putInt(1)
                            .put(zip, end, zip.length - end);
                    zip = z64.array();
                    ArchivesTest.le(zip).putInt(end + 20 + 16, 0xFFFFFFFF);
                }
            }
            Files.write(f.resolve("good.zip"), zip);
        });
    }

    /** A field of corpus/a.txt's tar header set to garbage, the header's checksum made right again (but for it). */
    private static Case tarField(SplittableRandom r) {
        String[] fields = {"size: not octal", "size: past the end", "size: zero", "checksum", "type",
                "prefix: absolute", "magic with a prefix climbing out"};
        int which = r.nextInt(fields.length);
        return archiveCase("tar " + fields[which], "good.tar.gz", false, (f, rr) -> {
            byte[] tar = goodTar();
            if (which == 3) {
                field(tar, A_HEADER + 148, 8, String.format("%06o", rr.nextInt(1 << 18)));
            } else {
                tar = retar(tar, which == 4 ? B_HEADER : A_HEADER, h -> {
                    switch (which) {
                        case 0 -> field(h, 124, 12, List.of("abc", "9", "-1", "0x10").get(rr.nextInt(4)));
                        case 1 -> field(h, 124, 12, String.format("%011o",
                                TEXT_A.length() + 4096 + rr.nextInt(1 << 20)));
                        case 2 -> field(h, 124, 12, "00000000000");
                        case 4 -> h[156] = (byte) "1234678KVSAZ".charAt(rr.nextInt(12));
                        case 5 -> field(h, 345, 155, "/tmp");
                        default -> field(h, 345, 155, "../../../../../../../../../../tmp");
                    }
                });
            }
            Files.write(f.resolve("good.tar.gz"), gzip(tar));
        });
    }

    /** The tar with the header at offset edited and its checksum computed again. */
    private static byte[] retar(byte[] tar, int offset, java.util.function.Consumer<byte[]> edit) {
        byte[] header = Arrays.copyOfRange(tar, offset, offset + 512);
        edit.accept(header);
        Arrays.fill(header, 148, 156, (byte) ' ');
        int sum = 0;
        for (byte x : header) sum += x & 0xFF;
        field(header, 148, 8, String.format("%06o", sum));
        byte[] out = tar.clone();
        System.arraycopy(header, 0, out, offset, 512);
        return out;
    }

    /** Writes text into a header field, NUL-padded. */
    private static void field(byte[] header, int offset, int length, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        Arrays.fill(header, offset, offset + length, (byte) 0);
        System.arraycopy(b, 0, header, offset, Math.min(b.length, length));
    }

    private static byte[] gzip(byte[] bytes) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }

    // ---- helpers ----

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : files.toList()) Files.copy(p, to.resolve(from.relativize(p).toString()));
        }
    }

    /** Text for a case's name: escaped, at most 20 characters. */
    private static String shownText(String text) {
        String shown = io.lumenspark.io.Printable.of(text);
        return shown.length() > 20 ? shown.substring(0, 20) + "..." : "'" + shown + "'";
    }

    /** Where a JSON file's closing brace is: a cut before it leaves the file incomplete. */
    private static int lastBrace(byte[] json) {
        for (int i = json.length - 1; i > 0; i--) if (json[i] == '}') return i;
        throw new IllegalArgumentException("no closing brace");
    }

    private static void fifo(Path file) throws IOException {
        Files.delete(file);
        Fifos.make(file);
    }

    private static void folder(Path file) throws IOException {
        Files.delete(file);
        Files.createDirectory(file);
    }

    private static void link(Path file, Path target) throws IOException {
        Files.delete(file);
        Files.createSymbolicLink(file, target);
    }

    /** A file of this size that takes no disk (and holds zeros). */
    private static void sparse(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    private static void editConfig(Path folder, java.util.function.Consumer<ObjectNode> edit) {
        Path c = folder.resolve("config.json");
        ObjectNode config = (ObjectNode) Json.read(c);
        edit.accept(config);
        try {
            Files.writeString(c, Json.mapper().writeValueAsString(config));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Edits the header of one randomly chosen tensor's file, keeping the data; the length field follows. */
    private static void editHeader(Path folder, java.util.function.BiConsumer<ObjectNode, String> edit,
                                   SplittableRandom r) throws IOException {
        Path w = folder.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(w);
        int header = (int) ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ObjectNode h = (ObjectNode) Json.mapper().readTree(Arrays.copyOfRange(bytes, 8, 8 + header));
        List<String> names = tensorNames(h);
        edit.accept(h, names.get(r.nextInt(names.size())));
        byte[] json = Json.mapper().writeValueAsString(h).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(8 + padded + bytes.length - 8 - header).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.position() < 8 + padded) out.put((byte) ' ');
        out.put(bytes, 8 + header, bytes.length - 8 - header);
        Files.write(w, out.array());
    }

    private static List<String> tensorNames(ObjectNode header) {
        List<String> names = new ArrayList<>();
        header.fieldNames().forEachRemaining(n -> {
            if (!n.equals("__metadata__")) names.add(n);
        });
        names.sort(Comparator.naturalOrder());
        return names;
    }

    private static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asLong();
        return out;
    }
}
