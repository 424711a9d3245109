package io.lumenspark.cli;

import io.lumenspark.spark.BatchInference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Log-probability of each text of a DataFrame column (sum, mean, perplexity), each executor"
                + " loading the model once.")
final class SparkScoreCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Mixin
    InferenceOptions io;

    @Option(names = "--column", description = "The column holding the texts (default: ${DEFAULT-VALUE}).")
    String column = "text";

    @Override
    public Integer call() {
        runtime.apply();
        return io.run("score", BatchInference.Task.SCORE,
                io.spec(BatchInference.Task.SCORE, model, column, 0, 0, 0, 0, io.failOnBad));
    }
}
