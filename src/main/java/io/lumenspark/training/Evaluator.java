package io.lumenspark.training;

import io.lumenspark.data.EvalWindows;
import io.lumenspark.data.TokenFile;
import io.lumenspark.model.LumensparkModel;

import java.util.Arrays;

/**
 * Validation loss over a token file: consecutive windows of n + 1 tokens (stride n), so every token after the
 * first is predicted exactly once. Causal models pad the last batch with ignored rows and keep the training
 * shape (no new activation buffers); a bidirectional model would see the padding, so it runs short windows
 * at their own length.
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
     * Loss over the windows of context n, batch windows per forward pass, in eval mode (no dropout). With
     * maxTokens above 0 it stops after the first whole window that reaches maxTokens targets; 0 evaluates all.
     */
    public static Result evaluate(LumensparkModel model, TokenFile tokens, int batch, int n, long maxTokens) {
        EvalWindows windows = new EvalWindows(tokens, n);
        boolean pad = model.config().causal();
        int[] in = new int[batch * n], tg = new int[batch * n];
        int[] window = new int[n + 1];
        double sum = 0;
        long count = 0;
        int rows = 0;
        for (EvalWindows.Window w : windows) {
            if (maxTokens > 0 && count >= maxTokens) break;
            int len = w.targets();
            tokens.copy(w.start(), len + 1, window, 0);
            if (!pad && len < n) { // bidirectional: its own shape
                sum += model.evaluate(Arrays.copyOf(window, len), Arrays.copyOfRange(window, 1, len + 1), 1, len,
                        null);
                count += len;
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
            }
        }
        if (rows > 0) {
            for (int i = rows * n; i < in.length; i++) {
                in[i] = 0;
                tg[i] = -1;
            }
            sum += model.evaluate(in, tg, batch, n, null);
        }
        return new Result(count == 0 ? Double.NaN : sum / count, count);
    }
}
