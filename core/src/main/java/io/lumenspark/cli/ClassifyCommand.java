package io.lumenspark.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code lumenspark classify ...}: text classification. */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Text classification: fine-tune a pretrained model or train one from scratch on labeled"
                + " texts (train), measure it (eval), label new texts (predict).",
        subcommands = {ClassifyTrainCommand.class, ClassifyEvalCommand.class, ClassifyPredictCommand.class})
final class ClassifyCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (train, eval or predict)");
    }
}
