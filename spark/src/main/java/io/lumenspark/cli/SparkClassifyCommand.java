package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.spark.BatchInference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Label each text of a DataFrame column with a classifier (label, score, top_k; labels for"
                + " multi-label, value for regression), each executor loading the classifier once; long texts are"
                + " cut at their end.")
final class SparkClassifyCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Mixin
    ModelOption model;

    @Mixin
    InferenceOptions io;

    @Option(names = "--column", description = "The column holding the texts (default: ${DEFAULT-VALUE}).")
    String column = "text";

    @Option(names = "--top-k", description = "Labels listed in top_k, most probable first (default: ${DEFAULT-VALUE}).")
    int topK = 1;

    @Override
    public Integer call() {
        if (topK < 1) throw new LumensparkException("--top-k must be at least 1");
        runtime.apply();
        return io.run("classify", BatchInference.Task.CLASSIFY,
                io.spec(BatchInference.Task.CLASSIFY, model, column, 0, 0, topK, 0, io.failOnBad));
    }
}
