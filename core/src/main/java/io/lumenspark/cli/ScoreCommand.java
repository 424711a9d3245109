package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Log-probability of every token of a text given the tokens before it.")
final class ScoreCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption modelFolder;

    static final class Input {
        @Option(names = "--text", paramLabel = "TEXT", required = true, description = "The text to score.")
        String text;

        @Option(names = "--file", paramLabel = "FILE", required = true, description = "A file whose text to score.")
        Path file;
    }

    @ArgGroup(multiplicity = "1")
    Input input;

    @Option(names = "--json", description = "Print ids, tokens and log-probabilities as JSON.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        String text = input.text != null ? input.text : InputFiles.readLenient(input.file);
        try (LumensparkModel model = modelFolder.open()) {
            Tokenizer tok = model.tokenizer();
            model.config().nextTokenLossWarning().ifPresent(w -> System.err.println("warning: " + w));
            int[] ids = tok.encode(text);
            int n = ids.length - 1;
            if (n < 1) throw new LumensparkException("the text has " + Words.count(ids.length, "token") + "; scoring needs at least 2");
            if (n > model.config().seqLength()) {
                int most = model.config().seqLength() + 1;
                throw new LumensparkException(String.format("the text has %,d tokens, more than the %,d this model"
                        + " scores at once (its context of %,d positions, each predicting the token after it)",
                        ids.length, most, most - 1));
            }
            float[] loss = new float[n];
            model.languageModel().evaluate(Arrays.copyOf(ids, n), Arrays.copyOfRange(ids, 1, n + 1), 1, n, loss);
            double sum = 0;
            List<Double> logprobs = new ArrayList<>();
            List<String> pieces = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                logprobs.add((double) -loss[i]);
                sum -= loss[i];
                pieces.add(tok.decode(new int[]{ids[i + 1]}));
            }
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("ids", ids);
                m.put("tokens", pieces);
                m.put("logprobs", logprobs);
                m.put("sum_logprob", sum);
                m.put("mean_logprob", sum / n);
                m.put("perplexity", Math.exp(-sum / n));
                System.out.println(Json.toLine(m));
            } else {
                System.out.printf("%-6s %-10s %s%n", "pos", "logprob", "token");
                for (int i = 0; i < n; i++) {
                    System.out.printf("%-6d %-10.4f %s%n", i + 1, logprobs.get(i), Json.toLine(pieces.get(i)));
                }
                System.out.printf("sum %.4f, mean %.4f, perplexity %.2f over %s%n", sum, sum / n,
                        Math.exp(-sum / n), Words.count(n, "token"));
            }
        }
        return 0;
    }
}
