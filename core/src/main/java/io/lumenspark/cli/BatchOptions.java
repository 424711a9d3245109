package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.training.TrainOptions;
import picocli.CommandLine.Option;

/** {@code --batch} and {@code --seq-length}: the shape of a pass. */
final class BatchOptions {
    @Option(names = "--batch", paramLabel = "N", description = "Sequences per batch, or per micro-batch when training with"
            + " --grad-accum (default: ${DEFAULT-VALUE}).")
    int batch = TrainOptions.builder().batch();

    @Option(names = "--seq-length", paramLabel = "N", description = "Tokens per sequence, at most the model's"
            + " seq_length (default: the model's seq_length).")
    Integer seqLength;

    /** --seq-length as given, 0 when it was not (the model's seq_length); the model's bound is checked later. */
    int seqLength() {
        if (seqLength == null) return 0;
        if (seqLength < 1) throw new LumensparkException("--seq-length must be at least 1, got " + seqLength);
        return seqLength;
    }

    /** The length of a pass of a model with this seq_length: --seq-length, which must not exceed it, or it. */
    int seqLength(int modelSeqLength) {
        int n = seqLength() == 0 ? modelSeqLength : seqLength;
        if (n > modelSeqLength) {
            throw new LumensparkException("--seq-length must be in 1.." + modelSeqLength + ", got " + n);
        }
        return n;
    }
}
