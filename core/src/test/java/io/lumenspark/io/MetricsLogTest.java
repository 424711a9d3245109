package io.lumenspark.io;

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

class MetricsLogTest {
    @TempDir
    Path dir;

    private static Map<String, Object> record(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
        return m;
    }

    private static List<Object> steps(Path file) {
        return MetricsLog.read(file).stream().map(r -> r.get("step")).toList();
    }

    @Test
    void appendsOneFlushedLinePerRecord() throws IOException {
        Path file = dir.resolve("run/metrics.jsonl");
        try (MetricsLog log = new MetricsLog(file)) {
            log.log(record("step", 1, "loss", 2.5, "split", "train"));
            assertEquals("{\"step\":1,\"loss\":2.5,\"split\":\"train\"}\n", Files.readString(file), "visible before close");
            log.log(record("step", 2, "loss", Double.NaN));
        }
        try (MetricsLog log = new MetricsLog(file)) {
            log.log(record("step", 3_000_000_000L));
        }
        List<Map<String, Object>> records = MetricsLog.read(file);
        assertEquals(3, records.size());
        assertEquals(record("step", 1, "loss", 2.5, "split", "train"), records.get(0));
        assertNull(records.get(1).get("loss"), "JSON has no NaN: written as null");
        assertTrue(records.get(1).containsKey("loss"));
        assertEquals(3_000_000_000L, records.get(2).get("step"));
        assertEquals(3, Files.readAllLines(file).size());
    }

    @Test
    void skipsAndRepairsATruncatedLastLine() throws IOException {
        Path file = Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo");
        assertEquals(List.of(1, 2), steps(file));
        try (MetricsLog log = new MetricsLog(file)) {
            log.log(record("step", 3));
        }
        assertEquals("{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n", Files.readString(file));
    }

    @Test
    void keepsACompleteLastLineThatOnlyLacksItsNewline() throws IOException {
        Path file = Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1}\n{\"step\":2}");
        assertEquals(List.of(1, 2), steps(file));
        try (MetricsLog log = new MetricsLog(file)) {
            log.log(record("step", 3));
        }
        assertEquals(List.of(1, 2, 3), steps(file));
    }

    @Test
    void corruptMiddleLineIsAnErrorNamingFileAndLine() throws IOException {
        Path file = Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1}\n{oops\n{\"step\":3}\n");
        LumensparkException e = assertThrows(LumensparkException.class, () -> MetricsLog.read(file));
        assertTrue(e.getMessage().startsWith(file + ": line 2 is not a valid JSON object"), e.getMessage());
        Path array = Files.writeString(dir.resolve("array.jsonl"), "[1]\n");
        assertEquals(array + ": line 1 is JSON but not an object", // not Jackson's "java.util.LinkedHashMap"
                assertThrows(LumensparkException.class, () -> MetricsLog.read(array)).getMessage());
    }

    @Test
    void twoRecordsOnOneLineAreNotValidJsonRatherThanNotAnObject() throws IOException {
        Path file = Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":1}{\"step\":2}\n{\"step\":3}\n");
        LumensparkException e = assertThrows(LumensparkException.class, () -> MetricsLog.read(file));
        assertEquals(file + ": line 1 is not a valid JSON object: more after the JSON value", e.getMessage());
    }

    @Test
    void truncateAfterStepKeepsEarlierRecordsVerbatim() throws IOException {
        String header = "{\"event\":\"start\",\"lr\":1.0E-3}";
        Path file = Files.writeString(dir.resolve("metrics.jsonl"), header + "\n"
                + "{\"step\":100,\"loss\":4.0}\n{\"step\":200,\"loss\":3.0}\n"
                + "{\"step\":300,\"loss\":2.5}\n{\"event\":\"eval\"}\n{\"step\":400,\"loss\":2.0}\n{\"step\":50");
        assertEquals(3, MetricsLog.truncateAfterStep(file, 200));
        assertEquals(header + "\n{\"step\":100,\"loss\":4.0}\n{\"step\":200,\"loss\":3.0}\n", Files.readString(file));
        assertEquals(0, MetricsLog.truncateAfterStep(file, 200));
        assertEquals(3, MetricsLog.read(file).size());
    }

    @Test
    void missingFileReadsAsEmpty() {
        Path file = dir.resolve("absent.jsonl");
        assertEquals(List.of(), MetricsLog.read(file));
        assertEquals(0, MetricsLog.truncateAfterStep(file, 10));
        assertFalse(Files.exists(file));
    }
}
