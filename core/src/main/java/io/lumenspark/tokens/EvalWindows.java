package io.lumenspark.tokens;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Non-overlapping windows that cover a whole split for evaluation: window {@code i} holds tokens
 * {@code [i*n, i*n + n + 1)} (fewer for the last one), so every token after the first is predicted exactly once.
 * A trailing window is kept if it has at least 2 tokens (one target).
 */
public final class EvalWindows implements Iterable<EvalWindows.Window> {

    /**
     * One window: tokens {@code [start, start + length)}; inputs are the first {@code length - 1} of them and
     * targets the last {@code length - 1}.
     */
    public record Window(long start, int length) {
        /** Number of predicted tokens. */
        public int targets() {
            return length - 1;
        }
    }

    private final TokenFile tokens;
    private final int n;
    private final long count;

    /** Windows of context {@code n} over {@code tokens}. */
    public EvalWindows(TokenFile tokens, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be positive, got " + n);
        }
        this.tokens = tokens;
        this.n = n;
        long targets = Math.max(0, tokens.length() - 1);
        this.count = (targets + n - 1) / n;
    }

    /** The tokens the windows cover. */
    public TokenFile tokens() {
        return tokens;
    }

    /** Number of windows. */
    public long count() {
        return count;
    }

    /** Number of predicted tokens over all windows ({@code length - 1}, or 0). */
    public long targetCount() {
        return Math.max(0, tokens.length() - 1);
    }

    /** Window {@code i}, for {@code 0 <= i < count()}. */
    public Window get(long i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("window " + i + " of " + count);
        }
        long start = i * n;
        return new Window(start, (int) Math.min(n + 1L, tokens.length() - start));
    }

    @Override
    public Iterator<Window> iterator() {
        return new Iterator<>() {
            private long next;

            @Override
            public boolean hasNext() {
                return next < count;
            }

            @Override
            public Window next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return get(next++);
            }
        };
    }
}
