package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.FolderLock;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * {@code data prepare} across executors: the input files (listed as {@code data prepare} lists them) are cut into
 * consecutive groups, one Spark task each; a task prepares its group into a token folder of its own under
 * {@code out/.parts/} (with the single-machine code, resumable), and the driver merges the parts in order
 * ({@link TokenCorpus#merge}): train.bin, val.bin and manifest.json are then byte for byte what {@code data prepare}
 * of the same inputs writes. The inputs and the output folder must be paths every executor can read and write
 * (a shared file system on a cluster).
 */
public final class SparkPrepare {
    /** The folder under the output that holds the parts until they are merged. */
    static final String PARTS = ".parts";

    private SparkPrepare() {
    }

    /** What a task needs: its files, and the tokenizer and options as plain values. */
    private record Group(List<String> files, String part, String tokenizer, String format, String field,
                         String column, double valFraction, boolean skipBadRecords, int threads)
            implements Serializable {
        void prepare() {
            CorpusOptions options = new CorpusOptions(CorpusFormat.fromLabel(format), field, column, valFraction,
                    skipBadRecords);
            TokenCorpus.prepareFolder(files.stream().map(Path::of).toList(), Tokenizer.load(tokenizer), options,
                    Path.of(part), false, threads);
        }
    }

    /**
     * Prepares {@code inputs} into {@code out} with at most {@code partitions} tasks of {@code threads} threads each.
     *
     * @throws LumensparkException for missing or bad inputs, a bad record (without skipping), or an output folder
     *                             that holds other files
     */
    public static TokenCorpus.Prepared run(JavaSparkContext sc, List<Path> inputs, String tokenizer,
                                           CorpusOptions options, Path out, int partitions, int threads) {
        if (partitions < 1) throw new LumensparkException("--partitions must be at least 1");
        Tokenizer tok = Tokenizer.load(tokenizer);
        Path skip = out.toAbsolutePath().normalize();
        List<Path> files = TokenCorpus.listFiles(inputs).stream()
                .filter(f -> !f.toAbsolutePath().normalize().startsWith(skip)).toList();
        if (files.isEmpty()) throw new LumensparkException("no corpus files in " + inputs);
        try (FolderLock _ = FolderLock.acquire(out, false, "writing tokens to")) {
            refuseOtherFiles(out);
            int groups = Math.min(partitions, files.size());
            List<Group> plan = new ArrayList<>();
            List<Path> parts = new ArrayList<>();
            for (int g = 0; g < groups; g++) {
                Path part = out.resolve(PARTS).resolve(String.format("part-%05d", g));
                parts.add(part);
                List<String> mine = files.subList(files.size() * g / groups, files.size() * (g + 1) / groups)
                        .stream().map(Path::toString).toList();
                plan.add(new Group(mine, part.toString(), tokenizer, options.format().label(), options.field(),
                        options.column(), options.valFraction(), options.skipBadRecords(), threads));
            }
            sc.parallelize(IntStream.range(0, groups).boxed().toList(), groups).foreach(g -> plan.get(g).prepare());
            TokenCorpus.Prepared done = TokenCorpus.merge(parts, tok, options, out);
            AtomicFiles.deleteTree(out.resolve(PARTS));
            return done;
        }
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
