package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.Pooling;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.spark.SparkDataTest;
import org.apache.hadoop.util.VersionInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparkCliTest {
    /** Runs the Spark command line; returns its exit code and what it printed on stderr and stdout. */
    record Run(int code, String err, String out) {
    }

    static Run run(String... args) {
        PrintStream savedErr = System.err, savedOut = System.out;
        ByteArrayOutputStream err = new ByteArrayOutputStream(), out = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            return new Run(SparkMain.run(args), err.toString(StandardCharsets.UTF_8), out.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(savedErr);
            System.setOut(savedOut);
        }
    }

    static void refused(String expected, String... args) {
        Run r = run(args);
        assertEquals(2, r.code(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, "one line: " + r.err());
        assertTrue(lines[0].startsWith("error: ") && lines[0].contains(expected), r.err());
        assertFalse(lines[0].contains("Exception"), r.err());
    }

    @Test
    void badTrainingOptionsAreOneErrorLineBeforeSparkStarts(@TempDir Path tmp) {
        Path out = tmp.resolve("run");
        refused("--workers must be between 1 and 65536", "train", "--data", tmp.toString(), "--workers", "0",
                "--out", out.toString());
        refused("--outer-momentum must be in [0, 1)", "train", "--data", tmp.toString(), "--outer-momentum", "1",
                "--out", out.toString());
        refused("--steps does not apply to spark train", "train", "--data", tmp.toString(), "--steps", "5",
                "--out", out.toString());
        refused("no DiLoCo checkpoint to resume", "train", "--resume", "--out", out.toString());
        refused("--resume continues a run with the settings saved in its checkpoint; drop --workers", "train",
                "--resume", "--workers", "2", "--out", out.toString());
        refused("unknown command 'trian' (did you mean 'train'?)", "trian");
        refused("--top-k must be at least 1", "classify", "in.csv", "--model", tmp.toString(), "--top-k", "0",
                "--out", out.toString());
        refused("--objective mlm is not supported by spark train", "train", "--data", tmp.toString(),
                "--objective", "mlm", "--preset", "encoder", "--out", out.toString());
        refused("--objective must be causal or mlm, got 'mask'", "train", "--data", tmp.toString(),
                "--objective", "mask", "--out", out.toString());
        refused("--partitions must be at least 1", "prepare", tmp.toString(), "--out", out.toString(),
                "--partitions", "0");
        refused("--master must be local, local[N]", "prepare", tmp.toString(), "--out", out.toString(),
                "--master", "bogus");
        refused("--master must be local, local[N]", "score", "in.csv", "--model", tmp.toString(), "--out",
                out.toString(), "--master", "local[0]");
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test
    void anEmptyPathIsRefusedAndLeavesNothingInTheCurrentFolder(@TempDir Path tmp) throws Exception {
        List<String> before;
        try (var files = Files.list(Path.of(""))) {
            before = files.map(Path::toString).sorted().toList();
        }
        String empty = "is empty (an empty path would mean the current folder";
        refused("INPUT " + empty, "prepare", "", "--out", tmp.resolve("out").toString());
        refused("--out " + empty, "prepare", tmp.toString(), "--out", "");
        refused("INPUT " + empty, "score", "", "--model", tmp.toString(), "--out", tmp.resolve("out").toString());
        try (var files = Files.list(Path.of(""))) {
            assertEquals(before, files.map(Path::toString).sorted().toList(), "nothing written here");
        }
    }

    @Test
    void dtypeIsCheckedAndUsedAndAModelOfTheWrongKindIsRefusedUpFront(@TempDir Path tmp) throws Exception {
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        Files.writeString(tmp.resolve("in.jsonl"), "{\"text\": \"The quick brown fox jumps over the lazy dog.\"}\n");
        String in = tmp.resolve("in.jsonl").toString();
        refused("--dtype must be", "score", in, "--model", model.toString(), "--dtype", "int4", "--out",
                tmp.resolve("x").toString());
        refused("not a classifier", "classify", in, "--model", model.toString(), "--out", tmp.resolve("x").toString(),
                "--threads", "1");
        Path classifier = tmp.resolve("classifier");
        ModelConfig cfg = ModelConfig.preset("tiny").with(Map.of("embed_dim", "32", "depth", "1", "heads", "2",
                "seq_length", "32", "k", "8", "rank", "8")).asClassifier(List.of("a", "b"),
                ProblemType.SINGLE_LABEL_CLASSIFICATION, Pooling.LAST, null);
        try (LumensparkModel m = new LumensparkModel(new LanguageModel(cfg), Tokenizer.byName("gpt2"))) {
            m.languageModel().initialize(7);
            m.save(classifier);
        }
        for (String command : List.of("score", "generate")) {
            refused(classifier.toAbsolutePath() + " is a sequence classifier: it has no language-model head to "
                    + command + " with; use spark classify", command, in, "--model", classifier.toString(), "--out",
                    tmp.resolve("x").toString(), "--threads", "1");
        }
        // sampling settings without --temperature: said, as Hugging Face warns of them without do_sample
        Run greedy = run("generate", in, "--model", classifier.toString(), "--out", tmp.resolve("x").toString(),
                "--top-k", "5", "--seed", "3", "--threads", "1");
        assertTrue(greedy.err().startsWith("warning: --top-k, --seed have no effect without a --temperature above 0"
                + " (spark generate is greedy unless given one)\nerror: "), greedy.err());
        assertFalse(Files.exists(tmp.resolve("x")), "nothing written");

        Map<String, Double> sums = new java.util.LinkedHashMap<>();
        for (String dtype : List.of("", "f32", "int8")) {
            Path out = tmp.resolve("out-" + dtype);
            List<String> args = new java.util.ArrayList<>(List.of("score", in, "--model", model.toString(), "--out",
                    out.toString(), "--out-format", "json", "--threads", "1", "--master", "local[1]"));
            if (!dtype.isEmpty()) args.addAll(List.of("--dtype", dtype));
            Run r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            sums.put(dtype, ((Number) SparkDataTest.jsonRows(out).getFirst().get("sum_logprob")).doubleValue());
        }
        assertEquals(sums.get(""), sums.get("f32"), "the folder's own dtype is float32");
        assertNotEquals(sums.get(""), sums.get("int8"), "int8 weights score differently: " + sums);
    }

    @Test
    void formatAutoReadsCompressedFilesAndFoldersByTheirFilesExtensions(@TempDir Path tmp) throws Exception {
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        Path gz = tmp.resolve("in.jsonl.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("{\"text\": \"The quick brown fox.\"}\n{\"text\": \"Jumps over the dog.\"}\n"
                    .getBytes(StandardCharsets.UTF_8));
        }
        Run r = run("score", gz.toString(), "--model", model.toString(), "--out", tmp.resolve("scored").toString(),
                "--threads", "1", "--master", "local[1]");
        assertEquals(0, r.code(), r.err());
        // Spark's own Parquet output folder (part files, _SUCCESS, .crc files) as input
        r = run("score", tmp.resolve("scored").toString(), "--model", model.toString(), "--out",
                tmp.resolve("again").toString(), "--out-format", "json", "--threads", "1", "--master", "local[1]");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("The quick brown fox.", "Jumps over the dog."),
                SparkDataTest.jsonRows(tmp.resolve("again")).stream().map(row -> row.get("text")).toList());
        Files.writeString(tmp.resolve("scored").resolve("notes.txt"), "not a part file");
        refused("cannot tell the format of " + tmp.resolve("scored") + " by its files' names", "score",
                tmp.resolve("scored").toString(), "--model", model.toString(), "--out", tmp.resolve("x").toString(),
                "--threads", "1", "--master", "local[1]");
    }

    @Test
    void malformedRecordsAndRowsWithAnotherFieldCountAreBadRecords(@TempDir Path tmp) throws Exception {
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        String malformed = "malformed record (not valid JSON, or a CSV row whose fields do not match the header's)";
        Files.writeString(tmp.resolve("in.jsonl"), "{\"text\": \"a fine text\"}\n{\"text\": \"cut\n{\"text\": \"x\"}\n");
        Files.writeString(tmp.resolve("in.csv"), "id,text\n1,a fine text\n2,an extra field,here\n3\n4,another fine one\n");
        for (String in : List.of("in.jsonl", "in.csv")) {
            Path out = tmp.resolve("out-" + in);
            Run r = run("score", tmp.resolve(in).toString(), "--model", model.toString(), "--out", out.toString(),
                    "--out-format", "json", "--threads", "1", "--master", "local[1]");
            assertEquals(0, r.code(), r.err());
            List<Object> errors = SparkDataTest.jsonRows(out).stream().map(row -> row.get("error")).toList();
            assertEquals(in.endsWith(".csv") ? java.util.Arrays.asList(null, malformed, malformed, null)
                    : java.util.Arrays.asList(null, malformed, "the text has 1 token; scoring needs at least 2"),
                    errors, in);
        }
        refused("record 2 (in " + tmp.resolve("in.csv") + "): " + malformed, "score", tmp.resolve("in.csv").toString(),
                "--model", model.toString(), "--out", tmp.resolve("x").toString(), "--fail-on-bad-record",
                "--threads", "1", "--master", "local[1]");
    }

    @Test
    void aMissingTokenFolderIsOneErrorLine(@TempDir Path tmp) {
        refused("is not a prepared token folder", "train", "--data", tmp.resolve("nothing").toString(),
                "--workers", "1", "--threads", "1", "--master", "local[1]", "--out", tmp.resolve("run").toString());
        assertFalse(Files.exists(tmp.resolve("run")), "a refused run leaves no folder");
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        // Spark's message without its error class and SQL state ("[PATH_NOT_FOUND] ... SQLSTATE: 42K03")
        Run r = run("score", tmp.resolve("none.jsonl").toString(), "--model", model.toString(), "--out",
                tmp.resolve("out").toString(), "--threads", "1", "--master", "local[1]");
        assertEquals(2, r.code(), r.err());
        assertEquals("error: cannot read " + tmp.resolve("none.jsonl") + ": Path does not exist: file:"
                + tmp.resolve("none.jsonl"), r.err().strip());
    }

    @Test
    void prepareTakesFileUrlsAndGlobsAndRefusesAnOutputUrlOrAMissingConnector(@TempDir Path tmp) throws Exception {
        refused("--out must be a folder of a file system every executor mounts (a path or file: URL), not"
                + " hdfs://namenode:8020/out", "prepare", tmp.toString(), "--out", "hdfs://namenode:8020/out");
        refused("no Hadoop file system for s3a: URLs on the class path (s3a://bucket/corpus/*.txt); add hadoop-aws of"
                + " the Hadoop version Spark runs with, e.g. spark-submit --packages org.apache.hadoop:hadoop-aws:"
                + VersionInfo.getVersion(), "prepare", "s3a://bucket/corpus/*.txt", "--out", tmp.resolve("out").toString(),
                "--partitions", "1", "--threads", "1", "--master", "local[1]");
        refused("no Hadoop file system for nofs: URLs on the class path (nofs://host/corpus); add a jar that provides"
                + " one", "prepare", "nofs://host/corpus", "--out", tmp.resolve("out").toString(),
                "--partitions", "1", "--threads", "1", "--master", "local[1]");
        refused("no such file: file:" + tmp + "/nothing", "prepare", "file:" + tmp + "/nothing", "--out",
                tmp.resolve("out").toString(), "--partitions", "1", "--threads", "1", "--master", "local[1]");
        assertFalse(Files.exists(tmp.resolve("out")), "nothing written");

        Path corpus = Files.createDirectories(tmp.resolve("corpus dir"));
        Files.writeString(corpus.resolve("a.txt"), "Call me Ishmael. Some years ago, never mind how long.\n".repeat(20));
        Files.writeString(corpus.resolve("b.txt"), "It was the best of times, it was the worst of times.\n".repeat(20));
        Files.writeString(corpus.resolve("c.md"), "Not a text file of the glob.\n");
        // a URL is a Hadoop path, as Spark takes it: "corpus dir", not "corpus%20dir"
        Run r = run("prepare", "file://" + corpus + "/*.txt", "--out", "file:" + tmp.resolve("out"),
                "--partitions", "2", "--threads", "1", "--master", "local[1]");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err(), "nothing on stderr but Lumenspark's lines");
        assertTrue(r.out().startsWith("prepared " + tmp.resolve("out") + ": ") && r.out().contains(" (gpt2, "),
                "the summary names the tokenizer, as data prepare's: " + r.out());
        JsonNode sources = Json.read(tmp.resolve("out").resolve("manifest.json")).path("sources");
        assertEquals(List.of(corpus.resolve("a.txt").toString(), corpus.resolve("b.txt").toString()),
                List.of(sources.get(0).path("path").asText(), sources.get(1).path("path").asText()),
                "a file: URL's matches, as the paths they are, in order");
        // a local path's glob matches the same files
        r = run("prepare", corpus.getParent() + "/*/*.txt", "--out", tmp.resolve("out2").toString(),
                "--partitions", "2", "--threads", "1", "--master", "local[1]");
        assertEquals(0, r.code(), r.err());
        assertEquals(Files.readString(tmp.resolve("out").resolve("manifest.json")),
                Files.readString(tmp.resolve("out2").resolve("manifest.json")));
        assertArrayEquals(Files.readAllBytes(tmp.resolve("out").resolve("train.bin")),
                Files.readAllBytes(tmp.resolve("out2").resolve("train.bin")));
    }

    @Test
    void aFailedJobIsOneErrorLineWithoutSparksStackTraces(@TempDir Path tmp) throws Exception {
        Path corpus = Files.createDirectories(tmp.resolve("corpus"));
        Files.writeString(corpus.resolve("a.jsonl"), "{\"text\": \"a record\"}\nnot json\n");
        Run r = run("prepare", corpus.toString(), "--out", tmp.resolve("out").toString(), "--partitions", "1",
                "--threads", "1", "--master", "local[1]");
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().split("\n").length, "one line: " + r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(corpus.resolve("a.jsonl") + " line 2"), r.err());
        // two groups, one task at a time: the first group's part is finished when the second fails; then again
        // with other options: that part (of the first options) is prepared anew, not refused
        Files.writeString(corpus.resolve("a.jsonl"), "{\"text\": \"a record of some length\"}\n".repeat(20));
        Files.writeString(corpus.resolve("b.jsonl"), "{\"text\": \"another record\"}\n".repeat(20) + "not json\n");
        List<String> twoGroups = List.of("prepare", corpus.toString(), "--out", tmp.resolve("two").toString(),
                "--partitions", "2", "--threads", "1", "--master", "local[1]", "--val-fraction", "0.5");
        Run failed = run(twoGroups.toArray(String[]::new));
        assertEquals(2, failed.code(), failed.err());
        assertTrue(Files.exists(tmp.resolve("two/.parts/part-00000/manifest.json")), "the first group's part was done");
        List<String> skipping = new ArrayList<>(twoGroups);
        skipping.add("--skip-bad-records");
        Run again = run(skipping.toArray(String[]::new));
        assertEquals(0, again.code(), again.err());
        assertTrue(Files.isRegularFile(tmp.resolve("two").resolve("train.bin")), again.err());
    }

    @Test
    void aRecordThatFailsTheJobIsOneErrorLine(@TempDir Path tmp) throws Exception {
        Path model = SparkDataTest.tinyModel(tmp.resolve("model"));
        Files.writeString(tmp.resolve("in.jsonl"), "{\"text\": \"a fine text\"}\n{\"other\": 1}\n");
        Run r = run("score", tmp.resolve("in.jsonl").toString(), "--model", model.toString(), "--out",
                tmp.resolve("out").toString(), "--fail-on-bad-record", "--threads", "1", "--master", "local[1]");
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().split("\n").length, "one line: " + r.err());
        assertTrue(r.err().startsWith("error: record 2 (in " + tmp.resolve("in.jsonl") + "): no text"), r.err());
        assertFalse(Files.exists(tmp.resolve("out")), "a failed run leaves no --out folder to refuse the rerun with");
        Path file = Files.writeString(tmp.resolve("a file"), "");
        refused(file + " is a file, not a folder", "score", tmp.resolve("in.jsonl").toString(), "--model",
                model.toString(), "--out", file.resolve("out").toString(), "--threads", "1", "--master", "local[1]");
    }
}
