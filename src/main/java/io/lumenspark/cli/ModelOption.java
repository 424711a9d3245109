package io.lumenspark.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model}: the model a command reads, a folder or a Hugging Face Hub id. */
final class ModelOption {
    @Option(names = "--model", required = true, paramLabel = "DIR|ID",
            description = "Model folder, or Hugging Face Hub id owner/name[@revision].")
    ModelName model;

    /** The model folder (a hub model's is fetched into the cache first). */
    Path dir() {
        return model.folder();
    }
}
