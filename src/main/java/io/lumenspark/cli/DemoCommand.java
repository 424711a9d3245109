package io.lumenspark.cli;

import io.lumenspark.Home;
import io.lumenspark.data.DemoCorpus;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Sampling;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.ModelFiles;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "The main job in one command: get a public-domain corpus, train the tiny causal Linformer for"
                + " a few minutes, report validation perplexity, save the model and loss curve, and write a few"
                + " continuations.")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    Main.Runtime runtime;

    @Option(names = "--data", description = "Train on this text file instead of the State of the Union addresses.")
    Path data;

    @Option(names = "--out", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("runs", "demo");

    @Option(names = "--steps", description = "Training steps (default: ${DEFAULT-VALUE}, a few minutes on 2 cores).")
    long steps = 150;

    @Option(names = "--seed", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed = 1337;

    @Override
    public Integer call() {
        runtime.apply();
        Path corpus = data != null ? data : DemoCorpus.fetch(Home.dir());
        System.out.println("corpus: " + corpus);
        TrainOptions options = new TrainOptions(List.of(corpus), 0.1, "tiny", Map.of(), null, 8, 0, steps, 1, 2e-3,
                2e-4, 0.05, 0.01, 1.0, Math.max(1, steps / 6), 16384, Math.max(1, steps / 2), seed, out);
        Trainer.Result r = new Trainer(options, System.out).run(false);
        System.out.printf("%nvalidation loss %.4f, perplexity %.2f after %d steps (%,.0f tokens/s)%n", r.valLoss(),
                r.valPerplexity(), r.steps(), r.tokensPerSecond());
        System.out.println("model saved to " + out + ", loss curve " + out.resolve("loss.png"));
        try (LumensparkModel model = ModelFiles.load(out)) {
            Tokenizer tok = Tokenizer.byName(ModelFiles.tokenizerName(out));
            SplittableRandom random = new SplittableRandom(seed);
            for (String prompt : new String[]{"The state of the Union", "Our economy", "Fellow citizens, "}) {
                System.out.println();
                System.out.println("> " + prompt + sample(model, tok, prompt, 48, random));
            }
        }
        return 0;
    }

    /** Temperature + top-k sampling with incremental decoding (the full generator is a later feature). */
    static String sample(LumensparkModel model, Tokenizer tok, String prompt, int newTokens, SplittableRandom r) {
        GenerationConfig cfg = GenerationConfig.sampling(newTokens, 0.8, 40, 1.0, null);
        int[] ids = tok.encode(prompt);
        int[] context = Arrays.copyOf(ids, model.config().seqLength()); // prompt, then what is generated
        int start = ids.length, length = start;
        try (LumensparkModel.Decoder decoder = model.decoder()) {
            float[] logits = null;
            for (int id : ids) logits = decoder.next(id);
            while (length < context.length && length - start < newTokens) {
                Sampling.process(logits, context, length, length - start, cfg);
                int next = Sampling.choose(logits, cfg, r);
                if (next == tok.eosId()) break;
                context[length++] = next;
                if (length < context.length) logits = decoder.next(next);
            }
        }
        return tok.decode(Arrays.copyOfRange(context, start, length));
    }
}
