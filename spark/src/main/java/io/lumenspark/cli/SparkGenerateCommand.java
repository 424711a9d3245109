package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.spark.BatchInference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue each prompt of a DataFrame column, each executor loading the model once; greedy"
                + " unless --temperature is given.")
final class SparkGenerateCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Mixin
    InferenceOptions io;

    @Option(names = "--column", description = "The column holding the prompts (default: ${DEFAULT-VALUE}).")
    String column = "prompt";

    @Option(names = "--max-new-tokens", description = "New tokens per prompt (default: ${DEFAULT-VALUE}).")
    int maxNewTokens = 50;

    @Option(names = "--temperature", description = "Sample at this temperature (default: greedy).")
    double temperature;

    @Option(names = "--top-k", description = "Sample from the k most likely tokens (default: all).")
    int topK;

    @Option(names = "--seed", description = "Record i samples with seed + i (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (maxNewTokens < 1) throw new LumensparkException("--max-new-tokens must be at least 1");
        if (temperature < 0) throw new LumensparkException("--temperature must not be negative");
        if (topK < 0) throw new LumensparkException("--top-k must not be negative");
        if (temperature == 0) { // as Hugging Face warns of sampling settings without do_sample
            var parsed = spec.commandLine().getParseResult();
            List<String> unused = Stream.of("--top-k", "--seed").filter(parsed::hasMatchedOption).toList();
            if (!unused.isEmpty()) {
                System.err.println("warning: " + String.join(", ", unused) + (unused.size() == 1 ? " has" : " have")
                        + " no effect without a --temperature above 0 (spark generate is greedy unless given one)");
            }
        }
        runtime.apply();
        return io.run("generate", BatchInference.Task.GENERATE,
                io.spec(BatchInference.Task.GENERATE, model, column, maxNewTokens, temperature, topK,
                        seed, io.failOnBad));
    }
}
