package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;

/**
 * How to read and split a corpus into token files (what {@code lumenspark data prepare} is told).
 *
 * @param format           the input format, or {@link CorpusFormat#AUTO} to choose per file by extension
 * @param field            the JSON lines field holding each document's text
 * @param column           the CSV header column holding each document's text
 * @param valFraction      share of each file held out for validation, taken from its end: characters of a text
 *                         file, records of a JSON lines or CSV file; in [0, 0.5]
 * @param skipBadRecords   skip (and count) JSON lines that are malformed or lack the field, and CSV rows with the
 *                         wrong number of fields, instead of failing on the first one
 */
public record CorpusOptions(CorpusFormat format, String field, String column, double valFraction,
                            boolean skipBadRecords) {

    /** Plain text files with this validation fraction: what {@code train} reads. */
    public static CorpusOptions text(double valFraction) {
        return new CorpusOptions(CorpusFormat.TEXT, "text", "text", valFraction, false);
    }

    /** Checks the values; throws {@link LumensparkException} naming the bad option. */
    public CorpusOptions {
        if (!(valFraction >= 0 && valFraction <= 0.5)) {
            throw new LumensparkException("--val-fraction must be between 0 and 0.5, got " + valFraction);
        }
        if (format == null) {
            throw new LumensparkException("--format is missing");
        }
        if (field == null || field.isEmpty()) {
            throw new LumensparkException("--field must not be empty");
        }
        if (column == null || column.isEmpty()) {
            throw new LumensparkException("--column must not be empty");
        }
    }
}
