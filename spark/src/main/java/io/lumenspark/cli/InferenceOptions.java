package io.lumenspark.cli;

import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.spark.BatchInference;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What {@code spark score}, {@code spark classify} and {@code spark generate} share: input, output, bad records,
 * the master.
 */
final class InferenceOptions {
    @Parameters(index = "0", paramLabel = "INPUT", converter = CliText.NameOrFolder.class, description = "A CSV file with a header, a JSON lines file or a"
            + " Parquet file or folder (any path Spark reads), or a folder of them.")
    String input;

    @Option(names = "--format", description = "auto (by extension), csv, jsonl or parquet (default: ${DEFAULT-VALUE}).")
    String format = "auto";

    @Option(names = "--out", required = true, description = "Output folder (new): one part file per partition, in"
            + " input order.")
    Path out;

    @Option(names = "--out-format", description = "parquet or json (JSON lines) (default: ${DEFAULT-VALUE}).")
    String outFormat = "parquet";

    @Option(names = "--fail-on-bad-record", description = "Stop at the first record that cannot be processed"
            + " instead of reporting it in the error column.")
    boolean failOnBad;

    @Option(names = "--master", description = "Spark master when not run by spark-submit (default: local[2]).")
    String master;

    /**
     * Runs the task and prints what it did; bad records are counted on stderr. Stopped (Ctrl-C, SIGTERM), it says
     * whether anything was written.
     */
    int run(String name, BatchInference.Task task, BatchInference.Spec spec) {
        SparkSession spark = SparkMain.session(name, master, 2);
        try {
            BatchInference.Result r = BatchInference.run(spark, task, input, format, out, outFormat, spec);
            if (r.bad() > 0) {
                System.err.printf("warning: %,d of %,d records could not be processed (see their error column)%n",
                        r.bad(), r.records());
            }
            System.out.printf("%s: %,d records (%,d bad) into %s%n", name, r.records(), r.bad(), r.out());
            return 0;
        } catch (Exception e) { // Spark throws its checked SparkException from Scala code
            if (SparkMain.stopping(spark)) {
                return SparkMain.stopped(Files.exists(out.resolve("_SUCCESS")) ? "stopped after the job; " + out
                        + " is complete" : "stopped before the job ended; nothing was written to " + out);
            }
            throw SparkMain.unwrap(e);
        } finally {
            spark.stop();
        }
    }

    /**
     * The spec of a task over this model (in its --dtype) and column with the runtime's threads and backend, the
     * master and the model checked on the driver first ({@link BatchInference#check}).
     */
    BatchInference.Spec spec(BatchInference.Task task, ModelOption model, String column, int maxNewTokens,
                                    double temperature, int topK, long seed, boolean failOnBad) {
        SparkMain.checkMaster(master);
        BatchInference.Spec spec = new BatchInference.Spec(model.dir().toAbsolutePath().toString(), model.dtype(),
                column, maxNewTokens, temperature, topK, seed, Parallel.threads(), Blas.get().name(), failOnBad);
        BatchInference.check(task, spec);
        return spec;
    }
}
