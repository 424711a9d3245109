package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.InputFiles;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The records of a classification data set, read one at a time (bounded memory): a text and, when a label key is
 * given, a label from each JSON line (fields) or CSV row (columns), with the readers of {@code data prepare}; or
 * each non-blank line of any other file as a text (no labels). A bad record (malformed, without the text or the
 * label) is an error naming its file and line, or skipped and counted.
 */
public final class LabeledRecords implements Closeable {
    /** One record: its text, its label (null without a label key), and the line where it starts (from 1). */
    public record Record(String text, String label, long line) {
    }

    private final Path file;
    private final String labelKey;
    private final boolean skipBad;
    private final RecordReader reader;   // JSON lines or CSV, else null
    private final BufferedReader lines;  // plain text, else null
    private long line, skipped;

    private LabeledRecords(Path file, String textKey, String labelKey, boolean skipBad) throws IOException {
        this.file = file;
        this.labelKey = labelKey;
        this.skipBad = skipBad;
        InputFiles.requireRegularFile(file);
        CorpusFormat format = CorpusFormat.AUTO.resolve(file);
        InputStream in = Files.newInputStream(file);
        try {
            if (format == CorpusFormat.TEXT) {
                if (labelKey != null) {
                    throw new LumensparkException(file + ": labels need JSON lines (.jsonl) or CSV (.csv)");
                }
                reader = null;
                lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            } else {
                reader = format == CorpusFormat.CSV // the message names classify's option
                        ? new CsvReader(in, file, textKey, "--text-column", RecordReader.MAX_RECORD)
                        : RecordReader.open(format, in, file, new CorpusOptions(format, textKey, textKey, 0, skipBad),
                        RecordReader.MAX_RECORD);
                lines = null;
            }
        } catch (IOException | RuntimeException e) {
            in.close();
            throw e;
        }
    }

    /**
     * Opens a file of records.
     *
     * @param textKey  the JSON field or CSV column of the text
     * @param labelKey the field or column of the label, or null to read texts alone
     * @param skipBad  skip (and count) bad records instead of failing on the first
     * @throws LumensparkException for a missing file, a CSV header without the text column, or labels asked of a
     *                             plain text file
     */
    public static LabeledRecords open(Path file, String textKey, String labelKey, boolean skipBad) {
        try {
            return new LabeledRecords(file, textKey, labelKey, skipBad);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The next record, or null at the end of the file.
     *
     * @throws LumensparkException "FILE line N: why" for a bad record unless they are skipped
     */
    public Record next() {
        try {
            if (lines != null) {
                String text;
                while ((text = lines.readLine()) != null) {
                    line++;
                    if (!text.isBlank()) return new Record(text, null, line);
                }
                return null;
            }
            while (reader.next()) {
                try {
                    String text = reader.text();
                    String label = labelKey == null ? null : reader.value(labelKey);
                    return new Record(text, label, reader.line());
                } catch (RecordReader.BadRecordException bad) {
                    if (!skipBad) {
                        throw RecordReader.error(file, reader.line(), bad.getMessage()
                                + " (--skip-bad-records skips such records)");
                    }
                    skipped++;
                }
            }
            return null;
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getCause().getMessage(), e);
        }
    }

    /** Bad records skipped so far. */
    public long skipped() {
        return skipped;
    }

    @Override
    public void close() {
        try {
            if (reader != null) reader.close();
            else lines.close();
        } catch (IOException e) {
            throw new LumensparkException("cannot close " + file + ": " + e.getMessage(), e);
        }
    }
}
