package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code spark prepare} of hdfs:// URLs against an HDFS in this JVM (MiniDFSCluster, one data node, on the loopback
 * interface): the tokens of {@code data prepare} on the same files, and the manifest too but for the sources' names.
 */
class HdfsPrepareTest {
    @TempDir
    static Path tmp;
    private static MiniDFSCluster cluster;
    private static String root;
    private static Path corpus;

    @BeforeAll
    static void startHdfs() throws Exception {
        Path shakespeare = Path.of("../shared/data/tinyshakespeare.txt");
        assumeTrue(Files.isRegularFile(shakespeare), "needs ../shared/data/tinyshakespeare.txt");
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("hdfs").toString());
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        FileSystem fs = cluster.getFileSystem();
        root = fs.getUri().toString();

        // slices of Tiny Shakespeare in a folder tree, a JSON lines file and a hidden file; the same in HDFS
        String text = Files.readString(shakespeare, StandardCharsets.UTF_8);
        corpus = tmp.resolve("corpus");
        Map<String, String> files = Map.of("a.txt", text.substring(0, 6000), "b/c.txt", text.substring(6000, 9000),
                "b/d/e.txt", text.substring(9000, 14000), "b/.hidden.txt", "not read",
                "f.jsonl", "{\"text\": \"" + text.substring(14000, 14400).replace("\n", "\\n") + "\"}\n"
                        + "{\"text\": \"another record\"}\n");
        for (Map.Entry<String, String> f : files.entrySet()) {
            Path local = corpus.resolve(f.getKey());
            Files.createDirectories(local.getParent());
            Files.writeString(local, f.getValue());
        }
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(corpus.toUri()), new org.apache.hadoop.fs.Path("/"));
    }

    @AfterAll
    static void stopHdfs() {
        if (cluster != null) cluster.shutdown();
    }

    /**
     * Asserts that Spark's output for {@code urls} is data prepare's for {@code local}: train.bin and val.bin byte for
     * byte, and manifest.json with each local path replaced by its URL.
     */
    private static void assertSameAsDataPrepare(List<String> urls, List<Path> local, String name, int partitions)
            throws Exception {
        CorpusOptions options = new CorpusOptions(CorpusFormat.AUTO, "text", "text", 0.1, false);
        Path single = tmp.resolve(name + "-local");
        TokenCorpus.prepareFolder(local, Tokenizer.byName("gpt2"), options, single, false, 1);
        Path spark = tmp.resolve(name + "-spark");
        TokenCorpus.Prepared p = SparkPrepare.run(LocalSpark.context(), urls, "gpt2", options, spark, partitions, 1);
        for (String file : List.of("train.bin", "val.bin")) {
            assertArrayEquals(Files.readAllBytes(single.resolve(file)), Files.readAllBytes(spark.resolve(file)), file);
        }
        String expected = Files.readString(single.resolve("manifest.json"));
        String corpusPath = corpus.toString();
        expected = expected.replace("\"" + corpusPath + "/", "\"" + root + "/corpus/");
        assertEquals(expected, Files.readString(spark.resolve("manifest.json")));
        assertEquals(4, p.sources());
    }

    @Test
    void aFolderOfHdfsIsPreparedAsDataPrepareDoes() throws Exception {
        assertSameAsDataPrepare(List.of(root + "/corpus"), List.of(corpus), "folder", 3);
    }

    @Test
    void aGlobAndFilesOfHdfsArePreparedAsDataPrepareDoes() throws Exception {
        // the glob's hidden match (b/.hidden.txt) is left out, as a shell leaves it out
        assertSameAsDataPrepare(List.of(root + "/corpus/b/*", root + "/corpus/a.txt", root + "/corpus/f.jsonl"),
                List.of(corpus.resolve("b/c.txt"), corpus.resolve("b/d"), corpus.resolve("a.txt"),
                        corpus.resolve("f.jsonl")), "glob", 2);
    }

    @Test
    void missingUrlsAndBadRecordsAreNamed() throws Exception {
        CorpusOptions options = new CorpusOptions(CorpusFormat.AUTO, "text", "text", 0.1, false);
        LumensparkException missing = assertThrows(LumensparkException.class, () -> SparkPrepare.run(
                LocalSpark.context(), List.of(root + "/nothing"), "gpt2", options, tmp.resolve("missing"), 1, 1));
        assertEquals("no such file: " + root + "/nothing", missing.getMessage());
        LumensparkException none = assertThrows(LumensparkException.class, () -> SparkPrepare.run(
                LocalSpark.context(), List.of(root + "/corpus/*.csv"), "gpt2", options, tmp.resolve("none"), 1, 1));
        assertEquals("no files match " + root + "/corpus/*.csv", none.getMessage());
        LumensparkException twice = assertThrows(LumensparkException.class, () -> SparkPrepare.run(
                LocalSpark.context(), List.of(root + "/corpus/b", root + "/corpus/b/c.txt"), "gpt2", options,
                tmp.resolve("twice"), 1, 1));
        assertEquals(root + "/corpus/b/c.txt is given twice; give each file once", twice.getMessage());

        FileSystem fs = cluster.getFileSystem();
        for (String name : List.of("manifest.json", "train.bin")) {
            fs.create(new org.apache.hadoop.fs.Path("/tokens/" + name)).close();
        }
        LumensparkException tokens = assertThrows(LumensparkException.class, () -> SparkPrepare.run(
                LocalSpark.context(), List.of(root + "/tokens"), "gpt2", options, tmp.resolve("tokens"), 1, 1));
        assertEquals(root + "/tokens is a prepared token folder (it holds manifest.json and train.bin): it is not"
                + " text to tokenize", tokens.getMessage());
        try (var out = fs.create(new org.apache.hadoop.fs.Path("/bad/g.jsonl"))) {
            out.write("{\"text\": \"fine\"}\nnot json\n".getBytes(StandardCharsets.UTF_8));
        }
        Exception bad = assertThrows(Exception.class, () -> SparkPrepare.run(LocalSpark.context(),
                List.of(root + "/bad"), "gpt2", options, tmp.resolve("bad"), 1, 1));
        String message = null;
        for (Throwable c = bad; c != null && message == null; c = c.getCause()) {
            if (c instanceof LumensparkException) message = c.getMessage(); // the first, as the command line shows it
        }
        assertTrue(message != null && message.startsWith(root + "/bad/g.jsonl line 2"), "the URL, not a copy: " + message);
        assertFalse(message.contains("lumenspark-prepare-"), message);
    }
}
