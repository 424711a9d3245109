package io.lumenspark.bench;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Parallel;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Charts;
import io.lumenspark.io.Json;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.serve.Server;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The server under concurrent streams: for each preset (random weights, as {@code bench generate} uses), a model
 * folder is written and served on loopback, and 1, 2, 4, ... clients stream completions at once (prompts of random
 * token ids, a fixed number of new tokens each, sampled with a seed), over connections kept open from round to
 * round, as an application's client keeps its pool ({@link SseClient}: a small client that runs a round's streams
 * on one thread, so that the measuring takes little of the cores the server runs on). Reports the aggregate
 * generated tokens/s (a round's tokens over its wall time, feeding the prompts and waiting for first tokens
 * included), the generation-phase tokens/s (the tokens after each stream's first, over the time from the round's
 * first first token to its last token: llama.cpp's batched-bench S_TG, which leaves prompt processing out; streams
 * that start at different times count the gap against it, never for it), the time per output token of each stream
 * (from its first token to its last, over the tokens between) and the time to first token, medians over rounds;
 * beside them, batch-1 generation through the library ({@code generate}'s path), timed in the same process between
 * the rounds and measured the same way. On a shared machine the load drifts during a run, so each round of several
 * streams is paired with a single-stream round just before it, and each speed-up over one stream (aggregate and
 * generation phase) is the median of those pairs' ratios.
 *
 * @param presets      the presets to serve
 * @param overrides    config keys changed in every preset
 * @param streams      the numbers of concurrent streams
 * @param promptTokens prompt length of every request
 * @param newTokens    tokens each request generates
 * @param rounds       timed rounds per point, the median kept
 * @param warmUpSeconds how long to warm up first: rounds of the most streams and of one, at least one of each,
 *                     until this much time has passed (the JIT compiles a step's code over tens of seconds)
 * @param dtype        how the server and the batch-1 reference hold the matrix weights (float32, bf16, int8)
 */
public record ServeBench(List<String> presets, Map<String, String> overrides, List<Integer> streams, int promptTokens,
                         int newTokens, int rounds, double warmUpSeconds, WeightDtype dtype) {
    /**
     * Checks the settings before anything runs.
     *
     * @throws LumensparkException naming the option at fault
     */
    public ServeBench {
        presets = List.copyOf(presets);
        overrides = Map.copyOf(overrides);
        Objects.requireNonNull(dtype, "dtype");
        streams = List.copyOf(streams);
        if (streams.isEmpty() || streams.stream().anyMatch(s -> s < 1 || s > 1024)) {
            throw new LumensparkException("--streams must be numbers in 1..1024");
        }
        if (promptTokens < 1) throw new LumensparkException("--prompt-tokens must be at least 1");
        if (newTokens < 2) throw new LumensparkException("--tokens must be at least 2");
        if (rounds < 1) throw new LumensparkException("--rounds must be at least 1");
        if (!(warmUpSeconds >= 0 && warmUpSeconds <= 3600)) {
            throw new LumensparkException("--warm-up must be 0..3600 seconds");
        }
        for (String p : presets) {
            ModelConfig c = ModelConfig.preset(p).with(overrides);
            if (!c.causal()) throw new LumensparkException(p + " is bidirectional and cannot be served");
            if (promptTokens + newTokens > c.seqLength()) {
                throw new LumensparkException("--prompt-tokens + --tokens must fit " + p + "'s context " + c.seqLength());
            }
        }
    }

    /**
     * One point: streams at once, with the medians over the rounds, and the server's decoding steps over those
     * rounds (mean rows per step, mean ms per step with its sampling, share of the rounds' time in steps) and the
     * share of the rounds' time the server spent feeding prompts.
     */
    record Point(String preset, int streams, double tokensPerSecond, double speedup, double generationTokensPerSecond,
                 double generationSpeedup, double msPerToken, double firstTokenMs, double generateMsPerToken,
                 double rowsPerStep, double stepMs, double stepShare, double feedShare) {
    }

    /** Runs every preset, prints JSON lines and a Markdown table, and writes the charts into out. */
    public void run(Path out, PrintStream log) {
        List<Point> points = new ArrayList<>();
        for (String preset : presets) points.addAll(measure(preset, log));
        log.println();
        log.println("matrix weights: " + dtype.label());
        log.println("| preset | streams | aggregate tokens/s | x single stream | generation tokens/s | x single stream (generation)"
                + " | ms/token per stream (p50) | first token ms (p50) | rows per step | ms per step | time in steps"
                + " | time feeding prompts |");
        log.println("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (Point p : points) {
            log.printf(Locale.ROOT, "| %s | %d | %.1f | %.2fx | %s | %s | %s | %.0f | %.1f | %.2f | %.0f %% | %.0f %% |%n",
                    p.preset(), p.streams(), p.tokensPerSecond(), p.speedup(), cell("%.1f", p.generationTokensPerSecond()),
                    cell("%.2fx", p.generationSpeedup()), cell("%.2f", p.msPerToken()), p.firstTokenMs(),
                    p.rowsPerStep(), p.stepMs(), 100 * p.stepShare(), 100 * p.feedShare());
        }
        log.println();
        log.println("| preset | generate ms/token (p50) | serve, 1 stream, ms/token (p50) | serve / generate |");
        log.println("|---|---|---|---|");
        for (Point p : points) {
            if (p.streams() != 1) continue;
            log.printf(Locale.ROOT, "| %s | %.2f | %s | %s |%n", p.preset(), p.generateMsPerToken(), cell("%.2f", p.msPerToken()),
                    cell("%.3f", p.msPerToken() / p.generateMsPerToken()));
        }
        Map<String, double[][]> rate = new LinkedHashMap<>(), latency = new LinkedHashMap<>();
        for (String preset : presets) {
            List<Point> ps = points.stream().filter(p -> p.preset().equals(preset)).toList();
            double[] x = ps.stream().mapToDouble(Point::streams).toArray();
            rate.put(preset, new double[][]{x, ps.stream().mapToDouble(Point::tokensPerSecond).toArray()});
            latency.put(preset, new double[][]{x, ps.stream().mapToDouble(Point::msPerToken).toArray()});
        }
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new LumensparkException("cannot create " + out + ": " + e.getMessage());
        }
        List<String> charts = new ArrayList<>(); // a chart with no measured point is not written
        if (Charts.write(out.resolve("serve_tokens_per_s.png"), "lumenspark serve: aggregate generated tokens/s",
                "concurrent streams", "tokens/s", true, rate)) {
            charts.add(out.resolve("serve_tokens_per_s.png").toString());
        }
        if (Charts.write(out.resolve("serve_ms_per_token.png"), "lumenspark serve: time per output token of each stream",
                "concurrent streams", "ms/token", true, latency)) {
            charts.add(out.resolve("serve_ms_per_token.png").toString());
        }
        log.println();
        log.println("charts: " + (charts.isEmpty() ? "none (no point measured)" : String.join(", ", charts)));
    }

    private List<Point> measure(String preset, PrintStream log) {
        ModelConfig cfg = ModelConfig.preset(preset).with(overrides);
        Tokenizer gpt2 = Tokenizer.byName("gpt2");
        try (RandomModelFolder saved = new RandomModelFolder(cfg, gpt2, preset)) {
            Path folder = saved.folder();
            int maxBatch = streams.stream().mapToInt(Integer::intValue).max().orElse(1);
            // a queue that holds every request of a round, even before any is admitted
            Server server = Server.start(new Server.Options("127.0.0.1", 0, null, maxBatch, maxBatch, null,
                    Server.DEFAULT_MAX_BODY, Map.of(preset, folder), dtype));
            List<Point> points = new ArrayList<>();
            // one client for every round: its connections are kept alive from round to round, as an application's
            // client (OpenAI's libraries among them) keeps its connection pool; the JDK's reads /metrics
            try (LumensparkModel local = LumensparkModel.fromPretrained(folder, dtype);
                 HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                 SseClient sse = new SseClient(server.url())) {
                // batch-1 generation as the server computes (with int8: its integer output layer)
                local.languageModel().useIntegerProducts(true);
                server.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
                SplittableRandom random = new SplittableRandom(7);
                // warm-up: the JIT compiles the steps of the largest batch and of one row (a batched int8 step
                // needed about 150 steps to reach its speed; the code around the kernels, called once a step,
                // was still being compiled 20 s into a run), connections, and batch-1 generation: its first
                // sequences, run after the server's warm-up, sent code the two share back to the interpreter and
                // the first compiler (a fifth of a timed minute slower), and generate was timed still warming up
                long warmUpEnd = System.nanoTime() + (long) (warmUpSeconds * 1e9);
                SplittableRandom warmUpRandom = new SplittableRandom(8); // the timed rounds' prompts stay the same
                do {
                    round(sse, preset, maxBatch, cfg, warmUpRandom);
                    round(sse, preset, 1, cfg, warmUpRandom);
                    generateMsPerToken(local, cfg, warmUpRandom);
                } while (System.nanoTime() < warmUpEnd);
                for (int s : streams) {
                    List<double[]> rs = new ArrayList<>();
                    List<Double> gen = new ArrayList<>(), speedups = new ArrayList<>(), genSpeedups = new ArrayList<>();
                    // the s-stream rounds' steps, rows, step seconds, feeding seconds, wall seconds
                    double[] steps = new double[5];
                    for (int r = 0; r < rounds; r++) {
                        if (s == 1) gen.add(generateMsPerToken(local, cfg, random)); // interleaved with the rounds
                        double[] single = s == 1 ? null : round(sse, preset, 1, cfg, random);
                        double[] before = steps(http, server);
                        double[] result = round(sse, preset, s, cfg, random);
                        double[] after = steps(http, server);
                        for (int i = 0; i < 4; i++) steps[i] += after[i] - before[i];
                        steps[4] += result[3];
                        rs.add(result);
                        speedups.add(s == 1 ? 1 : result[0] / single[0]);
                        genSpeedups.add(s == 1 ? (Double.isFinite(result[4]) ? 1 : Double.NaN) : result[4] / single[4]);
                    }
                    // the generation figures and the time per token: the medians of the rounds that measured them
                    Point p = new Point(preset, s, Stats.median(rs.stream().mapToDouble(a -> a[0]).toArray()),
                            Stats.median(speedups), Stats.medianOfDefined(rs.stream().mapToDouble(a -> a[4]).toArray()),
                            Stats.medianOfDefined(genSpeedups.stream().mapToDouble(Double::doubleValue).toArray()),
                            Stats.medianOfDefined(rs.stream().mapToDouble(a -> a[1]).toArray()),
                            Stats.median(rs.stream().mapToDouble(a -> a[2]).toArray()),
                            gen.isEmpty() ? Double.NaN : Stats.median(gen), steps[1] / steps[0],
                            1000 * steps[2] / steps[0], steps[2] / steps[4], steps[3] / steps[4]);
                    points.add(p);
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("preset", preset);
                    line.put("dtype", dtype.label());
                    line.put("streams", s);
                    line.put("threads", Parallel.threads());
                    line.put("tokens_per_s", round1(p.tokensPerSecond()));
                    line.put("x_single_stream", round2(p.speedup()));
                    // the generation phase alone (llama.cpp's S_TG): the tokens after the streams' first ones, over
                    // the time from the earliest first token to the latest last one
                    line.put("generation_tokens_per_s", round1(p.generationTokensPerSecond()));
                    line.put("x_single_stream_generation", round2(p.generationSpeedup()));
                    line.put("ms_per_token_p50", round2(p.msPerToken())); // null: no round could time its tokens
                    line.put("first_token_ms_p50", round1(p.firstTokenMs()));
                    if (s == 1) line.put("generate_ms_per_token_p50", round2(p.generateMsPerToken()));
                    // the server's decoding steps in those rounds (its /metrics): how full they were, how long
                    // they took with their sampling, and the share of the rounds' time spent in them; and the
                    // share spent feeding the requests' prompts
                    line.put("rows_per_step", round2(p.rowsPerStep()));
                    line.put("step_ms", round2(p.stepMs()));
                    line.put("step_share", round2(p.stepShare()));
                    line.put("feed_share", round2(p.feedShare()));
                    log.println(Json.toLine(line));
                }
            } finally {
                server.close();
            }
            return points;
        }
    }

    /** A table cell: v in format, "n/a" for a figure no round measured. */
    static String cell(String format, double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, format, v) : "n/a";
    }

    /** To 0.1; null (JSON null) for a figure no round measured. */
    static Double round1(double v) {
        return Double.isFinite(v) ? Math.round(v * 10) / 10.0 : null;
    }

    /** To 0.01; null for a figure no round measured. */
    static Double round2(double v) {
        return Double.isFinite(v) ? Math.round(v * 100) / 100.0 : null;
    }

    /** Random prompt ids (never GPT-2's end of text, which could end a sequence at once). */
    private int[] prompt(ModelConfig cfg, SplittableRandom random) {
        int[] ids = new int[promptTokens];
        for (int i = 0; i < ids.length; i++) ids[i] = random.nextInt(cfg.vocabSize() - 1);
        return ids;
    }

    /**
     * Batch-1 generation through the library, as `generate` runs it: ms per token from the first token to the
     * last, over the tokens between (a stream's own measure, so the two compare like for like).
     */
    private double generateMsPerToken(LumensparkModel m, ModelConfig cfg, SplittableRandom random) {
        GenerationConfig gen = GenerationConfig.builder().maxNewTokens(newTokens).minNewTokens(newTokens).doSample(true)
                .temperature(1).topK(0).seed(random.nextLong()).build();
        try (Generation g = new Generation(m.languageModel(), m.tokenizer(), prompt(cfg, random), gen, null)) {
            g.next();
            long first = System.nanoTime();
            for (int i = 1; i < newTokens; i++) g.next();
            return (System.nanoTime() - first) / 1e6 / Math.max(1, newTokens - 1);
        }
    }

    /** The server's totals so far, from its /metrics: {decoding steps, their rows, their seconds, feeding seconds}. */
    private static double[] steps(HttpClient http, Server server) {
        try {
            String text = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            double[] out = new double[4];
            for (String line : text.split("\n")) {
                String[] kv = line.split(" ");
                if (kv.length != 2) continue;
                if (kv[0].startsWith("lumenspark_step_seconds_count{")) out[0] += Double.parseDouble(kv[1]);
                if (kv[0].startsWith("lumenspark_step_batch_size_sum{")) out[1] += Double.parseDouble(kv[1]);
                if (kv[0].startsWith("lumenspark_step_seconds_sum{")) out[2] += Double.parseDouble(kv[1]);
                if (kv[0].startsWith("lumenspark_prompt_feed_seconds_sum{")) out[3] += Double.parseDouble(kv[1]);
            }
            return out;
        } catch (IOException e) {
            throw new LumensparkException("reading the server's metrics failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LumensparkException("interrupted");
        }
    }

    /**
     * A round from its streams' {@link SseClient#streams} results and its seconds: {aggregate tokens/s, median ms per
     * token of the streams that could time theirs (NaN when none), median ms to the first token, seconds,
     * generation-phase tokens/s (every stream's tokens after its first, over the time from the earliest first token
     * to the latest last one; NaN when no stream could time its tokens)}.
     */
    static double[] combine(double[][] streams, double seconds) {
        double tokens = 0, later = 0, firstMs = Double.POSITIVE_INFINITY, lastMs = 0;
        double[] perToken = new double[streams.length], first = new double[streams.length];
        boolean timed = false;
        for (int i = 0; i < streams.length; i++) {
            double[] r = streams[i];
            timed |= Double.isFinite(r[1]);
            tokens += r[0];
            perToken[i] = r[1];
            first[i] = r[2];
            later += Math.max(0, r[0] - 1);
            firstMs = Math.min(firstMs, r[2]);
            lastMs = Math.max(lastMs, r[3]);
        }
        double generation = timed && later > 0 && lastMs > firstMs ? 1000 * later / (lastMs - firstMs) : Double.NaN;
        return new double[]{tokens / seconds, Stats.medianOfDefined(perToken), Stats.median(first), seconds,
                generation};
    }

    /** One round: s clients stream a completion each, all at once. Returns its {@link #combine} figures. */
    private double[] round(SseClient sse, String model, int s, ModelConfig cfg, SplittableRandom random) {
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < s; i++) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("model", model);
            b.put("prompt", prompt(cfg, random));
            b.put("max_tokens", newTokens);
            b.put("temperature", 1.0);
            b.put("seed", random.nextLong());
            b.put("stream", true);
            b.put("stream_options", Map.of("include_usage", true));
            bodies.add(Json.toLine(b));
        }
        long start = System.nanoTime();
        double[][] results = sse.streams("/v1/completions", bodies, start);
        return combine(results, (System.nanoTime() - start) / 1e9);
    }
}
