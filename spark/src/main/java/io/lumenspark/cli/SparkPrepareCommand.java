package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.spark.CorpusInputs;
import io.lumenspark.spark.SparkPrepare;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {"data prepare across Spark executors: the files are cut into consecutive groups, one task"
                + " each, and the parts merged in order; the same train.bin, val.bin and manifest.json as data prepare.",
                "Inputs are paths or URLs that Spark reads through Hadoop (hdfs://, file:, s3a:// with hadoop-aws on the"
                        + " class path, ...; globs allowed); --out is a folder every executor can write (a shared file"
                        + " system), as a path or file: URL."})
final class SparkPrepareCommand implements Callable<Integer> {
    @Mixin
    ThreadOptions runtime;

    @Parameters(arity = "1..*", paramLabel = "INPUT", converter = CliText.NameOrFolder.class, description = "Files or folders (read recursively), as paths or"
            + " URLs of a Hadoop file system (globs allowed).")
    List<String> inputs;

    @Option(names = "--out", required = true, converter = CliText.NameOrFolder.class, description = "Output folder: new or empty (a path or file: URL).")
    String out;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, description = "Tokenizer name or folder (default: ${DEFAULT-VALUE}).")
    String tokenizer = "gpt2";

    @Option(names = "--format", description = "auto, text, jsonl or csv (default: ${DEFAULT-VALUE}).")
    String format = "auto";

    @Option(names = "--field", description = "JSON lines field holding the text (default: ${DEFAULT-VALUE}).")
    String field = "text";

    @Option(names = "--column", description = "CSV header column holding the text (default: ${DEFAULT-VALUE}).")
    String column = "text";

    @Option(names = "--val-fraction", description = "Tail of each file held out for validation (default: ${DEFAULT-VALUE}).")
    double valFraction = 0.1;

    @Option(names = "--skip-bad-records", description = "Skip and count bad JSON lines and CSV rows.")
    boolean skipBad;

    @Option(names = "--partitions", description = "Most tasks (groups of files) (default: ${DEFAULT-VALUE}).")
    int partitions = 2;

    @Option(names = "--master", description = "Spark master when not run by spark-submit (default: local[--partitions]).")
    String master;

    @Override
    public Integer call() {
        if (partitions < 1) throw new LumensparkException("--partitions must be at least 1");
        runtime.apply();
        Path out = CorpusInputs.localPath(this.out, "--out");
        Path outFolder = out.toAbsolutePath().normalize();
        for (String arg : inputs) {
            Path in = CorpusInputs.localOrNull(arg);
            if (in != null && in.toAbsolutePath().normalize().startsWith(outFolder)) {
                throw new LumensparkException("--out " + out + " holds the input " + in + "; choose an output folder"
                        + " outside the inputs");
            }
        }
        CorpusOptions options = new CorpusOptions(CorpusFormat.fromLabel(format), field, column, valFraction, skipBad);
        SparkSession spark = SparkMain.session("prepare", master, partitions);
        try {
            TokenCorpus.Prepared p = SparkPrepare.run(SparkMain.context(spark), inputs, tokenizer, options, out,
                    partitions, runtime.threads);
            if (p.skippedRecords() > 0) {
                System.err.printf("warning: skipped %s%n", Words.count(p.skippedRecords(), "bad record"));
            }
            System.out.printf("prepared %s: %s, %s (%s, %s) from %s%n", p.dir(), Words.count(p.trainTokens(),
                    "training token"), Words.count(p.valTokens(), "validation token"), Tokenizer.load(tokenizer).name(),
                    p.dtype().label(), Words.count(p.sources(), "file"));
            return 0;
        } catch (Exception e) { // Spark throws its checked SparkException from Scala code
            if (SparkMain.stopping(spark)) {
                return SparkMain.stopped(SparkPrepare.hasParts(out) ? "stopped; the parts prepared so far are kept"
                        + " under " + out + " (each as far as its last progress record): the same command goes on"
                        + " from them" : "stopped before any part was prepared in " + out + "; the same command starts again");
            }
            throw SparkMain.unwrap(e);
        } finally {
            spark.stop();
        }
    }
}
