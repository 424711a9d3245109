package io.lumenspark.model;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.Words;
import io.lumenspark.io.Json;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's shape and variant, stored as a Hugging Face-style config.json. The keys of published lumenspark
 * (vocab_size, embed_dim, depth, heads, seq_length, dropout, k, rank) keep their meaning; the other keys select
 * the variants.
 *
 * @param attention           linformer, conv_linformer (convolutional compression in the upper half of the
 *                            layers) or full (standard multi-head attention, the Transformer baseline)
 * @param causal              whether a position may only see itself and earlier positions
 * @param kvHeads             1 (one key/value head shared by all query heads, as published) or heads
 * @param sharedKv            values are the keys (as published) instead of a separate value transform
 * @param separateProj        separate sequence projections for keys (E) and values (F)
 * @param shareProjAcrossLayers one E (and F) for all layers
 * @param objective           what the output layer predicts: causal_lm (the next token) or masked_lm (masked
 *                            tokens, for a bidirectional model)
 * @param lmHead              linear (fc_out alone) or dense (RoBERTa's dense + GELU + norm before fc_out;
 *                            bidirectional models)
 * @param maskTokenId         the tokenizer's {@code <mask>} id (Hugging Face's mask_token_id), -1 for none
 * @param padTokenId          the tokenizer's {@code <pad>} id (pad_token_id), -1 for none
 * @param labels              a sequence classifier's labels by id (config.json's id2label; num_labels is their
 *                            count, label2id the inverse); empty for a language model
 * @param problemType         a sequence classifier's {@link ProblemType}; null for a language model
 * @param pooling             how a sequence classifier pools hidden states ({@link Pooling}); null for a language
 *                            model
 * @param labelSeparator      a multi-label classifier's separator of the labels in a record's label text, as it was
 *                            trained (config.json's label_separator; "," where a file lacks it); null otherwise
 */
public record ModelConfig(int vocabSize, int embedDim, int depth, int heads, int seqLength, double dropout, int k,
                          int rank, AttentionKind attention, boolean causal, int kvHeads, boolean sharedKv,
                          boolean separateProj, boolean shareProjAcrossLayers, double normEps, LmObjective objective,
                          LmHeadKind lmHead, int maskTokenId, int padTokenId, List<String> labels,
                          ProblemType problemType, Pooling pooling, String labelSeparator) {

    /** Copies the labels. */
    public ModelConfig {
        labels = List.copyOf(labels);
    }

    /** The model types a config.json may name: ours (which we write), and published lumenspark's two. */
    private static final List<String> MODEL_TYPES = List.of("lumenspark", "linformer");

    /** config.json's key for a multi-label classifier's label separator ({@link #labelSeparator}). */
    public static final String LABEL_SEPARATOR = "label_separator";
    /** The separator of a multi-label record's labels unless one is given, and of a config.json without the key. */
    public static final String DEFAULT_LABEL_SEPARATOR = ",";

    public static final List<String> PRESETS = List.of("lumenspark", "lumenspark-v0.1", "transformer",
            "conv-linformer", "tiny", "encoder");

    /**
     * For a bidirectional model, why its next-token loss (evaluation, scoring, training) is not an honest
     * language-model loss, for commands to print as a warning; empty for a causal model.
     */
    public Optional<String> nextTokenLossWarning() {
        return causal ? Optional.empty() : Optional.of("this model is bidirectional (causal=false): every position"
                + " sees the tokens it is asked to predict, so its next-token loss is not an honest language-model"
                + " loss");
    }

    /** A value from a file, for a one-line message: as JSON (quoted, no line breaks), at most about 60 characters. */
    static String shown(Object value) {
        String text = Json.toLine(value);
        return text.length() > 64 ? text.substring(0, 60) + "..." : text;
    }

    /** The published lumenspark 0.1.1 model: 55,375,953 parameters, bidirectional (it sees the future). */
    public static ModelConfig v01() {
        return new ModelConfig(50257, 512, 6, 4, 512, 0.1, 128, 32, AttentionKind.LINFORMER, false, 1, true, false,
                false, 1e-6, LmObjective.CAUSAL_LM, LmHeadKind.LINEAR, -1, -1, List.of(), null, null, null);
    }

    /** Whether the model predicts masked tokens (objective masked_lm) rather than the next token. */
    public boolean isMaskedLm() {
        return objective == LmObjective.MASKED_LM;
    }

    /** Whether the model is a sequence classifier (objective sequence_classification). */
    public boolean isClassifier() {
        return objective == LmObjective.SEQUENCE_CLASSIFICATION;
    }

    /** Outputs of a sequence classifier: one per label (one for regression); 0 for a language model. */
    public int numLabels() {
        return labels.size();
    }

    /**
     * This backbone as a sequence classifier with the given labels (for regression, one: Hugging Face's
     * "LABEL_0"), problem type, pooling and, for multi-label classification, the separator of the labels in a
     * record's label text (null for the other problem types); the language-model head's keys go back to their
     * defaults.
     *
     * @throws LumensparkException for fewer than two labels in a classification, repeated labels, pooling other
     *                             than the last token in a causal model, or a separator missing (multi-label) or
     *                             given (otherwise)
     */
    public ModelConfig asClassifier(List<String> labels, ProblemType problemType, Pooling pooling,
                                    String labelSeparator) {
        return new ModelConfig(vocabSize, embedDim, depth, heads, seqLength, dropout, k, rank, attention, causal,
                kvHeads, sharedKv, separateProj, shareProjAcrossLayers, normEps, LmObjective.SEQUENCE_CLASSIFICATION,
                LmHeadKind.LINEAR, maskTokenId, padTokenId,
                problemType == ProblemType.REGRESSION ? List.of("LABEL_0") : labels, problemType, pooling,
                labelSeparator).validate();
    }

    public static ModelConfig preset(String name) {
        ModelConfig v = v01();
        return switch (name) {
            case "lumenspark-v0.1" -> v;
            case "lumenspark" -> v.with("causal", "true");
            case "transformer" -> v.with("attention", "full").with("causal", "true");
            case "conv-linformer" -> v.with("attention", "conv_linformer").with("causal", "true");
            case "tiny" -> v.with(Map.of("causal", "true", "embed_dim", "256", "depth", "4", "seq_length", "256",
                    "k", "64"));
            // the Conv-Linformer study's encoder: 8 layers of width 512, 8 heads, bidirectional; the Linformer
            // paper's per-head keys and values with their own projections E and F (--set attention=full or
            // conv_linformer for the other two variants)
            case "encoder" -> v.with(Map.of("depth", "8", "heads", "8", "kv_heads", "8", "shared_kv", "false",
                    "separate_proj", "true"));
            default -> throw new LumensparkException("unknown preset '" + name + "' (choose from "
                    + String.join(", ", PRESETS) + ")");
        };
    }

    public int headDim() {
        return embedDim / heads;
    }

    /** Positions per compressed slot in the causal and convolutional forms: seq_length / k. */
    public int blockSize() {
        return seqLength / k;
    }

    public boolean isFull() {
        return attention == AttentionKind.FULL;
    }

    /** Layers from depth/2 up compress with a strided convolution in the conv-linformer variant. */
    public boolean usesConv(int layer) {
        return attention == AttentionKind.CONV_LINFORMER && layer >= depth / 2;
    }

    /** The config as the ordered key/value map written to config.json. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", "lumenspark");
        m.put("vocab_size", vocabSize);
        m.put("embed_dim", embedDim);
        m.put("depth", depth);
        m.put("heads", heads);
        m.put("seq_length", seqLength);
        m.put("dropout", dropout);
        m.put("k", k);
        m.put("rank", rank);
        m.put("attention", attention.label());
        m.put("causal", causal);
        m.put("kv_heads", kvHeads);
        m.put("shared_kv", sharedKv);
        m.put("separate_proj", separateProj);
        m.put("share_proj_across_layers", shareProjAcrossLayers);
        m.put("norm_eps", normEps);
        m.put("objective", objective.label());
        m.put("lm_head", lmHead.label());
        m.put("mask_token_id", maskTokenId < 0 ? null : maskTokenId);
        m.put("pad_token_id", padTokenId < 0 ? null : padTokenId);
        if (isClassifier()) { // Hugging Face's keys; num_labels follows id2label
            Map<String, String> id2label = new LinkedHashMap<>();
            Map<String, Integer> label2id = new LinkedHashMap<>();
            for (int i = 0; i < labels.size(); i++) {
                id2label.put(Integer.toString(i), labels.get(i));
                label2id.put(labels.get(i), i);
            }
            m.put("num_labels", labels.size());
            m.put("id2label", id2label);
            m.put("label2id", label2id);
            m.put("problem_type", problemType.label());
            m.put("pooling", pooling.label());
            if (labelSeparator != null) m.put(LABEL_SEPARATOR, labelSeparator);
        }
        return m;
    }

    /**
     * Reads a config from a parsed config.json (keys missing take published lumenspark's defaults, so original
     * lumenspark configs load, as causal language models unless "architectures" names LumensparkForMaskedLM).
     * source names the file in errors.
     * <p>
     * Both shapes published lumenspark saved load, as {@code lumenspark-v0.1}: {@code LumensparkConfig}'s
     * ({@code model_type} "lumenspark") and its {@code train.py}'s {@code LinformerConfig} ({@code model_type}
     * "linformer"), whose keys are vocab_size, embed_dim, depth, heads, seq_length, dropout and k, with the rank
     * fixed at 32 (the default here) and none of our variant keys (so bidirectional Linformer attention).
     */
    public static ModelConfig fromMap(Map<String, ?> map, String source) {
        return fromMap(map, source, false);
    }

    /**
     * {@link #fromMap(Map, String)}; with {@code text}, values may also be text as typed on the command line
     * ({@code --set depth=2}), where a file must hold JSON numbers and booleans.
     */
    private static ModelConfig fromMap(Map<String, ?> map, String source, boolean text) {
        Map<String, Object> m = v01().toMap();
        for (var e : map.entrySet()) {
            if (!m.containsKey(e.getKey())) continue; // foreign keys (architectures, torch_dtype, ...) are kept out
            m.put(e.getKey(), e.getValue());
        }
        // a config written by Hugging Face-style code may name the class alone
        if (!map.containsKey("objective") && map.get("architectures") instanceof List<?> classes) {
            for (LmObjective o : List.of(LmObjective.MASKED_LM, LmObjective.SEQUENCE_CLASSIFICATION)) {
                if (classes.contains(o.architecture())) m.put("objective", o.label());
            }
        }
        Object type = m.get("model_type");
        if (!MODEL_TYPES.contains(String.valueOf(type))) {
            throw new LumensparkException(source + ": model_type is " + shown(type) + ", expected \"lumenspark\" (or"
                    + " \"linformer\", as published lumenspark's train.py wrote it)");
        }
        try {
            String attention = String.valueOf(m.get("attention"));
            return new ModelConfig(integer(m, "vocab_size", text), integer(m, "embed_dim", text),
                    integer(m, "depth", text), integer(m, "heads", text), integer(m, "seq_length", text),
                    number(m, "dropout", text), integer(m, "k", text), integer(m, "rank", text),
                    Labeled.find(AttentionKind.class, attention).orElse(null), bool(m, "causal", text),
                    integer(m, "kv_heads", text), bool(m, "shared_kv", text), bool(m, "separate_proj", text),
                    bool(m, "share_proj_across_layers", text), number(m, "norm_eps", text),
                    label(LmObjective.class, m, "objective"), label(LmHeadKind.class, m, "lm_head"),
                    tokenId(m, "mask_token_id", text), tokenId(m, "pad_token_id", text), List.of(), null, null, null)
                    .withClassifierKeys(map).validate(attention);
        } catch (LumensparkException e) {
            throw new LumensparkException(source + ": " + e.getMessage());
        }
    }

    /**
     * This config with a classifier's keys read from map (id2label, with num_labels and label2id when present
     * checked against it; problem_type; pooling; label_separator), when its objective is sequence_classification;
     * else itself.
     */
    private ModelConfig withClassifierKeys(Map<String, ?> map) {
        if (!isClassifier()) return this;
        if (!(map.get("id2label") instanceof Map<?, ?> id2label) || id2label.isEmpty()) {
            throw new LumensparkException("a sequence classifier needs id2label (an object from label ids to"
                    + " labels), got " + shown(map.get("id2label")));
        }
        String[] byId = new String[id2label.size()];
        for (var e : id2label.entrySet()) {
            int id;
            try {
                id = Integer.parseInt(String.valueOf(e.getKey()));
            } catch (NumberFormatException bad) {
                id = -1;
            }
            if (id < 0 || id >= byId.length) {
                throw new LumensparkException("id2label's keys must be the ids 0.." + (byId.length - 1) + ", got "
                        + shown(e.getKey()));
            }
            byId[id] = String.valueOf(e.getValue());
        }
        List<String> labels = List.of(byId);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("num_labels", map.containsKey("num_labels") ? map.get("num_labels") : labels.size());
        if (integer(m, "num_labels", false) != labels.size()) {
            throw new LumensparkException("num_labels is " + shown(map.get("num_labels")) + " but id2label names "
                    + labels.size() + " labels");
        }
        if (map.get("label2id") instanceof Map<?, ?> label2id) {
            for (int i = 0; i < labels.size(); i++) {
                Object id = label2id.get(labels.get(i));
                if (!(id instanceof Number num) || num.intValue() != i) {
                    throw new LumensparkException("label2id does not invert id2label at " + shown(labels.get(i)));
                }
            }
        }
        m.put("problem_type", map.containsKey("problem_type") ? map.get("problem_type")
                : ProblemType.SINGLE_LABEL_CLASSIFICATION.label());
        m.put("pooling", map.containsKey("pooling") ? map.get("pooling") : Pooling.defaultFor(causal).label());
        ProblemType type = label(ProblemType.class, m, "problem_type");
        Object separator = map.get(LABEL_SEPARATOR);
        if (map.containsKey(LABEL_SEPARATOR) && !(separator instanceof String)) {
            throw new LumensparkException(LABEL_SEPARATOR + " must be a string, got " + shown(separator));
        }
        if (separator == null && type == ProblemType.MULTI_LABEL_CLASSIFICATION) {
            separator = DEFAULT_LABEL_SEPARATOR; // as classify train split labels before it was recorded
        }
        return new ModelConfig(vocabSize, embedDim, depth, heads, seqLength, dropout, k, rank, attention, causal,
                kvHeads, sharedKv, separateProj, shareProjAcrossLayers, normEps, objective, lmHead, maskTokenId,
                padTokenId, labels, type, label(Pooling.class, m, "pooling"), (String) separator);
    }

    /** A copy with one key changed, given as text (as on the command line: --set embed_dim=256). */
    public ModelConfig with(String key, String value) {
        return with(Map.of(key, value));
    }

    /** A copy with several keys changed at once (checked together, so their order does not matter). */
    public ModelConfig with(Map<String, String> overrides) {
        return with(overrides, "--set " + String.join(", ", overrides.entrySet().stream().map(Object::toString)
                .sorted().toList()));
    }

    /** {@link #with(Map)}, naming {@code source} (where the overrides come from) in messages. */
    public ModelConfig with(Map<String, String> overrides, String source) {
        Map<String, Object> m = toMap();
        for (var e : overrides.entrySet()) {
            if (!m.containsKey(e.getKey()) || e.getKey().equals("model_type")) {
                List<String> keys = m.keySet().stream().filter(s -> !s.equals("model_type")).toList();
                String near = Words.nearest(e.getKey(), keys);
                throw new LumensparkException("unknown config key '" + e.getKey() + "' (" + (near != null
                        ? "did you mean '" + near + "'?" : "known: " + String.join(", ", keys)) + ")");
            }
            m.put(e.getKey(), e.getValue());
        }
        return fromMap(m, source, true);
    }

    /** Checks the invariants the model relies on; returns this. */
    public ModelConfig validate() {
        return validate(attention);
    }

    /** {@link #validate()}, naming the attention as it was written (null attention: not one of the kinds). */
    private ModelConfig validate(Object writtenAttention) {
        positive("vocab_size", vocabSize);
        positive("embed_dim", embedDim);
        positive("depth", depth);
        positive("heads", heads);
        positive("seq_length", seqLength);
        positive("k", k);
        positive("rank", rank);
        if (embedDim % heads != 0) fail("embed_dim " + embedDim + " is not divisible by heads " + heads);
        if (embedDim % 2 != 0) fail("embed_dim " + embedDim + " must be even (the low-rank layers use embed_dim/2)");
        if (!(dropout >= 0 && dropout < 1)) fail("dropout must be in [0, 1), got " + dropout);
        if (!(normEps > 0 && normEps < Double.POSITIVE_INFINITY)) fail("norm_eps must be a positive number, got " + normEps);
        if (attention == null) {
            fail("attention must be " + Labeled.alternatives(AttentionKind.class) + ", got " + shown(writtenAttention));
        }
        if (kvHeads != 1 && kvHeads != heads) fail("kv_heads must be 1 or heads (" + heads + "), got " + kvHeads);
        if (isMaskedLm() && causal) {
            fail("objective masked_lm needs a bidirectional model (causal false): a masked token is predicted from"
                    + " both sides");
        }
        if (lmHead == LmHeadKind.DENSE && causal) {
            fail("lm_head dense is for bidirectional (masked-LM) models: causal models decode without it");
        }
        if (isClassifier()) validateClassifier();
        else if (!labels.isEmpty() || problemType != null || pooling != null || labelSeparator != null) {
            fail("labels, problem_type, pooling and label_separator are for sequence classifiers (objective"
                    + " sequence_classification)");
        }
        for (int id : new int[]{maskTokenId, padTokenId}) {
            if (id < -1 || id >= vocabSize) {
                fail((id == maskTokenId ? "mask_token_id " : "pad_token_id ") + id + " is outside the vocabulary 0.."
                        + (vocabSize - 1));
            }
        }
        if (!isFull()) {
            if (k > seqLength) fail("k " + k + " is larger than seq_length " + seqLength);
            if ((causal || attention == AttentionKind.CONV_LINFORMER) && seqLength % k != 0) {
                fail("seq_length " + seqLength + " must be divisible by k " + k
                        + " (the causal and convolutional forms group positions into seq_length/k blocks)");
            }
        }
        return this;
    }

    private void validateClassifier() {
        if (problemType == null || pooling == null) fail("a sequence classifier needs problem_type and pooling");
        if (lmHead != LmHeadKind.LINEAR) fail("a sequence classifier has no lm_head (it has score)");
        if (problemType == ProblemType.REGRESSION ? labels.size() != 1 : labels.size() < 2) {
            fail(problemType == ProblemType.REGRESSION ? "regression has one output (num_labels 1), got "
                    + labels.size() : "classification needs at least two labels, got " + labels.size());
        }
        if (new HashSet<>(labels).size() != labels.size()) fail("id2label names a label twice");
        if (problemType == ProblemType.MULTI_LABEL_CLASSIFICATION
                ? labelSeparator == null || labelSeparator.isEmpty() : labelSeparator != null) {
            fail(problemType == ProblemType.MULTI_LABEL_CLASSIFICATION ? LABEL_SEPARATOR + " must not be empty"
                    : LABEL_SEPARATOR + " is for multi-label classifiers (problem_type "
                    + ProblemType.MULTI_LABEL_CLASSIFICATION.label() + ")");
        }
        if (causal && pooling != Pooling.LAST) {
            fail("pooling " + pooling + " needs a bidirectional model: in a causal model only the last token has"
                    + " seen the whole text (use pooling last)");
        }
    }

    private static void positive(String key, int v) {
        if (v <= 0) fail(key + " must be positive, got " + v);
    }

    private static void fail(String message) {
        throw new LumensparkException(message);
    }

    private static int integer(Map<String, Object> m, String key, boolean text) {
        Object v = m.get(key);
        if (!text && !(v instanceof Number)) throw new LumensparkException(key + " must be an integer, got " + shown(v));
        try {
            double d = v instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(v));
            if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) throw new NumberFormatException();
            return (int) d;
        } catch (NumberFormatException e) {
            throw new LumensparkException(key + " must be an integer, got " + shown(v));
        }
    }

    /** A token id, or -1 where the file has null (Hugging Face writes null for a token the model lacks). */
    private static int tokenId(Map<String, Object> m, String key, boolean text) {
        Object v = m.get(key);
        if (v == null || "null".equals(v)) return -1;
        int id = integer(m, key, text);
        if (id < 0) throw new LumensparkException(key + " must be a token id or null, got " + shown(v));
        return id;
    }

    private static <E extends Enum<E> & Labeled> E label(Class<E> type, Map<String, Object> m, String key) {
        Object v = m.get(key);
        return Labeled.find(type, String.valueOf(v)).orElseThrow(() -> new LumensparkException(key + " must be "
                + Labeled.alternatives(type) + ", got " + shown(v)));
    }

    private static double number(Map<String, Object> m, String key, boolean text) {
        Object v = m.get(key);
        if (!text && !(v instanceof Number)) throw new LumensparkException(key + " must be a number, got " + shown(v));
        try {
            return v instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(v));
        } catch (NumberFormatException e) {
            throw new LumensparkException(key + " must be a number, got " + shown(v));
        }
    }

    private static boolean bool(Map<String, Object> m, String key, boolean text) {
        Object v = m.get(key);
        if (v instanceof Boolean b) return b;
        if (!text) throw new LumensparkException(key + " must be true or false, got " + shown(v));
        String s = String.valueOf(v);
        if (s.equals("true") || s.equals("false")) return Boolean.parseBoolean(s);
        throw new LumensparkException(key + " must be true or false, got " + shown(v));
    }
}
