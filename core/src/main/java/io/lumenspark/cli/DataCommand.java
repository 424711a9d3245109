package io.lumenspark.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code lumenspark data ...}: getting and preparing corpora. */
@Command(name = "data", mixinStandardHelpOptions = true,
        description = "Corpora: fetch and cache them (get), show the catalogue (list), tokenize them into token"
                + " files for training (prepare).",
        subcommands = {DataGetCommand.class, DataListCommand.class, DataPrepareCommand.class})
final class DataCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (get, list or prepare)");
    }
}
