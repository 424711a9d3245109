package io.lumenspark.engine;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;

/** The matrix-product backend to use (--backend); the process-wide one in use is {@link Blas#get()}. */
public enum Backend implements Labeled {
    /** OpenBLAS when it loads, else the pure-Java products (with a warning). */
    AUTO,
    /** OpenBLAS through the FFM API; an error when it cannot be loaded. */
    OPENBLAS,
    /** The pure-Java Vector API products. */
    JAVA;

    private static volatile Blas current;

    /**
     * The backend with this label ("auto", "openblas", "java").
     *
     * @throws LumensparkException for any other text
     */
    public static Backend parse(String label) {
        return Labeled.find(Backend.class, label).orElseThrow(() -> new LumensparkException("unknown backend '"
                + label + "' (expected " + Labeled.alternatives(Backend.class) + ")"));
    }

    @Override
    public String toString() {
        return label();
    }

    /** The backend in use, chosen as AUTO with every thread on first use when none was selected. */
    static Blas current() {
        Blas b = current;
        if (b == null) {
            synchronized (Backend.class) {
                if (current == null) {
                    select(AUTO, Parallel.threads());
                }
                b = current;
            }
        }
        return b;
    }

    /** Makes backend the process's, with this many threads for products and kernels. */
    static synchronized void select(Backend backend, int threads) {
        Parallel.setThreads(threads);
        current = switch (backend) {
            case JAVA -> new JavaBlas();
            case OPENBLAS -> OpenBlas.load();
            case AUTO -> {
                try {
                    yield OpenBlas.load();
                } catch (LumensparkException | LinkageError e) {
                    System.err.println("warning: OpenBLAS could not be loaded (" + e.getMessage()
                            + "); using the slower pure-Java matrix products");
                    yield new JavaBlas();
                }
            }
        };
    }
}
