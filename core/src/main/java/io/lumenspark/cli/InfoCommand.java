package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Describes a model folder. It loads the folder as the other commands do (so it refuses what they refuse) but
 * computes nothing, so it takes no --threads or --backend.
 */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Describe a model folder.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    ModelOption modelFolder;

    @Override
    public Integer call() {
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelFolder.dir)) {
            ModelConfig cfg = model.config();
            String tokenizer = model.tokenizer().name(); // refused here as eval refuses it, when it cannot be used
            System.out.printf("model:      %s%n", modelFolder.dir);
            System.out.printf("attention:  %s%s, k=%d, kv_heads=%d%n", cfg.attention(),
                    cfg.causal() ? " (causal)" : " (bidirectional: sees the future)", cfg.k(), cfg.kvHeads());
            System.out.printf("shape:      vocab %d, embed_dim %d, depth %d, heads %d, seq_length %d, rank %d%n",
                    cfg.vocabSize(), cfg.embedDim(), cfg.depth(), cfg.heads(), cfg.seqLength(), cfg.rank());
            System.out.printf("parameters: %,d (%.1f MB as float32)%n", model.languageModel().params().count(),
                    model.languageModel().params().count() * 4 / 1e6);
            System.out.printf("tokenizer:  %s%s%n", tokenizer, ModelFolder.hasTokenizerFiles(modelFolder.dir) ? ""
                    : " (assumed: the folder has no tokenizer files)");
            System.out.printf("weights:    %s, %,d bytes%n", ModelWeights.WEIGHTS, size(modelFolder.dir.resolve(ModelWeights.WEIGHTS)));
            Path state = modelFolder.dir.resolve("checkpoint").resolve("trainer_state.json");
            Long step = null;
            if (Files.exists(state)) {
                JsonNode s = Json.read(state).get("step");
                if (s == null || !s.canConvertToLong()) throw new LumensparkException(state + ": missing \"step\"");
                step = s.asLong();
                System.out.printf("training:   checkpoint at step %d%n", step);
            }
            Path metrics = modelFolder.dir.resolve("metrics.jsonl");
            if (Files.exists(metrics)) validation(MetricsLog.read(metrics), step);
        }
        return 0;
    }

    /** The last validation loss the run logged, at or before the checkpoint's step (a later one has no model). */
    private static void validation(List<Map<String, Object>> records, Long checkpointStep) {
        for (int i = records.size() - 1; i >= 0; i--) {
            Map<String, Object> r = records.get(i);
            if (r.get("val_loss") instanceof Number loss && r.get("step") instanceof Number step
                    && (checkpointStep == null || step.longValue() <= checkpointStep)) {
                System.out.printf("validation: loss %.4f, perplexity %.2f at step %d%n", loss.doubleValue(),
                        Math.exp(loss.doubleValue()), step.longValue());
                return;
            }
        }
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage());
        }
    }
}
