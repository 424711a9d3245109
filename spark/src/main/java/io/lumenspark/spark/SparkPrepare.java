package io.lumenspark.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.FolderLock;
import io.lumenspark.io.Json;
import io.lumenspark.spark.CorpusInputs.CorpusFile;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.SerializableConfiguration;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * {@code data prepare} across executors: the input files (listed as {@code data prepare} lists them) are cut into
 * consecutive groups, one Spark task each; a task prepares its group into a token folder of its own under
 * {@code out/.parts/} (with the single-machine code, resumable), and the driver merges the parts in order
 * ({@link TokenCorpus#merge}): train.bin, val.bin and manifest.json are then byte for byte what {@code data prepare}
 * of the same inputs writes, but for the sources' names where a file came from a URL. The inputs are paths or URLs
 * of any file system Hadoop has on the class path ({@link CorpusInputs}): a task reads a file of the local file
 * system in place and copies any other to its own disk first. The output folder must be a path every executor can
 * write (a shared file system on a cluster).
 */
public final class SparkPrepare {
    /** The folder under the output that holds the parts until they are merged. */
    static final String PARTS = ".parts";
    /** The token folder's manifest, which names each source. */
    private static final String MANIFEST = "manifest.json";

    /** The thread-local Spark property that makes a job's cancellation interrupt its tasks' threads. */
    private static final String INTERRUPT_ON_CANCEL = "spark.job.interruptOnCancel";

    private SparkPrepare() {
    }

    /** Whether {@code out} holds parts of a run that failed or was stopped (which the same command goes on from). */
    public static boolean hasParts(Path out) {
        try (Stream<Path> parts = Files.list(out.resolve(PARTS))) {
            return parts.findAny().isPresent();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * What a task needs: its files, the Hadoop configuration to read those of other file systems with (null when
     * all are local), and the tokenizer and options as plain values.
     */
    private record Group(List<CorpusFile> files, SerializableConfiguration hadoop, String part, String tokenizer,
                         String format, String field, String column, double valFraction, boolean skipBadRecords,
                         int threads) implements Serializable {
        /**
         * Prepares the group into its part folder. Files of other file systems are first copied to a scratch
         * folder of the executor's (java.io.tmpdir), under their own names (the format goes by extension), and
         * errors name their URLs.
         */
        void prepare() {
            CorpusOptions options = new CorpusOptions(CorpusFormat.fromLabel(format), field, column, valFraction,
                    skipBadRecords);
            Path scratch = null;
            Map<String, String> copies = new LinkedHashMap<>();
            try {
                List<Path> paths = new ArrayList<>();
                for (int i = 0; i < files.size(); i++) {
                    CorpusFile f = files.get(i);
                    if (f.local()) {
                        paths.add(Path.of(f.location()));
                        continue;
                    }
                    if (scratch == null) scratch = Files.createTempDirectory("lumenspark-prepare-");
                    String name = new org.apache.hadoop.fs.Path(f.location()).getName();
                    Path copy = scratch.resolve(String.valueOf(i)).resolve(name);
                    CorpusInputs.copy(f.location(), hadoop.value(), copy);
                    copies.put(copy.toString(), f.location());
                    paths.add(copy);
                }
                // force: a part left by a failed or stopped run with other inputs or options is replaced (a part
                // is this command's own, under .parts/); one of the same is finished or resumed as before
                TokenCorpus.prepareFolder(paths, Tokenizer.load(tokenizer), options, Path.of(part), true, threads);
            } catch (LumensparkException e) {
                String message = e.getMessage();
                for (Map.Entry<String, String> c : copies.entrySet()) {
                    message = message.replace(c.getKey(), c.getValue());
                }
                throw message.equals(e.getMessage()) ? e : new LumensparkException(message, e);
            } catch (IOException e) {
                throw new LumensparkException("cannot make a scratch folder for copies of the inputs in "
                        + System.getProperty("java.io.tmpdir") + ": " + e.getMessage(), e);
            } finally {
                if (scratch != null) AtomicFiles.deleteTree(scratch);
            }
        }
    }

    /**
     * Prepares {@code inputs} into {@code out} with at most {@code partitions} tasks of {@code threads} threads each.
     *
     * @param inputs paths (files or folders) or URLs of any file system Hadoop has on the class path (globs
     *               allowed), read with the context's Hadoop configuration; see {@link CorpusInputs}
     * @param out    a folder of a file system every executor mounts
     * @throws LumensparkException for missing or bad inputs, a scheme without a Hadoop file system, a bad record
     *                             (without skipping), or an output folder that holds other files
     */
    public static TokenCorpus.Prepared run(JavaSparkContext sc, List<String> inputs, String tokenizer,
                                           CorpusOptions options, Path out, int partitions, int threads) {
        if (partitions < 1) throw new LumensparkException("--partitions must be at least 1");
        Tokenizer tok = Tokenizer.load(tokenizer);
        List<CorpusFile> files = CorpusInputs.list(inputs, sc.hadoopConfiguration(), out);
        if (files.isEmpty()) throw new LumensparkException("no corpus files in " + inputs);
        SerializableConfiguration hadoop = files.stream().allMatch(CorpusFile::local) ? null
                : new SerializableConfiguration(sc.hadoopConfiguration());
        FolderLock lock = FolderLock.acquire(out, false, "writing tokens to");
        try {
            refuseOtherFiles(out);
            int groups = Math.min(partitions, files.size());
            List<Group> plan = new ArrayList<>();
            List<Path> parts = new ArrayList<>();
            for (int g = 0; g < groups; g++) {
                Path part = out.resolve(PARTS).resolve(String.format("part-%05d", g));
                parts.add(part);
                List<CorpusFile> mine = List.copyOf(files.subList(files.size() * g / groups,
                        files.size() * (g + 1) / groups));
                plan.add(new Group(mine, hadoop, part.toString(), tokenizer, options.format().label(),
                        options.field(), options.column(), options.valFraction(), options.skipBadRecords(), threads));
            }
            // a failure is reported once every group's task has ended: the lock is released after their writes;
            // cancelled tasks are interrupted (a part's progress is committed atomically: a rerun resumes it)
            String before = sc.getLocalProperty(INTERRUPT_ON_CANCEL);
            sc.sc().setInterruptOnCancel(true);
            try {
                SettledJobs.run(sc.sc(), () -> sc.parallelize(IntStream.range(0, groups).boxed().toList(), groups)
                        .foreach(g -> plan.get(g).prepare()));
            } finally {
                sc.setLocalProperty(INTERRUPT_ON_CANCEL, before);
            }
            TokenCorpus.Prepared done = TokenCorpus.merge(parts, tok, options, out);
            nameSources(out.resolve(MANIFEST), files);
            AtomicFiles.deleteTree(out.resolve(PARTS));
            lock.close();
            return done;
        } catch (Throwable t) { // Spark's SparkException too
            // parts stay for the rerun; a run that wrote none leaves the folder as it found it
            try {
                Files.deleteIfExists(out.resolve(PARTS));
            } catch (IOException notEmpty) {
                // parts to go on from
            }
            lock.closeAndUndo();
            throw t;
        }
    }

    /**
     * Writes each file's path or URL as its source in the merged manifest, in place of the paths the tasks read
     * (the copies of files of other file systems); the rest of the file is left as it is.
     */
    private static void nameSources(Path manifest, List<CorpusFile> files) {
        ObjectNode m = (ObjectNode) Json.read(manifest);
        JsonNode sources = m.path("sources");
        if (sources.size() != files.size()) {
            throw new IllegalStateException(manifest + " lists " + sources.size() + " sources, not " + files.size());
        }
        for (int i = 0; i < files.size(); i++) ((ObjectNode) sources.get(i)).put("path", files.get(i).location());
        Json.write(manifest, m);
    }

    private static void refuseOtherFiles(Path out) {
        try (Stream<Path> entries = Files.list(out)) {
            List<String> others = entries.map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals(PARTS) && !n.equals(FolderLock.FILE)).sorted().toList();
            if (!others.isEmpty()) {
                throw new LumensparkException("--out " + out + " holds files (" + String.join(", ",
                        others.subList(0, Math.min(3, others.size()))) + "); choose a new or empty folder");
            }
        } catch (IOException e) {
            throw new LumensparkException("cannot list " + out + ": " + e.getMessage(), e);
        }
    }
}
