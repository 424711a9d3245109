package io.lumenspark.corpus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;

/** JSON lines: each non-blank line is a JSON object; the document is its string field. */
final class JsonLinesReader implements RecordReader {

    private final InputStream in;
    private final Path file;
    private final String field;
    private final int maxBytes;
    private final byte[] buffer = new byte[1 << 16];
    private int bufferPos;
    private int bufferEnd;
    private byte[] lineBytes = new byte[1 << 12];
    private int lineLength;
    private long line;
    private boolean atStart = true;

    JsonLinesReader(InputStream in, Path file, String field, int maxBytes) {
        this.in = in;
        this.file = file;
        this.field = field;
        this.maxBytes = maxBytes;
    }

    @Override
    public boolean next() throws IOException {
        while (readLine()) {
            if (!isBlank()) {
                return true;
            }
        }
        return false;
    }

    @Override
    public long line() {
        return line;
    }

    private JsonNode parsed; // the current line's object, once parsed
    private long parsedLine = -1;

    @Override
    public String text() throws BadRecordException {
        JsonNode node = object();
        JsonNode value = node.get(field);
        if (value == null || !value.isTextual()) {
            throw new BadRecordException(value == null ? "no field '" + field + "'"
                    : "field '" + field + "' is not a string");
        }
        return value.textValue();
    }

    @Override
    public String value(String key) throws BadRecordException {
        JsonNode value = object().get(key);
        if (value == null || !(value.isTextual() || value.isNumber() || value.isBoolean())) {
            throw new BadRecordException(value == null ? "no field '" + key + "'"
                    : "field '" + key + "' is not a string, number or boolean");
        }
        return value.asText();
    }

    /** The current line as a JSON object (parsed once per line). */
    private JsonNode object() throws BadRecordException {
        if (parsedLine == line) return parsed;
        JsonNode node;
        try {
            node = Json.mapper().readTree(lineBytes, 0, lineLength);
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw new BadRecordException("not valid JSON (" + Json.detail(e) + ")"
                    + (at != null && at.getColumnNr() > 0 ? " at column " + at.getColumnNr() : ""));
        } catch (IOException e) {
            throw new BadRecordException("not valid JSON (" + Json.oneLine(e.getMessage()) + ")");
        }
        if (!node.isObject()) {
            throw new BadRecordException("expected a JSON object, got " + node.getNodeType().name().toLowerCase());
        }
        parsed = node;
        parsedLine = line;
        return node;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    /** Reads the next line (without its '\n' or "\r\n") into lineBytes; false at the end of the file. */
    private boolean readLine() throws IOException {
        lineLength = 0;
        boolean any = false;
        while (true) {
            if (bufferPos == bufferEnd) {
                bufferEnd = in.read(buffer);
                bufferPos = 0;
                if (bufferEnd <= 0) {
                    bufferEnd = 0;
                    if (!any) {
                        return false;
                    }
                    break;
                }
            }
            any = true;
            int start = bufferPos;
            while (bufferPos < bufferEnd && buffer[bufferPos] != '\n') {
                bufferPos++;
            }
            append(start, bufferPos - start);
            if (bufferPos < bufferEnd) {
                bufferPos++; // the '\n'
                break;
            }
        }
        line++;
        if (lineLength > 0 && lineBytes[lineLength - 1] == '\r') {
            lineLength--;
        }
        if (atStart) { // a UTF-8 byte order mark
            atStart = false;
            if (lineLength >= 3 && (lineBytes[0] & 0xFF) == 0xEF && (lineBytes[1] & 0xFF) == 0xBB
                    && (lineBytes[2] & 0xFF) == 0xBF) {
                System.arraycopy(lineBytes, 3, lineBytes, 0, lineLength -= 3);
            }
        }
        return true;
    }

    private void append(int from, int n) {
        if (lineLength + n > maxBytes) {
            throw RecordReader.error(file, line + 1, "a line longer than " + maxBytes
                    + " bytes; records over this limit are refused");
        }
        if (lineLength + n > lineBytes.length) {
            lineBytes = Arrays.copyOf(lineBytes, Math.min(maxBytes, Math.max(lineLength + n, 2 * lineBytes.length)));
        }
        System.arraycopy(buffer, from, lineBytes, lineLength, n);
        lineLength += n;
    }

    private boolean isBlank() {
        for (int i = 0; i < lineLength; i++) {
            byte b = lineBytes[i];
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }
}
