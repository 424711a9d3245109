package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.Json;
import io.lumenspark.io.ProgressBars;
import io.lumenspark.model.MemoryPlan;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.tokens.EvalTokens;
import io.lumenspark.tokens.TokenFile;
import io.lumenspark.training.Evaluator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Loss and perplexity of a model on text (files or folders) or on a uint16 token file (.bin).")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption modelFolder;

    @Option(names = "--data", required = true, description = "Text file, folder of text files, prepared token folder (its val.bin), or .bin token file.")
    Path data;

    @Mixin
    BatchOptions shape;

    @Option(names = "--max-tokens", description = "Evaluate at most this many tokens, 0 for all (default: ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--json", description = "Print the result as JSON.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        int batch = shape.batch, seqLength = shape.seqLength;
        if (batch < 1) throw new LumensparkException("--batch must be at least 1");
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelFolder.dir);
             TokenFile tokens = EvalTokens.open(data, model.tokenizer())) {
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
                r = Evaluator.evaluate(model.languageModel(), tokens, batch, n, maxTokens, bar::stepTo);
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
}
