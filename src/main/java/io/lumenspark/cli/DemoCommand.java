package io.lumenspark.cli;

import io.lumenspark.Home;
import io.lumenspark.data.DemoCorpus;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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

    @Option(names = "--tokenizer", description = "A tokenizer folder (e.g. from `tokenizer train`) instead of GPT-2's.")
    String tokenizer;

    @Option(names = "--seed", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed = 1337;

    @Override
    public Integer call() {
        runtime.apply();
        Path corpus = data != null ? data : DemoCorpus.fetch(Home.dir());
        System.out.println("corpus: " + corpus);
        TrainOptions options = new TrainOptions(List.of(corpus), 0.1, "tiny", Map.of(), null, 8, 0, steps, 1, 2e-3,
                2e-4, 0.05, 0.01, 1.0, Math.max(1, steps / 6), 16384, Math.max(1, steps / 2), seed, out, tokenizer);
        Trainer.Result r = new Trainer(options, System.out).run(false);
        System.out.printf("%nvalidation loss %.4f, perplexity %.2f after %s (%,.0f tokens/s)%n", r.valLoss(),
                r.valPerplexity(), Main.count(r.steps(), "step"), r.tokensPerSecond());
        System.out.println("model saved to " + out + ", loss curve " + out.resolve("loss.png"));
        try (LumensparkModel model = LumensparkModel.fromPretrained(out)) {
            GenerationConfig cfg = GenerationConfig.sampling(48, 0.8, 40, 1.0, seed);
            List<String> prompts = List.of("The state of the Union", "Our economy", "Fellow citizens, ");
            List<Generator.Result> results = model.generate(prompts, cfg);
            for (int i = 0; i < prompts.size(); i++) {
                System.out.println();
                System.out.println("> " + prompts.get(i) + results.get(i).text());
            }
        }
        return 0;
    }
}
