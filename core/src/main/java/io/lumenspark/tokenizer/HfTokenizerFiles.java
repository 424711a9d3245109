package io.lumenspark.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Hugging Face's files for byte-level BPE, read and written:
 * <ul>
 *   <li>{@code tokenizer.json} (the tokenizers library's format): {@code model} of type BPE with {@code vocab}
 *       (token to id) and {@code merges} ({@code "a b"} strings or {@code ["a", "b"]} pairs), a ByteLevel
 *       pre-tokenizer, and {@code added_tokens};</li>
 *   <li>{@code vocab.json} and {@code merges.txt} (GPT-2's original pair; merges.txt starts with a
 *       {@code #version} line);</li>
 *   <li>{@code tokenizer_config.json}: the tokenizer class for AutoTokenizer, the eos/bos/unk tokens, the added
 *       tokens and model_max_length, plus our {@code "tokenizer"} key with the tokenizer's name.</li>
 * </ul>
 * Tokens in vocab and merges are written with one printable character per byte ({@link ByteLevel#byteChar}).
 */
final class HfTokenizerFiles {
    static final String TOKENIZER_JSON = "tokenizer.json", VOCAB = "vocab.json", MERGES = "merges.txt",
            CONFIG = "tokenizer_config.json";
    private static final String MERGES_HEADER = "#version: 0.2";

    private HfTokenizerFiles() {
    }

    /** Whether dir holds tokenizer files (rather than only a tokenizer_config.json that names one). */
    static boolean present(Path dir) {
        return Files.exists(dir.resolve(TOKENIZER_JSON)) || Files.exists(dir.resolve(VOCAB))
                || Files.exists(dir.resolve(MERGES));
    }

    /**
     * Loads tokenizer.json if dir has one, otherwise vocab.json and merges.txt; the end-of-text token is
     * tokenizer_config.json's eos_token, or {@code <|endoftext|>}.
     *
     * @throws LumensparkException naming the file and the problem
     */
    static BpeTokenizer load(Path dir) {
        if (!Files.isDirectory(dir)) throw new LumensparkException("no such tokenizer folder: " + dir);
        Path config = dir.resolve(CONFIG);
        JsonNode cfg = Files.exists(config) ? Json.read(config) : null;
        if (cfg != null && !cfg.isObject()) throw new LumensparkException(config + ": expected a JSON object");
        String eos = cfg == null ? null : tokenText(cfg.get("eos_token"));
        if (eos == null) eos = Tokenizer.EOS_TEXT;
        Path json = dir.resolve(TOKENIZER_JSON);
        if (Files.exists(json)) return fromTokenizerJson(json, eos);
        Path vocab = dir.resolve(VOCAB), merges = dir.resolve(MERGES);
        if (!Files.exists(vocab) || !Files.exists(merges)) {
            throw new LumensparkException(dir + " has no tokenizer files (expected " + TOKENIZER_JSON + ", or " + VOCAB
                    + " and " + MERGES + ")");
        }
        return fromVocabAndMerges(vocab, merges, cfg, eos);
    }

    /** A token in tokenizer_config.json: a string or an AddedToken object with "content"; null if absent. */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (node.isTextual()) return node.asText();
        if (node.isObject() && node.path("content").isTextual()) return node.get("content").asText();
        return null;
    }

    private static BpeTokenizer fromTokenizerJson(Path file, String eos) {
        JsonNode root = Json.read(file);
        if (!root.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        JsonNode model = root.path("model");
        if (!model.isObject()) throw new LumensparkException(file + ": missing \"model\"");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw new LumensparkException(file + ": model type " + type + " is not supported (only byte-level BPE)");
        }
        for (String key : new String[]{"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!model.path(key).asText("").isEmpty()) {
                throw new LumensparkException(file + ": model." + key + " is not supported (byte-level BPE has none)");
            }
        }
        if (root.has("normalizer") && !root.get("normalizer").isNull()) {
            throw new LumensparkException(file + ": a normalizer is not supported (GPT-2-style byte-level BPE has none)");
        }
        checkPreTokenizer(file, root.path("pre_tokenizer"));
        Map<String, Integer> specials = new LinkedHashMap<>();
        Set<String> lstrip = new HashSet<>();
        JsonNode added = root.path("added_tokens");
        if (!added.isMissingNode() && !added.isArray()) throw new LumensparkException(file + ": added_tokens must be a list");
        for (JsonNode t : added) {
            if (!t.path("content").isTextual() || !t.path("id").canConvertToInt() || t.get("id").asInt() < 0) {
                throw new LumensparkException(file + ": an added token needs a \"content\" text and a non-negative \"id\"");
            }
            specials.put(t.get("content").asText(), t.get("id").asInt());
            if (t.path("lstrip").asBoolean(false)) lstrip.add(t.get("content").asText());
        }
        Map<String, Integer> vocab = vocab(file, model.get("vocab"));
        JsonNode mergesNode = model.get("merges");
        if (mergesNode == null || !mergesNode.isArray()) throw new LumensparkException(file + ": model.merges must be a list");
        List<String[]> merges = new ArrayList<>();
        for (JsonNode m : mergesNode) {
            String[] pair;
            if (m.isTextual()) {
                pair = m.asText().split(" ", -1);
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                pair = new String[]{m.get(0).asText(), m.get(1).asText()};
            } else {
                pair = new String[0];
            }
            if (pair.length != 2) {
                throw new LumensparkException(file + ": merge " + (merges.size() + 1) + " is not two tokens: " + m);
            }
            merges.add(pair);
        }
        return build(file, vocab, merges, specials, eos, lstrip);
    }

    private static void checkPreTokenizer(Path file, JsonNode pre) {
        if (pre.isObject() && pre.path("type").asText().equals("Sequence") && pre.path("pretokenizers").size() == 1) {
            pre = pre.path("pretokenizers").get(0);
        }
        if (!pre.isObject() || !pre.path("type").asText().equals("ByteLevel")) {
            throw new LumensparkException(file + ": the pre-tokenizer must be GPT-2's ByteLevel (found "
                    + (pre.isMissingNode() || pre.isNull() ? "none" : pre.path("type").asText("?")) + ")");
        }
        if (!pre.path("use_regex").asBoolean(true)) {
            throw new LumensparkException(file + ": a ByteLevel pre-tokenizer without GPT-2's pattern (use_regex false)"
                    + " is not supported");
        }
        if (pre.path("add_prefix_space").asBoolean(false)) {
            throw new LumensparkException(file + ": add_prefix_space true is not supported");
        }
    }

    private static Map<String, Integer> vocab(Path file, JsonNode node) {
        if (node == null || !node.isObject()) throw new LumensparkException(file + ": the vocabulary must be a JSON object");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (var e : node.properties()) {
            JsonNode id = e.getValue();
            if (!id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0) {
                throw new LumensparkException(file + ": token '" + e.getKey() + "' has id " + id
                        + " (ids are non-negative integers)");
            }
            vocab.put(e.getKey(), id.asInt());
        }
        return vocab;
    }

    private static BpeTokenizer fromVocabAndMerges(Path vocabFile, Path mergesFile, JsonNode cfg, String eos) {
        Map<String, Integer> vocab = vocab(vocabFile, Json.read(vocabFile));
        // Special tokens: tokenizer_config.json's added tokens and eos/bos/unk/pad, as GPT2TokenizerFast adds them.
        Map<String, Integer> specials = new LinkedHashMap<>();
        Set<String> lstrip = new HashSet<>();
        if (cfg != null) {
            for (var e : cfg.path("added_tokens_decoder").properties()) {
                String content = tokenText(e.getValue());
                if (content == null || !e.getKey().matches("\\d+")) {
                    throw new LumensparkException(mergesFile.resolveSibling(CONFIG) + ": added_tokens_decoder entry '"
                            + e.getKey() + "' needs a numeric id and a \"content\"");
                }
                specials.put(content, Integer.parseInt(e.getKey()));
                if (e.getValue().path("lstrip").asBoolean(false)) lstrip.add(content);
            }
            for (String key : new String[]{"eos_token", "bos_token", "unk_token", "pad_token", "mask_token"}) {
                String t = tokenText(cfg.get(key));
                if (t != null && vocab.containsKey(t)) specials.putIfAbsent(t, vocab.get(t));
                if (t != null && cfg.get(key).path("lstrip").asBoolean(false)) lstrip.add(t);
            }
        }
        if (vocab.containsKey(eos)) specials.putIfAbsent(eos, vocab.get(eos));
        List<String[]> merges = new ArrayList<>();
        List<String> lines = InputFiles.readUtf8(mergesFile, Json.MAX_FILE_BYTES).lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isEmpty()) continue;
            String[] pair = line.split(" ", -1);
            if (pair.length != 2 || pair[0].isEmpty() || pair[1].isEmpty()) {
                throw new LumensparkException(mergesFile + ": line " + (i + 1) + " is not two tokens separated by a"
                        + " space: '" + line + "'");
            }
            merges.add(pair);
        }
        return build(vocabFile, vocab, merges, specials, eos, lstrip);
    }

    private static BpeTokenizer build(Path file, Map<String, Integer> vocab, List<String[]> mergeTexts,
                                      Map<String, Integer> specials, String eos, Set<String> lstrip) {
        long size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1L);
        if (size > vocab.size() + specials.size()) { // a stray id must not size the arrays; BpeTokenizer checks gaps
            throw new LumensparkException(file + ": token ids must run from 0 to " + (vocab.size() - 1) + " without"
                    + " gaps (" + vocab.size() + " tokens, the largest id is " + (size - 1) + ")");
        }
        byte[][] tokens = new byte[(int) size][];
        boolean[] seen = new boolean[(int) size];
        for (var e : vocab.entrySet()) {
            int id = e.getValue();
            if (seen[id]) throw new LumensparkException(file + ": id " + id + " is given to two tokens");
            seen[id] = true;
            if (specials.containsKey(e.getKey())) continue;
            byte[] bytes = ByteLevel.fromChars(e.getKey());
            if (bytes == null || bytes.length == 0) {
                throw new LumensparkException(file + ": token '" + e.getKey() + "' (id " + id + ") is not in"
                        + " byte-level form (each character must stand for one byte) and is not a special token");
            }
            tokens[id] = bytes;
        }
        List<int[]> merges = new ArrayList<>(mergeTexts.size());
        for (int i = 0; i < mergeTexts.size(); i++) {
            String[] m = mergeTexts.get(i);
            Integer left = vocab.get(m[0]), right = vocab.get(m[1]);
            if (left == null || right == null) {
                throw new LumensparkException(file + ": merge " + (i + 1) + " ('" + m[0] + " " + m[1] + "') names '"
                        + (left == null ? m[0] : m[1]) + "', which is not in the vocabulary");
            }
            merges.add(new int[]{left, right});
        }
        try {
            return new BpeTokenizer(null, tokens, merges, specials, eos, lstrip);
        } catch (LumensparkException e) {
            throw new LumensparkException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes the four files, tokenizer_config.json last: into a new folder beside dir that is then renamed to dir
     * when dir does not exist yet, otherwise each file atomically into dir.
     */
    static void write(BpeTokenizer tok, Path dir, int modelMaxLength) {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) throw new LumensparkException("not a folder: " + dir);
            writeFiles(tok, dir, modelMaxLength);
            return;
        }
        Path target = dir.toAbsolutePath().normalize();
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        AtomicFiles.deleteTree(tmp);
        try {
            writeFiles(tok, tmp, modelMaxLength);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + dir + ": " + e.getMessage(), e);
        } finally {
            AtomicFiles.deleteTree(tmp);
        }
    }

    private static void writeFiles(BpeTokenizer tok, Path dir, int modelMaxLength) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tok.vocabSize(); id++) {
            byte[] t = tok.tokenBytes(id);
            if (t == null) continue;
            String key = tok.isSpecial(id) ? new String(t, StandardCharsets.UTF_8) : ByteLevel.toChars(t);
            if (vocab.put(key, id) != null) { // the files could not be read back
                throw new LumensparkException("cannot write " + dir + ": the special token '" + key + "' has the"
                        + " same text as an ordinary token in Hugging Face's byte-level form; choose another");
            }
        }
        List<String> merges = new ArrayList<>(tok.merges().length);
        for (int[] m : tok.merges()) {
            merges.add(ByteLevel.toChars(tok.tokenBytes(m[0])) + " " + ByteLevel.toChars(tok.tokenBytes(m[1])));
        }
        Map<String, Integer> specials = tok.specials();
        Set<String> lstrip = tok.lstripSpecials();

        Map<String, Object> json = new LinkedHashMap<>();
        json.put("version", "1.0");
        json.put("truncation", null);
        json.put("padding", null);
        List<Map<String, Object>> added = new ArrayList<>();
        specials.forEach((content, id) -> {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", id);
            t.putAll(addedToken(content, lstrip.contains(content)));
            added.add(t);
        });
        json.put("added_tokens", added);
        json.put("normalizer", null);
        json.put("pre_tokenizer", byteLevel(false, true));
        json.put("post_processor", byteLevel(true, false));
        json.put("decoder", byteLevel(true, true));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", merges);
        json.put("model", model);
        Json.write(dir.resolve(TOKENIZER_JSON), json);

        AtomicFiles.writeString(dir.resolve(VOCAB), Json.toLine(vocab) + "\n");
        StringBuilder text = new StringBuilder(MERGES_HEADER).append('\n');
        for (String m : merges) text.append(m).append('\n');
        AtomicFiles.writeString(dir.resolve(MERGES), text.toString());

        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("tokenizer_class", "GPT2TokenizerFast");
        cfg.put("tokenizer", tok.name());
        cfg.put("add_bos_token", false);
        cfg.put("add_prefix_space", false);
        Map<String, Object> decoder = new LinkedHashMap<>();
        specials.forEach((content, id) -> decoder.put(Integer.toString(id), addedToken(content,
                lstrip.contains(content))));
        cfg.put("added_tokens_decoder", decoder);
        cfg.put("bos_token", tok.eosToken());
        cfg.put("eos_token", tok.eosToken());
        cfg.put("unk_token", tok.eosToken());
        // a masked LM's tokens, under the keys RoBERTa's tokenizer_config.json has (fill-mask pipelines read them)
        if (specials.containsKey(Tokenizer.MASK_TEXT)) cfg.put("mask_token", Tokenizer.MASK_TEXT);
        if (specials.containsKey(Tokenizer.PAD_TEXT)) cfg.put("pad_token", Tokenizer.PAD_TEXT);
        cfg.put("clean_up_tokenization_spaces", false);
        cfg.put("errors", "replace");
        if (modelMaxLength > 0) cfg.put("model_max_length", modelMaxLength);
        Json.write(dir.resolve(CONFIG), cfg);
    }

    private static Map<String, Object> addedToken(String content, boolean lstrip) {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("content", content);
        t.put("single_word", false);
        t.put("lstrip", lstrip);
        t.put("rstrip", false);
        t.put("normalized", false);
        t.put("special", true);
        return t;
    }

    private static Map<String, Object> byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", addPrefixSpace);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", true);
        return m;
    }
}
