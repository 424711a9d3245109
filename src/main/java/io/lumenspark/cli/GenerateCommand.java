package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.Json;
import io.lumenspark.model.LumensparkModel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue prompts, streaming the text as it is produced. Options not given come from the"
                + " model's generation_config.json.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    Main.Runtime runtime;

    @Option(names = "--model", required = true, description = "Model folder.")
    Path modelDir;

    static final class Prompts {
        @Option(names = "--prompt", required = true, description = "A prompt (repeat for a batch).")
        List<String> texts;

        @Option(names = "--prompt-file", required = true, description = "A file holding the prompt.")
        Path file;

        @Option(names = "--interactive", required = true,
                description = "Read prompts from standard input, one per line, until its end.")
        boolean interactive;
    }

    @ArgGroup(multiplicity = "1")
    Prompts prompts;

    @Option(names = "--max-new-tokens", description = "New tokens at most (default: 100 unless --max-length).")
    Integer maxNewTokens;

    @Option(names = "--max-length", description = "Prompt plus new tokens at most.")
    Integer maxLength;

    @Option(names = "--min-new-tokens", description = "End of text is suppressed before this many new tokens.")
    Integer minNewTokens;

    @Option(names = "--greedy", description = "Take the most likely token each time instead of sampling.")
    boolean greedy;

    @Option(names = "--temperature", description = "Sampling temperature (> 0).")
    Double temperature;

    @Option(names = "--top-k", description = "Sample from the k most likely tokens (0: all).")
    Integer topK;

    @Option(names = "--top-p", description = "Sample from the most likely tokens holding this probability, in (0, 1].")
    Double topP;

    @Option(names = "--repetition-penalty", description = "Above 1 discourages tokens already in the text.")
    Double repetitionPenalty;

    @Option(names = "--repetition-penalty-mode",
            description = "hf (divide positive logits, multiply negative ones) or lumenspark (always divide).")
    String repetitionPenaltyMode;

    @Option(names = "--no-repeat-ngram-size", description = "No n-gram of this size occurs twice.")
    Integer noRepeatNgramSize;

    @Option(names = "--stop", description = "Stop when the text contains this string (repeatable).")
    List<String> stop = List.of();

    @Option(names = "--seed", description = "Sampling seed (default: random).")
    Long seed;

    @Option(names = "--num-return-sequences", description = "Sequences per prompt (sampling only).")
    Integer numReturnSequences;

    @Option(names = "--truncate", description = "left: drop the oldest tokens of a prompt too long for the context.")
    String truncate;

    @Option(names = "--slide", description = "When the context is full, go on from its most recent half.")
    boolean slide;

    @Option(names = "--json", description = "Print ids, text, finish reason and timing as JSON lines instead of"
            + " streaming.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        runtime.apply();
        try (LumensparkModel model = LumensparkModel.fromPretrained(modelDir)) {
            GenerationConfig cfg = config(model.generationConfig());
            if (prompts.interactive) return interactive(model, cfg);
            List<String> texts = prompts.texts != null ? prompts.texts : List.of(EvalCommand.readText(prompts.file));
            run(model, cfg, texts);
        }
        return 0;
    }

    /** The model's defaults with the options given on top. */
    private GenerationConfig config(GenerationConfig base) {
        GenerationConfig.Builder b = base.toBuilder();
        if (maxNewTokens != null || maxLength != null) {
            b.maxNewTokens(maxNewTokens).maxLength(maxLength);
        } else {
            b.maxNewTokens(100).maxLength(null);
        }
        if (minNewTokens != null) b.minNewTokens(minNewTokens);
        if (temperature != null || topK != null || topP != null) b.doSample(true);
        if (greedy) b.doSample(false);
        if (temperature != null) b.temperature(temperature);
        if (topK != null) b.topK(topK);
        if (topP != null) b.topP(topP);
        if (repetitionPenalty != null) b.repetitionPenalty(repetitionPenalty);
        if (repetitionPenaltyMode != null) b.repetitionPenaltyMode(repetitionPenaltyMode);
        if (noRepeatNgramSize != null) b.noRepeatNgramSize(noRepeatNgramSize);
        if (!stop.isEmpty()) b.stopStrings(stop);
        if (seed != null) b.seed(seed);
        if (numReturnSequences != null) b.numReturnSequences(numReturnSequences);
        if (truncate != null) b.promptTruncation(truncate);
        if (slide) b.contextOverflow("slide");
        return b.build();
    }

    /** Every prompt, num_return_sequences times; streamed with a header per sequence when there are several. */
    private void run(LumensparkModel model, GenerationConfig cfg, List<String> texts) {
        List<int[]> ids = new ArrayList<>();
        for (String t : texts) {
            int[] p = model.tokenizer().encode(t);
            if (p.length == 0) throw new LumensparkException("the prompt is empty");
            ids.add(p);
        }
        int per = cfg.numReturnSequences();
        boolean several = texts.size() * per > 1;
        for (int i = 0; i < texts.size(); i++) {
            for (int j = 0; j < per; j++) {
                int s = i * per + j;
                Generation g = new Generation(model, model.tokenizer(), ids.get(i), cfg, Generator.sequenceSeed(cfg, s));
                if (json) {
                    print(g.finish(null), i, j);
                    continue;
                }
                if (several) System.out.printf("%s[prompt %d, sequence %d]%n", s == 0 ? "" : "\n", i + 1, j + 1);
                System.out.print(texts.get(i));
                System.out.flush();
                Generator.Result r = g.finish(piece -> {
                    System.out.print(piece);
                    System.out.flush();
                });
                System.out.println();
                System.err.printf("[%d tokens, %s, first token %.0f ms, %.1f tokens/s]%n", r.ids().length,
                        r.finishReason(), r.firstTokenSeconds() * 1e3, r.ids().length / Math.max(r.seconds(), 1e-9));
            }
        }
    }

    private void print(Generator.Result r, int prompt, int sequence) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt_index", prompt);
        m.put("sequence_index", sequence);
        m.put("prompt_tokens", r.promptTokens());
        if (r.droppedTokens() > 0) m.put("dropped_prompt_tokens", r.droppedTokens());
        m.put("ids", r.ids());
        m.put("text", r.text());
        m.put("finish_reason", r.finishReason());
        m.put("first_token_seconds", r.firstTokenSeconds());
        m.put("seconds", r.seconds());
        m.put("tokens_per_s", r.ids().length / Math.max(r.seconds(), 1e-9));
        System.out.println(Json.toLine(m));
    }

    /**
     * One generation per line of standard input. A bad line (too long, empty after encoding) is reported and
     * skipped; the exit code is 2 if any was.
     */
    private int interactive(LumensparkModel model, GenerationConfig cfg) throws IOException {
        boolean console = System.console() != null;
        int failed = 0;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        while (true) {
            if (console) System.err.print("> ");
            String line = in.readLine();
            if (line == null) break;
            if (line.isBlank()) continue;
            try {
                run(model, cfg, List.of(line));
            } catch (LumensparkException e) {
                System.err.println("error: " + e.getMessage());
                failed++;
            }
        }
        return failed > 0 ? 2 : 0;
    }
}
