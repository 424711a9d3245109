package io.lumenspark.training;

/**
 * Linear warm-up over the first warmup steps (step s gets maxLr * (s + 1) / warmup, so the last warm-up step
 * reaches maxLr), then cosine decay from maxLr to minLr at the last step.
 *
 * @param maxLr  peak learning rate
 * @param minLr  floor of the decay, reached at the last step
 * @param warmup number of warm-up steps (0: none)
 * @param total  number of steps in the run
 */
public record LrSchedule(double maxLr, double minLr, long warmup, long total) {
    /** The learning rate of step s (0-based). */
    public double at(long s) {
        if (s < warmup) return maxLr * (s + 1) / warmup;
        if (total <= warmup + 1) return maxLr;
        double progress = Math.min(1, (double) (s - warmup) / (total - warmup - 1));
        return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
}
