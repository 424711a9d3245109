package io.lumenspark.serve;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.WeightDtype;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An OpenAI-compatible HTTP server for model folders ({@code lumenspark serve}): binds at once, answers
 * {@code /health} with 503 while the models load, then serves them, each under its name with its own continuous
 * batching scheduler. {@link #drain} stops new generations (503) and waits for the running ones to finish.
 */
public final class Server implements AutoCloseable {
    /** The largest request body by default: 8 MiB (413 beyond). */
    public static final long DEFAULT_MAX_BODY = 8L << 20;

    /**
     * How to serve.
     *
     * @param host           the address to bind (127.0.0.1: this machine only)
     * @param port           the port (0: any free one)
     * @param apiKey         the key requests must carry as {@code Authorization: Bearer KEY}, or null for none
     * @param maxBatch       sequences in one decoding step at most, per model (also the most one request may ask for)
     * @param maxQueue       requests waiting to join the batch at most, per model (429 beyond)
     * @param maxTokensLimit the largest max_tokens a request may ask for, or null for each model's context
     * @param maxBodyBytes   the largest request body (413 beyond)
     * @param models         the folders, each with its name
     * @param dtype          how the models' matrix weights are held, or null for each folder's own
     * @param allowedOrigins the web origins (scheme://host[:port], or * for any) whose pages may call the API from a
     *                       browser (CORS); none by default
     */
    public record Options(String host, int port, String apiKey, int maxBatch, int maxQueue, Integer maxTokensLimit,
                          long maxBodyBytes, Map<String, Path> models, WeightDtype dtype, List<String> allowedOrigins) {
        /** Options with each folder's own dtype and no browser origins. */
        public Options(String host, int port, String apiKey, int maxBatch, int maxQueue, Integer maxTokensLimit,
                       long maxBodyBytes, Map<String, Path> models) {
            this(host, port, apiKey, maxBatch, maxQueue, maxTokensLimit, maxBodyBytes, models, null);
        }

        /** Options with no browser origins. */
        public Options(String host, int port, String apiKey, int maxBatch, int maxQueue, Integer maxTokensLimit,
                       long maxBodyBytes, Map<String, Path> models, WeightDtype dtype) {
            this(host, port, apiKey, maxBatch, maxQueue, maxTokensLimit, maxBodyBytes, models, dtype, List.of());
        }

        /**
         * Checks the settings.
         *
         * @throws LumensparkException naming the option at fault
         */
        public Options {
            models = Collections.unmodifiableMap(new LinkedHashMap<>(models));
            allowedOrigins = List.copyOf(allowedOrigins);
            for (String origin : allowedOrigins) { // as a browser sends it in its Origin header
                if (!origin.equals("*") && !origin.matches("https?://[^/\\s]+")) {
                    throw new LumensparkException("--allow-origin must be * or scheme://host[:port] (no path), got "
                            + origin);
                }
            }
            if (models.isEmpty()) throw new LumensparkException("give at least one --model");
            if (port < 0 || port > 65535) throw new LumensparkException("--port must be in 0..65535, got " + port);
            if (maxBatch < 1 || maxBatch > 1024) throw new LumensparkException("--max-batch must be in 1..1024, got " + maxBatch);
            // every request waits in the queue, however briefly, before it joins the batch
            if (maxQueue < 1) throw new LumensparkException("--max-queue must be at least 1, got " + maxQueue);
            if (maxTokensLimit != null && maxTokensLimit < 1) {
                throw new LumensparkException("--max-tokens-limit must be at least 1, got " + maxTokensLimit);
            }
            if (maxBodyBytes < 1024) throw new LumensparkException("the body limit must be at least 1024 bytes");
            if (apiKey != null && apiKey.isBlank()) throw new LumensparkException("the API key is empty");
            for (String name : models.keySet()) {
                if (name.isEmpty() || !name.codePoints().allMatch(c -> c > ' ' && c != 0x7f)) {
                    throw new LumensparkException("model name \"" + name + "\" must be non-empty, without spaces or"
                            + " control characters");
                }
            }
        }
    }

    private final Options options;
    private final Metrics metrics = new Metrics();
    private final HttpServer http;
    private final long started = System.currentTimeMillis() / 1000;
    private volatile Map<String, ServedModel> models = Map.of();
    private volatile String state = "loading";
    private boolean closed; // under the lock of close()

    private Server(Options options) throws IOException {
        this.options = options;
        http = new HttpServer(options.host(), options.port(), HttpServer.Limits.of(options.maxBodyBytes()),
                new OpenAiApi(this, metrics, options.apiKey(), options.allowedOrigins()), OpenAiApi::protocolError);
    }

    /**
     * Binds the address and starts answering (503 until {@link #load} has loaded the models).
     *
     * @throws LumensparkException when the address cannot be bound (in use, not this machine's)
     */
    public static Server start(Options options) {
        Server s;
        try {
            s = new Server(options);
        } catch (IOException e) {
            throw new LumensparkException("cannot listen on " + options.host() + ":" + options.port() + ": "
                    + e.getMessage());
        }
        s.http.start();
        return s;
    }

    /**
     * Loads every model, in order, printing a line for each on log; then the server is ready.
     *
     * @throws LumensparkException for a folder that cannot be served (the others are closed again)
     */
    public void load(PrintStream log) {
        Map<String, ServedModel> loaded = new LinkedHashMap<>();
        try {
            for (var e : options.models().entrySet()) {
                ServedModel m = ServedModel.load(e.getKey(), e.getValue(), options.dtype(), options.maxBatch(),
                        options.maxQueue(), metrics);
                loaded.put(e.getKey(), m);
                log.printf("loaded %s from %s (%s, context %d, chat template: %s)%n", m.name(), m.dir(),
                        m.model().config().attention().label(), m.model().config().seqLength(),
                        m.ownTemplate() ? "the folder's" : "the default");
            }
        } catch (RuntimeException e) {
            loaded.values().forEach(ServedModel::close);
            throw e;
        }
        models = Collections.unmodifiableMap(loaded);
        state = "ok";
    }

    /** The port bound (the one asked for, or the free one chosen for port 0). */
    public int port() {
        return http.port();
    }

    /** The base URL, e.g. http://127.0.0.1:8000. */
    public String url() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return "http://" + host + ":" + port();
    }

    /** The names of the models served. */
    public Set<String> modelNames() {
        return new HashSet<>(options.models().keySet());
    }

    String state() {
        return state;
    }

    Map<String, ServedModel> models() {
        return models;
    }

    long started() {
        return started;
    }

    int maxTokensLimit(ServedModel m) {
        int context = m.model().config().seqLength();
        return options.maxTokensLimit() == null ? context : Math.min(options.maxTokensLimit(), context);
    }

    /**
     * New generations get 503 from now on; returns when every queued and running one has finished and its
     * response has been sent (the last of a stream included), so that the process can exit.
     */
    public void drain() {
        state = "draining";
        List<ServedModel> all = List.copyOf(models.values());
        while (!all.stream().allMatch(m -> m.scheduler().idle()) || http.handling() > 0) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Stops answering and frees the models (once: closing again does nothing). */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        state = "draining";
        http.close();
        models.values().forEach(ServedModel::close);
    }
}
