package io.lumenspark.training;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.tokens.EvalWindows;
import io.lumenspark.tokens.TokenFile;

import java.util.Arrays;
import java.util.function.LongConsumer;
import java.util.stream.LongStream;

/**
 * Validation loss over a token file: windows of n + 1 tokens (stride n), so every token after the first is
 * predicted exactly once, or an evenly spread sample of those windows. Causal models pad the last batch with
 * ignored rows and keep the training shape (no new activation buffers); a bidirectional model would see the
 * padding, so it runs short windows at their own length.
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
        long m = maxTokens <= 0 ? count : Math.min(count, maxTokens / n + (maxTokens % n == 0 ? 0 : 1));
        if (m == count) return all;
        long q = count / m, r = count % m;
        return () -> LongStream.range(0, m).mapToObj(j -> all.get(j * q + j * r / m)).iterator(); // j*count/m
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
