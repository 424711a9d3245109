package io.lumenspark.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.QuantizedMatrix;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server over loopback, with a small model: OpenAI's shapes, batching that changes nothing, errors. */
class ServerTest {
    @TempDir
    static Path tmp;
    static Path folder;
    static Server server;
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final String KEY = "sk-test-key";

    @BeforeAll
    static void start() {
        BpeTokenizer tok = SmallModels.tokenizer(tmp);
        folder = SmallModels.write(tmp.resolve("small"), tok, Map.of("seq_length", "64", "k", "8"));
        server = Server.start(new Server.Options("127.0.0.1", 0, KEY, 4, 2, null, 4096, Map.of("small", folder)));
        server.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static HttpResponse<String> post(String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode ok(String path, String body) throws Exception {
        HttpResponse<String> r = post(path, body, KEY);
        assertEquals(200, r.statusCode(), r.body());
        return Json.mapper().readTree(r.body());
    }

    static HttpResponse<String> get(String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String completion(String prompt, long seed, int maxTokens) {
        return Json.toLine(Map.of("model", "small", "prompt", prompt, "max_tokens", maxTokens, "seed", seed,
                "temperature", 0.9));
    }

    /**
     * The same seeded request gives the same text alone, among concurrent requests of all lengths (so in batches
     * of every composition), and as `generate` gives it through the library.
     */
    @Test
    void aSeededCompletionIsTheSameAloneBatchedAndAsGenerate() throws Exception {
        List<String> prompts = List.of("It was", "the worst of", "It", "times, it was the best", "was the", "of");
        List<String> alone = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            alone.add(ok("/v1/completions", completion(prompts.get(i), 10 + i, 12 + 3 * i))
                    .at("/choices/0/text").asText());
        }
        for (int round = 0; round < 2; round++) {
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int rep = 0; rep < 2; rep++) {
                for (int i = 0; i < prompts.size(); i++) {
                    all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                            .header("Authorization", "Bearer " + KEY)
                            .POST(HttpRequest.BodyPublishers.ofString(completion(prompts.get(i), 10 + i, 12 + 3 * i)))
                            .build(), HttpResponse.BodyHandlers.ofString()));
                }
            }
            for (int j = 0; j < all.size(); j++) {
                HttpResponse<String> r = all.get(j).get();
                if (r.statusCode() == 429) continue; // the small queue (2) turned it away: nothing to compare
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(alone.get(j % prompts.size()), Json.mapper().readTree(r.body()).at("/choices/0/text").asText());
            }
        }
        try (LumensparkModel m = LumensparkModel.fromPretrained(folder)) {
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(12).doSample(true).temperature(0.9).topK(0)
                    .seed(10L).eosTokenIds(m.generationConfig().eosTokenIds()).build();
            assertEquals(alone.getFirst(), m.generate(prompts.getFirst(), cfg).text());
        }
    }

    /**
     * With int8 weights the server runs the output layer in integers where it can (oneDNN's matmul on packed
     * weights): a seeded request still gives the same text alone and among concurrent ones, and the text the
     * library gives when asked to compute the same way.
     */
    @Test
    void int8ServingIsTheSameAloneBatchedAndAsTheLibraryComputingLikeIt() throws Exception {
        Server s = Server.start(new Server.Options("127.0.0.1", 0, null, 4, 8, null, 4096, Map.of("small", folder),
                WeightDtype.INT8));
        try {
            s.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            List<String> prompts = List.of("It was", "the worst of", "times, it", "was the best");
            List<String> alone = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) alone.add(text(post(s, completion(prompts.get(i), 20 + i, 16))));
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(s.url() + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(completion(prompts.get(i), 20 + i, 16))).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertEquals(alone.get(i), text(all.get(i).get(60, TimeUnit.SECONDS)), "batched " + i);
            }
            String logprobs = Json.toLine(Map.of("model", "small", "prompt", "It was", "max_tokens", 8, "seed", 5,
                    "temperature", 0.9, "logprobs", 1));
            JsonNode integer = Json.mapper().readTree(post(s, logprobs).body()).at("/choices/0/logprobs/token_logprobs");
            if (QuantizedMatrix.integerProducts()) { // the server did run them: the float path's logprobs differ
                System.setProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY, "false");
                try (Server f = Server.start(new Server.Options("127.0.0.1", 0, null, 4, 8, null, 4096,
                        Map.of("small", folder), WeightDtype.INT8))) {
                    f.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
                    assertNotEquals(integer.toString(), Json.mapper().readTree(post(f, logprobs).body())
                            .at("/choices/0/logprobs/token_logprobs").toString());
                } finally {
                    System.clearProperty(QuantizedMatrix.INTEGER_PRODUCTS_PROPERTY);
                }
            }
            try (LumensparkModel m = LumensparkModel.fromPretrained(folder, WeightDtype.INT8)) {
                m.languageModel().useIntegerProducts(true);
                GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(16).doSample(true).temperature(0.9)
                        .topK(0).seed(20L).eosTokenIds(m.generationConfig().eosTokenIds()).build();
                assertEquals(alone.getFirst(), m.generate(prompts.getFirst(), cfg).text());
            }
        } finally {
            s.close();
        }
    }

    private static HttpResponse<String> post(Server s, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String text(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        return Json.mapper().readTree(r.body()).at("/choices/0/text").asText();
    }

    @Test
    void streamingChunksAddUpToTheWholeAnswerAndEndWithDone() throws Exception {
        String body = "{\"model\": \"small\", \"prompt\": [\"It was\", \"the\"], \"max_tokens\": 15, \"seed\": 3, \"n\": 2,"
                + " \"stream\": %s, \"stream_options\": %s}";
        JsonNode whole = ok("/v1/completions", body.formatted("false", "null"));
        assertEquals(4, whole.at("/choices").size());
        HttpResponse<Stream<String>> r = HTTP.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body.formatted("true", "{\"include_usage\": true}"))).build(),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        List<String> data = r.body().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", data.getLast());
        StringBuilder[] texts = new StringBuilder[4];
        for (int i = 0; i < 4; i++) texts[i] = new StringBuilder();
        String[] finish = new String[4];
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode c = Json.mapper().readTree(d);
            assertEquals("text_completion", c.get("object").asText());
            if (c.get("choices").isEmpty()) {
                usage = c.get("usage");
                continue;
            }
            assertTrue(c.has("usage") && c.get("usage").isNull(), "with include_usage every other chunk has usage: null");
            int i = c.at("/choices/0/index").asInt();
            texts[i].append(c.at("/choices/0/text").asText());
            if (!c.at("/choices/0/finish_reason").isNull()) finish[i] = c.at("/choices/0/finish_reason").asText();
        }
        for (int i = 0; i < 4; i++) {
            assertEquals(whole.at("/choices/" + i + "/text").asText(), texts[i].toString(), "choice " + i);
            assertEquals(whole.at("/choices/" + i + "/finish_reason").asText(), finish[i]);
        }
        assertEquals(whole.get("usage"), usage);
        assertNotEquals(texts[0].toString(), texts[1].toString(), "n > 1 draws different sequences");
    }

    @Test
    void stopSequencesEndTheTextBeforeThem() throws Exception {
        JsonNode free = ok("/v1/completions", "{\"model\": \"small\", \"prompt\": \"It was\", \"max_tokens\": 30,"
                + " \"temperature\": 0}");
        String text = free.at("/choices/0/text").asText();
        assertTrue(text.length() > 6, text);
        String stop = text.substring(3, 5);
        JsonNode cut = ok("/v1/completions", Json.toLine(Map.of("model", "small", "prompt", "It was", "max_tokens", 30,
                "temperature", 0, "stop", List.of(stop))));
        assertEquals(text.substring(0, text.indexOf(stop)), cut.at("/choices/0/text").asText());
        assertEquals("stop", cut.at("/choices/0/finish_reason").asText());
        assertEquals("length", free.at("/choices/0/finish_reason").asText());
    }

    @Test
    void chatCompletionsThroughTheTemplateWithLogprobs() throws Exception {
        JsonNode c = ok("/v1/chat/completions", "{\"model\": \"small\", \"messages\": [{\"role\": \"user\", \"content\":"
                + " \"It was\"}], \"max_tokens\": 5, \"logprobs\": true, \"top_logprobs\": 2, \"seed\": 1}");
        assertEquals("chat.completion", c.get("object").asText());
        assertEquals("assistant", c.at("/choices/0/message/role").asText());
        JsonNode lp = c.at("/choices/0/logprobs/content");
        assertEquals(c.at("/usage/completion_tokens").asInt(), lp.size());
        assertEquals(2, lp.get(0).get("top_logprobs").size());
        assertTrue(lp.get(0).get("logprob").asDouble() <= 0);
        // a token's bytes, not its text, rebuild the reply: a character split across tokens shows as "bytes:\\x.."
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        lp.forEach(t -> t.get("bytes").forEach(b -> joined.write(b.asInt())));
        assertEquals(c.at("/choices/0/message/content").asText(), joined.toString(StandardCharsets.UTF_8));
    }

    /**
     * A chat request without max_tokens (what OpenAI's clients send unless told otherwise) runs to its end of text
     * or the context's end, whole and streamed alike; one whose prompt and max_tokens do not fit the context is
     * refused as OpenAI refuses it, not cut short.
     */
    @Test
    void chatWithoutMaxTokensRunsToItsEndAndALimitPastTheContextIsRefused() throws Exception {
        String messages = "\"messages\": [{\"role\": \"user\", \"content\": \"It was the best of times\"}]";
        JsonNode whole = ok("/v1/chat/completions", "{\"model\": \"small\", " + messages + ", \"seed\": 4}");
        int prompt = whole.at("/usage/prompt_tokens").asInt(), completion = whole.at("/usage/completion_tokens").asInt();
        String finish = whole.at("/choices/0/finish_reason").asText();
        assertTrue(finish.equals("stop") || finish.equals("length") && prompt + completion == 64, finish + " after "
                + completion + " tokens of a 64-token context with a " + prompt + "-token prompt");
        HttpResponse<String> streamed = post("/v1/chat/completions", "{\"model\": \"small\", " + messages
                + ", \"seed\": 4, \"stream\": true}", KEY);
        assertEquals(200, streamed.statusCode(), streamed.body());
        StringBuilder text = new StringBuilder();
        for (String line : streamed.body().split("\n")) {
            if (!line.startsWith("data: {")) continue;
            text.append(Json.mapper().readTree(line.substring(6)).at("/choices/0/delta/content").asText(""));
        }
        assertEquals(whole.at("/choices/0/message/content").asText(), text.toString());
        HttpResponse<String> over = post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"It was the best\","
                + " \"max_tokens\": 64}", KEY);
        assertEquals(400, over.statusCode(), over.body());
        JsonNode e = Json.mapper().readTree(over.body()).get("error");
        assertEquals("context_length_exceeded", e.get("code").asText());
        assertEquals("prompt", e.get("param").asText());
        assertTrue(e.get("message").asText().contains("in the completion"), e.get("message").asText());
        HttpResponse<String> overChat = post("/v1/chat/completions", "{\"model\": \"small\", " + messages
                + ", \"max_completion_tokens\": 64}", KEY);
        assertEquals(400, overChat.statusCode(), overChat.body());
        assertEquals("messages", Json.mapper().readTree(overChat.body()).at("/error/param").asText());
    }

    /**
     * echo with max_tokens 0 scores the prompt, as evaluation harnesses ask OpenAI's completions: the prompt back
     * with its logprobs, nothing generated (streamed: one chunk), a prompt that fills the context included. The
     * scores come from one forward pass over the prompt; they match, within rounding, those of the same tokens
     * generated a step at a time through the library's decoder.
     */
    @Test
    void echoWithoutNewTokensScoresThePrompt() throws Exception {
        int[] ids;
        double[] stepped = new double[6];
        try (LumensparkModel m = LumensparkModel.fromPretrained(folder)) {
            int[] prompt = m.tokenizer().encode("It was the best of times");
            GenerationConfig cfg = GenerationConfig.builder().maxNewTokens(6).minNewTokens(6).doSample(false).build();
            ids = Arrays.copyOf(prompt, prompt.length + 6);
            try (Generation g = new Generation(m.languageModel(), m.tokenizer(), prompt, cfg, null).withLogprobs(0)) {
                for (int i = 0; i < 6; i++) {
                    Generation.Token t = g.next();
                    ids[prompt.length + i] = t.id();
                    stepped[i] = t.logprobs().logprob();
                }
            }
        }
        String body = "{\"model\": \"small\", \"prompt\": " + Json.toLine(ids) + ", \"echo\": true, \"logprobs\": 1,"
                + " \"max_tokens\": 0, \"stream\": %s}";
        JsonNode scored = ok("/v1/completions", body.formatted("false"));
        assertEquals(ids.length, scored.at("/usage/prompt_tokens").asInt());
        assertEquals(0, scored.at("/usage/completion_tokens").asInt());
        assertEquals("length", scored.at("/choices/0/finish_reason").asText());
        JsonNode lp = scored.at("/choices/0/logprobs/token_logprobs");
        assertEquals(ids.length, lp.size());
        assertTrue(lp.get(0).isNull(), "the first token has no context to be scored in");
        for (int i = 0; i < 6; i++) {
            assertEquals(stepped[i], lp.get(ids.length - 6 + i).asDouble(), 1e-4, "generated token " + i);
        }
        HttpResponse<String> streamed = post("/v1/completions", body.formatted("true"), KEY);
        List<String> data = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals(List.of("[DONE]"), data.subList(1, data.size()));
        JsonNode only = Json.mapper().readTree(data.getFirst());
        assertEquals(scored.at("/choices/0/text"), only.at("/choices/0/text"));
        assertEquals("length", only.at("/choices/0/finish_reason").asText());
        assertEquals(lp, only.at("/choices/0/logprobs/token_logprobs"));
        int[] full = new int[64]; // the whole context: nothing to generate, all of it to score
        for (int i = 0; i < full.length; i++) full[i] = ids[i % ids.length];
        JsonNode whole = ok("/v1/completions", "{\"model\": \"small\", \"prompt\": " + Json.toLine(full)
                + ", \"echo\": true, \"logprobs\": 0, \"max_tokens\": 0}");
        assertEquals(64, whole.at("/choices/0/logprobs/token_logprobs").size());
        HttpResponse<String> noEcho = post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"It was\","
                + " \"max_tokens\": 0}", KEY);
        assertEquals(400, noEcho.statusCode());
        assertEquals("max_tokens", Json.mapper().readTree(noEcho.body()).at("/error/param").asText());
    }

    /** Keys newer OpenAI clients may send: accepted in their plain values, refused by name in the others. */
    @Test
    void newerClientKeysAreAcceptedWhereTheyChangeNothing() throws Exception {
        String chat = "{\"model\": \"small\", \"messages\": [{\"role\": \"user\", \"content\": \"It was\"}],"
                + " \"max_tokens\": 2, %s}";
        ok("/v1/chat/completions", chat.formatted("\"store\": false, \"metadata\": {\"team\": \"a\"},"
                + " \"service_tier\": \"auto\", \"modalities\": [\"text\"]"));
        assertEquals(200, post("/v1/chat/completions", chat.formatted("\"stream\": true, \"stream_options\":"
                + " {\"include_usage\": true, \"include_obfuscation\": false}"), KEY).statusCode());
        for (String[] refused : new String[][]{{"\"store\": true", "store"}, {"\"service_tier\": \"flex\"", "service_tier"},
                {"\"modalities\": [\"text\", \"audio\"]", "modalities"}, {"\"reasoning_effort\": \"low\"", "reasoning_effort"},
                {"\"stream\": true, \"stream_options\": {\"colour\": 1}", "stream_options.colour"}}) {
            HttpResponse<String> r = post("/v1/chat/completions", chat.formatted(refused[0]), KEY);
            assertEquals(400, r.statusCode(), refused[0]);
            assertEquals(refused[1], Json.mapper().readTree(r.body()).at("/error/param").asText(), refused[0]);
        }
        for (String message : List.of("{\"role\": \"user\"}", "{\"role\": \"system\", \"content\": null}")) {
            HttpResponse<String> r = post("/v1/chat/completions", "{\"model\": \"small\", \"messages\": [" + message
                    + "], \"max_tokens\": 2}", KEY);
            assertEquals(400, r.statusCode(), message);
            assertEquals("messages[0].content", Json.mapper().readTree(r.body()).at("/error/param").asText());
        }
        ok("/v1/chat/completions", "{\"model\": \"small\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"},"
                + " {\"role\": \"assistant\", \"content\": null}, {\"role\": \"user\", \"content\": \"It was\"}],"
                + " \"max_tokens\": 2}");
    }

    /**
     * CORS only for the origins the server was given: their preflight is answered without a key, their responses
     * (errors too) say the origin may read them; another origin's, and every origin on a server given none, do not.
     */
    @Test
    void browserPagesOfTheAllowedOriginsMayCallTheApi() throws Exception {
        Server s = Server.start(new Server.Options("127.0.0.1", 0, KEY, 2, 2, null, 4096, Map.of("small", folder), null,
                List.of("http://app.example")));
        try {
            s.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            HttpResponse<String> pre = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/chat/completions"))
                    .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://app.example")
                    .header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", "authorization, content-type").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(204, pre.statusCode(), pre.body());
            assertEquals("http://app.example", pre.headers().firstValue("access-control-allow-origin").orElse(null));
            assertEquals("authorization, content-type", pre.headers().firstValue("access-control-allow-headers").orElse(null));
            assertTrue(pre.headers().firstValue("access-control-allow-methods").orElse("").contains("POST"));
            for (String key : new String[]{KEY, null}) { // a completion, and a 401: both readable by the page
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/completions"))
                        .header("Origin", "http://app.example").header("Content-Type", "application/json")
                        .headers(key == null ? new String[]{"X-None", "1"} : new String[]{"Authorization", "Bearer " + key})
                        .POST(HttpRequest.BodyPublishers.ofString(completion("It was", 1, 2))).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(key == null ? 401 : 200, r.statusCode(), r.body());
                assertEquals("http://app.example", r.headers().firstValue("access-control-allow-origin").orElse(null));
            }
            HttpResponse<String> other = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/models"))
                    .header("Origin", "http://other.example").header("Authorization", "Bearer " + KEY).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, other.statusCode());
            assertTrue(other.headers().firstValue("access-control-allow-origin").isEmpty(), "another origin's page");
        } finally {
            s.close();
        }
        HttpResponse<String> none = HTTP.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://app.example")
                .header("Access-Control-Request-Method", "POST").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, none.statusCode(), "a server given no origins answers no preflight: it wants its key first");
        assertTrue(none.headers().firstValue("access-control-allow-origin").isEmpty());
        assertThrows(LumensparkException.class, () -> new Server.Options("127.0.0.1", 0, null, 2, 2, null, 4096,
                Map.of("small", folder), null, List.of("http://app.example/path")));
    }

    @Test
    void serverOptionsRefuseAQueueThatCouldHoldNothing() {
        LumensparkException e = assertThrows(LumensparkException.class, () -> new Server.Options("127.0.0.1", 0, null,
                4, 0, null, 4096, Map.of("small", folder)));
        assertTrue(e.getMessage().contains("--max-queue"), e.getMessage());
    }

    @Test
    void errorsHaveOpenAisShapeAndStatus() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"a\", \"top_p\": 0}", KEY);
        assertEquals(400, r.statusCode());
        JsonNode e = Json.mapper().readTree(r.body()).get("error");
        assertEquals("invalid_request_error", e.get("type").asText());
        assertEquals("top_p", e.get("param").asText());
        assertEquals(400, post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"a\", \"color\": 1}", KEY).statusCode());
        assertEquals(400, post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\"]}", KEY).statusCode());
        assertEquals(400, post("/v1/completions", "{not json", KEY).statusCode());
        assertEquals(400, post("/v1/completions", "{\"model\": \"small\", \"prompt\": \"" + "It was ".repeat(100) + "\"}", KEY)
                .statusCode(), "a prompt that fills the context");
        assertEquals(401, post("/v1/completions", "{}", null).statusCode());
        HttpResponse<String> wrong = post("/v1/completions", "{}", "sk-wrong");
        assertEquals(401, wrong.statusCode());
        assertEquals("invalid_api_key", Json.mapper().readTree(wrong.body()).at("/error/code").asText());
        HttpResponse<String> missing = post("/v1/completions", "{\"model\": \"nope\", \"prompt\": \"a\"}", KEY);
        assertEquals(404, missing.statusCode());
        assertEquals("model_not_found", Json.mapper().readTree(missing.body()).at("/error/code").asText());
        assertEquals(413, post("/v1/completions", "{\"prompt\": \"" + "x".repeat(5000) + "\"}", KEY).statusCode());
        HttpResponse<String> unknown = get("/v2/nothing", KEY);
        assertEquals(404, unknown.statusCode());
        assertEquals("unknown_url", Json.mapper().readTree(unknown.body()).at("/error/code").asText());
        assertEquals("invalid_request_error", Json.mapper().readTree(unknown.body()).at("/error/type").asText());
        HttpResponse<String> wrongMethod = get("/v1/completions", KEY);
        assertEquals(405, wrongMethod.statusCode());
        assertEquals("POST", wrongMethod.headers().firstValue("allow").orElse(null));
        assertEquals("method_not_allowed", Json.mapper().readTree(wrongMethod.body()).at("/error/code").asText());
        assertEquals(200, get("/health", null).statusCode());
        HttpResponse<String> head = HTTP.send(HttpRequest.newBuilder(URI.create(server.url() + "/health"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, head.statusCode(), "uptime probes send HEAD");
        assertEquals("", head.body());
        assertEquals(String.valueOf(get("/health", null).body().length()), head.headers().firstValue("content-length").orElse(null));
        assertEquals(401, get("/metrics", null).statusCode());
        String metrics = get("/metrics", KEY).body();
        assertTrue(metrics.contains("le=\"0.005\"") && !metrics.contains("0.00500000"), "bounds in their shortest form");
        HttpResponse<String> noModel = get("/v1/models/nope", KEY);
        assertEquals(404, noModel.statusCode());
        assertEquals("model", Json.mapper().readTree(noModel.body()).at("/error/param").asText());
        assertEquals("small", Json.mapper().readTree(get("/v1/models", KEY).body()).at("/data/0/id").asText());
        assertTrue(get("/", null).body().contains("<html"), "the playground");
    }

    /**
     * A full batch and queue answer 429 with Retry-After, and the queued requests still finish; a client that
     * disconnects from a non-streaming request cancels its generation at once. Holding the model's lock stops the
     * scheduler in its first prefill (of the prompt but its last token: a prompt of several tokens), so the batch
     * stays full while the test looks.
     */
    @Test
    void aFullQueueAnswers429AndADisconnectCancelsAtOnce() throws Exception {
        ServedModel m = server.models().get("small");
        String request = "{\"model\": \"small\", \"prompt\": \"It was the best\", \"max_tokens\": 60,"
                + " \"temperature\": 0, \"n\": 4}";
        awaitIdle();
        List<Socket> kept = new ArrayList<>();
        try {
            synchronized (m.model().languageModel()) {
                kept.add(rawPost(request)); // admitted: the batch (4) is full, its prefill waits for the lock
                awaitMetric("lumenspark_running_sequences{model=\"small\"}", 4);
                kept.add(rawPost(request));
                kept.add(rawPost(request)); // two wait in the queue (2)
                awaitMetric("lumenspark_queue_depth{model=\"small\"}", 2);
                HttpResponse<String> busy = post("/v1/completions", request, KEY);
                assertEquals(429, busy.statusCode(), busy.body());
                assertEquals("1", busy.headers().firstValue("retry-after").orElse(null));
                assertEquals("rate_limit_exceeded", Json.mapper().readTree(busy.body()).at("/error/code").asText());
            }
            for (Socket s : kept) assertTrue(statusLine(s).contains(" 200 "), "a queued request is answered");
        } finally {
            for (Socket s : kept) s.close();
        }
        awaitIdle();
        String before = get("/metrics", KEY).body();
        double cancelled = metric(before, "lumenspark_cancelled_sequences_total{model=\"small\"}");
        double generated = metric(before, "lumenspark_generation_tokens_total{model=\"small\"}");
        int asked = m.scheduler().cancellationsAsked();
        synchronized (m.model().languageModel()) {
            Socket s = rawPost(request.replace("\"n\": 4", "\"n\": 1"));
            awaitMetric("lumenspark_running_sequences{model=\"small\"}", 1);
            s.close(); // the client goes away while its request waits for its prefill
            // the watcher sees the close and cancels; the lock is released after it
            for (long end = System.nanoTime() + 10_000_000_000L; m.scheduler().cancellationsAsked() == asked; ) {
                assertTrue(System.nanoTime() < end, "the close was never seen");
                Thread.sleep(5);
            }
        }
        awaitIdle();
        String after = get("/metrics", KEY).body();
        assertEquals(cancelled + 1, metric(after, "lumenspark_cancelled_sequences_total{model=\"small\"}"), after);
        assertTrue(metric(after, "lumenspark_generation_tokens_total{model=\"small\"}") <= generated + 1,
                "stopped after its first token, not 60");
        assertEquals(0, metric(after, "lumenspark_running_sequences{model=\"small\"}"));
        assertTrue(metric(after, "lumenspark_prompt_feed_seconds_count{model=\"small\"}") >= 2, "prompts fed: " + after);
    }

    private static void awaitMetric(String name, double value) throws Exception {
        for (int i = 0; i < 1000; i++) {
            if (metric(get("/metrics", KEY).body(), name) == value) return;
            Thread.sleep(10);
        }
        throw new AssertionError(name + " never reached " + value + ":\n" + get("/metrics", KEY).body());
    }

    private static Socket rawPost(String body) throws IOException {
        Socket s = new Socket("127.0.0.1", server.port());
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        out.write(b);
        out.flush();
        return s;
    }

    private static String statusLine(Socket s) throws IOException {
        s.setSoTimeout(30_000);
        StringBuilder line = new StringBuilder();
        for (int c; (c = s.getInputStream().read()) >= 0 && c != '\n'; ) line.append((char) c);
        return line.toString();
    }

    private static void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 600 && !server.models().get("small").scheduler().idle(); i++) Thread.sleep(10);
        assertTrue(server.models().get("small").scheduler().idle(), "the scheduler is idle");
    }

    private static double metric(String text, String name) {
        return text.lines().filter(l -> l.startsWith(name + " ")).mapToDouble(l -> Double.parseDouble(l.substring(name.length() + 1)))
                .findFirst().orElse(0);
    }

    /**
     * drain() returns once the running requests' responses have been sent whole, so the process can exit then
     * (found by the load test: it returned when the scheduler was idle, before the last events were written).
     */
    @Test
    void drainReturnsWhenRunningStreamsHaveBeenSentWhole() throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp.resolve("t3"));
        Path f = SmallModels.write(tmp.resolve("drained"), tok, Map.of("seq_length", "64", "k", "8"));
        Server s = Server.start(new Server.Options("127.0.0.1", 0, null, 4, 4, null, 1 << 20, Map.of("m", f)));
        try (Socket c = new Socket("127.0.0.1", s.port())) {
            s.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            byte[] b = ("{\"model\": \"m\", \"prompt\": \"It was\", \"max_tokens\": 40, \"logprobs\": 5, \"n\": 4,"
                    + " \"stream\": true}").getBytes(StandardCharsets.UTF_8);
            c.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length
                    + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            c.getOutputStream().write(b);
            assertTrue(statusLine(c).contains(" 200 "), "streaming");
            s.drain();
            s.close(); // as the process does after draining: every connection closed
            String rest = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(rest.contains("data: [DONE]"), rest);
            assertTrue(rest.endsWith("0\r\n\r\n"), "the stream's last chunk");
        } finally {
            s.close();
        }
    }

    @Test
    void drainingRefusesNewGenerationsWith503() throws Exception {
        BpeTokenizer tok = SmallModels.tokenizer(tmp.resolve("t2"));
        Path f = SmallModels.write(tmp.resolve("other"), tok, Map.of());
        Server s = Server.start(new Server.Options("127.0.0.1", 0, null, 2, 2, null, 1 << 20, Map.of("m", f)));
        try {
            HttpResponse<String> loading = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(503, loading.statusCode());
            assertEquals("{\"status\":\"loading\"}", loading.body());
            s.load(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            s.drain();
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(s.url() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"m\", \"prompt\": \"a\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(503, r.statusCode());
            assertEquals("1", r.headers().firstValue("retry-after").orElse(null));
            assertFalse(r.body().isEmpty());
        } finally {
            s.close();
        }
    }
}
