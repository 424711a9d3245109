package io.lumenspark.bench;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A model folder of a new model's random weights (seed 1) in a temporary directory, removed on close: the benches
 * load it as the commands load a trained model (memory-mapped), so their memory figures are the commands'.
 */
final class RandomModelFolder implements AutoCloseable {
    private final Path dir, folder;

    RandomModelFolder(ModelConfig cfg, Tokenizer tokenizer, String name) {
        try {
            dir = Files.createTempDirectory("lumenspark-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        folder = dir.resolve(name);
        try {
            LanguageModel lm = new LanguageModel(cfg);
            try (LumensparkModel m = new LumensparkModel(lm, tokenizer)) {
                lm.initialize(1);
                m.save(folder);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The model folder. */
    Path folder() {
        return folder;
    }

    @Override
    public void close() {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // a temporary folder left behind
        }
    }
}
