package io.lumenspark.cli;

import io.lumenspark.training.TrainOptions;
import picocli.CommandLine.Option;

/** {@code --batch} and {@code --seq-length}: the shape of a pass. */
final class BatchOptions {
    @Option(names = "--batch", description = "Sequences per batch, or per micro-batch when training with"
            + " --grad-accum (default: ${DEFAULT-VALUE}).")
    int batch = TrainOptions.builder().batch();

    @Option(names = "--seq-length", description = "Tokens per sequence (default: the model's seq_length).")
    int seqLength;
}
