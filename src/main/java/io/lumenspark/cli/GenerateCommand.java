package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.data.Tokenizer;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.Json;
import io.lumenspark.model.LumensparkModel;
import io.lumenspark.model.ModelFiles;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt, streaming the text as it is produced. Options not given come from the"
                + " model's generation_config.json.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    Main.Runtime runtime;

    @Option(names = "--model", required = true, description = "Model folder.")
    Path modelDir;

    static final class Prompt {
        @Option(names = "--prompt", required = true, description = "The prompt text.")
        String text;

        @Option(names = "--prompt-file", required = true, description = "A file holding the prompt.")
        Path file;
    }

    @ArgGroup(multiplicity = "1")
    Prompt prompt;

    @Option(names = "--max-new-tokens", description = "New tokens at most (default: ${DEFAULT-VALUE}).")
    int maxNewTokens = 100;

    @Option(names = "--greedy", description = "Take the most likely token each time instead of sampling.")
    boolean greedy;

    @Option(names = "--temperature", description = "Sampling temperature.")
    Double temperature;

    @Option(names = "--top-k", description = "Sample from the k most likely tokens (0: all).")
    Integer topK;

    @Option(names = "--top-p", description = "Sample from the most likely tokens holding this probability.")
    Double topP;

    @Option(names = "--repetition-penalty", description = "Above 1 discourages tokens already in the text.")
    Double repetitionPenalty;

    @Option(names = "--stop", description = "Stop when the text contains this string (repeatable).")
    List<String> stop = List.of();

    @Option(names = "--seed", description = "Sampling seed (default: random).")
    Long seed;

    @Option(names = "--json", description = "Print ids, text, finish reason and timing as JSON instead of streaming.")
    boolean json;

    @Override
    public Integer call() {
        runtime.apply();
        String text = prompt.text != null ? prompt.text : EvalCommand.readText(prompt.file);
        Path genFile = modelDir.resolve(ModelFiles.GENERATION);
        GenerationConfig base = Files.exists(genFile) ? GenerationConfig.read(genFile) : GenerationConfig.greedy(1);
        GenerationConfig cfg = new GenerationConfig(null, maxNewTokens, base.minNewTokens(),
                !greedy && (base.doSample() || temperature != null || topK != null || topP != null),
                temperature != null ? temperature : base.temperature(), topK != null ? topK : base.topK(),
                topP != null ? topP : base.topP(),
                repetitionPenalty != null ? repetitionPenalty : base.repetitionPenalty(),
                base.repetitionPenaltyMode(), base.noRepeatNgramSize(), base.eosTokenId(),
                stop.isEmpty() ? base.stopStrings() : stop, seed != null ? seed : base.seed(), 1);
        try (LumensparkModel model = ModelFiles.load(modelDir)) {
            Tokenizer tok = Tokenizer.byName(ModelFiles.tokenizerName(modelDir));
            int[] ids = tok.encode(text);
            if (ids.length == 0) throw new LumensparkException("the prompt is empty");
            Generator.Listener stream = json ? null : piece -> {
                System.out.print(piece);
                System.out.flush();
            };
            if (!json) {
                System.out.print(text);
                System.out.flush();
            }
            Generator.Result r = Generator.generate(model, tok, ids, cfg, stream);
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("prompt_tokens", r.promptTokens());
                m.put("ids", r.ids());
                m.put("text", r.text());
                m.put("finish_reason", r.finishReason());
                m.put("seconds", r.seconds());
                m.put("tokens_per_s", r.ids().length / Math.max(r.seconds(), 1e-9));
                System.out.println(Json.toLine(m));
            } else {
                System.out.println();
                System.err.printf("[%d tokens, %s, %.1f tokens/s]%n", r.ids().length, r.finishReason(),
                        r.ids().length / Math.max(r.seconds(), 1e-9));
            }
        }
        return 0;
    }
}
