package io.lumenspark.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --model}: the model folder a command reads. */
final class ModelOption {
    @Option(names = "--model", required = true, description = "Model folder.")
    Path dir;
}
