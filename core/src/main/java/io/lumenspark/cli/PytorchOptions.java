package io.lumenspark.cli;

import picocli.CommandLine.Option;

/** {@code --vs-pytorch} and {@code --python}: a benchmark's comparison with the PyTorch reference. */
final class PytorchOptions {
    @Option(names = "--vs-pytorch", description = "Also run the PyTorch reference (reference/) on the same shapes"
            + " and print the ratios.")
    boolean vsPytorch;

    @Option(names = "--python", paramLabel = "PYTHON", description = "Python with torch for --vs-pytorch (default: ${DEFAULT-VALUE}).")
    String python = "/usr/bin/python3";

    /** The Python to compare with, or null without --vs-pytorch. */
    String pythonOrNull() {
        return vsPytorch ? python : null;
    }
}
