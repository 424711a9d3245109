package io.lumenspark.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class JsonTest {
    record Config(String name, int dim, List<Double> rates) {}

    @TempDir
    Path dir;

    @Test
    void writesPrettyWithTrailingNewlineAndReadsBack() throws IOException {
        Path file = dir.resolve("sub/config.json");
        Config config = new Config("tiny", 64, List.of(0.5, 1e-3));
        Json.write(file, config);
        String text = Files.readString(file);
        assertTrue(text.endsWith("}\n"), text);
        assertTrue(text.contains("\n  \"name\": \"tiny\""), text);
        assertEquals(config, Json.read(file, Config.class));
        JsonNode tree = Json.read(file);
        assertEquals(64, tree.get("dim").intValue());
    }

    /** Jackson's internals stay out of the message: no "[Source: REDACTED ...]", no settings or classes named. */
    @Test
    void errorsSayWhatIsWrongWithoutJacksonsInternals() throws IOException {
        for (var bad : Map.of("{\"a\": 1", "the text ends before the JSON value is closed (opened at line 1, column 1)",
                "{\"a\": \"b", "the text ends inside a string", "{\"a\": 1} {}", "more after the JSON value",
                "[".repeat(1001), "exceeds the maximum allowed (1000)").entrySet()) {
            Path file = Files.writeString(dir.resolve("bad.json"), bad.getKey());
            String message = assertThrows(LumensparkException.class, () -> Json.read(file)).getMessage();
            assertTrue(message.startsWith(file + ": not valid JSON") && message.contains(bad.getValue()), message);
            assertFalse(message.contains("`") || message.contains("Source") || message.contains("Feature"), message);
        }
    }

    @Test
    void toLineIsCompactSingleLine() {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("step", 3);
        record.put("text", "a\nb");
        assertEquals("{\"step\":3,\"text\":\"a\\nb\"}", Json.toLine(record));
    }

    @Test
    void syntaxErrorNamesFileAndLine() throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), "{\n  \"name\": \"x\",\n  \"dim\": ,\n}\n");
        LumensparkException e = assertThrows(LumensparkException.class, () -> Json.read(file));
        assertTrue(e.getMessage().startsWith(file + ": not valid JSON at line 3: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertThrows(LumensparkException.class, () -> Json.read(file, Config.class));
    }

    @Test
    void badValuesNameTheField() throws IOException {
        Path wrongType = Files.writeString(dir.resolve("a.json"), "{\"name\": \"x\",\n \"dim\": \"big\"}");
        LumensparkException e = assertThrows(LumensparkException.class, () -> Json.read(wrongType, Config.class));
        assertTrue(e.getMessage().startsWith(wrongType + ": bad value for 'dim' at line 2: "), e.getMessage());

        Path typo = Files.writeString(dir.resolve("b.json"), "{\"name\": \"x\", \"dimm\": 3}");
        e = assertThrows(LumensparkException.class, () -> Json.read(typo, Config.class));
        assertTrue(e.getMessage().startsWith(typo + ": bad value for 'dimm'"), e.getMessage());

        Path nested = Files.writeString(dir.resolve("c.json"), "{\"rates\": [1.0, \"fast\"]}");
        e = assertThrows(LumensparkException.class, () -> Json.read(nested, Config.class));
        assertTrue(e.getMessage().startsWith(nested + ": bad value for 'rates[1]'"), e.getMessage());
    }

    @Test
    void rejectsDuplicateKeysTrailingContentEmptyAndMissingFiles() throws IOException {
        Path dup = Files.writeString(dir.resolve("dup.json"), "{\"dim\": 1, \"dim\": 2}");
        assertTrue(assertThrows(LumensparkException.class, () -> Json.read(dup)).getMessage().contains("dim"));
        Path trailing = Files.writeString(dir.resolve("trailing.json"), "{} {}");
        assertTrue(assertThrows(LumensparkException.class, () -> Json.read(trailing, Map.class))
                .getMessage().startsWith(trailing.toString()));
        assertTrue(assertThrows(LumensparkException.class, () -> Json.read(trailing))
                .getMessage().startsWith(trailing.toString()));
        Path empty = Files.writeString(dir.resolve("empty.json"), " \n");
        assertEquals(empty + ": empty file, expected JSON",
                assertThrows(LumensparkException.class, () -> Json.read(empty)).getMessage());
        assertEquals(empty + ": empty file, expected JSON",
                assertThrows(LumensparkException.class, () -> Json.read(empty, Config.class)).getMessage());
        Path missing = dir.resolve("nope.json");
        assertEquals("no such file: " + missing,
                assertThrows(LumensparkException.class, () -> Json.read(missing)).getMessage());
    }
}
