package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;

/**
 * Reads the documents of a JSON lines or CSV file one record at a time, holding at most one record in memory.
 * Records are numbered from 0 in file order (blank lines excluded); a record that cannot give a document still
 * has its number, so the train/validation split does not depend on which records are skipped.
 */
public interface RecordReader extends Closeable {

    /** The largest record (a JSON line in bytes, a CSV row in characters) read: 64 MiB. */
    int MAX_RECORD = 64 << 20;

    /** A record that has no usable document; the message says why, without the file and line. */
    final class BadRecordException extends Exception {
        BadRecordException(String message) {
            super(message, null, false, false);
        }
    }

    /** Advances to the next record; false at the end of the file. */
    boolean next() throws IOException;

    /** The line where the current record starts, from 1. */
    long line();

    /** The current record's document text, possibly empty. */
    String text() throws BadRecordException;

    /**
     * Another value of the current record (a label): the CSV column or JSON field named key, as text (a JSON
     * number or boolean as written).
     *
     * @throws BadRecordException          when this record lacks it or it is not a string, number or boolean
     * @throws io.lumenspark.LumensparkException for a CSV file whose header has no such column (its message names
     *                                           --label-column, classify's option)
     */
    String value(String key) throws BadRecordException;

    /**
     * A reader of {@code in} (closed with the reader) for a record format.
     *
     * @param file      named in error messages
     * @param maxRecord the record size limit ({@link #MAX_RECORD} but in tests)
     * @throws LumensparkException for a CSV file without a header or without the column
     */
    static RecordReader open(CorpusFormat format, InputStream in, Path file, CorpusOptions options, int maxRecord)
            throws IOException {
        return switch (format) {
            case JSONL -> new JsonLinesReader(in, file, options.field(), maxRecord);
            case CSV -> new CsvReader(in, file, options.column(), "--column", maxRecord);
            default -> throw new IllegalArgumentException("not a record format: " + format);
        };
    }

    /** A one-line error at {@code line} of {@code file}. */
    static LumensparkException error(Path file, long line, String message) {
        return new LumensparkException(file + " line " + line + ": " + message);
    }
}
