package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lumenspark.data.BpeTokenizer;
import io.lumenspark.io.Fifos;
import io.lumenspark.io.Json;
import io.lumenspark.model.SmallModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Broken model folders through the commands that read them, in process: a few hundred seeded mutations of a good
 * folder (config.json values of the wrong type or size, truncated and garbled safetensors headers, wrong dtypes,
 * shapes and offsets, NaN and overflowing weights, named pipes and folders where files belong, files too large to
 * be what they claim) must each end in exit code 2 and one line on stderr starting with {@code error: } (warnings
 * before it are fine), with no Java class name, and all of them together in bounded time.
 *
 * <p>To cover another input, add a {@link Case}: a name, a {@link Mutation} of a copy of the good folder (which
 * also holds {@code data.txt} for eval), and the command, with {@code {model}} and {@code {data}} standing for
 * the folder and the text file.
 */
class ModelFolderFuzzTest {
    @TempDir
    static Path tmp;
    static Path good;

    /** Something done to a copy of the good folder; r is the case's own seeded random source. */
    @FunctionalInterface
    interface Mutation {
        void apply(Path folder, SplittableRandom r) throws Exception;
    }

    /** One input: what to break, and the command that must refuse it. */
    record Case(String name, Mutation mutation, List<String> command) {
    }

    static final List<String> INFO = List.of("info", "--model", "{model}");
    static final List<String> EVAL = List.of("eval", "--model", "{model}", "--data", "{data}", "--threads", "1");
    static final List<String> SCORE = List.of("score", "--model", "{model}", "--text", "It was the best of times",
            "--threads", "1");
    static final List<List<String>> LOADING = List.of(INFO, EVAL, SCORE);

    private static final Pattern CLASS_NAME = Pattern.compile(
            "Exception|Error\\b|\\b(java|javax|jdk|sun|com\\.fasterxml|picocli)\\.[a-z]|\\tat ");

    @BeforeAll
    static void writeGoodFolder() throws IOException {
        BpeTokenizer tokenizer = SmallModels.tokenizer(tmp);
        good = SmallModels.write(tmp.resolve("good"), tokenizer, Map.of());
        Files.writeString(good.resolve("data.txt"), SmallModels.TEXT);
        Files.createDirectories(good.resolve("checkpoint"));
        Json.write(good.resolve("checkpoint/trainer_state.json"), Map.of("step", 4));
        Files.writeString(good.resolve("metrics.jsonl"), "{\"step\":2,\"train_loss\":5.1,\"val_loss\":5.0}\n"
                + "{\"step\":4,\"train_loss\":4.1,\"val_loss\":4.0}\n");
        for (List<String> command : LOADING) {
            CliTest.Run r = run(command, good);
            // eval draws a progress bar on stderr; nothing else may be there
            assertTrue(r.code() == 0 && !r.err().contains("error:") && !r.err().contains("warning:"),
                    "the good folder works: " + command + ": " + r.err());
        }
    }

    private static CliTest.Run run(List<String> command, Path folder) {
        return CliTest.run(command.stream().map(a -> a.replace("{model}", folder.toString())
                .replace("{data}", folder.resolve("data.txt").toString())).toArray(String[]::new));
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a named pipe that is opened hangs
    void everyBrokenFolderIsOneClearError() throws Exception {
        List<Case> cases = cases(20260101L);
        assertTrue(cases.size() >= 300, cases.size() + " cases");
        List<String> failures = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            Path folder = tmp.resolve("case-" + i);
            copy(good, folder);
            c.mutation().apply(folder, new SplittableRandom(i));
            CliTest.Run r = run(c.command(), folder);
            List<String> lines = r.err().lines().toList();
            String problem = r.code() != 2 ? "exit code " + r.code()
                    : lines.isEmpty() || !lines.getLast().startsWith("error: ") ? "no error line last"
                    : lines.stream().filter(l -> !l.startsWith("warning: ")).count() != 1 ? "more than one line"
                    : CLASS_NAME.matcher(r.err()).find() ? "a Java class name" : null;
            if (problem != null) failures.add(c.name() + " (" + c.command().getFirst() + "): " + problem + ": " + r.err());
        }
        System.out.printf("%d cases in %.1f s%n", cases.size(), (System.nanoTime() - t0) / 1e9);
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
        SplittableRandom r = new SplittableRandom(seed);
        List<RandomKind> kinds = List.of(ModelFolderFuzzTest::configValue, ModelFolderFuzzTest::configFile,
                ModelFolderFuzzTest::weightsFile, ModelFolderFuzzTest::weightsHeader, ModelFolderFuzzTest::weightValue,
                ModelFolderFuzzTest::tokenizerFile, ModelFolderFuzzTest::trainingFile);
        while (cases.size() < 320) cases.add(kinds.get(r.nextInt(kinds.size())).make(r));
        return cases;
    }

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

    // ---- helpers ----

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : files.toList()) Files.copy(p, to.resolve(from.relativize(p).toString()));
        }
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
