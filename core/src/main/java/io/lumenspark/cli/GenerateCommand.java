package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.Printable;
import io.lumenspark.pretrained.LumensparkModel;
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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue prompts, streaming the text as it is produced. Options not given come from the"
                + " model's generation_config.json.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption modelFolder;

    static final class Prompts {
        @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "A prompt (repeat for a batch).")
        List<String> texts;

        @Option(names = "--prompt-file", required = true, paramLabel = "FILE",
                description = "A file holding the prompt (one trailing newline is dropped).")
        Path file;

        @Option(names = "--interactive", required = true,
                description = "Read prompts from standard input, one per line, until its end.")
        boolean interactive;
    }

    @ArgGroup(multiplicity = "1")
    Prompts prompts;

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "New tokens at most (default: 100 unless --max-length).")
    Integer maxNewTokens;

    @Option(names = "--max-length", paramLabel = "N", description = "Prompt plus new tokens at most.")
    Integer maxLength;

    @Option(names = "--min-new-tokens", paramLabel = "N", description = "End of text is suppressed before this many new tokens.")
    Integer minNewTokens;

    @Option(names = "--greedy", description = "Take the most likely token each time instead of sampling.")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature (> 0).")
    Double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample from the k most likely tokens (0: all).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Sample from the most likely tokens holding this probability, in (0, 1].")
    Double topP;

    @Option(names = "--repetition-penalty", paramLabel = "X", description = "Above 1 discourages tokens already in the text.")
    Double repetitionPenalty;

    @Option(names = "--repetition-penalty-mode", paramLabel = "MODE",
            description = "hf (divide positive logits, multiply negative ones) or lumenspark (always divide).")
    String repetitionPenaltyMode;

    @Option(names = "--no-repeat-ngram-size", paramLabel = "N", description = "No n-gram of this size occurs twice.")
    Integer noRepeatNgramSize;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the text contains this string (repeatable); the token that"
            + " completes it is kept.")
    List<String> stop = List.of();

    @Option(names = "--seed", paramLabel = "N", description = "Sampling seed (default: random).")
    Long seed;

    @Option(names = "--num-return-sequences", paramLabel = "N", description = "Sequences per prompt (sampling only).")
    Integer numReturnSequences;

    @Option(names = "--truncate", paramLabel = "MODE", description = "left: drop the oldest tokens of a prompt too long for the context"
            + " (none: refuse it).")
    String truncate;

    @Option(names = "--slide", description = "When the context is full, go on from its most recent half.")
    boolean slide;

    @Option(names = "--json", description = "Print the prompt, ids, text, finish reason and timing as JSON lines"
            + " instead of streaming.")
    boolean json;

    /** The options that set generation_config.json's keys, by key, so that messages name what the user typed. */
    private final Map<String, String> given = new LinkedHashMap<>();
    /** Prompts generated from so far (their index in --json output). */
    private int promptIndex;
    /** Whether the hint about greedy loops was printed (once is enough). */
    private boolean loopHinted;

    @Override
    public Integer call() throws IOException {
        runtime.apply();
        List<String> texts = prompts.file != null ? List.of(readPromptFile(prompts.file)) : prompts.texts;
        try (LumensparkModel model = modelFolder.open()) {
            GenerationConfig cfg = config(model.generationConfig());
            model.config().nextTokenLossWarning().ifPresent(w -> System.err.println("warning: " + w)); // as score
            if (prompts.interactive) return interactive(model, cfg);
            run(model, cfg, texts);
        }
        return 0;
    }

    /** A prompt file's text, without one trailing newline (as echo and editors end a file). */
    private static String readPromptFile(Path file) {
        String text = InputFiles.readLenient(file);
        if (text.endsWith("\r\n")) text = text.substring(0, text.length() - 2);
        else if (text.endsWith("\n")) text = text.substring(0, text.length() - 1);
        if (text.isEmpty()) throw new LumensparkException("--prompt-file " + file + " is empty: there is no prompt");
        return text;
    }

    /** The model's defaults with the options given on top; invalid values are named by their option. */
    private GenerationConfig config(GenerationConfig base) {
        GenerationConfig.Builder b = base.toBuilder();
        if (maxNewTokens != null || maxLength != null) {
            b.maxNewTokens(maxNewTokens).maxLength(maxLength);
            if (maxNewTokens != null) given.put("max_new_tokens", "--max-new-tokens");
            if (maxLength != null) given.put("max_length", "--max-length");
        } else {
            b.maxNewTokens(100).maxLength(null);
        }
        set("min_new_tokens", "--min-new-tokens", minNewTokens, b::minNewTokens);
        if (greedy) {
            List<String> unused = new ArrayList<>();
            if (temperature != null) unused.add("--temperature");
            if (topK != null) unused.add("--top-k");
            if (topP != null) unused.add("--top-p");
            if (!unused.isEmpty()) {
                System.err.println("warning: " + String.join(", ", unused) + (unused.size() == 1 ? " has" : " have")
                        + " no effect with --greedy (it takes the most likely token)");
            }
            b.doSample(false);
            given.put("do_sample", "--greedy");
        } else if (temperature != null || topK != null || topP != null) {
            b.doSample(true);
        }
        set("temperature", "--temperature", temperature, b::temperature);
        set("top_k", "--top-k", topK, b::topK);
        set("top_p", "--top-p", topP, b::topP);
        set("repetition_penalty", "--repetition-penalty", repetitionPenalty, b::repetitionPenalty);
        set("repetition_penalty_mode", "--repetition-penalty-mode", repetitionPenaltyMode, b::repetitionPenaltyMode);
        set("no_repeat_ngram_size", "--no-repeat-ngram-size", noRepeatNgramSize, b::noRepeatNgramSize);
        set("stop_strings", "--stop", stop.isEmpty() ? null : stop, b::stopStrings);
        set("seed", "--seed", seed, b::seed);
        set("num_return_sequences", "--num-return-sequences", numReturnSequences, b::numReturnSequences);
        set("prompt_truncation", "--truncate", truncate, b::promptTruncation);
        set("context_overflow", "--slide", slide ? "slide" : null, b::contextOverflow);
        return b.build(key -> given.getOrDefault(key, key));
    }

    /** Sets a key from its option when the option was given. */
    private <T> void set(String key, String option, T value, Consumer<T> setter) {
        if (value == null) return;
        setter.accept(value);
        given.put(key, option);
    }

    /** Every prompt, num_return_sequences times; streamed with a header per sequence when there are several. */
    private void run(LumensparkModel model, GenerationConfig cfg, List<String> texts) {
        List<int[]> ids = new ArrayList<>();
        for (String t : texts) {
            int[] p = model.tokenizer().encode(t);
            if (p.length == 0) throw new LumensparkException("the prompt is empty");
            Generation.checkRoom(p.length, model.config().seqLength(), cfg, "--truncate left");
            if (cfg.maxLength() != null && p.length >= cfg.maxLength()) {
                // Hugging Face warns and generates nothing; a command asked for text says why there is none
                String option = given.getOrDefault("max_length", "max_length");
                throw new LumensparkException("the prompt has " + p.length + " tokens and " + option + " "
                        + cfg.maxLength() + " counts them too, which leaves no room for a new token; raise " + option
                        + " (or give --max-new-tokens alone)");
            }
            ids.add(p);
        }
        int per = cfg.numReturnSequences();
        boolean several = prompts.interactive ? per > 1 : texts.size() * per > 1;
        for (int i = 0; i < texts.size(); i++, promptIndex++) {
            for (int j = 0; j < per; j++) {
                int s = i * per + j;
                Generation g = new Generation(model.languageModel(), model.tokenizer(), ids.get(i), cfg, Generator.sequenceSeed(cfg, s));
                Generator.Result r;
                if (json) {
                    r = g.finish(null);
                    print(r, texts.get(i), j);
                } else {
                    if (several) {
                        System.out.printf("%s[prompt %d, sequence %d]%n", s == 0 ? "" : "\n", promptIndex + 1, j + 1);
                    }
                    System.out.print(texts.get(i));
                    System.out.flush();
                    r = g.finish(piece -> {
                        System.out.print(piece);
                        System.out.flush();
                    });
                    System.out.println();
                    System.err.printf("[%s, %s%s, %.1f tokens/s]%n", Words.count(r.ids().length, "token"),
                            r.finishReason(), Double.isNaN(r.firstTokenSeconds()) ? ""
                                    : String.format(", first token %.0f ms", r.firstTokenSeconds() * 1e3),
                            r.ids().length / Math.max(r.seconds(), 1e-9));
                }
                hintIfLooping(cfg, r);
            }
        }
    }

    /** Greedy decoding of a small or undertrained model often ends in a loop: say what breaks it, once. */
    private void hintIfLooping(GenerationConfig cfg, Generator.Result r) {
        if (loopHinted || cfg.doSample() || cfg.repetitionPenalty() != 1 || cfg.noRepeatNgramSize() != 0
                || !endsInLoop(r.ids())) {
            return;
        }
        loopHinted = true;
        System.err.println("hint: the greedy output ends in a loop; try --repetition-penalty 1.3 or"
                + " --no-repeat-ngram-size 3, or sample (--temperature 0.8)");
    }

    /** Whether ids end in a loop: their last 4 tokens occur at least 3 times in them (overlaps count). */
    static boolean endsInLoop(int[] ids) {
        int n = ids.length, seen = 0;
        for (int start = 0; start + 4 <= n && seen < 3; start++) {
            if (Arrays.equals(ids, start, start + 4, ids, n - 4, n)) seen++;
        }
        return seen >= 3;
    }

    private void print(Generator.Result r, String prompt, int sequence) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("prompt_index", promptIndex);
        m.put("sequence_index", sequence);
        m.put("prompt", prompt);
        m.put("prompt_tokens", r.promptTokens());
        if (r.droppedTokens() > 0) m.put("dropped_prompt_tokens", r.droppedTokens());
        m.put("ids", r.ids());
        m.put("text", r.text());
        m.put("finish_reason", r.finishReason().label());
        m.put("first_token_seconds", Double.isNaN(r.firstTokenSeconds()) ? null : r.firstTokenSeconds()); // no token
        m.put("seconds", r.seconds());
        m.put("tokens_per_s", r.ids().length / Math.max(r.seconds(), 1e-9));
        System.out.println(Json.toLine(m));
    }

    /**
     * One generation per line of standard input; its prompt_index is the line's 0-based number (blank lines are
     * skipped but counted), so that "line N" in an error and prompt_index N - 1 are the same line. A bad line (too
     * long, empty after encoding) is reported with its line number and skipped; the exit code is 2 if any was.
     */
    private int interactive(LumensparkModel model, GenerationConfig cfg) throws IOException {
        boolean console = System.console() != null;
        int failed = 0, lineNumber = 0;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        while (true) {
            if (console) System.err.print("> ");
            String line = in.readLine();
            if (line == null) break;
            lineNumber++;
            if (line.isBlank()) continue;
            promptIndex = lineNumber - 1;
            try {
                run(model, cfg, List.of(line));
            } catch (LumensparkException e) {
                System.err.println("error: line " + lineNumber + ": " + Printable.line(e.getMessage()));
                failed++;
            }
        }
        return failed > 0 ? 2 : 0;
    }
}
