package io.lumenspark.cli;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Printable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.regex.Matcher;

/** The lumenspark command line: one subcommand per job; bad input ends in one line on stderr and exit code 2. */
@Command(name = "lumenspark", mixinStandardHelpOptions = true, version = "lumenspark 0.1.0",
        description = "Linformer-family language models on the CPU: train, evaluate, score, benchmark.",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, ScoreCommand.class, GenerateCommand.class,
                ServeCommand.class, FillMaskCommand.class, InfoCommand.class, ConvertCommand.class,
                QuantizeCommand.class, DataCommand.class,
                ClassifyCommand.class, TokenizerCommand.class, BenchCommand.class,
                StudyCommand.class},
        footer = {"", "The launcher (./lumenspark) also runs:",
                "  test [maven args]      the test suite (both modules)",
                "  spark COMMAND ...      training (DiLoCo), data preparation and batch inference on Apache Spark",
                "  jmh [--quick] [regex]  the JMH kernel benchmarks"})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (0 success, 1 runtime failure, 2 bad input). */
    public static int run(String... args) {
        return execute(new Main(), args);
    }

    /**
     * Runs a picocli command object (this one, or another program's top command, e.g. the Spark module's) with
     * the error handling described above, and returns the exit code.
     */
    static int execute(Object command, String... args) {
        CommandLine cli = new CommandLine(command);
        // as the user ran the launcher (./lumenspark, a full path): "lumenspark" and "lumenspark spark" alike
        cli.setCommandName(cli.getCommandName().replaceFirst("^lumenspark", Matcher.quoteReplacement(Home.command())));
        CliText.install(cli);
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof LumensparkException) {
                error(e.getMessage());
                return 2;
            }
            // a bug or an environment failure: still one line, the trace only on request
            if (System.getenv("LUMENSPARK_DEBUG") != null) e.printStackTrace();
            error(e + " (set LUMENSPARK_DEBUG=1 for the stack trace)");
            return 1;
        });
        cli.setParameterExceptionHandler((e, a) -> {
            // one line, like every other error; the hint names the whole command ("lumenspark tokenizer train")
            CommandLine line = e.getCommandLine();
            error(CliText.message(e) + " (see '" + line.getCommandSpec().qualifiedName() + " --help')");
            return 2;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            error("out of memory (" + e.getMessage() + "); the model or batch is too large for this machine");
            return 1;
        }
    }

    /**
     * Prints {@code error: MESSAGE} on one line of stderr, whatever the message holds: a line break, NUL or escape
     * sequence from a file name, an archive or a server is escaped ({@link Printable#line}).
     */
    private static void error(String message) {
        System.err.println("error: " + Printable.line(message));
    }
}
