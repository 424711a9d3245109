package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.generate.Generator;
import io.lumenspark.model.ProblemType;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.TextClassifier;
import io.lumenspark.pretrained.Truncation;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.Tuple2;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Batch inference over a DataFrame (CSV with a header, JSON lines or Parquet): {@code score} (log-probability of
 * each text), {@code classify} (a classifier's labels of each text) or {@code generate} (a continuation of each
 * prompt). Each executor loads the model folder once, memory-mapped, and runs its partitions through it; the results (Parquet or JSON lines, one part file per
 * partition) keep the input's order, each row with its input {@code index}. A record that cannot be processed (no
 * text, too long for the context, a prompt the model refuses) gets its reason in the {@code error} column and is
 * counted; it stops the job only when asked.
 */
public final class BatchInference {
    private static final String NO_TEXT = "no text (the column is empty)";
    private static final String MALFORMED = "malformed record (not valid JSON, or a CSV row whose fields do not"
            + " match the header's)";
    /** The column where Spark puts a JSON line or CSV row it cannot parse. */
    private static final String CORRUPT = "_corrupt_record";
    private static final Map<String, LumensparkModel> MODELS = new ConcurrentHashMap<>();
    private static final Map<String, TextClassifier> CLASSIFIERS = new ConcurrentHashMap<>();

    private BatchInference() {
    }

    /** What runs over each record. */
    public enum Task {
        /** Sum and mean log-probability of each text's tokens, and its perplexity. */
        SCORE,
        /** A classifier's label, its probability and the top-k labels of each text (or a regression's value). */
        CLASSIFY,
        /** A continuation of each prompt. */
        GENERATE
    }

    /**
     * The settings every task needs, as plain values.
     *
     * @param model        the model folder, readable by every executor
     * @param dtype        how the executors hold the matrix weights (null: the folder's own)
     * @param column       the input column holding the texts or prompts
     * @param maxNewTokens new tokens per prompt (generate)
     * @param temperature  sampling temperature (generate; 0: greedy)
     * @param topK         sampling top-k (generate; 0: none), or labels listed in top_k (classify)
     * @param seed         record i samples with seed + i, whatever the partitioning
     * @param threads      worker threads of each executor's matrix products
     * @param backend      the matrix backend
     * @param failOnBad    whether a bad record fails the job instead of being reported
     */
    public record Spec(String model, WeightDtype dtype, String column, int maxNewTokens, double temperature, int topK, long seed,
                       int threads, String backend, boolean failOnBad) implements Serializable {
    }

    /**
     * Opens the model on the driver as the executors will (memory-mapped, in the spec's dtype), so that a missing
     * folder, a dtype the folder cannot take, or a model of the wrong kind for the task (a classifier to score or
     * generate with, a language model to classify with) is one error before Spark runs anything.
     *
     * @throws LumensparkException for such a model
     */
    public static void check(Task task, Spec spec) {
        if (task == Task.CLASSIFY) {
            classifier(spec).close();
            return;
        }
        try (LumensparkModel m = LumensparkModel.fromPretrained(Path.of(spec.model()), spec.dtype())) {
            if (m.config().isClassifier()) {
                throw new LumensparkException(spec.model() + " is a sequence classifier: it has no language-model"
                        + " head to " + (task == Task.SCORE ? "score" : "generate") + " with; use spark classify");
            }
        }
    }

    private static TextClassifier classifier(Spec spec) {
        return new TextClassifier(LumensparkModel.fromPretrained(Path.of(spec.model()), spec.dtype()), Truncation.RIGHT);
    }

    /**
     * What a run did.
     *
     * @param records rows written
     * @param bad     rows with an error
     * @param out     the output folder
     */
    public record Result(long records, long bad, Path out) {
    }

    /**
     * Reads {@code input} ({@code format}: csv, json or parquet), runs {@code task} over column {@code spec.column}
     * and writes the results to {@code out} ({@code outFormat}: parquet or json, i.e. JSON lines).
     *
     * @throws LumensparkException for a missing input or column, an output that exists, or (with failOnBad) a bad
     *                             record
     */
    public static Result run(SparkSession spark, Task task, String input, String format, Path out, String outFormat,
                             Spec spec) {
        if (!List.of("parquet", "json").contains(outFormat)) {
            throw new LumensparkException("--out-format must be parquet or json, got " + outFormat);
        }
        if (out.toFile().exists()) throw new LumensparkException("--out " + out + " exists; choose a new folder");
        for (Path up = out.toAbsolutePath().getParent(); up != null; up = up.getParent()) {
            if (Files.isDirectory(up)) break;
            if (Files.exists(up)) throw new LumensparkException("--out " + out + ": " + up + " is a file, not a folder");
        }
        Dataset<Row> df = read(spark, input, format);
        if (!Arrays.asList(df.columns()).contains(spec.column())) {
            throw new LumensparkException(input + " has no column '" + spec.column() + "' (its columns: "
                    + String.join(", ", Arrays.stream(df.columns()).filter(c -> !c.equals(CORRUPT)).toList()) + ")");
        }
        DataType type = df.schema().apply(spec.column()).dataType();
        if (!(type instanceof StringType)) { // numbers, lists or objects: not text to run a model on
            throw new LumensparkException(input + ": column '" + spec.column() + "' holds " + type.simpleString()
                    + ", not text");
        }
        // per record: the text, the raw record when Spark could not parse it (else null), and its file
        JavaRDD<Row> rows = df.select(functions.col(spec.column()).cast(DataTypes.StringType),
                        Arrays.asList(df.columns()).contains(CORRUPT) ? functions.col(CORRUPT)
                                : functions.lit(null).cast(DataTypes.StringType), functions.input_file_name())
                .javaRDD().zipWithIndex().mapPartitions(it -> {
                    if (task == Task.CLASSIFY) return classify(spec, it).iterator();
                    LumensparkModel model = model(spec);
                    List<Row> done = new ArrayList<>();
                    while (it.hasNext()) {
                        var next = it.next();
                        done.add(process(task, model, spec, next._2(), next._1()));
                    }
                    return done.iterator();
                });
        Dataset<Row> result = spark.createDataFrame(rows, schema(task));
        try {
            SettledJobs.run(spark.sparkContext(), () -> result.write().format(outFormat).save(out.toString()));
        } catch (Exception e) { // a failed job (Spark's checked SparkException too) leaves no folder behind
            AtomicFiles.deleteTree(out); // after the job's last task: a cancelled one may have written into it
            throw e;
        }
        Dataset<Row> written = spark.read().schema(schema(task)).format(outFormat).load(out.toString());
        return new Result(written.count(), written.filter(functions.col("error").isNotNull()).count(), out);
    }

    private static Dataset<Row> read(SparkSession spark, String input, String format) {
        String f = format.equals("auto") ? byExtension(spark, input) : format;
        try {
            return switch (f) {
                case "csv" -> {
                    // the header's columns as text, and the column that takes a row whose fields do not match them
                    StructType header = csv(spark).csv(input).schema()
                            .add(DataTypes.createStructField(CORRUPT, DataTypes.StringType, true));
                    yield csv(spark).schema(header).option("columnNameOfCorruptRecord", CORRUPT).csv(input);
                }
                case "json", "jsonl" -> spark.read().json(input);
                case "parquet" -> spark.read().parquet(input);
                default -> throw new LumensparkException("--format must be auto, csv, jsonl or parquet, got " + format);
            };
        } catch (LumensparkException e) {
            throw e;
        } catch (Exception e) { // Spark's AnalysisException (a missing path, no files), checked in Java's terms
            // Spark's first line without its error class and SQL state: "[PATH_NOT_FOUND] ... SQLSTATE: 42K03"
            String m = String.valueOf(e.getMessage());
            m = m.lines().findFirst().orElse(m).replaceFirst("^\\[[A-Z_.]+] ", "")
                    .replaceFirst("\\.? SQLSTATE: \\w+$", "");
            throw new LumensparkException("cannot read " + input + ": " + m);
        }
    }

    /** Spark's CSV reader as the input is read: a header, quoted fields over several lines, "" inside quotes. */
    private static DataFrameReader csv(SparkSession spark) {
        return spark.read().option("header", "true").option("multiLine", "true").option("escape", "\"");
    }

    /**
     * The format of a file by its extension (after a compression's: .csv.gz is CSV), or of a folder by its files'
     * (hidden names and Spark's _SUCCESS left out), which must all be of one kind.
     */
    private static String byExtension(SparkSession spark, String input) {
        String kind = kind(input);
        if (kind != null) return kind;
        String why = "by its name";
        try {
            org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(input);
            FileSystem fs = path.getFileSystem(spark.sparkContext().hadoopConfiguration());
            if (fs.getFileStatus(path).isDirectory()) {
                Set<String> kinds = new TreeSet<>();
                for (FileStatus f : fs.listStatus(path)) {
                    String name = f.getPath().getName();
                    if (f.isFile() && !name.startsWith(".") && !name.startsWith("_")) {
                        kinds.add(Objects.requireNonNullElse(kind(name), name));
                    }
                }
                if (kinds.size() == 1 && List.of("csv", "json", "parquet").contains(kinds.iterator().next())) {
                    return kinds.iterator().next();
                }
                why = kinds.isEmpty() ? "(a folder without files)" : "by its files' names (" + kinds.size()
                        + " kinds: " + String.join(", ", kinds.stream().limit(5).toList()) + ")";
            }
        } catch (IOException | IllegalArgumentException e) {
            throw new LumensparkException("cannot read " + input + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
        throw new LumensparkException("cannot tell the format of " + input + " " + why + "; give --format csv,"
                + " jsonl or parquet");
    }

    /** The format a file name's extension names (.csv, .jsonl, .json, .ndjson, .parquet, each also .gz), or null. */
    private static String kind(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT);
        if (n.endsWith(".gz")) n = n.substring(0, n.length() - 3);
        if (n.endsWith(".csv")) return "csv";
        if (n.endsWith(".parquet")) return "parquet";
        if (n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson")) return "json";
        return null;
    }

    /** The executor's copy of the model, loaded (memory-mapped) by the first task that needs it. */
    private static LumensparkModel model(Spec spec) {
        useThreads(spec);
        return MODELS.computeIfAbsent(spec.model() + "#" + spec.dtype(),
                key -> LumensparkModel.fromPretrained(Path.of(spec.model()), spec.dtype()));
    }

    /** The driver's threads and backend on this executor. */
    private static void useThreads(Spec spec) {
        if (Parallel.threads() != spec.threads()) Blas.select(Backend.parse(spec.backend()), spec.threads());
    }

    private static StructType schema(Task task) {
        List<StructField> f = new ArrayList<>();
        f.add(DataTypes.createStructField("index", DataTypes.LongType, false));
        if (task == Task.CLASSIFY) {
            f.add(DataTypes.createStructField("text", DataTypes.StringType, true));
            f.add(DataTypes.createStructField("label", DataTypes.StringType, true));
            f.add(DataTypes.createStructField("score", DataTypes.DoubleType, true));
            f.add(DataTypes.createStructField("labels", DataTypes.createArrayType(DataTypes.StringType), true));
            f.add(DataTypes.createStructField("value", DataTypes.DoubleType, true));
            f.add(DataTypes.createStructField("top_k", DataTypes.createArrayType(DataTypes.createStructType(List.of(
                    DataTypes.createStructField("label", DataTypes.StringType, false),
                    DataTypes.createStructField("score", DataTypes.DoubleType, false)))), true));
        } else if (task == Task.SCORE) {
            f.add(DataTypes.createStructField("text", DataTypes.StringType, true));
            f.add(DataTypes.createStructField("tokens", DataTypes.IntegerType, true));
            f.add(DataTypes.createStructField("sum_logprob", DataTypes.DoubleType, true));
            f.add(DataTypes.createStructField("mean_logprob", DataTypes.DoubleType, true));
            f.add(DataTypes.createStructField("perplexity", DataTypes.DoubleType, true));
        } else {
            f.add(DataTypes.createStructField("prompt", DataTypes.StringType, true));
            f.add(DataTypes.createStructField("text", DataTypes.StringType, true));
            f.add(DataTypes.createStructField("new_tokens", DataTypes.IntegerType, true));
            f.add(DataTypes.createStructField("finish_reason", DataTypes.StringType, true));
        }
        f.add(DataTypes.createStructField("error", DataTypes.StringType, true));
        return DataTypes.createStructType(f);
    }

    /** Why a record cannot be processed before the model sees it (malformed, or no text); null when it can. */
    private static String problem(Row in) {
        if (!in.isNullAt(1)) return MALFORMED;
        return in.isNullAt(0) ? NO_TEXT : null;
    }

    /** The error that stops a job at a bad record: its 1-based number in the input, and its file. */
    private static LumensparkException fatal(long index, Row in, String why) {
        String file = in.getString(2);
        if (file != null && file.startsWith("file:")) file = new org.apache.hadoop.fs.Path(file).toUri().getPath();
        return new LumensparkException("record " + (index + 1) + (file == null || file.isEmpty() ? ""
                : " (in " + file + ")") + ": " + why);
    }

    private static Row process(Task task, LumensparkModel model, Spec spec, long index, Row in) {
        String text = in.getString(0);
        try {
            String why = problem(in);
            if (why != null) throw new LumensparkException(why);
            return task == Task.SCORE ? score(model, index, text) : generate(model, spec, index, text);
        } catch (LumensparkException e) {
            if (spec.failOnBad()) throw fatal(index, in, e.getMessage());
            return task == Task.SCORE ? RowFactory.create(index, text, null, null, null, null, e.getMessage())
                    : RowFactory.create(index, text, null, null, null, e.getMessage());
        }
    }

    /**
     * A partition through the executor's classifier, {@link TextClassifier#BATCH} texts per pass; a record without
     * text is bad. Single-label rows get label, score and top_k; multi-label rows also labels (every label of
     * probability at least 0.5); regression rows only value.
     */
    private static List<Row> classify(Spec spec, Iterator<Tuple2<Row, Long>> it) {
        useThreads(spec);
        TextClassifier classifier = CLASSIFIERS.computeIfAbsent(spec.model() + "#" + spec.dtype(),
                key -> classifier(spec));
        List<Row> done = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        List<Long> indices = new ArrayList<>();
        while (it.hasNext() || !texts.isEmpty()) {
            var next = it.hasNext() ? it.next() : null;
            String why = next == null ? null : problem(next._1());
            String text = next == null || why != null ? null : next._1().getString(0);
            if (next != null && why == null) {
                texts.add(text);
                indices.add(next._2());
            }
            if (texts.size() == TextClassifier.BATCH || (next == null || why != null) && !texts.isEmpty()) {
                List<TextClassifier.Prediction> p = classifier.predict(texts);
                for (int i = 0; i < texts.size(); i++) {
                    done.add(classified(classifier, spec.topK(), indices.get(i), texts.get(i), p.get(i)));
                }
                texts.clear();
                indices.clear();
            }
            if (why != null) {
                if (spec.failOnBad()) throw fatal(next._2(), next._1(), why);
                done.add(RowFactory.create(next._2(), next._1().getString(0), null, null, null, null, null, why));
            }
        }
        return done;
    }

    private static Row classified(TextClassifier classifier, int topK, long index, String text,
                                  TextClassifier.Prediction p) {
        double[] s = p.scores();
        if (classifier.problemType() == ProblemType.REGRESSION) {
            return RowFactory.create(index, text, null, null, null, s[0], null, null);
        }
        Integer[] order = new Integer[s.length];
        for (int j = 0; j < s.length; j++) order[j] = j;
        Arrays.sort(order, (a, b) -> Double.compare(s[b], s[a]));
        Row[] top = new Row[Math.min(topK, s.length)]; // Spark's rows take arrays, not Java lists
        for (int j = 0; j < top.length; j++) top[j] = RowFactory.create(classifier.labels().get(order[j]), s[order[j]]);
        String[] labels = classifier.problemType() == ProblemType.MULTI_LABEL_CLASSIFICATION
                ? p.labels().toArray(String[]::new) : null;
        return RowFactory.create(index, text, p.label(), s[order[0]], labels, null, top, null);
    }

    private static Row score(LumensparkModel model, long index, String text) {
        int[] ids = model.tokenizer().encode(text);
        int n = ids.length - 1;
        if (n < 1) throw new LumensparkException("the text has " + Words.count(ids.length, "token") + "; scoring needs at least 2");
        if (n > model.config().seqLength()) {
            throw new LumensparkException("the text has " + ids.length + " tokens; this model's context is "
                    + model.config().seqLength() + " + 1");
        }
        float[] loss = new float[n];
        model.languageModel().evaluate(Arrays.copyOf(ids, n), Arrays.copyOfRange(ids, 1, n + 1), 1, n, loss);
        double sum = 0;
        for (float l : loss) sum -= l;
        return RowFactory.create(index, text, n, sum, sum / n, Math.exp(-sum / n), null);
    }

    private static Row generate(LumensparkModel model, Spec spec, long index, String prompt) {
        // --max-new-tokens replaces the folder's max_length, as in generate: a run that fills the context ends so
        GenerationConfig.Builder b = model.generationConfig().toBuilder().maxNewTokens(spec.maxNewTokens())
                .maxLength(null);
        b = spec.temperature() == 0 ? b.doSample(false)
                : b.doSample(true).temperature(spec.temperature()).topK(spec.topK()).seed(spec.seed() + index);
        Generator.Result r = model.generate(prompt, b.build());
        return RowFactory.create(index, prompt, r.text(), r.ids().length, r.finishReason().label(), null);
    }
}
