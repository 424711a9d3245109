package io.lumenspark.training;

/**
 * Linear warm-up from 0 over the first warmup steps, then cosine decay from maxLr to minLr at the last step.
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
