package io.lumenspark.cli;

import picocli.CommandLine.Option;

/** {@code --threads} and {@code --backend}, for the commands that compute. */
final class RuntimeOptions extends ThreadOptions {
    @Option(names = "--backend", description = "Matrix products: auto, openblas or java (default: ${DEFAULT-VALUE}).")
    String backend = "auto";

    @Override
    String backend() {
        return backend;
    }
}
