package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.CorpusFormat;
import io.lumenspark.corpus.CorpusOptions;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {"Tokenize text, JSON lines or CSV files into train.bin, val.bin and manifest.json, for"
                + " train --data DIR and eval --data DIR.",
                "Resumable: rerun the same command after an interruption to continue; a finished folder is left"
                        + " as it is."})
final class DataPrepareCommand implements Callable<Integer> {
    @Mixin
    ThreadOptions runtime;

    @Parameters(arity = "1..*", paramLabel = "INPUT", description = "Files or folders (read recursively).")
    List<Path> inputs;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output folder: new, empty, or from an earlier prepare.")
    Path out;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, paramLabel = "NAME|DIR", description = "Tokenizer name or folder (default: ${DEFAULT-VALUE}).")
    String tokenizer = "gpt2";

    @Option(names = "--format", paramLabel = "FORMAT", description = "auto, text, jsonl or csv; auto goes by extension: .jsonl/.json,"
            + " .csv, else text (default: ${DEFAULT-VALUE}).")
    String format = "auto";

    @Option(names = "--field", paramLabel = "NAME", description = "JSON lines field holding the text (default: ${DEFAULT-VALUE}).")
    String field = "text";

    @Option(names = "--column", paramLabel = "NAME", description = "CSV header column holding the text (default: ${DEFAULT-VALUE}).")
    String column = "text";

    @Option(names = "--val-fraction", paramLabel = "F", description = "Tail of each file held out for validation: characters of"
            + " text, records of JSON lines and CSV (default: ${DEFAULT-VALUE}).")
    double valFraction = 0.1;

    @Option(names = "--skip-bad-records", description = "Skip and count malformed JSON lines, lines without the"
            + " field and CSV rows with the wrong number of fields, instead of stopping at the first.")
    boolean skipBad;

    @Option(names = "--force", description = "Replace tokens prepared in --out from other inputs or options.")
    boolean force;

    @Override
    public Integer call() {
        runtime.apply();
        Path outFolder = out.toAbsolutePath().normalize();
        for (Path in : inputs) { // such an input would be skipped as part of the output, leaving no text
            if (in.toAbsolutePath().normalize().startsWith(outFolder)) {
                throw new LumensparkException("--out " + out + " holds the input " + in + "; choose an output folder"
                        + " outside the inputs");
            }
        }
        CorpusOptions options = new CorpusOptions(CorpusFormat.fromLabel(format), field, column, valFraction, skipBad);
        Tokenizer tok = Tokenizer.load(tokenizer);
        TokenCorpus.Prepared p = TokenCorpus.prepareFolder(inputs, tok, options, out, force, runtime.threads);
        if (p.alreadyComplete()) {
            System.out.printf("%s already holds these tokens (%,d training, %,d validation); nothing to do%n",
                    p.dir(), p.trainTokens(), p.valTokens());
            return 0;
        }
        if (p.skippedRecords() > 0) {
            System.err.printf("warning: skipped %s%n", Words.count(p.skippedRecords(), "bad record"));
        }
        System.out.printf("prepared %s%s: %s, %s (%s, %s) from %s%n",
                p.dir(), p.resumed() ? " (resumed)" : "", Words.count(p.trainTokens(), "training token"),
                Words.count(p.valTokens(), "validation token"), tok.name(), p.dtype().label(),
                Words.count(p.sources(), "file"));
        return 0;
    }
}
