package io.lumenspark.cli;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.corpus.DemoCorpus;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.training.Checkpoint;
import io.lumenspark.training.RunFolder;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "The main job in one command: get a public-domain corpus, train the tiny causal Linformer for"
                + " a few minutes, report validation perplexity, save the model and loss curve, and write a few"
                + " continuations.")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--data", paramLabel = "FILE", description = "Train on this text file instead of the State of the Union addresses.")
    Path data;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: ${DEFAULT-VALUE}); an earlier demo run there is"
            + " replaced.")
    Path out = Path.of("runs", "demo");

    @Option(names = "--steps", paramLabel = "N", description = "Training steps (default: ${DEFAULT-VALUE}, a few minutes on 2 cores).")
    long steps = 150;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, paramLabel = "DIR", description = "A tokenizer folder (e.g. from `tokenizer train`) instead of GPT-2's.")
    String tokenizer;

    @Option(names = "--seed", paramLabel = "N", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed = 1337;

    @Option(names = "--force", description = "Replace what --out holds even when it is not a demo run.")
    boolean force;

    /** Sampling for the demo's continuations: mild penalties keep a model this small from looping on a phrase. */
    static final double TEMPERATURE = 0.8, REPETITION_PENALTY = 1.2;
    static final int TOP_K = 40, NO_REPEAT_NGRAM = 3, NEW_TOKENS = 64;

    /** The demo's training settings. */
    static TrainOptions options(Path corpus, long steps, Path out, String tokenizer, long seed) {
        return TrainOptions.builder().data(List.of(corpus)).preset("tiny").steps(steps).lr(2e-3).minLr(2e-4)
                .evalEvery(Math.max(1, steps / 6)).evalTokens(16384).checkpointEvery(Math.max(1, steps / 2)).seed(seed)
                .out(out).tokenizer(tokenizer).build();
    }

    /**
     * Whether a folder holds only a demo run, which the demo replaces: training files and no others, with a
     * checkpoint made with the demo's settings, or no checkpoint at all (stopped before its first one).
     */
    static boolean holdsDemoRun(RunFolder.Contents c) {
        if (c.runFiles().isEmpty() || !c.otherFiles().isEmpty()) return false;
        if (c.state() == null) return !c.runFiles().contains(Checkpoint.FOLDER);
        TrainOptions o = c.state().options();
        return o.data().size() == 1 && o.equals(options(o.data().getFirst(), o.steps(), o.out(), o.tokenizer(),
                o.seed()));
    }

    /**
     * A continuation cut after its last sentence end ('.', '!' or '?' before a space, a closing quote or
     * bracket, or the end), so that it does not stop mid-phrase. When that would keep less than a third of it
     * (or it has no sentence end), it is kept whole and ends with " ..." instead.
     */
    static String toSentenceEnd(String text) {
        for (int i = text.length() - 1; i >= 0; i--) {
            char c = text.charAt(i);
            if (c != '.' && c != '!' && c != '?') continue;
            int end = i + 1;
            while (end < text.length() && "\"')]\u201d\u2019".indexOf(text.charAt(end)) >= 0) end++;
            if (end == text.length()) return text;
            if (Character.isWhitespace(text.charAt(end))) {
                if (3 * end >= text.length()) return text.substring(0, end);
                break;
            }
        }
        return text.stripTrailing() + " ...";
    }

    /** The prompts of the continuations; none ends in a space, which the model's next token brings itself. */
    static final List<String> PROMPTS = List.of("The state of the Union", "Our economy", "Fellow citizens,");

    @Override
    public Integer call() {
        runtime.apply();
        options(Path.of("corpus"), steps, out, tokenizer, seed); // every option checked before anything is said
        if (data != null) InputFiles.requireRegularFile(data);
        RunFolder.Contents found = RunFolder.inspect(out);
        boolean demoRun = holdsDemoRun(found);
        if (!found.isEmpty() && !force && !demoRun) {
            List<String> names = new ArrayList<>(found.runFiles());
            names.addAll(found.otherFiles());
            throw new LumensparkException("--out " + out + " holds something that is not a demo run ("
                    + String.join(", ", names.subList(0, Math.min(3, names.size()))) + (names.size() > 3 ? ", ..." : "")
                    + "); choose another --out, or replace it with --force");
        }
        if (demoRun) System.out.println(out + " holds an earlier demo run; this run replaces it");
        Path corpus = data != null ? data : DemoCorpus.fetch(Home.dir());
        System.out.println("corpus: " + corpus);
        Trainer.Result r = new Trainer(options(corpus, steps, out, tokenizer, seed), System.out).replace(true)
                .reportInterruptions(System.err).run(false);
        System.out.printf("%nvalidation loss %.4f, perplexity %.2f after %s, over %s (%,.0f training"
                        + " tokens/s)%n", r.valLoss(), r.valPerplexity(), Words.count(r.steps(), "step"), r.validationCoverage(),
                r.tokensPerSecond());
        System.out.println("model saved to " + out + ", loss curve " + out.resolve("loss.png"));
        List<String> prompts = PROMPTS;
        try (LumensparkModel model = LumensparkModel.fromPretrained(out)) {
            GenerationConfig cfg = GenerationConfig.sampling(NEW_TOKENS, TEMPERATURE, TOP_K, 1.0, seed).toBuilder()
                    .repetitionPenalty(REPETITION_PENALTY).noRepeatNgramSize(NO_REPEAT_NGRAM).build();
            List<Generator.Result> results = model.generate(prompts, cfg);
            for (int i = 0; i < prompts.size(); i++) {
                System.out.println();
                System.out.println("> " + prompts.get(i) + toSentenceEnd(results.get(i).text()));
            }
        }
        System.out.printf("%ngenerate more: %s generate --model %s --prompt %s --max-new-tokens 60"
                        + " --temperature %s --top-k %d --repetition-penalty %s --no-repeat-ngram-size %d%n",
                Home.command(), Words.shellWord(out.toString()), Words.shellWord(prompts.getFirst()), TEMPERATURE, TOP_K,
                REPETITION_PENALTY, NO_REPEAT_NGRAM);
        System.out.println(serveHint(out, prompts.getFirst()));
        return 0;
    }

    /**
     * The command that serves the model in out (on serve's default port), and a curl line that asks it. The model
     * is served under its folder's name, spaces and control characters made dashes (a model name has none).
     */
    static String serveHint(Path out, String prompt) {
        String folderName = ServeCommand.defaultName(out);
        String name = folderName.replaceAll("[\\s\\p{Cntrl}]+", "-");
        String model = name.equals(folderName) ? out.toString() : name + "=" + out;
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", name);
        body.put("prompt", prompt);
        body.put("max_tokens", 40);
        body.put("temperature", TEMPERATURE);
        return "serve it: " + Home.command() + " serve --model " + Words.shellWord(model) + System.lineSeparator()
                + "then try: curl -s http://127.0.0.1:8000/v1/completions -H 'Content-Type: application/json' -d "
                + Words.shellWord(Json.toLine(body));
    }
}
