package io.lumenspark.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.generate.FinishReason;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.generate.Sampling;
import io.lumenspark.generate.TokenLogprobs;
import io.lumenspark.io.Json;
import io.lumenspark.tokenizer.Tokenizer;
import io.lumenspark.tokenizer.Utf8Decoder;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * OpenAI's HTTP API over the served models: {@code POST /v1/completions}, {@code POST /v1/chat/completions},
 * {@code GET /v1/models}; and {@code GET /health}, {@code GET /metrics}, and the playground page at {@code GET /}.
 * Requests are checked as OpenAI checks them (unknown keys and out-of-range values are 400 errors naming the
 * parameter), answered whole or streamed as server-sent events, and errors take OpenAI's JSON shape.
 */
final class OpenAiApi implements HttpServer.Handler {
    /** What GET / serves: one self-contained page (inline CSS and JS). */
    private static final byte[] PLAYGROUND = resource("playground.html");
    private static final String FINGERPRINT = "lumenspark-0.1.0";
    private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p", "top_k", "n",
            "stop", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty", "stream",
            "stream_options", "user", "logit_bias");
    private static final Set<String> COMPLETION = Set.of("prompt", "logprobs", "echo", "suffix", "best_of");
    private static final Set<String> CHAT = Set.of("messages", "max_completion_tokens", "logprobs", "top_logprobs",
            "response_format", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "store",
            "metadata", "service_tier", "modalities", "reasoning_effort");

    private final Server server;
    private final Metrics metrics;
    private final byte[] keyHash; // SHA-256 of the API key, or null: no key
    private final Set<String> origins; // web origins whose pages may call the API (CORS), "*" for any
    private final SecureRandom ids = new SecureRandom();

    OpenAiApi(Server server, Metrics metrics, String apiKey, List<String> origins) {
        this.server = server;
        this.metrics = metrics;
        this.keyHash = apiKey == null ? null : sha256(apiKey);
        this.origins = Set.copyOf(origins);
    }

    private static byte[] resource(String name) {
        try (InputStream in = OpenAiApi.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing resource " + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The JSON body of an error the HTTP layer answers itself (413, 431, a malformed request). */
    static byte[] protocolError(int status, String message) {
        String code = status == 413 ? "request_too_large" : null;
        return Json.toLine(ApiError.body(message, "invalid_request_error", null, code)).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void handle(HttpServer.Request r, HttpServer.Exchange x) throws IOException {
        String endpoint = r.path();
        int status;
        try {
            status = cors(r, x) ? 204 : route(r, x);
        } catch (ApiError e) {
            status = e.status;
            send(x, e.status, e.body(), e.headers);
        } catch (RuntimeException e) { // a fault of ours: the details go to the operator, not to the client
            status = 500;
            System.err.println("error: internal error answering " + r.method() + " " + endpoint + ": " + e);
            e.printStackTrace();
            String message = "The server had an error while processing your request (its log has the details).";
            x.closeAfter();
            if (!x.responded()) {
                send(x, 500, ApiError.body(message, "server_error", null, null), Map.of());
            } else if (x.streaming()) { // an error object as the stream's last event, then its end
                x.event(Json.toLine(ApiError.body(message, "server_error", null, null)));
                x.endEvents();
            }
        }
        metrics.request(endpoint.startsWith("/v1/models/") ? "/v1/models/{model}" : known(endpoint) ? endpoint : "other",
                status);
    }

    /**
     * CORS, for the origins allowed (none unless the server was told some): their requests' responses say so,
     * and a preflight (OPTIONS with Access-Control-Request-Method) is answered here, before any key is asked
     * for, as browsers send it without one. Returns whether the request was a preflight, answered.
     */
    private boolean cors(HttpServer.Request r, HttpServer.Exchange x) throws IOException {
        String origin = r.header("origin");
        if (origin == null || !(origins.contains("*") || origins.contains(origin))) return false;
        x.alwaysSend(Map.of("Access-Control-Allow-Origin", origins.contains("*") ? "*" : origin, "Vary", "Origin",
                "Access-Control-Expose-Headers", "Retry-After"));
        if (!r.method().equals("OPTIONS") || r.header("access-control-request-method") == null) return false;
        String asked = r.header("access-control-request-headers");
        x.respond(204, "text/plain", new byte[0], Map.of("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS",
                "Access-Control-Allow-Headers", asked != null && !asked.isBlank() ? asked : "Authorization, Content-Type",
                "Access-Control-Max-Age", "600"));
        return true;
    }

    private static boolean known(String path) {
        return Set.of("/", "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions").contains(path);
    }

    /** Answers the request; returns its status. */
    private int route(HttpServer.Request r, HttpServer.Exchange x) throws IOException, ApiError {
        String path = r.path();
        switch (path) {
            case "/" -> {
                method(r, "GET");
                x.respond(200, "text/html; charset=utf-8", PLAYGROUND, Map.of("Cache-Control", "no-cache"));
                return 200;
            }
            case "/health" -> {
                method(r, "GET");
                String state = server.state();
                int status = state.equals("ok") ? 200 : 503;
                send(x, status, Map.of("status", state), Map.of());
                return status;
            }
            case "/metrics" -> {
                method(r, "GET");
                authorize(r);
                x.respond(200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render().getBytes(StandardCharsets.UTF_8), Map.of());
                return 200;
            }
            default -> {
            }
        }
        if (!path.startsWith("/v1/")) throw notFound(r);
        authorize(r);
        if (path.equals("/v1/models") || path.startsWith("/v1/models/")) {
            method(r, "GET");
            available(false);
            if (path.equals("/v1/models")) {
                List<Object> data = new ArrayList<>();
                for (ServedModel m : server.models().values()) data.add(modelCard(m));
                send(x, 200, Map.of("object", "list", "data", data), Map.of());
            } else {
                ServedModel m = server.models().get(path.substring("/v1/models/".length()));
                if (m == null) throw modelNotFound(path.substring("/v1/models/".length()));
                send(x, 200, modelCard(m), Map.of());
            }
            return 200;
        }
        boolean chat = path.equals("/v1/chat/completions");
        if (!chat && !path.equals("/v1/completions")) throw notFound(r);
        method(r, "POST");
        available(true);
        return generate(r, x, chat);
    }

    /** 405 unless the request's method is allowed (a GET route answers HEAD too, with its headers only). */
    private static void method(HttpServer.Request r, String allowed) throws ApiError {
        boolean get = allowed.equals("GET");
        if (!r.method().equals(allowed) && !(get && r.method().equals("HEAD"))) {
            throw new ApiError(405, "invalid_request_error", r.method() + " is not allowed on " + r.path()
                    + " (use " + allowed + ")", null, "method_not_allowed", Map.of("Allow", get ? "GET, HEAD" : allowed));
        }
    }

    private static ApiError notFound(HttpServer.Request r) {
        return new ApiError(404, "invalid_request_error", "Invalid URL (" + r.method() + " " + r.path() + ")", null,
                "unknown_url", Map.of());
    }

    /** 401 unless the request carries the API key (compared as SHA-256 hashes, in constant time). */
    private void authorize(HttpServer.Request r) throws ApiError {
        if (keyHash == null) return;
        String auth = r.header("authorization");
        String given = auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7) ? auth.substring(7).strip() : null;
        if (given == null || !MessageDigest.isEqual(keyHash, sha256(given))) {
            throw new ApiError(401, "invalid_request_error", given == null
                    ? "You didn't provide an API key: send it as 'Authorization: Bearer KEY'."
                    : "Incorrect API key provided.", null, "invalid_api_key", Map.of("WWW-Authenticate", "Bearer"));
        }
    }

    /** 503 while the models load, and (for new generations) while the server drains. */
    private void available(boolean generation) throws ApiError {
        String state = server.state();
        if (state.equals("loading") || (generation && state.equals("draining"))) {
            throw new ApiError(503, "server_error", state.equals("loading") ? "The server is loading its models;"
                    + " retry shortly." : "The server is shutting down and takes no new requests.", null,
                    "service_unavailable", Map.of("Retry-After", "1"));
        }
    }

    private Map<String, Object> modelCard(ServedModel m) {
        Map<String, Object> card = new LinkedHashMap<>();
        card.put("id", m.name());
        card.put("object", "model");
        card.put("created", server.started());
        card.put("owned_by", "lumenspark");
        Map<String, Object> ours = new LinkedHashMap<>();
        ours.put("context_length", m.model().config().seqLength());
        ours.put("max_tokens_limit", server.maxTokensLimit(m));
        ours.put("max_batch", m.scheduler().maxBatch());
        ours.put("chat_template", m.ownTemplate() ? "the model's" : "default");
        GenerationConfig g = m.model().generationConfig();
        Map<String, Object> defaults = new LinkedHashMap<>();
        defaults.put("temperature", g.doSample() ? g.temperature() : 0.0);
        defaults.put("top_p", g.topP());
        defaults.put("top_k", g.topK());
        defaults.put("repetition_penalty", g.repetitionPenalty());
        defaults.put("max_tokens", g.maxNewTokens() != null ? g.maxNewTokens() : 64);
        ours.put("generation_defaults", defaults);
        card.put("lumenspark", ours);
        return card;
    }

    private ApiError modelNotFound(String name) {
        return new ApiError(404, "invalid_request_error", "The model `" + name + "` does not exist (this server has "
                + String.join(", ", server.models().keySet()) + ").", "model", "model_not_found", Map.of());
    }

    private static void send(HttpServer.Exchange x, int status, Object body, Map<String, String> headers)
            throws IOException {
        x.respond(status, "application/json", Json.toLine(body).getBytes(StandardCharsets.UTF_8), headers);
    }

    // ---- requests ----

    /** A parsed generation request. */
    private record Ask(ServedModel model, List<int[]> prompts, List<String> promptTexts, int n, boolean stream,
                       boolean includeUsage, boolean echo, int logprobs, GenerationConfig config, Long seed,
                       List<String> stops, boolean scoreOnly) {
    }

    private int generate(HttpServer.Request r, HttpServer.Exchange x, boolean chat) throws IOException, ApiError {
        JsonNode body;
        try {
            body = Json.mapper().readTree(r.body());
        } catch (JsonProcessingException e) {
            throw ApiError.invalid("We could not parse the JSON body of your request: " + Json.detail(e), null);
        }
        if (body == null || !body.isObject()) throw ApiError.invalid("The request body must be a JSON object.", null);
        Ask ask = parse(body, chat);
        Reply scored = ask.scoreOnly() ? new Reply(ask, false, "cmpl-" + id(), System.currentTimeMillis() / 1000) : null;
        if (scored != null) return ask.stream() ? stream(x, null, scored) : whole(x, null, scored);
        List<Scheduler.Spec> specs = new ArrayList<>();
        for (int p = 0; p < ask.prompts().size(); p++) {
            for (int j = 0; j < ask.n(); j++) {
                int s = p * ask.n() + j;
                GenerationConfig c = ask.config().toBuilder().seed(ask.seed()).build();
                specs.add(new Scheduler.Spec(ask.prompts().get(p), ask.config(), Generator.sequenceSeed(c, s),
                        chat ? (ask.logprobs() >= 0 ? ask.logprobs() : -1) : ask.logprobs()));
            }
        }
        Scheduler.Job job;
        try {
            job = ask.model().scheduler().submit(specs);
        } catch (Scheduler.QueueFull e) {
            throw new ApiError(429, "rate_limit_error", e.getMessage(), null, "rate_limit_exceeded",
                    Map.of("Retry-After", "1"));
        } catch (IllegalStateException e) { // its scheduler has stopped: the server is closing
            throw new ApiError(503, "server_error", "Model " + ask.model().name() + " is not serving: the server is"
                    + " shutting down.", null, "service_unavailable", Map.of());
        }
        x.watch(job::cancel);
        Reply reply = new Reply(ask, chat, chat ? "chatcmpl-" + id() : "cmpl-" + id(), System.currentTimeMillis() / 1000);
        return ask.stream() ? stream(x, job, reply) : whole(x, job, reply);
    }

    private String id() {
        byte[] b = new byte[12];
        ids.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private Ask parse(JsonNode body, boolean chat) throws ApiError {
        List<String> unknown = new ArrayList<>();
        body.fieldNames().forEachRemaining(k -> {
            if (!COMMON.contains(k) && !(chat ? CHAT : COMPLETION).contains(k)) unknown.add(k);
        });
        if (!unknown.isEmpty()) {
            throw ApiError.invalid("Unrecognized request argument supplied: " + String.join(", ", unknown), unknown.getFirst());
        }
        JsonNode modelNode = body.get("model");
        if (modelNode == null || !modelNode.isTextual()) throw ApiError.invalid("you must provide a model parameter", "model");
        ServedModel m = server.models().get(modelNode.textValue());
        if (m == null) throw modelNotFound(modelNode.textValue());
        for (String unsupported : List.of("suffix", "response_format", "tools", "tool_choice", "functions",
                "function_call", "parallel_tool_calls")) {
            JsonNode v = body.get(unsupported);
            if (v != null && !v.isNull() && !(unsupported.equals("response_format") && "text".equals(v.path("type").asText()))) {
                throw ApiError.invalid(unsupported + " is not supported by this server", unsupported);
            }
        }
        // keys newer clients send that change nothing here in their plain values, refused in the others
        if (chat && bool(body, "store")) throw ApiError.invalid("store: true is not supported by this server (nothing is stored)", "store");
        if (chat && has(body, "metadata") && !body.get("metadata").isObject()) throw ApiError.invalid("metadata must be an object", "metadata");
        if (chat && has(body, "service_tier") && !Set.of("auto", "default").contains(body.get("service_tier").asText())) {
            throw ApiError.invalid("service_tier must be auto or default on this server", "service_tier");
        }
        if (chat && has(body, "modalities") && !Json.mapper().createArrayNode().add("text").equals(body.get("modalities"))) {
            throw ApiError.invalid("this server answers in text only: modalities must be [\"text\"]", "modalities");
        }
        if (chat && has(body, "reasoning_effort")) {
            throw ApiError.invalid("reasoning_effort is not supported with this model (it is not a reasoning model)", "reasoning_effort");
        }
        JsonNode bias = body.get("logit_bias");
        if (bias != null && !bias.isNull() && !bias.isEmpty()) throw ApiError.invalid("logit_bias is not supported by this server", "logit_bias");
        Tokenizer tok = m.model().tokenizer();
        int context = m.model().config().seqLength();
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        if (chat) {
            String text = chatPrompt(m, body.get("messages"));
            texts.add(text);
            prompts.add(tok.encode(text));
        } else {
            readPrompts(body.get("prompt"), tok, prompts, texts);
        }
        int limit = server.maxTokensLimit(m);
        String tokensKey = chat && has(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        boolean echo = !chat && bool(body, "echo");
        // OpenAI's defaults: 16 for a completion; a chat reply runs to its end of text or the context's end. With
        // echo, 0 scores the prompt alone (its logprobs), as evaluation harnesses ask OpenAI's completions
        Integer maxTokens = has(body, tokensKey) ? Integer.valueOf(integer(body, tokensKey, echo ? 0 : 1, Integer.MAX_VALUE))
                : chat ? null : Integer.valueOf(16);
        boolean scoreOnly = maxTokens != null && maxTokens == 0;
        if (maxTokens != null && maxTokens > limit) {
            throw ApiError.invalid(tokensKey + " is " + maxTokens + "; this server allows at most " + limit, tokensKey);
        }
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i).length == 0) prompts.set(i, new int[]{tok.eosId()}); // as OpenAI: an empty prompt is end of text
            int length = prompts.get(i).length;
            String which = chat ? "the messages" : prompts.size() > 1 ? "prompt " + i : "the prompt";
            if (scoreOnly ? length > context : length >= context) { // a prompt scored alone may fill the context
                throw new ApiError(400, "invalid_request_error", "This model's maximum context length is " + context
                        + " tokens, and " + which + (chat ? " have " : " has ") + length + " tokens, which leaves no"
                        + " room to generate.", chat ? "messages" : "prompt", "context_length_exceeded", Map.of());
            }
            if (maxTokens != null && length + maxTokens > context) { // as OpenAI and vLLM: refused, not cut short
                throw new ApiError(400, "invalid_request_error", "This model's maximum context length is " + context
                        + " tokens. However, you requested " + (length + maxTokens) + " tokens (" + length + " in "
                        + which + ", " + maxTokens + " in the completion). Please reduce the length of "
                        + (chat ? "the messages" : "the prompt") + " or " + tokensKey + ".",
                        chat ? "messages" : "prompt", "context_length_exceeded", Map.of());
            }
        }
        double temperature = number(body, "temperature", 0, 2, 1);
        double topP = number(body, "top_p", Double.MIN_VALUE, 1, 1);
        int topK = has(body, "top_k") ? integer(body, "top_k", -1, Integer.MAX_VALUE) : 0;
        int n = has(body, "n") ? integer(body, "n", 1, Integer.MAX_VALUE) : 1;
        int maxBatch = m.scheduler().maxBatch();
        if ((long) n * prompts.size() > maxBatch) {
            throw ApiError.invalid(prompts.size() > 1 ? prompts.size() + " prompts x n " + n + " = " + n * prompts.size()
                    + " sequences; this server runs at most " + maxBatch + " per request"
                    : "n is " + n + "; this server runs at most " + maxBatch + " sequences per request", "n");
        }
        if (has(body, "best_of") && integer(body, "best_of", 1, Integer.MAX_VALUE) != n) {
            throw ApiError.invalid("best_of other than n is not supported by this server", "best_of");
        }
        List<String> stops = stops(body.get("stop"));
        Long seed = has(body, "seed") ? longValue(body, "seed") : null;
        boolean stream = bool(body, "stream");
        boolean includeUsage = false;
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!stream) throw ApiError.invalid("stream_options is only allowed with stream: true", "stream_options");
            if (!so.isObject()) throw ApiError.invalid("stream_options must be an object", "stream_options");
            for (String k : (Iterable<String>) so::fieldNames) { // include_obfuscation: no padding is sent, either way
                if (!k.equals("include_usage") && !k.equals("include_obfuscation")) {
                    throw ApiError.invalid("Unrecognized stream_options key: " + k, "stream_options." + k);
                }
            }
            bool(so, "include_obfuscation");
            includeUsage = bool(so, "include_usage");
        }
        int logprobs = -1;
        if (chat) {
            if (bool(body, "logprobs")) logprobs = has(body, "top_logprobs") ? integer(body, "top_logprobs", 0, 20) : 0;
            else if (has(body, "top_logprobs")) throw ApiError.invalid("top_logprobs needs logprobs: true", "top_logprobs");
        } else if (has(body, "logprobs")) {
            logprobs = integer(body, "logprobs", 0, 20);
        }
        if (has(body, "user") && !body.get("user").isTextual()) throw ApiError.invalid("user must be a string", "user");
        GenerationConfig base = m.model().generationConfig();
        Map<String, String> names = Map.of("max_new_tokens", tokensKey, "stop_strings", "stop");
        UnaryOperator<String> name = k -> names.getOrDefault(k, k);
        GenerationConfig cfg;
        try {
            cfg = GenerationConfig.builder()
                    .maxNewTokens(maxTokens == null ? limit : Math.max(1, maxTokens)).maxLength(null)
                    .doSample(temperature > 0).temperature(temperature > 0 ? temperature : 1)
                    .topK(Math.max(0, topK)).topP(topP)
                    .repetitionPenalty(number(body, "repetition_penalty", Double.MIN_VALUE, 100, 1))
                    .presencePenalty(number(body, "presence_penalty", -2, 2, 0))
                    .frequencyPenalty(number(body, "frequency_penalty", -2, 2, 0))
                    .eosTokenIds(base.eosTokenIds()).stopStrings(stops)
                    .build(name);
        } catch (LumensparkException e) {
            throw ApiError.invalid(e.getMessage(), null);
        }
        return new Ask(m, prompts, texts, n, stream, includeUsage, echo, logprobs, cfg, seed, stops, scoreOnly);
    }

    private static boolean has(JsonNode body, String key) {
        return body.has(key) && !body.get(key).isNull();
    }

    private static int integer(JsonNode body, String key, int min, int max) throws ApiError {
        long v = longValue(body, key);
        if (v < min || v > max) {
            throw ApiError.invalid(key + " must be " + (max == Integer.MAX_VALUE ? "at least " + min
                    : "between " + min + " and " + max) + ", got " + v, key);
        }
        return (int) v;
    }

    private static long longValue(JsonNode body, String key) throws ApiError {
        JsonNode v = body.get(key);
        if (!v.isNumber()) throw ApiError.invalid(key + " must be an integer, got " + v, key);
        BigDecimal d = v.decimalValue();
        if (d.signum() != 0 && d.stripTrailingZeros().scale() > 0) throw ApiError.invalid(key + " must be an integer, got " + v, key);
        try {
            return d.longValueExact();
        } catch (ArithmeticException e) {
            throw ApiError.invalid(key + " is out of range: " + v, key);
        }
    }

    private static double number(JsonNode body, String key, double min, double max, double otherwise) throws ApiError {
        if (!has(body, key)) return otherwise;
        JsonNode v = body.get(key);
        if (!v.isNumber() || !Double.isFinite(v.doubleValue())) throw ApiError.invalid(key + " must be a number, got " + v, key);
        double d = v.doubleValue();
        if (d < min || d > max) {
            throw ApiError.invalid(key + " must be " + (min == Double.MIN_VALUE ? "above 0 and at most " + max
                    : "between " + min + " and " + max) + ", got " + d, key);
        }
        return d;
    }

    private static boolean bool(JsonNode body, String key) throws ApiError {
        if (!has(body, key)) return false;
        JsonNode v = body.get(key);
        if (!v.isBoolean()) throw ApiError.invalid(key + " must be true or false, got " + v, key);
        return v.booleanValue();
    }

    /** stop: a string or a list of up to 4 non-empty strings. */
    private static List<String> stops(JsonNode v) throws ApiError {
        if (v == null || v.isNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(v.textValue());
        } else if (v.isArray()) {
            for (JsonNode s : v) {
                if (!s.isTextual()) throw ApiError.invalid("stop must be a string or a list of strings", "stop");
                out.add(s.textValue());
            }
        } else {
            throw ApiError.invalid("stop must be a string or a list of strings", "stop");
        }
        if (out.size() > 4) throw ApiError.invalid("stop takes at most 4 sequences, got " + out.size(), "stop");
        if (out.contains("")) throw ApiError.invalid("a stop sequence must not be empty", "stop");
        return out;
    }

    /** prompt: a string, a list of strings, a list of token ids, or a list of lists of token ids. */
    private static void readPrompts(JsonNode v, Tokenizer tok, List<int[]> prompts, List<String> texts) throws ApiError {
        if (v == null || v.isNull()) throw ApiError.invalid("you must provide a prompt", "prompt");
        if (v.isTextual()) {
            texts.add(v.textValue());
            prompts.add(tok.encode(v.textValue()));
            return;
        }
        if (!v.isArray() || v.isEmpty()) throw ApiError.invalid("prompt must be a string, a list of strings or a list of token ids", "prompt");
        if (v.get(0).isNumber()) {
            prompts.add(ids(v, tok));
            texts.add(tok.decode(prompts.getLast()));
            return;
        }
        for (JsonNode p : v) {
            if (p.isTextual()) {
                texts.add(p.textValue());
                prompts.add(tok.encode(p.textValue()));
            } else if (p.isArray()) {
                prompts.add(ids(p, tok));
                texts.add(tok.decode(prompts.getLast()));
            } else {
                throw ApiError.invalid("prompt must be a string, a list of strings or a list of token ids", "prompt");
            }
        }
    }

    private static int[] ids(JsonNode v, Tokenizer tok) throws ApiError {
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode t = v.get(i);
            if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= tok.vocabSize()) {
                throw ApiError.invalid("token ids in prompt must be integers in 0.." + (tok.vocabSize() - 1) + ", got "
                        + t, "prompt");
            }
            out[i] = t.asInt();
        }
        return out;
    }

    /** The messages through the model's chat template. */
    private static String chatPrompt(ServedModel m, JsonNode messages) throws ApiError {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.invalid("messages must be a non-empty list", "messages");
        }
        List<Map<String, Object>> list = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode msg = messages.get(i);
            String at = "messages[" + i + "]";
            if (!msg.isObject()) throw ApiError.invalid(at + " must be an object", at);
            JsonNode role = msg.get("role");
            if (role == null || !role.isTextual() || !Set.of("system", "developer", "user", "assistant", "tool")
                    .contains(role.textValue())) {
                throw ApiError.invalid(at + ".role must be one of system, developer, user, assistant, tool", at + ".role");
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("role", role.textValue().equals("developer") ? "system" : role.textValue());
            // as OpenAI: only an assistant's message (one that called tools) may come without content
            if (!role.textValue().equals("assistant") && (msg.get("content") == null || msg.get("content").isNull())) {
                throw ApiError.invalid(at + ".content is required for role " + role.textValue(), at + ".content");
            }
            out.put("content", content(msg.get("content"), at));
            if (msg.path("name").isTextual()) out.put("name", msg.get("name").textValue());
            list.add(out);
        }
        try {
            return m.template().render(ChatTemplate.variables(list, true, m.bosToken(), m.eosToken()));
        } catch (LumensparkException e) {
            throw ApiError.invalid(e.getMessage(), "messages");
        }
    }

    /** A message's content: a string, or a list of text parts joined. */
    private static String content(JsonNode c, String at) throws ApiError {
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.textValue();
        if (c.isArray()) {
            StringBuilder b = new StringBuilder();
            for (JsonNode part : c) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiError.invalid(at + ".content: only text parts are supported", at + ".content");
                }
                b.append(part.get("text").textValue());
            }
            return b.toString();
        }
        throw ApiError.invalid(at + ".content must be a string or a list of text parts", at + ".content");
    }

    // ---- replies ----

    /** One choice as it is built: its text (held back where a stop sequence may be starting), tokens, end. */
    private static final class Choice {
        final StopText text;
        final List<Generation.Token> tokens = new ArrayList<>();
        final TextOffsets offsets = new TextOffsets(); // the legacy logprobs' text_offset
        int generated;
        String finish;

        Choice(List<String> stops) {
            text = new StopText(stops);
        }
    }

    /** A reply's fixed parts and its choices. */
    private final class Reply {
        final Ask ask;
        final boolean chat;
        final String id;
        final long created;
        final Choice[] choices;
        final Tokenizer tok;
        private int scoredPrompt = -1;      // the prompt whose logprobs promptLogprobs holds
        private TokenLogprobs[] scored;

        Reply(Ask ask, boolean chat, String id, long created) {
            this.ask = ask;
            this.chat = chat;
            this.id = id;
            this.created = created;
            this.tok = ask.model().model().tokenizer();
            choices = new Choice[ask.prompts().size() * ask.n()];
            for (int i = 0; i < choices.length; i++) choices[i] = new Choice(ask.stops());
        }

        Map<String, Object> head(String object) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", id);
            m.put("object", object);
            m.put("created", created);
            m.put("model", ask.model().name());
            m.put("system_fingerprint", FINGERPRINT);
            return m;
        }

        Map<String, Object> usage() {
            int prompt = ask.prompts().stream().mapToInt(p -> p.length).sum(), completion = 0;
            for (Choice c : choices) completion += c.generated;
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("prompt_tokens", prompt);
            u.put("completion_tokens", completion);
            u.put("total_tokens", prompt + completion);
            return u;
        }

        /**
         * Prompt p's tokens' logprobs (the first null), by one forward pass over it, kept for the next choices of
         * the same prompt (a prompt's n choices come together) and not beyond: a pass's logits are [tokens, vocab].
         */
        TokenLogprobs[] promptLogprobs(int p) {
            if (p != scoredPrompt) {
                int[] ids = ask.prompts().get(p);
                float[][] logits = ask.model().model().logits(ids);
                scored = new TokenLogprobs[ids.length];
                for (int t = 1; t < ids.length; t++) scored[t] = Sampling.logprobs(logits[t - 1], ids[t], ask.logprobs());
                scoredPrompt = p;
            }
            return scored;
        }

        String echoText(int choice) {
            return ask.echo() ? ask.promptTexts().get(choice / ask.n()) : "";
        }
    }

    private static String finishReason(Generator.Result r) {
        return r.finishReason() == FinishReason.EOS || r.finishReason() == FinishReason.STOP ? "stop" : "length";
    }

    /** Waits for every choice, then answers in one JSON body; job null: a prompt scored, nothing generated. */
    private int whole(HttpServer.Exchange x, Scheduler.Job job, Reply reply) throws IOException {
        int left = job == null ? 0 : reply.choices.length;
        if (job == null) for (Choice c : reply.choices) c.finish = "length";
        while (left > 0) {
            Scheduler.Event e = take(job);
            if (e == null) return 499;
            switch (e) {
                case Scheduler.TokenEvent t -> {
                    Choice c = reply.choices[t.choice()];
                    c.tokens.add(t.token());
                    c.text.add(t.token().text());
                }
                case Scheduler.Done d -> {
                    Choice c = reply.choices[d.choice()];
                    c.text.finish(d.result().finishReason() == FinishReason.STOP);
                    c.generated = d.tokens();
                    c.finish = finishReason(d.result());
                    left--;
                }
                case Scheduler.Failed f -> {
                    if (x.gone() || job.cancelled()) return 499;
                    send(x, 500, ApiError.body(f.message(), "server_error", null, null), Map.of());
                    return 500;
                }
            }
        }
        Map<String, Object> m = reply.head(reply.chat ? "chat.completion" : "text_completion");
        List<Object> choices = new ArrayList<>();
        for (int i = 0; i < reply.choices.length; i++) {
            Choice c = reply.choices[i];
            Map<String, Object> ch = new LinkedHashMap<>();
            ch.put("index", i);
            if (reply.chat) {
                Map<String, Object> msg = new LinkedHashMap<>();
                msg.put("role", "assistant");
                msg.put("content", c.text.all());
                msg.put("refusal", null);
                ch.put("message", msg);
                ch.put("logprobs", reply.ask.logprobs() >= 0 ? Map.of("content", chatLogprobs(reply, c.tokens)) : null);
            } else {
                ch.put("text", reply.echoText(i) + c.text.all());
                ch.put("logprobs", reply.ask.logprobs() >= 0 ? completionLogprobs(reply, i, c.tokens, true) : null);
            }
            ch.put("finish_reason", c.finish);
            choices.add(ch);
        }
        m.put("choices", choices);
        m.put("usage", reply.usage());
        send(x, 200, m, Map.of());
        return 200;
    }

    /** The next event, or null when the client has gone (the job is cancelled). */
    private static Scheduler.Event take(Scheduler.Job job) {
        try {
            return job.events.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            job.cancel();
            return null;
        }
    }

    /**
     * Streams chunks as tokens come: server-sent events, "data: [DONE]" at the end; job null: a prompt scored, its
     * echo the only chunk.
     */
    private int stream(HttpServer.Exchange x, Scheduler.Job job, Reply reply) {
        try {
            x.startEvents();
            String object = reply.chat ? "chat.completion.chunk" : "text_completion";
            if (reply.chat) {
                for (int i = 0; i < reply.choices.length; i++) {
                    Map<String, Object> delta = new LinkedHashMap<>();
                    delta.put("role", "assistant");
                    delta.put("content", "");
                    x.event(chunk(reply, object, i, delta, null, null));
                }
            } else if (reply.ask.echo()) {
                for (int i = 0; i < reply.choices.length; i++) {
                    x.event(chunk(reply, object, i, reply.echoText(i), reply.ask.logprobs() >= 0
                            ? completionLogprobs(reply, i, List.of(), true) : null, job == null ? "length" : null));
                }
            }
            int left = job == null ? 0 : reply.choices.length; // no job: a prompt scored, nothing generated
            while (left > 0) {
                Scheduler.Event e = take(job);
                if (e == null) return 499;
                switch (e) {
                    case Scheduler.TokenEvent t -> {
                        Choice c = reply.choices[t.choice()];
                        String piece = c.text.add(t.token().text());
                        boolean lp = reply.ask.logprobs() >= 0 && !isEos(reply, t.token());
                        if (piece.isEmpty() && !lp) continue;
                        Object logprobs = null;
                        if (lp) {
                            logprobs = reply.chat ? Map.of("content", chatLogprobs(reply, List.of(t.token())))
                                    : completionLogprobs(reply, t.choice(), List.of(t.token()), false);
                        }
                        x.event(chunk(reply, object, t.choice(), reply.chat ? Map.of("content", piece) : piece,
                                logprobs, null));
                    }
                    case Scheduler.Done d -> {
                        Choice c = reply.choices[d.choice()];
                        c.generated = d.tokens();
                        String rest = c.text.finish(d.result().finishReason() == FinishReason.STOP);
                        Object delta = reply.chat ? rest.isEmpty() ? Map.of() : Map.of("content", rest) : rest;
                        x.event(chunk(reply, object, d.choice(), delta, null, finishReason(d.result())));
                        left--;
                    }
                    case Scheduler.Failed f -> {
                        if (x.gone() || job.cancelled()) return 499;
                        x.event(Json.toLine(ApiError.body(f.message(), "server_error", null, null)));
                        x.endEvents();
                        x.closeAfter();
                        return 500;
                    }
                }
            }
            if (reply.ask.includeUsage()) {
                Map<String, Object> m = reply.head(object);
                m.put("choices", List.of());
                m.put("usage", reply.usage());
                x.event(Json.toLine(m));
            }
            x.event("[DONE]");
            x.endEvents();
            return 200;
        } catch (IOException e) { // the client went away: a failed write
            if (job != null) job.cancel();
            x.closeAfter();
            return 499;
        }
    }

    private static boolean isEos(Reply reply, Generation.Token t) {
        return reply.ask.config().eosTokenIds().contains(t.id()) && t.text().isEmpty();
    }

    private static String chunk(Reply reply, String object, int index, Object content, Object logprobs, String finish) {
        Map<String, Object> m = reply.head(object);
        Map<String, Object> ch = new LinkedHashMap<>();
        ch.put("index", index);
        if (reply.chat) ch.put("delta", content);
        else ch.put("text", content);
        ch.put("logprobs", logprobs);
        ch.put("finish_reason", finish);
        m.put("choices", List.of(ch));
        if (reply.ask.includeUsage()) m.put("usage", null); // as OpenAI: the last chunk alone carries it
        return Json.toLine(m);
    }

    /** Chat's logprobs.content: one entry per token (an end-of-text token, which adds no text, left out). */
    private static List<Object> chatLogprobs(Reply reply, List<Generation.Token> tokens) {
        List<Object> out = new ArrayList<>();
        for (Generation.Token t : tokens) {
            if (t.logprobs() == null || isEos(reply, t)) continue;
            Map<String, Object> e = tokenEntry(reply.tok, t.id(), t.logprobs().logprob());
            List<Object> top = new ArrayList<>();
            TokenLogprobs lp = t.logprobs();
            for (int i = 0; i < lp.topIds().length; i++) top.add(tokenEntry(reply.tok, lp.topIds()[i], lp.topLogprobs()[i]));
            e.put("top_logprobs", top);
            out.add(e);
        }
        return out;
    }

    private static Map<String, Object> tokenEntry(Tokenizer tok, int id, double logprob) {
        Map<String, Object> e = new LinkedHashMap<>();
        byte[] bytes = tok.decodeBytes(new int[]{id});
        e.put("token", tokenText(tok, id));
        e.put("logprob", logprob);
        List<Integer> b = new ArrayList<>();
        for (byte x : bytes) b.add(x & 0xff);
        e.put("bytes", b);
        return e;
    }

    /**
     * The legacy completions' logprobs of tokens: tokens (as {@link #tokenText}), token_logprobs, top_logprobs
     * (token text to log-probability) and text_offset (where each token's text starts in the choice's text, in
     * code points, continuing the choice's earlier calls). With echo and withPrompt, the prompt's tokens come first
     * (the first without a log-probability), scored by one forward pass over the prompt.
     */
    private Map<String, Object> completionLogprobs(Reply reply, int choice, List<Generation.Token> tokens,
                                                   boolean withPrompt) {
        List<String> texts = new ArrayList<>();
        List<Double> lps = new ArrayList<>();
        List<Object> tops = new ArrayList<>();
        List<Integer> offs = new ArrayList<>();
        TextOffsets offsets = reply.choices[choice].offsets;
        if (withPrompt && reply.ask.echo()) {
            int[] ids = reply.ask.prompts().get(choice / reply.ask.n());
            TokenLogprobs[] scored = reply.promptLogprobs(choice / reply.ask.n());
            for (int t = 0; t < ids.length; t++) {
                texts.add(tokenText(reply.tok, ids[t]));
                offs.add(offsets.next(reply.tok.decodeBytes(new int[]{ids[t]})));
                lps.add(t == 0 ? null : scored[t].logprob());
                tops.add(t == 0 ? null : topMap(reply.tok, scored[t]));
            }
        }
        for (Generation.Token t : tokens) {
            if (t.logprobs() == null || isEos(reply, t)) continue;
            texts.add(tokenText(reply.tok, t.id()));
            offs.add(offsets.next(reply.tok.decodeBytes(new int[]{t.id()})));
            lps.add(t.logprobs().logprob());
            tops.add(topMap(reply.tok, t.logprobs()));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", texts);
        m.put("token_logprobs", lps);
        m.put("top_logprobs", tops);
        m.put("text_offset", offs);
        return m;
    }

    /**
     * A token as OpenAI's logprobs show it: its text, or, when its bytes are not whole UTF-8 characters (a
     * character split across tokens), "bytes:" and each byte as \xhh.
     */
    static String tokenText(Tokenizer tok, int id) {
        byte[] b = tok.decodeBytes(new int[]{id});
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder out = new StringBuilder("bytes:");
            for (byte x : b) out.append(String.format(Locale.ROOT, "\\x%02x", x & 0xff));
            return out.toString();
        }
    }

    /**
     * Where each token's text starts in a choice's text, in code points (Python's string indices, as OpenAI counts):
     * the characters that the bytes before it complete, decoded as the text is ({@link Utf8Decoder}: one U+FFFD per
     * ill-formed part), so a character split across tokens counts once it is whole.
     */
    static final class TextOffsets {
        private final Utf8Decoder decoder = new Utf8Decoder();
        private int points;

        /** The offset of a token with these bytes; then counts the characters they complete. */
        int next(byte[] token) {
            int at = points;
            String done = decoder.append(token);
            points += done.codePointCount(0, done.length());
            return at;
        }
    }

    private static Map<String, Double> topMap(Tokenizer tok, TokenLogprobs lp) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < lp.topIds().length; i++) m.putIfAbsent(tokenText(tok, lp.topIds()[i]), lp.topLogprobs()[i]);
        return m;
    }
}
