package io.lumenspark.model;

import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

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
 */
public record ModelConfig(int vocabSize, int embedDim, int depth, int heads, int seqLength, double dropout, int k,
                          int rank, AttentionKind attention, boolean causal, int kvHeads, boolean sharedKv,
                          boolean separateProj, boolean shareProjAcrossLayers, double normEps) {

    public static final List<String> PRESETS = List.of("lumenspark", "lumenspark-v0.1", "transformer",
            "conv-linformer", "tiny");

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
                false, 1e-6);
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
        return m;
    }

    /**
     * Reads a config from a parsed config.json (keys missing take published lumenspark's defaults, so original
     * lumenspark configs load). source names the file in errors.
     */
    public static ModelConfig fromMap(Map<String, ?> map, String source) {
        Map<String, Object> m = v01().toMap();
        for (var e : map.entrySet()) {
            if (!m.containsKey(e.getKey())) continue; // foreign keys (architectures, torch_dtype, ...) are kept out
            m.put(e.getKey(), e.getValue());
        }
        Object type = m.get("model_type");
        if (!"lumenspark".equals(String.valueOf(type))) {
            throw new LumensparkException(source + ": model_type is " + shown(type) + ", expected \"lumenspark\"");
        }
        try {
            String attention = String.valueOf(m.get("attention"));
            return new ModelConfig(integer(m, "vocab_size"), integer(m, "embed_dim"), integer(m, "depth"),
                    integer(m, "heads"), integer(m, "seq_length"), number(m, "dropout"), integer(m, "k"),
                    integer(m, "rank"), Labeled.find(AttentionKind.class, attention).orElse(null), bool(m, "causal"),
                    integer(m, "kv_heads"), bool(m, "shared_kv"), bool(m, "separate_proj"),
                    bool(m, "share_proj_across_layers"), number(m, "norm_eps")).validate(attention);
        } catch (LumensparkException e) {
            throw new LumensparkException(source + ": " + e.getMessage());
        }
    }

    /** A copy with one key changed, given as text (as on the command line: --set embed_dim=256). */
    public ModelConfig with(String key, String value) {
        return with(Map.of(key, value));
    }

    /** A copy with several keys changed at once (checked together, so their order does not matter). */
    public ModelConfig with(Map<String, String> overrides) {
        Map<String, Object> m = toMap();
        for (var e : overrides.entrySet()) {
            if (!m.containsKey(e.getKey()) || e.getKey().equals("model_type")) {
                throw new LumensparkException("unknown config key '" + e.getKey() + "' (known: " + String.join(", ",
                        m.keySet().stream().filter(s -> !s.equals("model_type")).toList()) + ")");
            }
            m.put(e.getKey(), e.getValue());
        }
        return fromMap(m, "--set " + String.join(", ", overrides.entrySet().stream().map(Object::toString).sorted().toList()));
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
        if (!isFull()) {
            if (k > seqLength) fail("k " + k + " is larger than seq_length " + seqLength);
            if ((causal || attention == AttentionKind.CONV_LINFORMER) && seqLength % k != 0) {
                fail("seq_length " + seqLength + " must be divisible by k " + k
                        + " (the causal and convolutional forms group positions into seq_length/k blocks)");
            }
        }
        return this;
    }

    private static void positive(String key, int v) {
        if (v <= 0) fail(key + " must be positive, got " + v);
    }

    private static void fail(String message) {
        throw new LumensparkException(message);
    }

    private static int integer(Map<String, Object> m, String key) {
        Object v = m.get(key);
        try {
            double d = v instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(v));
            if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) throw new NumberFormatException();
            return (int) d;
        } catch (NumberFormatException e) {
            throw new LumensparkException(key + " must be an integer, got " + shown(v));
        }
    }

    private static double number(Map<String, Object> m, String key) {
        Object v = m.get(key);
        try {
            return v instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(v));
        } catch (NumberFormatException e) {
            throw new LumensparkException(key + " must be a number, got " + shown(v));
        }
    }

    private static boolean bool(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Boolean b) return b;
        String s = String.valueOf(v);
        if (s.equals("true") || s.equals("false")) return Boolean.parseBoolean(s);
        throw new LumensparkException(key + " must be true or false, got " + shown(v));
    }
}
