package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.io.WeightFiles;
import io.lumenspark.model.LmHeadKind;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.model.Params;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;
import io.lumenspark.training.Checkpoint;
import io.lumenspark.training.RunFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Describes a model folder (or hub model, or a training run's checkpoint). It loads the folder as the other commands
 * do (so it refuses what they refuse) but computes nothing, so it takes no --threads or --backend.
 */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Describe a model: a folder, a"
        + " Hugging Face Hub id or a training run's checkpoint.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    ModelOption modelFolder;

    @Override
    public Integer call() {
        Path dir = modelFolder.dir();
        try (LumensparkModel model = modelFolder.open()) {
            ModelConfig cfg = model.config();
            String tokenizer = model.tokenizer().name(); // refused here as eval refuses it, when it cannot be used
            System.out.printf("model:      %s%n", modelFolder.model.describe());
            System.out.printf("attention:  %s%s, k=%d, kv_heads=%d%n", cfg.attention(),
                    cfg.causal() ? " (causal)" : " (bidirectional: sees the future)", cfg.k(), cfg.kvHeads());
            System.out.printf("shape:      vocab %d, embed_dim %d, depth %d, heads %d, seq_length %d, rank %d%n",
                    cfg.vocabSize(), cfg.embedDim(), cfg.depth(), cfg.heads(), cfg.seqLength(), cfg.rank());
            System.out.printf("objective:  %s%n", objective(cfg));
            System.out.printf("parameters: %,d (%.1f MB as float32)%n", model.languageModel().params().count(),
                    model.languageModel().params().count() * 4 / 1e6);
            System.out.printf("tokenizer:  %s%s%n", tokenizer, ModelFolder.hasTokenizerFiles(dir) ? ""
                    : " (assumed: the folder has no tokenizer files)");
            List<Path> weights = WeightFiles.files(WeightFiles.find(dir));
            long bytes = 0;
            for (Path file : weights) bytes += size(file);
            System.out.printf("weights:    %s%s, %,d bytes%n", weights.getFirst().getFileName(),
                    weights.size() > 1 ? " + " + Words.count(weights.size() - 1, "shard") : "", bytes);
            Params params = model.languageModel().params();
            System.out.printf("dtype:      %s matrix weights (%.1f MB held)%s%n", params.dtype().label(),
                    params.matrixBytes() / 1e6, params.dtype() == WeightDtype.F32 ? ""
                            : ModelWeights.readQuantization(dir).dtype() == params.dtype()
                            ? ", mapped from the file: no float32 copy" : ", quantized on load");
            System.out.printf("kernels:    %s%n", Kernels.describe());
            // a run folder's final model, or a run's checkpoint (all a run stopped before its end has)
            boolean checkpoint = Files.exists(dir.resolve(Checkpoint.STATE));
            Path run = checkpoint ? dir.toAbsolutePath().normalize().getParent() : dir;
            Path state = (checkpoint ? dir : dir.resolve(Checkpoint.FOLDER)).resolve(Checkpoint.STATE);
            Long step = null;
            if (Files.exists(state)) {
                JsonNode s = Json.read(state).get("step");
                if (s == null || !s.canConvertToLong()) throw new LumensparkException(state + ": missing \"step\"");
                step = s.asLong();
                System.out.printf("training:   checkpoint at step %d%n", step);
            }
            if (run != null && Files.exists(run.resolve(RunFolder.METRICS))) {
                validation(MetricsLog.read(run.resolve(RunFolder.METRICS)), step, cfg);
            }
        }
        return 0;
    }

    /** What the model's head predicts, in one line. */
    private static String objective(ModelConfig cfg) {
        if (cfg.isClassifier()) {
            return String.format("sequence classification, %s: %s; %s; pooling %s",
                    Words.count(cfg.numLabels(), "label"), String.join(", ", cfg.labels()), cfg.problemType(),
                    cfg.pooling());
        }
        if (cfg.isMaskedLm()) {
            return String.format("masked LM (%s; fill-mask, <mask> = %s, <pad> = %s)", cfg.lmHead() == LmHeadKind.DENSE
                    ? "RoBERTa-style head: lm_head.dense, GELU, lm_head.layer_norm, fc_out" : "head: fc_out",
                    tokenId(cfg.maskTokenId()), tokenId(cfg.padTokenId()));
        }
        return cfg.causal() ? "causal LM (the next token)"
                : "next-token LM head (bidirectional: its next-token loss is not honest)";
    }

    /**
     * The last validation the run logged, at or before the checkpoint's step (a later one has no model): a
     * language model's loss and (pseudo-)perplexity, a classifier's loss, accuracy and macro-F1 where logged.
     */
    private static void validation(List<Map<String, Object>> records, Long checkpointStep, ModelConfig cfg) {
        for (int i = records.size() - 1; i >= 0; i--) {
            Map<String, Object> r = records.get(i);
            if (r.get("val_loss") instanceof Number loss && r.get("step") instanceof Number step
                    && (checkpointStep == null || step.longValue() <= checkpointStep)) {
                if (cfg.isClassifier()) {
                    System.out.printf("validation: loss %.4f%s%s at step %d%n", loss.doubleValue(),
                            r.get("val_accuracy") instanceof Number a ? String.format(", accuracy %.4f",
                                    a.doubleValue()) : "",
                            r.get("val_macro_f1") instanceof Number f ? String.format(", macro-F1 %.4f",
                                    f.doubleValue()) : "", step.longValue());
                    return;
                }
                boolean maskedLm = cfg.isMaskedLm();
                System.out.printf("validation: %sloss %.4f, %sperplexity %.2f at step %d%n", maskedLm ? "masked LM "
                        : "", loss.doubleValue(), maskedLm ? "pseudo-" : "", Math.exp(loss.doubleValue()),
                        step.longValue());
                return;
            }
        }
    }

    private static String tokenId(int id) {
        return id < 0 ? "none" : Integer.toString(id);
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + e.getMessage());
        }
    }
}
