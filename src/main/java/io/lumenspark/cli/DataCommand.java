package io.lumenspark.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code lumenspark data ...}: corpora, fetched and cached. */
@Command(name = "data", mixinStandardHelpOptions = true,
        description = "Corpora: fetch and cache them (get), show the catalogue (list).",
        subcommands = {DataGetCommand.class, DataListCommand.class})
final class DataCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (get or list)");
    }
}
