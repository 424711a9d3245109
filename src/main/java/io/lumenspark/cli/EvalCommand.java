package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenDtype;
import io.lumenspark.tokens.TokenFile;
import io.lumenspark.tokens.TokenSplits;
import io.lumenspark.training.Evaluator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Loss and perplexity of a model on text (files or folders) or on a uint16 token file (.bin).")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    Main.Runtime runtime;

    @Option(names = "--model", required = true, description = "Model folder.")
    Path modelDir;

    @Option(names = "--data", required = true, description = "Text file, folder of text files, prepared token folder (its val.bin), or .bin token file.")
    Path data;

    @Option(names = "--batch", description = "Windows per batch (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--seq-length", description = "Window length (default: the model's seq_length).")
    int seqLength;

    @Option(names = "--max-tokens", description = "Evaluate at most this many tokens, 0 for all (default: ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--json", description = "Print the result as JSON.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        if (batch < 1) throw new LumensparkException("--batch must be at least 1");
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelDir);
             TokenFile tokens = tokens(data, model.tokenizer())) {
            int n = seqLength == 0 ? model.config().seqLength() : seqLength;
            if (n < 1 || n > model.config().seqLength()) {
                throw new LumensparkException("--seq-length must be in 1.." + model.config().seqLength());
            }
            if (tokens.length() < 2) throw new LumensparkException(data + ": fewer than 2 tokens to evaluate");
            MemoryPlan.forInference(model.config(), batch, n).check(); // --batch 2147483647: refused, not allocated
            model.config().nextTokenLossWarning().ifPresent(w -> System.err.println("warning: " + w));
            long t0 = System.nanoTime();
            Evaluator.Result r;
            // on stderr, and closed (its line ended) before a result or an error is printed
            try (ProgressBars.Bar bar = ProgressBars.open("eval", Evaluator.targets(tokens, n, maxTokens), 0,
                    ProgressBars.Unit.TOKENS)) {
                r = Evaluator.evaluate(model, tokens, batch, n, maxTokens, bar::stepTo);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("loss", r.loss());
                m.put("perplexity", r.perplexity());
                m.put("tokens", r.tokens());
                m.put("seconds", seconds);
                System.out.println(Json.toLine(m));
            } else {
                System.out.printf("loss %.4f, perplexity %.2f over %s (%.1f s)%n", r.loss(), r.perplexity(),
                        Words.count(r.tokens(), "token"), seconds);
            }
        }
        return 0;
    }

    /**
     * Token ids of a .bin token file, the validation split of a prepared token folder, or of text files (documents
     * separated by end-of-text).
     */
    static TokenFile tokens(Path data, Tokenizer tok) {
        if (!Files.exists(data)) throw new LumensparkException("no such file: " + data);
        if (TokenCorpus.isPrepared(data)) {
            TokenSplits splits = TokenCorpus.openPrepared(data, tok);
            splits.train().close();
            if (splits.val().length() == 0) {
                splits.val().close();
                throw new LumensparkException(data + " has no validation tokens (prepared with --val-fraction 0)");
            }
            return splits.val();
        }
        if (data.toString().endsWith(".bin")) return TokenFile.open(data, TokenDtype.forVocab(tok.vocabSize()));
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(data)) {
            try (Stream<Path> s = Files.walk(data)) {
                s.filter(Files::isRegularFile).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new LumensparkException("cannot list " + data + ": " + e.getMessage());
            }
        } else {
            files.add(data);
        }
        List<int[]> parts = new ArrayList<>();
        long total = 0;
        for (Path f : files) {
            int[] ids = tok.encode(InputFiles.readLenient(f, InputFiles.MAX_ARRAY_BYTES));
            if (ids.length == 0) continue;
            parts.add(ids);
            total += ids.length + 1;
        }
        if (total == 0) throw new LumensparkException(data + " has no text");
        int[] all = new int[Math.toIntExact(total)];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
            all[at++] = tok.eosId();
        }
        return TokenFile.of(all);
    }
}
