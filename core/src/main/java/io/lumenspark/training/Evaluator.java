package io.lumenspark.training;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokens.EvalWindows;
import io.lumenspark.tokens.TokenFile;

import java.util.Arrays;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.stream.LongStream;

/**
 * Validation loss over a token file: windows of n + 1 tokens (stride n), so every token after the first is
 * predicted exactly once, or an evenly spread sample of those windows. Causal models pad the last batch with
 * ignored rows and keep the training shape (no new activation buffers); a bidirectional model would see the
 * padding, so it runs short windows at their own length. A masked LM's loss ({@link #evaluateMasked}) is over the
 * tokens a fixed mask selects in windows of n tokens, padded.
 */
public final class Evaluator {
    /**
     * Mean token loss and its perplexity over a number of predicted tokens.
     *
     * @param loss   mean cross-entropy per predicted token, in nats; NaN when no token was evaluated
     * @param tokens number of predicted tokens
     */
    public record Result(double loss, long tokens) {
        /** exp(loss). */
        public double perplexity() {
            return Math.exp(loss);
        }
    }

    private Evaluator() {
    }

    /**
     * The windows {@link #evaluate} reads, in order: all of them when {@code maxTokens} is 0 or reaches the split's
     * size, else ceil(maxTokens / n) of them spread evenly over the whole split (window floor(j * count / m) for
     * j &lt; m), so that a sample stands for all of the split and not for its beginning. The same every time.
     */
    public static Iterable<EvalWindows.Window> windows(TokenFile tokens, int n, long maxTokens) {
        EvalWindows all = new EvalWindows(tokens, n);
        long count = all.count();
        if (spreadCount(count, n, maxTokens) == count) return all;
        return () -> spread(count, n, maxTokens).mapToObj(all::get).iterator();
    }

    /** How many of count windows of n tokens cover maxTokens (0: all of them). */
    private static long spreadCount(long count, int n, long maxTokens) {
        return maxTokens <= 0 ? count : Math.min(count, maxTokens / n + (maxTokens % n == 0 ? 0 : 1));
    }

    /** The indices of the windows that cover maxTokens, spread evenly over count: floor(j * count / m), j &lt; m. */
    private static LongStream spread(long count, int n, long maxTokens) {
        long m = spreadCount(count, n, maxTokens);
        if (m == 0) return LongStream.empty();
        long q = count / m, r = count % m;
        return LongStream.range(0, m).map(j -> j * q + j * r / m); // j*count/m without overflow
    }

    /**
     * The windows a masked LM is evaluated on, as (first token, length): the split cut into windows of n tokens
     * (the last one shorter), all of them or, for maxTokens, evenly spread ones as {@link #windows} picks.
     */
    public static List<long[]> maskedWindows(TokenFile tokens, int n, long maxTokens) {
        long length = tokens.length(), count = (length + n - 1) / n;
        return spread(count, n, maxTokens).mapToObj(w -> new long[]{w * n, Math.min(n, length - w * n)}).toList();
    }

    /**
     * A masked LM's loss and pseudo-perplexity over the {@link #maskedWindows}, in eval mode, with the fixed
     * evaluation mask ({@link MlmMasking#EVAL_SEED}, each window keyed by its first token's offset): the mean
     * cross-entropy of the selected tokens, whose count is the result's tokens. A short last window is padded in
     * its batch (the padding mask keeps it out of every real position). After each forward pass, {@code progress}
     * gets the number of tokens (masked or not) read so far.
     */
    public static Result evaluateMasked(LanguageModel model, TokenFile tokens, MlmMasking masking, int batch, int n,
                                        long maxTokens, LongConsumer progress) {
        int[] window = new int[n], in = new int[batch * n], labels = new int[batch * n], lengths = new int[batch];
        double sum = 0;
        long selected = 0, read = 0;
        int rows = 0;
        List<long[]> windows = maskedWindows(tokens, n, maxTokens);
        for (int w = 0; w < windows.size(); w++) {
            long start = windows.get(w)[0];
            int len = (int) windows.get(w)[1];
            tokens.copy(start, len, window, 0);
            selected += masking.maskRow(window, 0, len, n, in, labels, rows * n, MlmMasking.EVAL_SEED, start, 0, 0);
            lengths[rows++] = len;
            read += len;
            if (rows == batch || w == windows.size() - 1) {
                for (; rows < batch; rows++) { // the last batch keeps the shape: rows of one padding token
                    masking.maskRow(window, 0, 0, n, in, labels, rows * n, 0, 0, 0, 0);
                    lengths[rows] = 1;
                }
                sum += model.evaluate(in, labels, lengths, batch, n, null);
                rows = 0;
                progress.accept(read);
            }
        }
        return new Result(selected == 0 ? Double.NaN : sum / selected, selected);
    }

    /** How many tokens {@link #evaluateMasked} selects with these arguments (it draws the masks, nothing more). */
    public static long maskedTargets(TokenFile tokens, MlmMasking masking, int n, long maxTokens) {
        int[] window = new int[n], in = new int[n], labels = new int[n];
        long selected = 0;
        for (long[] w : maskedWindows(tokens, n, maxTokens)) {
            tokens.copy(w[0], (int) w[1], window, 0);
            selected += masking.maskRow(window, 0, (int) w[1], n, in, labels, 0, MlmMasking.EVAL_SEED, w[0], 0, 0);
        }
        return selected;
    }

    /** How many tokens {@link #evaluate} predicts with these arguments. */
    public static long targets(TokenFile tokens, int n, long maxTokens) {
        long sum = 0;
        for (EvalWindows.Window w : windows(tokens, n, maxTokens)) sum += w.targets();
        return sum;
    }

    /** {@link #evaluate(LanguageModel, TokenFile, int, int, long, LongConsumer)} without progress reports. */
    public static Result evaluate(LanguageModel model, TokenFile tokens, int batch, int n, long maxTokens) {
        return evaluate(model, tokens, batch, n, maxTokens, done -> {
        });
    }

    /**
     * Loss over the {@link #windows} of context n, batch windows per forward pass, in eval mode (no dropout). After
     * each forward pass, {@code progress} gets the number of tokens predicted so far.
     */
    public static Result evaluate(LanguageModel model, TokenFile tokens, int batch, int n, long maxTokens,
                                  LongConsumer progress) {
        boolean pad = model.config().causal();
        int[] in = new int[batch * n], tg = new int[batch * n];
        int[] window = new int[n + 1];
        double sum = 0;
        long count = 0;
        int rows = 0;
        for (EvalWindows.Window w : windows(tokens, n, maxTokens)) {
            int len = w.targets();
            tokens.copy(w.start(), len + 1, window, 0);
            if (!pad && len < n) { // bidirectional: its own shape
                sum += model.evaluate(Arrays.copyOf(window, len), Arrays.copyOfRange(window, 1, len + 1), 1, len,
                        null);
                count += len;
                progress.accept(count);
                continue;
            }
            for (int t = 0; t < n; t++) {
                in[rows * n + t] = t < len ? window[t] : 0;
                tg[rows * n + t] = t < len ? window[t + 1] : -1;
            }
            count += len;
            if (++rows == batch) {
                sum += model.evaluate(in, tg, batch, n, null);
                rows = 0;
                progress.accept(count);
            }
        }
        if (rows > 0) {
            for (int i = rows * n; i < in.length; i++) {
                in[i] = 0;
                tg[i] = -1;
            }
            sum += model.evaluate(in, tg, batch, n, null);
            progress.accept(count);
        }
        return new Result(count == 0 ? Double.NaN : sum / count, count);
    }
}
