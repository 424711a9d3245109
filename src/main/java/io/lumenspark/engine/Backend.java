package io.lumenspark.engine;

import io.lumenspark.LumensparkException;

/** Holds the process-wide matrix-product backend and thread count. */
final class Backend {
    private static volatile Blas current;

    private Backend() {
    }

    static Blas current() {
        Blas b = current;
        if (b == null) {
            synchronized (Backend.class) {
                if (current == null) {
                    select("auto", Parallel.threads());
                }
                b = current;
            }
        }
        return b;
    }

    static synchronized void select(String backend, int threads) {
        Parallel.setThreads(threads);
        current = switch (backend) {
            case "java" -> new JavaBlas();
            case "openblas" -> OpenBlas.load();
            case "auto" -> {
                try {
                    yield OpenBlas.load();
                } catch (LumensparkException | LinkageError e) {
                    System.err.println("warning: OpenBLAS could not be loaded (" + e.getMessage()
                            + "); using the slower pure-Java matrix products");
                    yield new JavaBlas();
                }
            }
            default -> throw new LumensparkException("unknown backend '" + backend + "' (expected auto, openblas or java)");
        };
    }
}
