package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.LabeledRecords;
import io.lumenspark.training.LabeledText;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Where a classification record's text and label are ({@code --text-column}, {@code --label-column}, ...). */
final class RecordOptions {
    @Option(names = {"--text-column", "--text-field"}, paramLabel = "NAME", description = "CSV column or JSON"
            + " lines field of the text (default: ${DEFAULT-VALUE}).")
    String text = "text";

    @Option(names = {"--label-column", "--label-field"}, paramLabel = "NAME", description = "CSV column or JSON"
            + " lines field of the label (default: ${DEFAULT-VALUE}).")
    String label = "label";

    @Option(names = "--skip-bad-records", description = "Skip and count malformed records and records without the"
            + " text or label, instead of stopping at the first (which names its line).")
    boolean skipBad;

    /**
     * Every labeled record of the files (a folder: its .jsonl, .json and .csv files, sorted by path), in order; a
     * warning counts the skipped ones.
     */
    List<LabeledText> readAll(List<Path> inputs) {
        List<LabeledText> out = new ArrayList<>();
        long skipped = 0;
        for (Path file : files(inputs)) {
            try (LabeledRecords r = LabeledRecords.open(file, text, label, skipBad)) {
                for (LabeledRecords.Record rec; (rec = r.next()) != null; ) {
                    out.add(new LabeledText(rec.text(), rec.label(), file + " line " + rec.line()));
                }
                skipped += r.skipped();
            }
        }
        if (skipped > 0) System.err.printf("warning: skipped %s%n", Words.count(skipped, "bad record"));
        if (out.isEmpty()) throw new LumensparkException("no labeled records in " + inputs.stream()
                .map(Path::toString).collect(java.util.stream.Collectors.joining(", ")));
        return out;
    }

    /** The record files of the inputs: files as given, folders' JSON lines and CSV files. */
    static List<Path> files(List<Path> inputs) {
        List<Path> files = new ArrayList<>();
        for (Path in : inputs) {
            if (!Files.isDirectory(in)) {
                if (!Files.exists(in)) throw new LumensparkException("no such file: " + in);
                files.add(in);
                continue;
            }
            try (Stream<Path> walk = Files.walk(in)) {
                walk.filter(Files::isRegularFile).filter(p -> CorpusFormat.AUTO.resolve(p) != CorpusFormat.TEXT)
                        .sorted().forEach(files::add);
            } catch (IOException e) {
                throw new LumensparkException("cannot list " + in + ": " + e.getMessage(), e);
            }
        }
        return files;
    }
}
