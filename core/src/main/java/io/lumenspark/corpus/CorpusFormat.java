package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;

import java.nio.file.Path;
import java.util.Locale;

/** How an input file holds its documents. */
public enum CorpusFormat {
    /** Chosen per file by extension: {@code .jsonl} and {@code .json} are JSON lines, {@code .csv} is CSV, else text. */
    AUTO,
    /** UTF-8 text: the whole file is one document. */
    TEXT,
    /** JSON lines: one JSON object per line, whose chosen string field is a document; blank lines are skipped. */
    JSONL,
    /** CSV (RFC 4180) with a header row: each row's chosen column is a document. */
    CSV;

    /** The name used on the command line and in manifests: {@code "auto"}, {@code "text"}, ... */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The format of {@code file}: this one, or for {@link #AUTO} the one its extension names. */
    public CorpusFormat resolve(Path file) {
        if (this != AUTO) {
            return this;
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".jsonl") || name.endsWith(".json")) {
            return JSONL;
        }
        return name.endsWith(".csv") ? CSV : TEXT;
    }

    /** Parses {@link #label()}; throws {@link LumensparkException} for anything else. */
    public static CorpusFormat fromLabel(String label) {
        for (CorpusFormat f : values()) {
            if (f.label().equals(label)) {
                return f;
            }
        }
        throw new LumensparkException("unknown --format '" + label + "' (expected auto, text, jsonl or csv)");
    }
}
