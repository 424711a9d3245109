package io.lumenspark.bench;

import java.util.Arrays;
import java.util.List;

/** What the benchmarks report of repeated timings. */
public final class Stats {
    private Stats() {
    }

    /** The median (the mean of the two middle values for an even count). */
    public static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /**
     * The median of the defined (finite) values; NaN when there is none: a figure some repetitions could not
     * measure is the median of those that could.
     */
    public static double medianOfDefined(double[] xs) {
        double[] d = Arrays.stream(xs).filter(Double::isFinite).toArray();
        return d.length == 0 ? Double.NaN : median(d);
    }

    /** The median of a list. */
    public static double median(List<Double> xs) {
        return median(xs.stream().mapToDouble(Double::doubleValue).toArray());
    }
}
