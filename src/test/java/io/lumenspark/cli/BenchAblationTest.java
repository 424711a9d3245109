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
    void theTableComparesEachVariantWithTheTransformerAtItsLengthAndShowsThePaper() {
        List<BenchAblation.Point> points = List.of(
                new BenchAblation.Point("transformer", 512, 32, 30, 90, 40, 400, 200, 50, 200),
                new BenchAblation.Point("linformer", 512, 128, 10, 45, 8, 100, 200, 30, 155),
                new BenchAblation.Point("transformer", 1024, 32, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                        200, Double.NaN, Double.NaN),
                new BenchAblation.Point("linformer", 1024, 128, 20, 90, 16, 200, 200, 60, 310));
        String md = BenchAblation.markdown(points);
        String row = md.lines().filter(l -> l.startsWith("| linformer | 512 |")).findFirst().orElseThrow();
        assertTrue(row.contains("| 3.0x | 5.0x | 1.5x / 1.7x | 2.0x |"), row); // speed-up, saving, paper, train
        String skipped = md.lines().filter(l -> l.startsWith("| linformer | 1024 |")).findFirst().orElseThrow();
        assertTrue(skipped.contains("|  |  |  |  |"), skipped); // no Transformer figure to compare with
    }

    @Test
    void attentionMemoryEstimatesGrowWithNSquaredOnlyForFullAttention() {
        var full = io.lumenspark.model.ModelConfig.preset("transformer");
        var lin = io.lumenspark.model.ModelConfig.preset("lumenspark");
        double fullRatio = BenchAblation.estimateBytes(full.with("seq_length", "4096"), false)
                / BenchAblation.estimateBytes(full.with("seq_length", "1024"), false);
        double linRatio = BenchAblation.estimateBytes(lin.with("seq_length", "4096"), false)
                / BenchAblation.estimateBytes(lin.with("seq_length", "1024"), false);
        assertTrue(fullRatio > 6 && linRatio < 4.5, fullRatio + " " + linRatio); // 4x the length
    }

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
