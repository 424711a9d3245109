package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The lumenspark command line: one subcommand per job; bad input ends in one line on stderr and exit code 2. */
@Command(name = "lumenspark", mixinStandardHelpOptions = true, version = "lumenspark 0.1.0",
        description = "Linformer-family language models on the CPU: train, evaluate, score, benchmark.",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, ScoreCommand.class, GenerateCommand.class,
                InfoCommand.class, DataCommand.class, TokenizerCommand.class, BenchCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    /** Options every command takes: the thread count and the matrix backend. */
    static final class Runtime {
        @Option(names = "--threads", description = "Threads for kernels, matrix products and tokenizing (default: all cores;"
                + " when resuming, the run's own count).")
        Integer threads;

        @Option(names = "--backend", description = "Matrix products: auto, openblas or java (default: ${DEFAULT-VALUE}).")
        String backend = "auto";

        void apply() {
            apply(java.lang.Runtime.getRuntime().availableProcessors());
        }

        /** Applies the options, with this thread count unless --threads was given. */
        void apply(int defaultThreads) {
            if (threads == null) threads = defaultThreads;
            Blas.select(backend, threads);
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (0 success, 1 runtime failure, 2 bad input). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof LumensparkException) {
                System.err.println("error: " + e.getMessage());
                return 2;
            }
            // a bug or an environment failure: still one line, the trace only on request
            if (System.getenv("LUMENSPARK_DEBUG") != null) e.printStackTrace();
            System.err.println("error: " + e + " (set LUMENSPARK_DEBUG=1 for the stack trace)");
            return 1;
        });
        cli.setParameterExceptionHandler((e, a) -> {
            // one line, like every other error; the hint names the whole command ("lumenspark tokenizer train")
            System.err.println("error: " + e.getMessage() + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            return 2;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("error: out of memory (" + e.getMessage() + "); try a smaller --batch or --seq-length");
            return 1;
        }
    }
}
