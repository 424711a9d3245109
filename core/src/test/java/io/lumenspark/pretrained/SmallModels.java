package io.lumenspark.pretrained;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.tokenizer.BpeTokenizer;
import io.lumenspark.tokenizer.BpeTrainer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Small, complete model folders for tests of loading: a causal Linformer of a few thousand parameters with a
 * byte-level BPE tokenizer of a few hundred tokens, so that a folder is written and read in milliseconds.
 */
public final class SmallModels {
    /** The text the tokenizer learns from and tests can evaluate. */
    public static final String TEXT = "It was the best of times, it was the worst of times.\n".repeat(40);

    private SmallModels() {
    }

    /** A small tokenizer trained on {@link #TEXT} (in a scratch folder under dir). */
    public static BpeTokenizer tokenizer(Path dir) {
        try {
            Path text = Files.createDirectories(dir.resolve("tokenizer-text")).resolve("text.txt");
            Files.writeString(text, TEXT);
            PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            return new BpeTrainer(300, 2, List.of(), 1, quiet).train(List.of(text));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The config of the folders: the tokenizer's vocabulary, d 16, depth 2, 32 positions, k 8. */
    public static ModelConfig config(BpeTokenizer tokenizer, Map<String, String> overrides) {
        Map<String, String> m = new java.util.HashMap<>(Map.of("vocab_size", "" + tokenizer.vocabSize(),
                "embed_dim", "16", "heads", "2", "depth", "2", "seq_length", "32", "k", "8", "rank", "4"));
        m.putAll(overrides);
        return ModelConfig.preset("lumenspark").with(m);
    }

    /** Writes a model folder at folder, initialized with seed 1. */
    public static Path write(Path folder, BpeTokenizer tokenizer, Map<String, String> overrides) {
        LanguageModel model = new LanguageModel(config(tokenizer, overrides));
        try (LumensparkModel m = new LumensparkModel(model, tokenizer)) {
            model.initialize(1);
            m.save(folder);
        }
        return folder;
    }

    /** Every file of a folder, by name: what a hub repository of the folder serves. */
    public static Map<String, byte[]> files(Path folder) throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path f : list.toList()) files.put(f.getFileName().toString(), Files.readAllBytes(f));
        }
        return files;
    }
}
