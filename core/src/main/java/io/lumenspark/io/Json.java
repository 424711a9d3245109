package io.lumenspark.io;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * The project's single Jackson {@link ObjectMapper} and JSON file helpers. Files are written pretty-printed with a
 * trailing newline, atomically; reading errors become one-line {@link LumensparkException}s naming the file and,
 * where known, the line, e.g. {@code "config.json: not valid JSON at line 3: Unexpected character ..."}.
 * Duplicate keys and trailing content are rejected; unknown properties fail when binding to a class (catches typos).
 */
public final class Json {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .addModule(new SimpleModule().addSerializer(Double.class, new FiniteOrNull())
                    .addSerializer(double.class, new FiniteOrNull()))
            .build();
    // "key": value rather than Jackson's default "key" : value
    private static final ObjectWriter PRETTY = MAPPER.writer(new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER)));

    /**
     * The largest JSON file read: 128 MiB, far above any config or tokenizer (GPT-2's tokenizer.json is 3.5 MB,
     * the largest Hugging Face ones a few tens of MB); beyond it a file is refused before it is read.
     */
    public static final long MAX_FILE_BYTES = 128L << 20;

    private Json() {}

    /** The shared mapper; thread-safe, do not reconfigure. */
    public static ObjectMapper mapper() {
        return MAPPER;
    }

    /** Parses a JSON file (a regular file of at most {@link #MAX_FILE_BYTES}) into a tree. */
    public static JsonNode read(Path path) {
        byte[] bytes = InputFiles.readBytes(path, MAX_FILE_BYTES);
        try {
            JsonNode node = MAPPER.readTree(bytes);
            if (node == null || node.isMissingNode()) throw new LumensparkException(path + ": empty file, expected JSON");
            return node;
        } catch (IOException e) {
            throw error(path, e);
        }
    }

    /** Parses a JSON file (as {@link #read(Path)}) into an instance of {@code type} (records and POJOs). */
    public static <T> T read(Path path, Class<T> type) {
        byte[] bytes = InputFiles.readBytes(path, MAX_FILE_BYTES);
        if (new String(bytes, StandardCharsets.UTF_8).isBlank()) {
            throw new LumensparkException(path + ": empty file, expected JSON");
        }
        try {
            return MAPPER.readValue(bytes, type);
        } catch (IOException e) {
            throw error(path, e);
        }
    }

    /** Atomically writes {@code value} as pretty-printed JSON followed by a newline. */
    public static void write(Path path, Object value) {
        AtomicFiles.writeString(path, toPretty(value) + "\n");
    }

    /** {@code value} as pretty-printed JSON (no trailing newline). */
    public static String toPretty(Object value) {
        try {
            return PRETTY.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot serialize " + value.getClass().getName() + ": " + e.getOriginalMessage(), e);
        }
    }

    /** {@code value} as compact single-line JSON, for JSON-lines logs. */
    public static String toLine(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot serialize " + value.getClass().getName() + ": " + e.getOriginalMessage(), e);
        }
    }

    /** The bytes of a regular file, whatever its size up to the largest array (JSON-lines logs grow long). */
    static byte[] readBytes(Path path) {
        return InputFiles.readBytes(path, InputFiles.MAX_ARRAY_BYTES);
    }

    /** Turns a Jackson failure into a one-line message: syntax errors vs. values that do not fit the target type. */
    static LumensparkException error(Object source, IOException e) {
        if (!(e instanceof JsonProcessingException j)) {
            return new LumensparkException("cannot read " + source + ": " + AtomicFiles.reason(e), e);
        }
        JsonLocation loc = j.getLocation();
        String at = loc != null && loc.getLineNr() > 0 ? " at line " + loc.getLineNr() : "";
        String detail = detail(j);
        if (j instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            String field = m.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining(".")).replace(".[", "[");
            return new LumensparkException(source + ": bad value for '" + field + "'" + at + ": " + detail, e);
        }
        if (trailing(j)) return new LumensparkException(source + ": not valid JSON" + at + ": " + detail, e);
        if (j instanceof JsonMappingException) {
            return new LumensparkException(source + ": unexpected JSON" + at + ": " + detail, e);
        }
        return new LumensparkException(source + ": not valid JSON" + at + ": " + detail, e);
    }

    /**
     * What Jackson says went wrong, on one line and without its internals: no "[Source: REDACTED ...]" location (the
     * message gives the line), no names of Jackson's settings or classes.
     */
    public static String detail(JsonProcessingException e) {
        if (trailing(e)) return "more after the JSON value"; // Jackson's text names a class and a setting
        return oneLine(e.getOriginalMessage())
                .replaceAll("^Unexpected end-of-input in VALUE_STRING.*", "the text ends inside a string")
                .replaceAll("^Unexpected end-of-input in field name.*", "the text ends inside a field name")
                .replaceAll("^Unexpected end-of-input: expected close marker for (Object|Array)",
                        "the text ends before the JSON value is closed")
                .replaceAll("Non-standard token '([^']*)': enable .*", "$1 is not a JSON number (JSON has no NaN or"
                        + " infinities)")
                .replaceAll("\\(start marker at \\[Source: [^;\\]]*; line: (\\d+), column: (\\d+)]\\)",
                        "(opened at line $1, column $2)")
                .replaceAll(", from `[^`]*`", "");
    }

    /**
     * Writes a NaN or infinite double as null: JSON has no such numbers, and Jackson would write the string "NaN"
     * where readers expect a number (a time never measured, a loss not computed).
     */
    private static final class FiniteOrNull extends StdSerializer<Double> {
        FiniteOrNull() {
            super(Double.class);
        }

        @Override
        public void serialize(Double value, JsonGenerator gen, SerializerProvider provider) throws IOException {
            if (Double.isFinite(value)) gen.writeNumber(value);
            else gen.writeNull();
        }
    }

    /** Whether the failure is a well-formed JSON value of another kind than the one asked for (an array, a number). */
    static boolean notAnObject(JsonProcessingException e) {
        return e instanceof MismatchedInputException && !trailing(e);
    }

    /** Whether the failure is content after the JSON value (refused by FAIL_ON_TRAILING_TOKENS). */
    private static boolean trailing(JsonProcessingException e) {
        return e instanceof MismatchedInputException && String.valueOf(e.getOriginalMessage()).startsWith("Trailing");
    }

    /** Text on one line: line breaks and the spaces around them become one space. */
    public static String oneLine(String text) {
        return text == null ? "" : text.replaceAll("\\s*\\R\\s*", " ").strip();
    }
}
