package io.lumenspark.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code lumenspark data ...}: getting and preparing corpora. */
@Command(name = "data", mixinStandardHelpOptions = true, description = "Prepare corpora for training.",
        subcommands = {DataPrepareCommand.class})
final class DataCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (prepare)");
    }
}
