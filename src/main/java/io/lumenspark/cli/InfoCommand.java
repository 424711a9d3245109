package io.lumenspark.cli;

import io.lumenspark.io.Json;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelFiles;
import io.lumenspark.model.LumensparkModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true, description = "Describe a model folder.")
final class InfoCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    Main.Threads runtime;

    @Option(names = "--model", required = true, description = "Model folder.")
    Path modelDir;

    @Override
    public Integer call() throws IOException {
        runtime.apply();
        ModelConfig cfg = ModelFiles.readConfig(modelDir);
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelDir)) {
            System.out.printf("model:      %s%n", modelDir);
            System.out.printf("attention:  %s%s, k=%d, kv_heads=%d%n", cfg.attention(),
                    cfg.causal() ? " (causal)" : " (bidirectional: sees the future)", cfg.k(), cfg.kvHeads());
            System.out.printf("shape:      vocab %d, embed_dim %d, depth %d, heads %d, seq_length %d, rank %d%n",
                    cfg.vocabSize(), cfg.embedDim(), cfg.depth(), cfg.heads(), cfg.seqLength(), cfg.rank());
            System.out.printf("parameters: %,d (%.1f MB as float32)%n", model.params().count(),
                    model.params().count() * 4 / 1e6);
            System.out.printf("tokenizer:  %s%n", model.tokenizer().name());
            System.out.printf("weights:    %s, %,d bytes%n", ModelFiles.WEIGHTS,
                    Files.size(modelDir.resolve(ModelFiles.WEIGHTS)));
            Path state = modelDir.resolve("checkpoint").resolve("trainer_state.json");
            if (Files.exists(state)) {
                System.out.printf("training:   checkpoint at step %s%n", Json.read(state).get("step"));
            }
        }
        return 0;
    }
}
