package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.engine.Backend;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Parallel;
import picocli.CommandLine.Option;

/** {@code --threads}, for commands that use worker threads but run no matrix products (tokenizing). */
class ThreadOptions {
    /** Most threads --threads accepts: a few per core, and enough to rerun a big machine's run elsewhere. */
    static final int MAX_THREADS = Parallel.MAX_THREADS;

    @Option(names = "--threads", paramLabel = "N", description = "Worker threads (default: all cores).")
    Integer threads;

    /** Applies the options, with all cores unless --threads was given. */
    void apply() {
        apply(Runtime.getRuntime().availableProcessors());
    }

    /** Applies the options, with this thread count unless --threads was given. */
    void apply(int defaultThreads) {
        if (threads == null) {
            threads = defaultThreads;
        } else if (threads < 1 || threads > MAX_THREADS) {
            throw new LumensparkException("--threads must be between 1 and " + MAX_THREADS + ", got " + threads);
        }
        Blas.select(Backend.parse(backend()), threads);
    }

    /**
     * Applies the options for resuming a run that computed with {@code saved} threads: that count unless
     * --threads was given, and a warning when it differs (a step's numbers depend on the thread count).
     */
    void applySaved(int saved) {
        apply(saved);
        if (threads != saved) {
            System.err.printf("warning: the run used %s; with %d its numbers will differ slightly from"
                    + " an uninterrupted run%n", Words.count(saved, "thread"), threads);
        }
    }

    /** The matrix backend to select, as given ("auto", "openblas", "java"). */
    String backend() {
        return Backend.AUTO.label();
    }
}
