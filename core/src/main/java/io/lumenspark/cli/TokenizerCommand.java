package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.tokenizer.BpeTokenizer;
import io.lumenspark.tokenizer.BpeTrainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
        ThreadOptions runtime;

        @Option(names = "--input", paramLabel = "FILE|DIR", required = true, arity = "1..*", description = "Text files or folders.")
        List<Path> inputs;

        @Option(names = "--vocab-size", paramLabel = "N", required = true,
                description = "Tokens in all: 256 bytes + merges + special tokens, e.g. 8192.")
        int vocabSize;

        @Option(names = "--out", paramLabel = "DIR", required = true, description = "Folder to write the tokenizer to.")
        Path out;

        @Option(names = "--min-frequency", paramLabel = "N", description = "Fewest occurrences of a pair to merge it (default: ${DEFAULT-VALUE}).")
        int minFrequency = 2;

        @Option(names = "--special-tokens", paramLabel = "TOKEN,...", split = ",", description = "Special tokens besides <|endoftext|>"
                + " (comma-separated).")
        List<String> specials = List.of();

        @Option(names = "--force", description = "Replace the tokenizer an --out folder already holds.")
        boolean force;

        @Override
        public Integer call() {
            runtime.apply();
            Set<String> seen = new HashSet<>();
            for (String t : specials) {
                if (!seen.add(t)) throw new LumensparkException("--special-tokens names " + t + " twice");
            }
            checkOut(out, force);
            BpeTrainer trainer = new BpeTrainer(vocabSize, minFrequency, specials, runtime.threads, System.out);
            BpeTokenizer tok = trainer.train(inputs);
            tok.save(out, 0);
            System.out.printf("saved %s (%,d tokens, <|endoftext|> = %d) to %s%n", tok.name(), tok.vocabSize(),
                    tok.eosId(), out);
            return 0;
        }

        private static final Set<String> TOKENIZER_FILES = Set.of("tokenizer.json", "vocab.json",
                "merges.txt", "tokenizer_config.json");

        /**
         * Before training: --out must be new, empty or (with force) an earlier tokenizer (only its four files),
         * never, say, a model folder whose weights were trained with another tokenizer.
         */
        private static void checkOut(Path out, boolean force) {
            if (!Files.exists(out)) return;
            if (!Files.isDirectory(out)) {
                throw new LumensparkException("--out " + out + " is a file; give a folder");
            }
            try (var files = Files.list(out)) {
                List<String> names = files.map(f -> f.getFileName().toString()).sorted().toList();
                List<String> others = names.stream().filter(name -> !TOKENIZER_FILES.contains(name)).toList();
                if (!others.isEmpty()) {
                    throw new LumensparkException("--out " + out + " holds other files than a"
                            + " tokenizer's (" + String.join(", ", others.subList(0, Math.min(3, others.size())))
                            + (others.size() > 3 ? ", ..." : "") + "); choose a new or empty folder");
                }
                if (!force && !names.isEmpty()) {
                    throw new LumensparkException("--out " + out + " holds a tokenizer; replace it with --force,"
                            + " or choose a new or empty folder");
                }
            } catch (IOException e) {
                throw new LumensparkException("cannot read --out " + out + ": " + e.getMessage(), e);
            }
        }
    }
}
