package io.lumenspark.cli;

import io.lumenspark.engine.Backend;
import picocli.CommandLine.Option;

/** {@code --threads} and {@code --backend}, for the commands that compute. */
final class RuntimeOptions extends ThreadOptions {
    @Option(names = "--backend", paramLabel = "NAME", description = "Matrix products: auto, openblas or java (default: ${DEFAULT-VALUE}).")
    String backend = Backend.AUTO.label();

    @Override
    String backend() {
        return backend;
    }
}
