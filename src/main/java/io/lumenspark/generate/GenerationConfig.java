package io.lumenspark.generate;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How to generate, with Hugging Face transformers' names and meanings (generation_config.json).
 *
 * @param maxLength             total length limit (prompt + new tokens), or null
 * @param maxNewTokens          new-token limit, or null (one of the two limits must be set)
 * @param minNewTokens          end-of-text is suppressed until this many tokens are generated
 * @param doSample              sample; false: greedy (argmax)
 * @param temperature           divides the logits before sampling (> 0)
 * @param topK                  keep the k most likely tokens (0: all)
 * @param topP                  keep the smallest set of most likely tokens whose probability reaches top_p (1: all)
 * @param repetitionPenalty     1: none; > 1 discourages tokens already in the context
 * @param repetitionPenaltyMode "hf" (divide positive logits, multiply negative ones) or "lumenspark" (divide
 *                              regardless of sign, as published lumenspark does)
 * @param noRepeatNgramSize     no n-gram of this size occurs twice (0: off)
 * @param eosTokenId            end-of-text id that stops a sequence, or null
 * @param stopStrings           generation stops once the text ends with one of these
 * @param seed                  sampling seed, or null for a random one
 * @param numReturnSequences    sequences per prompt (needs sampling when above 1)
 * @param promptTruncation      "none": a prompt that leaves no room in the context is an error; "left": its
 *                              oldest tokens are dropped, keeping seq_length - min(new-token limit,
 *                              seq_length / 2) of them (Lumenspark's key; Hugging Face truncates in the
 *                              tokenizer)
 * @param contextOverflow       "stop": generation ends with finish reason "context" when the context is full;
 *                              "slide": it goes on from the most recent seq_length / 2 tokens (Lumenspark's key)
 */
public record GenerationConfig(Integer maxLength, Integer maxNewTokens, int minNewTokens, boolean doSample,
                               double temperature, int topK, double topP, double repetitionPenalty,
                               String repetitionPenaltyMode, int noRepeatNgramSize, Integer eosTokenId,
                               List<String> stopStrings, Long seed, int numReturnSequences,
                               String promptTruncation, String contextOverflow) {

    public GenerationConfig {
        stopStrings = List.copyOf(stopStrings);
        validate(maxLength, maxNewTokens, minNewTokens, doSample, temperature, topK, topP, repetitionPenalty,
                repetitionPenaltyMode, noRepeatNgramSize, numReturnSequences, promptTruncation, contextOverflow);
    }

    /** Greedy decoding of up to maxNewTokens tokens. */
    public static GenerationConfig greedy(int maxNewTokens) {
        return builder().maxNewTokens(maxNewTokens).topK(0).build();
    }

    /** Sampling with a temperature, top-k and top-p, up to maxNewTokens tokens. */
    public static GenerationConfig sampling(int maxNewTokens, double temperature, int topK, double topP, Long seed) {
        return builder().maxNewTokens(maxNewTokens).doSample(true).temperature(temperature).topK(topK).topP(topP)
                .seed(seed).build();
    }

    /** A builder with Hugging Face's defaults (greedy, max_length 20 unless a limit is set, top_k 50). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxLength = maxLength;
        b.maxNewTokens = maxNewTokens;
        b.minNewTokens = minNewTokens;
        b.doSample = doSample;
        b.temperature = temperature;
        b.topK = topK;
        b.topP = topP;
        b.repetitionPenalty = repetitionPenalty;
        b.repetitionPenaltyMode = repetitionPenaltyMode;
        b.noRepeatNgramSize = noRepeatNgramSize;
        b.eosTokenId = eosTokenId;
        b.stopStrings = stopStrings;
        b.seed = seed;
        b.numReturnSequences = numReturnSequences;
        b.promptTruncation = promptTruncation;
        b.contextOverflow = contextOverflow;
        return b;
    }

    /** Builds a {@link GenerationConfig}; every value is checked by {@link #build()}. */
    public static final class Builder {
        private Integer maxLength, maxNewTokens, eosTokenId;
        private int minNewTokens, topK = 50, noRepeatNgramSize, numReturnSequences = 1;
        private boolean doSample;
        private double temperature = 1, topP = 1, repetitionPenalty = 1;
        private String repetitionPenaltyMode = "hf", promptTruncation = "none", contextOverflow = "stop";
        private List<String> stopStrings = List.of();
        private Long seed;

        private Builder() {
        }

        public Builder maxLength(Integer v) { maxLength = v; return this; }
        public Builder maxNewTokens(Integer v) { maxNewTokens = v; return this; }
        public Builder minNewTokens(int v) { minNewTokens = v; return this; }
        public Builder doSample(boolean v) { doSample = v; return this; }
        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder repetitionPenaltyMode(String v) { repetitionPenaltyMode = v; return this; }
        public Builder noRepeatNgramSize(int v) { noRepeatNgramSize = v; return this; }
        public Builder eosTokenId(Integer v) { eosTokenId = v; return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder numReturnSequences(int v) { numReturnSequences = v; return this; }
        public Builder promptTruncation(String v) { promptTruncation = v; return this; }
        public Builder contextOverflow(String v) { contextOverflow = v; return this; }

        /** The configuration; a {@link LumensparkException} names the first invalid value. */
        public GenerationConfig build() {
            Integer length = maxLength == null && maxNewTokens == null ? Integer.valueOf(20) : maxLength;
            return new GenerationConfig(length, maxNewTokens, minNewTokens, doSample, temperature, topK, topP,
                    repetitionPenalty, repetitionPenaltyMode, noRepeatNgramSize, eosTokenId, stopStrings, seed,
                    numReturnSequences, promptTruncation, contextOverflow);
        }
    }

    private static void validate(Integer maxLength, Integer maxNewTokens, int minNewTokens, boolean doSample,
                                 double temperature, int topK, double topP, double penalty, String mode,
                                 int noRepeat, int numReturn, String truncation, String overflow) {
        if (maxLength == null && maxNewTokens == null) fail("set max_new_tokens or max_length");
        if (maxLength != null && maxLength < 1) fail("max_length must be at least 1, got " + maxLength);
        if (maxNewTokens != null && maxNewTokens < 1) fail("max_new_tokens must be at least 1, got " + maxNewTokens);
        if (minNewTokens < 0) fail("min_new_tokens must not be negative, got " + minNewTokens);
        if (maxNewTokens != null && minNewTokens > maxNewTokens) {
            fail("min_new_tokens " + minNewTokens + " exceeds max_new_tokens " + maxNewTokens);
        }
        if (doSample && !(temperature > 0 && Double.isFinite(temperature))) {
            fail("temperature must be positive when sampling, got " + temperature);
        }
        if (topK < 0) fail("top_k must not be negative, got " + topK);
        if (!(topP > 0 && topP <= 1)) fail("top_p must be in (0, 1], got " + topP);
        if (!(penalty > 0 && Double.isFinite(penalty))) fail("repetition_penalty must be positive, got " + penalty);
        if (!mode.equals("hf") && !mode.equals("lumenspark")) {
            fail("repetition_penalty_mode must be hf or lumenspark, got '" + mode + "'");
        }
        if (noRepeat < 0) fail("no_repeat_ngram_size must not be negative, got " + noRepeat);
        if (numReturn < 1) fail("num_return_sequences must be at least 1, got " + numReturn);
        if (numReturn > 1 && !doSample) fail("num_return_sequences > 1 needs do_sample (greedy repeats itself)");
        if (!"none".equals(truncation) && !"left".equals(truncation)) {
            fail("prompt_truncation must be none or left, got '" + truncation + "'");
        }
        if (!"stop".equals(overflow) && !"slide".equals(overflow)) {
            fail("context_overflow must be stop or slide, got '" + overflow + "'");
        }
    }

    private static void fail(String message) {
        throw new LumensparkException(message);
    }

    /** The keys of generation_config.json. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (maxLength != null) m.put("max_length", maxLength);
        if (maxNewTokens != null) m.put("max_new_tokens", maxNewTokens);
        m.put("min_new_tokens", minNewTokens);
        m.put("do_sample", doSample);
        m.put("temperature", temperature);
        m.put("top_k", topK);
        m.put("top_p", topP);
        m.put("repetition_penalty", repetitionPenalty);
        m.put("repetition_penalty_mode", repetitionPenaltyMode);
        m.put("no_repeat_ngram_size", noRepeatNgramSize);
        if (eosTokenId != null) m.put("eos_token_id", eosTokenId);
        if (!stopStrings.isEmpty()) m.put("stop_strings", stopStrings);
        if (seed != null) m.put("seed", seed);
        m.put("num_return_sequences", numReturnSequences);
        m.put("prompt_truncation", promptTruncation);
        m.put("context_overflow", contextOverflow);
        return m;
    }

    /** Reads generation_config.json; missing keys take Hugging Face's defaults (max_length 20 when no limit). */
    public static GenerationConfig read(Path file) {
        if (!Files.exists(file)) throw new LumensparkException("no such file: " + file);
        var n = Json.read(file);
        if (!n.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        try {
            Integer maxNew = null, maxLen = null;
            if (n.hasNonNull("max_new_tokens")) maxNew = integer(n, "max_new_tokens");
            if (n.hasNonNull("max_length")) maxLen = integer(n, "max_length");
            else if (maxNew == null) maxLen = 20;
            Integer eos = null;
            if (n.hasNonNull("eos_token_id")) {
                var e = n.get("eos_token_id"); // Hugging Face allows a list; the first id is the end of text
                if (!e.isArray()) eos = integer(n, "eos_token_id");
                else if (!e.isEmpty()) eos = e.get(0).asInt();
            }
            List<String> stops = new ArrayList<>();
            if (n.has("stop_strings")) {
                var s = n.get("stop_strings");
                if (s.isTextual()) stops.add(s.asText());
                else s.forEach(x -> stops.add(x.asText()));
            }
            return new GenerationConfig(maxLen, maxNew, n.path("min_new_tokens").asInt(0),
                    n.path("do_sample").asBoolean(false), n.path("temperature").asDouble(1),
                    n.path("top_k").asInt(50), n.path("top_p").asDouble(1),
                    n.path("repetition_penalty").asDouble(1), n.path("repetition_penalty_mode").asText("hf"),
                    n.path("no_repeat_ngram_size").asInt(0), eos, stops,
                    n.hasNonNull("seed") ? n.get("seed").asLong() : null, n.path("num_return_sequences").asInt(1),
                    n.path("prompt_truncation").asText("none"), n.path("context_overflow").asText("stop"));
        } catch (LumensparkException e) {
            throw new LumensparkException(file + ": " + e.getMessage());
        }
    }

    private static int integer(com.fasterxml.jackson.databind.JsonNode n, String key) {
        if (!n.get(key).canConvertToInt()) throw new LumensparkException(key + " must be an integer");
        return n.get(key).asInt();
    }

    /** Writes generation_config.json atomically. */
    public void write(Path file) {
        Json.write(file, toMap());
    }
}
