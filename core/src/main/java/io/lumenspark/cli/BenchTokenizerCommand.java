package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.bench.TokenizerBench;
import io.lumenspark.io.InputFiles;
import io.lumenspark.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "tokenizer", mixinStandardHelpOptions = true,
        description = "Tokenizer encoding MB/s (single thread and per core with all threads), ours against jtokkit's"
                + " GPT-2 (r50k_base), on a generated English-like corpus or --data FILE.")
final class BenchTokenizerCommand implements Callable<Integer> {
    @Mixin
    ThreadOptions runtime;

    @Option(names = "--data", paramLabel = "FILE", description = "A UTF-8 text file to encode (default: a generated corpus).")
    Path data;

    @Option(names = "--tokenizer", converter = CliText.NameOrFolder.class, paramLabel = "NAME|DIR", description = "Our tokenizer: a name or a folder (default: ${DEFAULT-VALUE}).")
    String tokenizer = "gpt2";

    @Option(names = "--mb", paramLabel = "N", description = "Size of the generated corpus in MB (default: ${DEFAULT-VALUE}).")
    int megabytes = 4;

    @Option(names = "--runs", paramLabel = "N", description = "Timed passes per figure (default: ${DEFAULT-VALUE}).")
    int runs = 5;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed passes before timing (default: ${DEFAULT-VALUE}).")
    int warmup = 3;

    @Override
    public Integer call() {
        runtime.apply();
        if (megabytes < 1) throw new LumensparkException("--runs and --mb must be at least 1");
        TokenizerBench bench = new TokenizerBench(runs, warmup);
        Tokenizer ours = Tokenizer.load(tokenizer);
        String text = data != null ? InputFiles.readLenient(data, InputFiles.MAX_ARRAY_BYTES)
                : TokenizerBench.generate(megabytes << 20, 1);
        bench.run(ours, text, data != null ? data : "generated", runtime.threads, System.out);
        return 0;
    }
}
