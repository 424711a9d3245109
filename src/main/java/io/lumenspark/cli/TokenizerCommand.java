package io.lumenspark.cli;

import io.lumenspark.data.BpeTokenizer;
import io.lumenspark.data.BpeTrainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "tokenizer", mixinStandardHelpOptions = true, description = "Tokenizers: train a byte-level BPE.",
        subcommands = {TokenizerCommand.Train.class})
final class TokenizerCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand: train");
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a GPT-2-style byte-level BPE on text files and save it in Hugging Face's format"
                    + " (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json), for train --tokenizer DIR.")
    static final class Train implements Callable<Integer> {
        @Mixin
        Main.Runtime runtime;

        @Option(names = "--input", required = true, arity = "1..*", description = "Text files or folders.")
        List<Path> inputs;

        @Option(names = "--vocab-size", required = true,
                description = "Tokens in all: 256 bytes + merges + special tokens, e.g. 8192.")
        int vocabSize;

        @Option(names = "--out", required = true, description = "Folder to write the tokenizer to.")
        Path out;

        @Option(names = "--min-frequency", description = "Fewest occurrences of a pair to merge it (default: ${DEFAULT-VALUE}).")
        int minFrequency = 2;

        @Option(names = "--special-tokens", split = ",", description = "Special tokens besides <|endoftext|>"
                + " (comma-separated).")
        List<String> specials = List.of();

        @Override
        public Integer call() {
            runtime.apply();
            BpeTrainer trainer = new BpeTrainer(vocabSize, minFrequency, specials, runtime.threads, System.out);
            BpeTokenizer tok = trainer.train(inputs);
            tok.save(out, 0);
            System.out.printf("saved %s (%,d tokens, <|endoftext|> = %d) to %s%n", tok.name(), tok.vocabSize(),
                    tok.eosId(), out);
            return 0;
        }
    }
}
