package io.lumenspark.serve;

import java.math.BigDecimal;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * The server's counters, gauges and histograms, in Prometheus' text exposition format ({@link #render}): requests
 * by endpoint and status, prompt and generated tokens, cancelled sequences, queue depth and running sequences,
 * time to first token, time per output token, the batch size and duration of decoding steps, and the time spent
 * feeding prompts, per model.
 */
final class Metrics {
    private static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5,
            0.75, 1, 2.5, 5, 10, 30, 60};
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private final Map<String, LongAdder> counters = new ConcurrentHashMap<>();
    private final Map<String, Long> gauges = new ConcurrentHashMap<>();
    private final Map<String, Histogram> histograms = new ConcurrentHashMap<>();

    private static final class Histogram {
        final double[] bounds;
        final LongAdder[] counts;
        final LongAdder count = new LongAdder();
        final DoubleAdder sum = new DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            counts = new LongAdder[bounds.length];
            for (int i = 0; i < bounds.length; i++) counts[i] = new LongAdder();
        }

        void observe(double v) {
            for (int i = 0; i < bounds.length; i++) if (v <= bounds[i]) counts[i].increment();
            count.increment();
            sum.add(v);
        }
    }

    private static String key(String name, String labels) {
        return name + "{" + labels + "}";
    }

    private static String model(String model) {
        return "model=\"" + escape(model) + "\"";
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private void add(String name, String labels, long n) {
        counters.computeIfAbsent(key(name, labels), k -> new LongAdder()).add(n);
    }

    private void observe(String name, String labels, double[] bounds, double v) {
        histograms.computeIfAbsent(key(name, labels), k -> new Histogram(bounds)).observe(v);
    }

    /** A request answered, by endpoint (its path) and status. */
    void request(String endpoint, int status) {
        add("lumenspark_requests_total", "endpoint=\"" + escape(endpoint) + "\",status=\"" + status + "\"", 1);
    }

    void promptTokens(String model, int n) {
        add("lumenspark_prompt_tokens_total", model(model), n);
    }

    /** A generated token; seconds since the sequence's previous one (NaN for its first). */
    void token(String model, double seconds) {
        add("lumenspark_generation_tokens_total", model(model), 1);
        if (!Double.isNaN(seconds)) observe("lumenspark_time_per_output_token_seconds", model(model), LATENCY_BUCKETS, seconds);
    }

    void firstToken(String model, double seconds) {
        observe("lumenspark_time_to_first_token_seconds", model(model), LATENCY_BUCKETS, seconds);
    }

    /** A decoding step over batch sequences that took seconds (sampling included). */
    void step(String model, int batch, double seconds) {
        observe("lumenspark_step_batch_size", model(model), BATCH_BUCKETS, batch);
        observe("lumenspark_step_seconds", model(model), LATENCY_BUCKETS, seconds);
    }

    /** Feeding the prompts of the requests admitted together, which took seconds (the running steps wait). */
    void feed(String model, double seconds) {
        observe("lumenspark_prompt_feed_seconds", model(model), LATENCY_BUCKETS, seconds);
    }

    void cancelled(String model, int sequences) {
        add("lumenspark_cancelled_sequences_total", model(model), sequences);
    }

    void queueDepth(String model, int n) {
        gauges.put(key("lumenspark_queue_depth", model(model)), (long) n);
    }

    void running(String model, int n) {
        gauges.put(key("lumenspark_running_sequences", model(model)), (long) n);
    }

    private static final Map<String, String> HELP = Map.ofEntries(
            Map.entry("lumenspark_requests_total", "counter|HTTP requests answered, by endpoint and status."),
            Map.entry("lumenspark_prompt_tokens_total", "counter|Prompt tokens prefilled."),
            Map.entry("lumenspark_generation_tokens_total", "counter|Tokens generated."),
            Map.entry("lumenspark_cancelled_sequences_total", "counter|Sequences stopped because their client went away."),
            Map.entry("lumenspark_queue_depth", "gauge|Requests waiting to join the running batch."),
            Map.entry("lumenspark_running_sequences", "gauge|Sequences in the running batch."),
            Map.entry("lumenspark_time_to_first_token_seconds", "histogram|From a request's arrival to its first token, as the scheduler chooses it."),
            Map.entry("lumenspark_time_per_output_token_seconds", "histogram|Between two tokens of one sequence, as the scheduler chooses them."),
            Map.entry("lumenspark_step_batch_size", "histogram|Sequences in one decoding step."),
            Map.entry("lumenspark_step_seconds", "histogram|One decoding step, sampling included."),
            Map.entry("lumenspark_prompt_feed_seconds",
                    "histogram|Feeding the prompts of the requests admitted together (the running steps wait)."));

    /** Every metric in Prometheus' text format (version 0.0.4). */
    String render() {
        Map<String, StringBuilder> families = new TreeMap<>();
        counters.forEach((k, v) -> line(families, k, "", v.sum()));
        gauges.forEach((k, v) -> line(families, k, "", v));
        histograms.forEach((k, h) -> {
            String name = k.substring(0, k.indexOf('{')), labels = k.substring(k.indexOf('{') + 1, k.length() - 1);
            for (int i = 0; i < h.bounds.length; i++) {
                line(families, name + "_bucket{" + labels + ",le=\"" + number(h.bounds[i]) + "\"}", name,
                        h.counts[i].sum());
            }
            line(families, name + "_bucket{" + labels + ",le=\"+Inf\"}", name, h.count.sum());
            line(families, name + "_sum{" + labels + "}", name, h.sum.sum());
            line(families, name + "_count{" + labels + "}", name, h.count.sum());
        });
        StringBuilder out = new StringBuilder();
        families.forEach((name, lines) -> {
            String[] help = HELP.getOrDefault(name, "untyped|").split("\\|", 2);
            out.append("# HELP ").append(name).append(' ').append(help[1]).append('\n');
            out.append("# TYPE ").append(name).append(' ').append(help[0]).append('\n');
            out.append(lines);
        });
        return out.toString();
    }

    private static void line(Map<String, StringBuilder> families, String key, String family, double value) {
        String name = family.isEmpty() ? key.substring(0, key.indexOf('{')) : family;
        families.computeIfAbsent(name, n -> new StringBuilder()).append(key).append(' ').append(number(value))
                .append('\n');
    }

    private static String number(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "+Inf" : "-Inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        // the shortest digits that read back as v (0.005, not 0.00500000), in plain notation unless tiny or huge
        BigDecimal d = BigDecimal.valueOf(v).stripTrailingZeros();
        return Math.abs(v) >= 1e-6 && Math.abs(v) < 1e15 ? d.toPlainString() : d.toString();
    }
}
