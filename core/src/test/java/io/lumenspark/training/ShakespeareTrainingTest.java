package io.lumenspark.training;

import io.lumenspark.Home;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokens.TokenCorpus;
import io.lumenspark.tokens.TokenFile;
import io.lumenspark.tokens.TokenSplits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * End to end: a small causal Linformer trained a few hundred steps on Tiny Shakespeare must predict the
 * validation text clearly better than the unigram entropy of that data (about 6.3 nats), i.e. it learned
 * context, not just token frequencies.
 */
class ShakespeareTrainingTest {
    static final Path DATA = Path.of("..", "shared", "data", "tinyshakespeare.txt");

    @Test
    void validationLossIsClearlyBelowUnigramEntropy(@TempDir Path tmp) {
        assumeTrue(Files.exists(DATA), "needs ../shared/data/tinyshakespeare.txt");
        Map<String, String> cfg = Map.of("embed_dim", "64", "depth", "2", "heads", "4", "seq_length", "64",
                "k", "16", "rank", "16", "dropout", "0");
        TrainOptions opt = TrainOptions.builder().data(List.of(DATA)).overrides(cfg).steps(200).lr(3e-3).minLr(3e-4)
                .evalEvery(200).evalTokens(16384).checkpointEvery(1000).seed(1).out(tmp.resolve("run")).build();
        Trainer.Result r = new Trainer(opt, new PrintStream(new ByteArrayOutputStream())).run(false);
        double entropy;
        try (TokenSplits s = TokenCorpus.prepare(List.of(DATA), Tokenizer.byName("gpt2"), 0.1, Home.tokenCache())) {
            entropy = unigramEntropy(s.train());
        }
        System.out.printf("Tiny Shakespeare: unigram entropy %.3f nats, validation loss after 200 steps %.3f%n",
                entropy, r.valLoss());
        assertTrue(r.valLoss() < entropy - 0.5, "validation loss " + r.valLoss() + " vs unigram entropy " + entropy);
    }

    static double unigramEntropy(TokenFile tokens) {
        long[] counts = new long[65536];
        for (long i = 0; i < tokens.length(); i++) counts[tokens.get(i)]++;
        double h = 0, n = tokens.length();
        for (long c : counts) if (c > 0) h -= c / n * Math.log(c / n);
        return h;
    }
}
