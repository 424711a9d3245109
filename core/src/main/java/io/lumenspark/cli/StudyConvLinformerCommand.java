package io.lumenspark.cli;

import io.lumenspark.corpus.CorpusCache;
import io.lumenspark.study.ConvLinformerStudy;
import io.lumenspark.study.StudyOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code lumenspark study conv-linformer}: the grid of {@link ConvLinformerStudy}. */
@Command(name = "conv-linformer", mixinStandardHelpOptions = true,
        description = {"Train Transformer, Linformer and Conv-Linformer as masked language models over sequence"
                + " lengths and learning rates, the same tokens per cell, each cell a resumable run in its own"
                + " folder (a rerun skips finished cells and resumes the others); divergence is detected and the"
                + " cell stopped. Writes results.csv, results.md and charts.",
                "Defaults follow the study: WikiText-103, the encoder preset (8 x 512, 8 heads), n = 128 to 1024,"
                        + " k = 128, lr 1e-4, 3e-4 and 1e-3, 6,000 steps of 8,192 tokens, 10 % warm-up, weight"
                        + " decay 0.001."})
final class StudyConvLinformerCommand implements Callable<Integer> {
    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--quick", description = "A cut-down grid that finishes in minutes: WikiText-2, a 2 x 64 encoder,"
            + " n = 128 and 256, k = 32, lr 1e-3, 40 steps of 1,024 tokens.")
    boolean quick;

    @Option(names = "--data", paramLabel = "NAME|PATH", description = "A corpus of `lumenspark data list`, text files"
            + " or folders, or a prepared token folder (default: " + StudyOptions.DEFAULT_DATA + ", quick "
            + StudyOptions.QUICK_DATA + ").")
    List<String> data;

    @Option(names = "--tokenizer", description = "A tokenizer folder or name (default: gpt2); a prepared folder needs"
            + " the one it was made with.")
    String tokenizer;

    @Option(names = "--preset", description = "The model preset (default: encoder).")
    String preset;

    @Mixin
    OverrideOptions overrides;

    @Option(names = "--lengths", split = ",", description = "Sequence lengths n (default: 128,256,512,1024).")
    List<Integer> lengths;

    @Option(names = "--lrs", split = ",", description = "Peak learning rates (default: 1e-4,3e-4,1e-3).")
    List<Double> lrs;

    @Option(names = "--steps", description = "Steps per cell (default: 6000, quick 40).")
    Long steps;

    @Option(names = "--tokens-per-step", description = "Tokens per step at every n: tokens / n rows of n tokens"
            + " (default: 8192, quick 1024).")
    Integer tokensPerStep;

    @Option(names = "--k", description = "Compressed length of Linformer and Conv-Linformer (default: 128, quick 32).")
    Integer k;

    @Option(names = "--warmup", description = "Fraction of steps for linear warm-up (default: 0.1).")
    Double warmup;

    @Option(names = "--weight-decay", description = "AdamW weight decay (default: 0.001).")
    Double weightDecay;

    @Option(names = "--eval-every", description = "Steps between validations and divergence checks (default: 200,"
            + " quick 10).")
    Long evalEvery;

    @Option(names = "--eval-tokens", description = "Validation tokens per pass, 0 for all (default: 65536, quick"
            + " 4096).")
    Long evalTokens;

    @Option(names = "--seed", description = "Seed of every cell (default: 1337).")
    Long seed;

    @Option(names = "--out", description = "Study folder (default: runs/study, quick runs/study-quick).")
    Path out;

    @Override
    public Integer call() {
        runtime.apply();
        StudyOptions options = StudyOptions.builder(quick).tokenizer(tokenizer).preset(preset)
                .overrides(overrides.overrides).lengths(lengths).lrs(lrs).steps(steps).tokensPerStep(tokensPerStep)
                .k(k).warmup(warmup).weightDecay(weightDecay).evalEvery(evalEvery).evalTokens(evalTokens).seed(seed)
                .out(out).data(List.of(Path.of("."))).build(); // checked before any corpus is fetched
        List<String> names = data != null ? data : List.of(quick ? StudyOptions.QUICK_DATA : StudyOptions.DEFAULT_DATA);
        List<Path> paths = names.stream().map(StudyConvLinformerCommand::resolve).toList();
        new ConvLinformerStudy(options.withData(paths), System.out).run();
        return 0;
    }

    /** An existing file or folder as it is; anything else a corpus of the catalogue, fetched into the cache. */
    private static Path resolve(String name) {
        Path p = Path.of(name);
        return Files.exists(p) ? p : CorpusCache.standard().get(name, null, false);
    }
}
