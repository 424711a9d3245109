package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The lumenspark command line: one subcommand per job; bad input ends in one line on stderr and exit code 2. */
@Command(name = "lumenspark", mixinStandardHelpOptions = true, version = "lumenspark 0.1.0",
        description = "Linformer-family language models on the CPU: train, evaluate, score, benchmark.",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, ScoreCommand.class,
                InfoCommand.class, BenchCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    /** Options every command takes: the thread count and the matrix backend. */
    static final class Runtime {
        @Option(names = "--threads", description = "Threads for kernels and matrix products (default: all cores, ${DEFAULT-VALUE}).")
        int threads = java.lang.Runtime.getRuntime().availableProcessors();

        @Option(names = "--backend", description = "Matrix products: auto, openblas or java (default: ${DEFAULT-VALUE}).")
        String backend = "auto";

        void apply() {
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
            throw e;
        });
        cli.setParameterExceptionHandler((e, a) -> {
            System.err.println("error: " + e.getMessage());
            System.err.println("Try '" + e.getCommandLine().getCommandName() + " --help' for the options.");
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
