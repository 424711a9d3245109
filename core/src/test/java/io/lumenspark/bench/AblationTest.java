package io.lumenspark.bench;

import io.lumenspark.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

class AblationTest {
    @Test
    void theTableComparesEachVariantWithTheTransformerAtItsLengthAndShowsThePaper() {
        List<Ablation.Point> points = List.of(
                new Ablation.Point("transformer", 512, 32, 30, 90, 40, 400, 200, 50, 200),
                new Ablation.Point("linformer", 512, 128, 10, 45, 8, 100, 200, 30, 155),
                new Ablation.Point("transformer", 1024, 32, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                        200, Double.NaN, Double.NaN),
                new Ablation.Point("linformer", 1024, 128, 20, 90, 16, 200, 200, 60, 310));
        String md = Ablation.markdown(points);
        String row = md.lines().filter(l -> l.startsWith("| linformer | 512 |")).findFirst().orElseThrow();
        assertTrue(row.contains("| 3.0x | 5.0x | 1.5x / 1.7x | 2.0x |"), row); // speed-up, saving, paper, train
        String skipped = md.lines().filter(l -> l.startsWith("| linformer | 1024 |")).findFirst().orElseThrow();
        assertTrue(skipped.contains("|  |  |  |  |"), skipped); // no Transformer figure to compare with
    }

    @Test
    void attentionMemoryEstimatesGrowWithNSquaredOnlyForFullAttention() {
        var full = ModelConfig.preset("transformer");
        var lin = ModelConfig.preset("lumenspark");
        double fullRatio = Ablation.estimateBytes(full.with("seq_length", "4096"), false)
                / Ablation.estimateBytes(full.with("seq_length", "1024"), false);
        double linRatio = Ablation.estimateBytes(lin.with("seq_length", "4096"), false)
                / Ablation.estimateBytes(lin.with("seq_length", "1024"), false);
        assertTrue(fullRatio > 6 && linRatio < 4.5, fullRatio + " " + linRatio); // 4x the length
    }
}
