package io.lumenspark.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code lumenspark bench ...}: the benchmarks of {@code io.lumenspark.bench}, one subcommand each. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
        subcommands = {BenchTrainCommand.class, BenchGemmCommand.class, BenchGenerateCommand.class,
                BenchClassifyCommand.class, BenchServeCommand.class, BenchAblationCommand.class,
                BenchTokenizerCommand.class, BenchLoadCommand.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing benchmark: train, generate, classify, serve, ablation,"
                + " gemm, tokenizer or load");
    }
}
