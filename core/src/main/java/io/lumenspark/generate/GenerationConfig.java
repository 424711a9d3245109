package io.lumenspark.generate;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.Json;

import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

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
 * @param repetitionPenaltyMode hf (divide positive logits, multiply negative ones) or lumenspark (divide
 *                              regardless of sign, as published lumenspark does)
 * @param noRepeatNgramSize     no n-gram of this size occurs twice (0: off)
 * @param eosTokenIds           end-of-text ids, any of which ends a sequence (Hugging Face's eos_token_id, an id
 *                              or a list); empty: the tokenizer's end of text
 * @param stopStrings           generation stops once the text contains one of these (the token that completes
 *                              it is kept, as Hugging Face does)
 * @param seed                  sampling seed, or null for a random one
 * @param numReturnSequences    sequences per prompt (needs sampling when above 1)
 * @param promptTruncation      none: a prompt that leaves no room in the context is an error; left: its
 *                              oldest tokens are dropped, keeping seq_length - min(new-token limit,
 *                              seq_length / 2) of them (Lumenspark's key; Hugging Face truncates in the
 *                              tokenizer)
 * @param contextOverflow       stop: generation ends with finish reason "context" when the context is full;
 *                              slide: it goes on from the most recent seq_length / 2 tokens (Lumenspark's key)
 * @param presencePenalty       subtracted once from the logit of every token already generated, as OpenAI defines
 *                              presence_penalty (in [-2, 2]; 0: none; Lumenspark's key, written when set)
 * @param frequencyPenalty      subtracted from a token's logit once per time it has been generated, as OpenAI
 *                              defines frequency_penalty (in [-2, 2]; 0: none; Lumenspark's key, written when set)
 */
public record GenerationConfig(Integer maxLength, Integer maxNewTokens, int minNewTokens, boolean doSample,
                               double temperature, int topK, double topP, double repetitionPenalty,
                               RepetitionPenaltyMode repetitionPenaltyMode, int noRepeatNgramSize,
                               List<Integer> eosTokenIds, List<String> stopStrings, Long seed, int numReturnSequences,
                               PromptTruncation promptTruncation, ContextOverflow contextOverflow,
                               double presencePenalty, double frequencyPenalty) {

    /** Checks every value; messages name generation_config.json's keys. */
    public GenerationConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        stopStrings = List.copyOf(stopStrings);
        validate(UnaryOperator.identity(), maxLength, maxNewTokens, minNewTokens, doSample, temperature, topK, topP,
                repetitionPenalty, String.valueOf(repetitionPenaltyMode), noRepeatNgramSize, eosTokenIds, stopStrings,
                numReturnSequences, String.valueOf(promptTruncation), String.valueOf(contextOverflow),
                presencePenalty, frequencyPenalty);
    }

    /**
     * What training writes into a new model's generation_config.json: sampling at temperature 0.8 with top-k 50 up
     * to the whole context, stopping at the tokenizer's end of text. A folder without the file gets Hugging Face's
     * defaults ({@link #builder()}).
     */
    public static GenerationConfig forNewModel(int seqLength, int eosTokenId) {
        return builder().maxLength(seqLength).doSample(true).temperature(0.8).topK(50).eosTokenId(eosTokenId).build();
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
        b.repetitionPenaltyMode = repetitionPenaltyMode.label();
        b.noRepeatNgramSize = noRepeatNgramSize;
        b.eosTokenIds = eosTokenIds;
        b.stopStrings = stopStrings;
        b.seed = seed;
        b.numReturnSequences = numReturnSequences;
        b.promptTruncation = promptTruncation.label();
        b.contextOverflow = contextOverflow.label();
        b.presencePenalty = presencePenalty;
        b.frequencyPenalty = frequencyPenalty;
        return b;
    }

    /** Builds a {@link GenerationConfig}; every value is checked by {@link #build()}. */
    public static final class Builder {
        private Integer maxLength, maxNewTokens;
        private int minNewTokens, topK = 50, noRepeatNgramSize, numReturnSequences = 1;
        private boolean doSample;
        private double temperature = 1, topP = 1, repetitionPenalty = 1, presencePenalty, frequencyPenalty;
        // labels, checked by build(): the command line and the file give text
        private String repetitionPenaltyMode = RepetitionPenaltyMode.HF.label(),
                promptTruncation = PromptTruncation.NONE.label(), contextOverflow = ContextOverflow.STOP.label();
        private List<Integer> eosTokenIds = List.of();
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
        public Builder repetitionPenaltyMode(RepetitionPenaltyMode v) { return repetitionPenaltyMode(v.label()); }
        /** The mode by its label ("hf", "lumenspark"), checked by {@link #build}. */
        public Builder repetitionPenaltyMode(String v) { repetitionPenaltyMode = v; return this; }
        public Builder noRepeatNgramSize(int v) { noRepeatNgramSize = v; return this; }
        /** One end-of-text id, or null for the tokenizer's. */
        public Builder eosTokenId(Integer v) { eosTokenIds = v == null ? List.of() : List.of(v); return this; }
        /** End-of-text ids, any of which ends a sequence; empty for the tokenizer's. */
        public Builder eosTokenIds(List<Integer> v) { eosTokenIds = v; return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder numReturnSequences(int v) { numReturnSequences = v; return this; }
        public Builder promptTruncation(PromptTruncation v) { return promptTruncation(v.label()); }
        /** Prompt truncation by its label ("none", "left"), checked by {@link #build}. */
        public Builder promptTruncation(String v) { promptTruncation = v; return this; }
        public Builder contextOverflow(ContextOverflow v) { return contextOverflow(v.label()); }
        /** Context overflow by its label ("stop", "slide"), checked by {@link #build}. */
        public Builder contextOverflow(String v) { contextOverflow = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }

        /** The configuration; a {@link LumensparkException} names the first invalid value by its key. */
        public GenerationConfig build() {
            return build(UnaryOperator.identity());
        }

        /**
         * The configuration; a {@link LumensparkException} names the first invalid value as names maps its key,
         * e.g. to the command-line option that set it ("top_p" to "--top-p").
         */
        public GenerationConfig build(UnaryOperator<String> names) {
            Integer length = maxLength == null && maxNewTokens == null ? Integer.valueOf(20) : maxLength;
            validate(names, length, maxNewTokens, minNewTokens, doSample, temperature, topK, topP, repetitionPenalty,
                    repetitionPenaltyMode, noRepeatNgramSize, eosTokenIds, stopStrings, numReturnSequences,
                    promptTruncation, contextOverflow, presencePenalty, frequencyPenalty);
            return new GenerationConfig(length, maxNewTokens, minNewTokens, doSample, temperature, topK, topP,
                    repetitionPenalty, Labeled.find(RepetitionPenaltyMode.class, repetitionPenaltyMode).orElseThrow(),
                    noRepeatNgramSize, eosTokenIds, stopStrings, seed, numReturnSequences,
                    Labeled.find(PromptTruncation.class, promptTruncation).orElseThrow(),
                    Labeled.find(ContextOverflow.class, contextOverflow).orElseThrow(), presencePenalty,
                    frequencyPenalty);
        }
    }

    private static void validate(UnaryOperator<String> name, Integer maxLength, Integer maxNewTokens,
                                 int minNewTokens, boolean doSample, double temperature, int topK, double topP,
                                 double penalty, String mode, int noRepeat, List<Integer> eos, List<String> stops,
                                 int numReturn, String truncation, String overflow, double presence,
                                 double frequency) {
        if (maxLength == null && maxNewTokens == null) {
            fail("set " + name.apply("max_new_tokens") + " or " + name.apply("max_length"));
        }
        if (maxLength != null && maxLength < 1) fail(name.apply("max_length") + " must be at least 1, got " + maxLength);
        if (maxNewTokens != null && maxNewTokens < 1) {
            fail(name.apply("max_new_tokens") + " must be at least 1, got " + maxNewTokens);
        }
        if (minNewTokens < 0) fail(name.apply("min_new_tokens") + " must not be negative, got " + minNewTokens);
        if (maxNewTokens != null && minNewTokens > maxNewTokens) {
            fail(name.apply("min_new_tokens") + " " + minNewTokens + " exceeds " + name.apply("max_new_tokens") + " "
                    + maxNewTokens);
        }
        if (doSample && !(temperature > 0 && Double.isFinite(temperature))) {
            fail(name.apply("temperature") + " must be positive when sampling, got " + temperature);
        }
        if (topK < 0) fail(name.apply("top_k") + " must not be negative, got " + topK);
        if (!(topP > 0 && topP <= 1)) fail(name.apply("top_p") + " must be in (0, 1], got " + topP);
        if (!(penalty > 0 && Double.isFinite(penalty))) {
            fail(name.apply("repetition_penalty") + " must be positive, got " + penalty);
        }
        Labeled.parse(RepetitionPenaltyMode.class, mode, name.apply("repetition_penalty_mode"));
        if (noRepeat < 0) fail(name.apply("no_repeat_ngram_size") + " must not be negative, got " + noRepeat);
        for (int id : eos) {
            if (id < 0) fail(name.apply("eos_token_id") + " must not be negative, got " + id);
        }
        if (stops.contains("")) fail("a stop string must not be empty (" + name.apply("stop_strings") + ")");
        if (numReturn < 1) fail(name.apply("num_return_sequences") + " must be at least 1, got " + numReturn);
        if (numReturn > 1 && !doSample) {
            fail(name.apply("num_return_sequences") + " > 1 needs sampling (greedy decoding gives the same"
                    + " sequence every time)");
        }
        Labeled.parse(PromptTruncation.class, truncation, name.apply("prompt_truncation"));
        Labeled.parse(ContextOverflow.class, overflow, name.apply("context_overflow"));
        if (!(presence >= -2 && presence <= 2)) {
            fail(name.apply("presence_penalty") + " must be in [-2, 2], got " + presence);
        }
        if (!(frequency >= -2 && frequency <= 2)) {
            fail(name.apply("frequency_penalty") + " must be in [-2, 2], got " + frequency);
        }
    }

    private static void fail(String message) {
        throw new LumensparkException(message);
    }

    /**
     * Checks that every end-of-text id is a token of a model with this vocabulary size.
     *
     * @throws LumensparkException naming the first id outside 0..vocabSize - 1
     */
    public void checkVocabulary(int vocabSize) {
        for (int id : eosTokenIds) {
            if (id >= vocabSize) {
                fail("eos_token_id " + id + " is outside the model's vocabulary 0.." + (vocabSize - 1));
            }
        }
    }

    /** The keys of generation_config.json (eos_token_id an id, or a list when there are several). */
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
        m.put("repetition_penalty_mode", repetitionPenaltyMode.label());
        m.put("no_repeat_ngram_size", noRepeatNgramSize);
        if (!eosTokenIds.isEmpty()) m.put("eos_token_id", eosTokenIds.size() == 1 ? eosTokenIds.getFirst() : eosTokenIds);
        if (!stopStrings.isEmpty()) m.put("stop_strings", stopStrings);
        if (seed != null) m.put("seed", seed);
        m.put("num_return_sequences", numReturnSequences);
        m.put("prompt_truncation", promptTruncation.label());
        m.put("context_overflow", contextOverflow.label());
        if (presencePenalty != 0) m.put("presence_penalty", presencePenalty);
        if (frequencyPenalty != 0) m.put("frequency_penalty", frequencyPenalty);
        return m;
    }

    /**
     * Hugging Face keys for decoding methods and logits processors that Lumenspark does not implement, each with
     * what it is: a file that switches one on is refused rather than generating something else than it asks for.
     */
    private static final Map<String, String> UNSUPPORTED = Map.ofEntries(
            Map.entry("num_beams", "beam search"), Map.entry("num_beam_groups", "diverse beam search"),
            Map.entry("penalty_alpha", "contrastive search"), Map.entry("dola_layers", "DoLa decoding"),
            Map.entry("min_p", "min-p sampling"), Map.entry("typical_p", "typical sampling"),
            Map.entry("epsilon_cutoff", "epsilon sampling"), Map.entry("eta_cutoff", "eta sampling"),
            Map.entry("min_length", "a minimum total length; use min_new_tokens"),
            Map.entry("encoder_repetition_penalty", "the encoder repetition penalty"),
            Map.entry("encoder_no_repeat_ngram_size", "an encoder-decoder option"),
            Map.entry("guidance_scale", "classifier-free guidance"), Map.entry("bad_words_ids", "banned words"),
            Map.entry("force_words_ids", "forced words"), Map.entry("constraints", "constrained beam search"),
            Map.entry("sequence_bias", "sequence biases"), Map.entry("suppress_tokens", "suppressed tokens"),
            Map.entry("begin_suppress_tokens", "suppressed first tokens"),
            Map.entry("forced_bos_token_id", "a forced first token"),
            Map.entry("forced_eos_token_id", "a forced last token"),
            Map.entry("forced_decoder_ids", "forced tokens"),
            Map.entry("exponential_decay_length_penalty", "a length penalty on end of text"),
            Map.entry("token_healing", "token healing"), Map.entry("watermarking_config", "watermarking"),
            Map.entry("max_time", "a time limit"));

    /** The value that leaves an unsupported numeric key off (the others are off when null, false or empty). */
    private static final Map<String, Double> OFF_AT = Map.of("num_beams", 1.0, "num_beam_groups", 1.0,
            "penalty_alpha", 0.0, "min_p", 0.0, "typical_p", 1.0, "epsilon_cutoff", 0.0, "eta_cutoff", 0.0,
            "min_length", 0.0, "encoder_repetition_penalty", 1.0, "guidance_scale", 1.0);

    /** Hugging Face keys that do not change which tokens are chosen (metadata, caches, outputs, beams only). */
    private static final Set<String> HF_IGNORED = Set.of("_from_model_config", "_commit_hash",
            "_original_object_hash", "transformers_version", "early_stopping", "use_cache", "cache_implementation",
            "cache_config", "return_legacy_cache", "prefill_chunk_size", "diversity_penalty", "length_penalty",
            "renormalize_logits", "remove_invalid_values", "low_memory", "output_attentions", "output_hidden_states",
            "output_scores", "output_logits", "return_dict_in_generate", "pad_token_id", "bos_token_id",
            "decoder_start_token_id", "is_assistant", "num_assistant_tokens", "num_assistant_tokens_schedule",
            "assistant_confidence_threshold", "prompt_lookup_num_tokens", "max_matching_ngram_size",
            "assistant_early_exit", "assistant_lookbehind", "target_lookbehind", "compile_config",
            "disable_compile", "generation_kwargs");

    /**
     * Reads generation_config.json, checking it as strictly as the command line checks its options: each value
     * has its key's type (an integer must be integral and fit), eos_token_id (an id or a list) lies in the
     * vocabulary, missing or null keys take Hugging Face's defaults (max_length 20 when no limit is set).
     * Hugging Face's other keys are accepted, but one that switches on a method Lumenspark lacks ({@code num_beams > 1},
     * {@code typical_p < 1}, ...) is refused; keys neither ours nor Hugging Face's get a warning on stderr.
     *
     * @param vocabSize the vocabulary size of the model the file belongs to
     * @throws LumensparkException naming the file and the key
     */
    public static GenerationConfig read(Path file, int vocabSize) {
        if (!Files.exists(file)) throw new LumensparkException("no such file: " + file);
        JsonNode n = Json.read(file);
        if (!n.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        List<String> unknown = new ArrayList<>();
        GenerationConfig cfg;
        try {
            Builder b = builder();
            for (var e : n.properties()) {
                String key = e.getKey();
                JsonNode v = e.getValue();
                boolean given = !v.isNull();
                switch (key) {
                    case "max_length" -> b.maxLength(given ? integer(key, v) : null);
                    case "max_new_tokens" -> b.maxNewTokens(given ? integer(key, v) : null);
                    case "min_new_tokens" -> b.minNewTokens(given ? integer(key, v) : 0);
                    case "do_sample" -> b.doSample(given && bool(key, v));
                    case "temperature" -> b.temperature(given ? number(key, v) : 1);
                    case "top_k" -> b.topK(given ? integer(key, v) : 50);
                    case "top_p" -> b.topP(given ? number(key, v) : 1);
                    case "repetition_penalty" -> b.repetitionPenalty(given ? number(key, v) : 1);
                    case "repetition_penalty_mode" -> b.repetitionPenaltyMode(given ? string(key, v)
                            : RepetitionPenaltyMode.HF.label());
                    case "no_repeat_ngram_size" -> b.noRepeatNgramSize(given ? integer(key, v) : 0);
                    case "eos_token_id" -> b.eosTokenIds(given ? oneOrList(key, v, JsonNode::isNumber,
                            "an integer or a list of integers", x -> integer(key, x)) : List.of());
                    case "stop_strings" -> b.stopStrings(given ? oneOrList(key, v, JsonNode::isTextual,
                            "a string or a list of strings", x -> string(key, x)) : List.of());
                    case "seed" -> b.seed(given ? Long.valueOf(integral(key, v, Long.MIN_VALUE, Long.MAX_VALUE)) : null);
                    case "num_return_sequences" -> b.numReturnSequences(given ? integer(key, v) : 1);
                    case "prompt_truncation" -> b.promptTruncation(given ? string(key, v) : PromptTruncation.NONE.label());
                    case "context_overflow" -> b.contextOverflow(given ? string(key, v) : ContextOverflow.STOP.label());
                    case "presence_penalty" -> b.presencePenalty(given ? number(key, v) : 0);
                    case "frequency_penalty" -> b.frequencyPenalty(given ? number(key, v) : 0);
                    default -> {
                        if (UNSUPPORTED.containsKey(key)) refuseIfOn(key, v);
                        else if (!HF_IGNORED.contains(key)) unknown.add(key);
                    }
                }
            }
            cfg = b.build();
            cfg.checkVocabulary(vocabSize);
        } catch (LumensparkException e) {
            throw new LumensparkException(file + ": " + e.getMessage());
        }
        if (!unknown.isEmpty()) { // each with the nearest of ours, when one is close ("temprature")
            Set<String> ours = new TreeSet<>(builder().build().toMap().keySet());
            ours.addAll(List.of("max_new_tokens", "eos_token_id", "stop_strings", "seed"));
            System.err.println("warning: " + file + ": ignoring unknown key" + (unknown.size() == 1 ? " " : "s ")
                    + String.join(", ", unknown.stream().map(k -> Words.nearest(k, ours) == null ? k
                    : k + " (did you mean " + Words.nearest(k, ours) + "?)").toList()));
        }
        return cfg;
    }

    /** Refuses an unsupported Hugging Face key unless its value leaves it off. */
    private static void refuseIfOn(String key, JsonNode v) {
        boolean off = v.isNull() || (v.isBoolean() && !v.asBoolean()) || (v.isContainerNode() && v.isEmpty())
                || (v.isNumber() && OFF_AT.containsKey(key) && v.doubleValue() == OFF_AT.get(key));
        if (!off) {
            throw new LumensparkException(key + " " + v + " asks for " + UNSUPPORTED.get(key)
                    + ", which Lumenspark does not implement; remove the key"
                    + (OFF_AT.containsKey(key) ? " or set it to " + OFF_AT.get(key).intValue() : ""));
        }
    }

    private static LumensparkException expected(String key, String what, JsonNode v) {
        return new LumensparkException(key + " must be " + what + ", got " + v);
    }

    private static int integer(String key, JsonNode v) {
        return (int) integral(key, v, Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    /** A JSON number with an integral value in [min, max] (1e3 and 5.0 are integers; 2.5 and "5" are not). */
    private static long integral(String key, JsonNode v, long min, long max) {
        if (!v.isNumber()) throw expected(key, "an integer", v);
        BigDecimal d = v.decimalValue();
        if (d.signum() != 0 && d.stripTrailingZeros().scale() > 0) throw expected(key, "an integer", v);
        if (d.compareTo(BigDecimal.valueOf(max)) > 0) throw expected(key, "an integer of at most " + max, v);
        if (d.compareTo(BigDecimal.valueOf(min)) < 0) throw expected(key, "an integer of at least " + min, v);
        return d.longValueExact();
    }

    private static double number(String key, JsonNode v) {
        if (!v.isNumber() || !Double.isFinite(v.doubleValue())) throw expected(key, "a finite number", v);
        return v.doubleValue();
    }

    private static boolean bool(String key, JsonNode v) {
        if (!v.isBoolean()) throw expected(key, "true or false", v);
        return v.booleanValue();
    }

    private static String string(String key, JsonNode v) {
        if (!v.isTextual()) throw expected(key, "a string", v);
        return v.textValue();
    }

    /** One value, or a list of them, as Hugging Face allows for eos_token_id and stop_strings. */
    private static <T> List<T> oneOrList(String key, JsonNode v, Predicate<JsonNode> single, String what,
                                         Function<JsonNode, T> one) {
        if (!v.isArray()) {
            if (!single.test(v)) throw expected(key, what, v);
            return List.of(one.apply(v));
        }
        List<T> out = new ArrayList<>();
        for (JsonNode x : v) out.add(one.apply(x));
        return out;
    }

    /** Writes generation_config.json atomically. */
    public void write(Path file) {
        Json.write(file, toMap());
    }
}
