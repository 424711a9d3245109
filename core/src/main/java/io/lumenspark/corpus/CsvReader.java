package io.lumenspark.corpus;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CSV as RFC 4180 defines it, read row by row: fields separated by commas, rows by "\r\n" or '\n' (a lone '\r'
 * too); a field in double quotes may hold commas, line breaks and doubled quotes ({@code ""} is one quote). The
 * first row is the header naming the columns; the document is the chosen column. Empty lines are skipped, and an
 * empty file has no rows. Input
 * is UTF-8 (malformed bytes become U+FFFD); a leading byte order mark is dropped.
 */
final class CsvReader implements RecordReader {

    private final Reader in;
    private final Path file;
    private final int maxChars;
    private final char[] buffer = new char[1 << 16];
    private int bufferPos;
    private int bufferEnd;
    private int pushedBack = -2; // a character read ahead, or -2 for none
    private final List<String> fields = new ArrayList<>();
    private final StringBuilder field = new StringBuilder();
    private long recordChars;
    private long line = 1; // line of the next character
    private long recordLine;
    private final int columnIndex;
    private final int columns;
    private final List<String> header;

    /** A reader of {@code column}; {@code option} is the command-line option that names it, for messages. */
    CsvReader(InputStream in, Path file, String column, String option, int maxChars) throws IOException {
        // This constructor replaces malformed UTF-8 with U+FFFD instead of failing, as for text files.
        this.in = new InputStreamReader(in, StandardCharsets.UTF_8);
        this.file = file;
        this.maxChars = maxChars;
        int c = read();
        if (c != '\uFEFF') {
            unread(c);
        }
        if (!next()) { // an empty file: no header and no rows
            columns = 0;
            columnIndex = -1;
            header = List.of();
            return;
        }
        columns = fields.size();
        header = new ArrayList<>(fields);
        columnIndex = fields.indexOf(column);
        if (columnIndex < 0) {
            throw new LumensparkException(file + ": no column '" + column + "' in the header (columns: "
                    + String.join(", ", fields) + "); choose one with " + option);
        }
    }

    @Override
    public boolean next() throws IOException {
        while (readRecord()) {
            boolean emptyLine = fields.size() == 1 && fields.getFirst() == null;
            if (!emptyLine) {
                return true;
            }
        }
        return false;
    }

    @Override
    public long line() {
        return recordLine;
    }

    @Override
    public String text() throws BadRecordException {
        if (fields.size() != columns) {
            throw new BadRecordException("the row has " + Words.count(fields.size(), "field")
                    + ", the header " + columns);
        }
        String text = fields.get(columnIndex);
        return text == null ? "" : text;
    }

    @Override
    public String value(String key) throws BadRecordException {
        int index = header.indexOf(key);
        if (index < 0) {
            throw new LumensparkException(file + ": no column '" + key + "' in the header (columns: "
                    + String.join(", ", header) + "); choose one with --label-column");
        }
        if (fields.size() != columns) {
            throw new BadRecordException("the row has " + Words.count(fields.size(), "field") + ", the header "
                    + columns);
        }
        String value = fields.get(index);
        return value == null ? "" : value;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    /**
     * Reads one row into {@code fields}; false at the end of the file. An unquoted empty field is stored as null,
     * so that an empty line (one such field) can be told from a row holding {@code ""}.
     */
    private boolean readRecord() throws IOException {
        fields.clear();
        recordChars = 0;
        int c = read();
        if (c < 0) {
            return false;
        }
        recordLine = line;
        while (true) {
            field.setLength(0);
            boolean quoted = c == '"';
            if (quoted) {
                while (true) {
                    c = read();
                    if (c < 0) {
                        throw RecordReader.error(file, recordLine, "a quoted field is never closed");
                    }
                    if (c == '"') {
                        c = read();
                        if (c != '"') {
                            break;
                        }
                    }
                    append((char) c);
                }
                if (c >= 0 && c != ',' && c != '\n' && c != '\r') {
                    throw RecordReader.error(file, line, "text after a closing quote (a quote inside a quoted"
                            + " field must be doubled)");
                }
            } else {
                while (c >= 0 && c != ',' && c != '\n' && c != '\r') {
                    append((char) c);
                    c = read();
                }
            }
            fields.add(quoted || !field.isEmpty() ? field.toString() : null);
            if (c != ',') {
                break;
            }
            c = read();
        }
        if (c == '\r') {
            int d = read();
            if (d != '\n') {
                unread(d);
                line++; // a lone '\r' ends the line too
            }
        }
        return true;
    }

    private void append(char c) {
        if (++recordChars > maxChars) {
            throw RecordReader.error(file, recordLine, "a row longer than " + maxChars
                    + " characters; records over this limit are refused");
        }
        field.append(c);
    }

    private int read() throws IOException {
        int c;
        if (pushedBack != -2) {
            c = pushedBack;
            pushedBack = -2;
            return c;
        }
        if (bufferPos == bufferEnd) {
            bufferEnd = in.read(buffer);
            bufferPos = 0;
            if (bufferEnd <= 0) {
                bufferEnd = 0;
                return -1;
            }
        }
        c = buffer[bufferPos++];
        if (c == '\n') {
            line++;
        }
        return c;
    }

    private void unread(int c) {
        pushedBack = c;
    }
}
