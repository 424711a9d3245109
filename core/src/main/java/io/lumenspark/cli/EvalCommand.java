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
import io.lumenspark.training.MlmMasking;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Loss and perplexity of a model on text (files or folders), on a folder made by data prepare (its"
                + " val.bin) or on a token file (.bin: uint16, or uint32 for vocabularies over 65,536); a masked LM's loss and"
                + " pseudo-perplexity over a fixed mask.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption modelFolder;

    @Option(names = "--data", paramLabel = "FILE|DIR", required = true, description = "Text file, folder of text files, prepared token folder (its val.bin), or .bin token file.")
    Path data;

    @Mixin
    BatchOptions shape;

    @Option(names = "--max-tokens", paramLabel = "N", description = "Evaluate about this many tokens, 0 for all: whole"
            + " windows of --seq-length tokens spread evenly over the text, so N rounded up to a multiple of"
            + " --seq-length (default: ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--json", description = "Print the result as JSON.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        int batch = shape.batch;
        if (batch < 1) throw new LumensparkException("--batch must be at least 1, got " + batch);
        if (maxTokens < 0) throw new LumensparkException("--max-tokens must not be negative (0: all), got " + maxTokens);
        shape.seqLength(); // checked before the model is loaded
        try (LumensparkModel model = modelFolder.open();
             TokenFile tokens = EvalTokens.open(data, model.tokenizer(), model.config().isMaskedLm()
                     ? MlmMasking.textTokenizer(model.tokenizer()) : model.tokenizer())) {
            int n = shape.seqLength(model.config().seqLength());
            if (tokens.length() < 2) throw new LumensparkException(data + ": fewer than 2 tokens to evaluate");
            MemoryPlan.forInference(model.config(), batch, n).check(); // --batch 2147483647: refused, not allocated
            if (model.config().isMaskedLm()) return evaluateMasked(model, tokens, batch, n);
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

    /**
     * A masked LM: the mean loss over the tokens the fixed evaluation mask selects (the same ones every time, as
     * training's validation), and its exponential, the pseudo-perplexity.
     */
    private int evaluateMasked(LumensparkModel model, TokenFile tokens, int batch, int n) {
        MlmMasking masking = new MlmMasking(model.tokenizer());
        long read = Evaluator.maskedWindows(tokens, n, maxTokens).stream().mapToLong(w -> w[1]).sum();
        long t0 = System.nanoTime();
        Evaluator.Result r;
        try (ProgressBars.Bar bar = ProgressBars.open("eval", read, 0, ProgressBars.Unit.TOKENS)) {
            r = Evaluator.evaluateMasked(model.languageModel(), tokens, masking, batch, n, maxTokens, bar::stepTo);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("objective", model.config().objective().label());
            m.put("loss", r.loss());
            m.put("pseudo_perplexity", r.perplexity());
            m.put("masked_tokens", r.tokens());
            m.put("tokens", read);
            m.put("seconds", seconds);
            System.out.println(Json.toLine(m));
        } else {
            System.out.printf("masked LM loss %.4f, pseudo-perplexity %.2f over %s (the fixed mask's %.1f %% of %s)"
                            + " (%.1f s)%n", r.loss(), r.perplexity(), Words.count(r.tokens(), "masked token"),
                    100.0 * r.tokens() / read, Words.count(read, "token"), seconds);
        }
        return 0;
    }
}
