package io.lumenspark.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code lumenspark study ...}: the studies of {@code io.lumenspark.study}, one subcommand each. */
@Command(name = "study", mixinStandardHelpOptions = true, description = "Train and report a grid of models.",
        subcommands = {StudyConvLinformerCommand.class})
final class StudyCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing study: conv-linformer");
    }
}
