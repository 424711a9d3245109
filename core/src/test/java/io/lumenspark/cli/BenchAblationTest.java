package io.lumenspark.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchAblationTest {
    @Test
    void aSmallRunWritesTheCsvTableAndCharts(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("bench", "ablation", "--max-n", "128", "--ks", "64", "--runs", "1", "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> csv = Files.readAllLines(out.resolve("ablation.csv"));
        assertEquals(1 + 4, csv.size(), String.join("\n", csv)); // header and one row per variant
        for (String f : List.of("ablation.md", "forward_time.png", "train_time.png", "memory.png")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
    }
}
