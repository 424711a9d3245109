package io.lumenspark.study;

import io.lumenspark.LumensparkException;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * The grid and training settings of a Conv-Linformer study. Every cell trains the same number of tokens: each step
 * holds {@code tokensPerStep} tokens, as tokensPerStep / n rows of n tokens.
 *
 * @param data          text files or folders, or one prepared token folder
 * @param tokenizer     a tokenizer folder or name, or null for GPT-2's (a prepared folder needs the one it was
 *                      made with; {@code <mask>} and {@code <pad>} are added to it)
 * @param preset        the model preset
 * @param overrides     config keys changed from the preset (e.g. depth, embed_dim); seq_length, k and attention are
 *                      the study's
 * @param lengths       the sequence lengths n
 * @param lrs           the peak learning rates
 * @param steps         optimizer steps per cell
 * @param tokensPerStep tokens per step (rows x n), the same at every n
 * @param k             the compressed length of the Linformer variants
 * @param warmup        fraction of the steps spent warming up
 * @param weightDecay   AdamW weight decay
 * @param evalEvery     steps between validations, where divergence is checked
 * @param evalTokens    validation tokens per pass (0: the whole split)
 * @param seed          seed of every cell (initialization, batches, masks)
 * @param out           the study folder: one folder per cell, results.csv, results.md, charts
 */
public record StudyOptions(List<Path> data, String tokenizer, String preset, Map<String, String> overrides,
                           List<Integer> lengths, List<Double> lrs, long steps, int tokensPerStep, int k,
                           double warmup, double weightDecay, long evalEvery, long evalTokens, long seed, Path out) {
    /** The corpus of the study's defaults, from the catalogue (WikiText-103). */
    public static final String DEFAULT_DATA = "wikitext-103-raw";
    /** The corpus of {@code --quick}: WikiText-2, small enough to fetch and tokenize in seconds. */
    public static final String QUICK_DATA = "wikitext-2-raw";
    /** The keys of the model config that the grid sets itself. */
    static final List<String> GRID_KEYS = List.of("seq_length", "k", "attention", "causal");

    /** Checks every setting, naming the command-line option at fault. */
    public StudyOptions {
        data = List.copyOf(data);
        overrides = Map.copyOf(overrides);
        lengths = List.copyOf(lengths);
        lrs = List.copyOf(lrs);
        if (data.isEmpty()) throw new LumensparkException("no data: pass --data NAME|DIR");
        require(!lengths.isEmpty(), "--lengths must name at least one length");
        require(!lrs.isEmpty(), "--lrs must name at least one learning rate");
        require(new HashSet<>(lengths).size() == lengths.size(), "--lengths names a length twice: " + lengths);
        require(new HashSet<>(lrs).size() == lrs.size(), "--lrs names a learning rate twice");
        for (double lr : lrs) require(lr > 0 && Double.isFinite(lr), "--lrs must be positive, got " + lr);
        require(steps >= 1, "--steps must be at least 1");
        require(tokensPerStep >= 1, "--tokens-per-step must be at least 1");
        require(k >= 1, "--k must be at least 1");
        for (int n : lengths) {
            require(n >= 2, "--lengths must be at least 2, got " + n);
            require(tokensPerStep % n == 0, "--tokens-per-step " + tokensPerStep + " must be a multiple of every"
                    + " length, so that every cell trains the same tokens (not of " + n + ")");
            require(n >= k && n % k == 0, "--k " + k + " must divide every length (the convolution's stride is n/k),"
                    + " and " + n + " is not a multiple of it");
        }
        require(warmup >= 0 && warmup < 1, "--warmup must be in [0, 1)");
        require(weightDecay >= 0, "--weight-decay must not be negative");
        require(evalEvery >= 1, "--eval-every must be at least 1");
        require(evalTokens >= 0, "--eval-tokens must not be negative");
        for (String key : GRID_KEYS) {
            require(!overrides.containsKey(key), "--set " + key + " is the study's to choose (use --lengths, --k)");
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new LumensparkException(message);
    }

    /** The same study on other data. */
    public StudyOptions withData(List<Path> other) {
        return new StudyOptions(other, tokenizer, preset, overrides, lengths, lrs, steps, tokensPerStep, k, warmup,
                weightDecay, evalEvery, evalTokens, seed, out);
    }

    /** Rows per step at length n: tokensPerStep / n. */
    public int batch(int n) {
        return tokensPerStep / n;
    }

    /** Tokens each cell trains on: steps x tokensPerStep. */
    public long tokensPerCell() {
        return steps * tokensPerStep;
    }

    /** A builder whose unset values are the study's defaults, or with {@code quick} the cut-down grid's. */
    public static Builder builder(boolean quick) {
        return new Builder(quick);
    }

    /**
     * Settings by name; each left null takes its default. The defaults follow the study: the {@code encoder}
     * preset (8 layers of width 512, 8 heads), n = 128 to 1024, k = 128, 6,000 steps of 8,192 tokens (49 M tokens
     * per cell), 10 % warm-up, weight decay 0.001. {@code --quick}: a 2 x 64 encoder, n = 128 and 256, k = 32, one
     * learning rate, 40 steps of 1,024 tokens.
     */
    public static final class Builder {
        private final boolean quick;
        private List<Path> data;
        private String tokenizer, preset;
        private Map<String, String> overrides;
        private List<Integer> lengths;
        private List<Double> lrs;
        private Long steps, evalEvery, evalTokens, seed;
        private Integer tokensPerStep, k;
        private Double warmup, weightDecay;
        private Path out;

        private Builder(boolean quick) {
            this.quick = quick;
        }

        /** The options, defaults filled in, checked. */
        public StudyOptions build() {
            Map<String, String> shape = new HashMap<>(quick
                    ? Map.of("depth", "2", "embed_dim", "64", "heads", "4", "kv_heads", "4") : Map.of());
            if (overrides != null) shape.putAll(overrides);
            return new StudyOptions(data == null ? List.of() : data, tokenizer, or(preset, "encoder"),
                    shape, or(lengths, quick ? List.of(128, 256) : List.of(128, 256, 512, 1024)),
                    or(lrs, quick ? List.of(1e-3) : List.of(1e-4, 3e-4, 1e-3)), or(steps, quick ? 40L : 6000L),
                    or(tokensPerStep, quick ? 1024 : 8192), or(k, quick ? 32 : 128), or(warmup, 0.1),
                    or(weightDecay, 0.001), or(evalEvery, quick ? 10L : 200L), or(evalTokens, quick ? 4096L : 65536L),
                    or(seed, 1337L), or(out, Path.of("runs", quick ? "study-quick" : "study")));
        }

        private static <T> T or(T value, T fallback) {
            return value != null ? value : fallback;
        }

        /** The data: text files or folders, or a prepared token folder. */
        public Builder data(List<Path> v) { data = v; return this; }

        /** The tokenizer folder or name; null for GPT-2's. */
        public Builder tokenizer(String v) { tokenizer = v; return this; }

        /** The model preset (default encoder). */
        public Builder preset(String v) { preset = v; return this; }

        /** Config keys changed from the preset (default: none; quick: a 2 x 64 encoder, these on top). */
        public Builder overrides(Map<String, String> v) { overrides = v; return this; }

        /** The sequence lengths (default 128, 256, 512, 1024). */
        public Builder lengths(List<Integer> v) { lengths = v; return this; }

        /** The learning rates (default 1e-4, 3e-4, 1e-3). */
        public Builder lrs(List<Double> v) { lrs = v; return this; }

        /** Steps per cell (default 6,000). */
        public Builder steps(Long v) { steps = v; return this; }

        /** Tokens per step at every length (default 8,192). */
        public Builder tokensPerStep(Integer v) { tokensPerStep = v; return this; }

        /** The Linformer's k (default 128). */
        public Builder k(Integer v) { k = v; return this; }

        /** The warm-up fraction (default 0.1). */
        public Builder warmup(Double v) { warmup = v; return this; }

        /** AdamW's weight decay (default 0.001). */
        public Builder weightDecay(Double v) { weightDecay = v; return this; }

        /** Steps between validations (default 200). */
        public Builder evalEvery(Long v) { evalEvery = v; return this; }

        /** Validation tokens per pass (default 65,536). */
        public Builder evalTokens(Long v) { evalTokens = v; return this; }

        /** The seed of every cell (default 1337). */
        public Builder seed(Long v) { seed = v; return this; }

        /** The study folder (default runs/study, quick runs/study-quick). */
        public Builder out(Path v) { out = v; return this; }
    }
}
