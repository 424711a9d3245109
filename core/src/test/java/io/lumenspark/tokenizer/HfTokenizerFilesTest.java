package io.lumenspark.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hugging Face's tokenizer files: GPT-2 written and read back, hand-written files, and malformed ones. */
class HfTokenizerFilesTest {

    private static final BpeTokenizer GPT2 = Gpt2Tokenizer.instance();

    @Test
    void gpt2FilesHaveHuggingFacesLayout(@TempDir Path dir) throws IOException {
        GPT2.save(dir, 1024);
        List<String> merges = Files.readAllLines(dir.resolve("merges.txt"));
        assertEquals("#version: 0.2", merges.getFirst());
        assertEquals("Ġ t", merges.get(1)); // GPT-2's first merge
        assertEquals(50_000 + 1, merges.size());
        JsonNode vocab = Json.read(dir.resolve("vocab.json"));
        assertEquals(50257, vocab.size());
        assertEquals(262, vocab.get("Ġthe").asInt());
        assertEquals(0, vocab.get("!").asInt());
        assertEquals(50256, vocab.get("<|endoftext|>").asInt());
        assertEquals(198, vocab.get("Ċ").asInt()); // "\n"

        JsonNode json = Json.read(dir.resolve("tokenizer.json"));
        assertEquals("BPE", json.at("/model/type").asText());
        assertEquals("ByteLevel", json.at("/pre_tokenizer/type").asText());
        assertFalse(json.at("/pre_tokenizer/add_prefix_space").asBoolean());
        assertEquals(50256, json.at("/added_tokens/0/id").asInt());
        assertEquals("Ġ t", json.at("/model/merges/0").asText());

        JsonNode cfg = Json.read(dir.resolve("tokenizer_config.json"));
        assertEquals("GPT2TokenizerFast", cfg.get("tokenizer_class").asText());
        assertEquals("<|endoftext|>", cfg.get("eos_token").asText());
        assertEquals(1024, cfg.get("model_max_length").asInt());
        assertEquals("<|endoftext|>", cfg.at("/added_tokens_decoder/50256/content").asText());
    }

    @Test
    void gpt2FilesLoadBackAsGpt2(@TempDir Path dir) throws IOException {
        GPT2.save(dir, 0);
        assertSame(GPT2, Tokenizer.fromPretrained(dir));
        BpeTokenizer fromJson = BpeTokenizer.fromPretrained(dir);
        assertEquals(GPT2.contentHash(), fromJson.contentHash());
        Files.delete(dir.resolve("tokenizer.json")); // GPT-2's original pair of files
        BpeTokenizer fromPair = BpeTokenizer.fromPretrained(dir);
        assertEquals(GPT2.contentHash(), fromPair.contentHash());
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < 300; i++) {
            String text = BpeTokenizerTest.randomText(rnd, 40);
            int[] want = GPT2.encode(text);
            assertArrayEquals(want, fromJson.encode(text));
            assertArrayEquals(want, fromPair.encode(text));
        }
    }

    /** A tokenizer.json for a tiny vocabulary: the 256 bytes, "ab", "abc", "Ġab" and specials. */
    static Map<String, Object> tinyTokenizerJson(Object... merges) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(ByteLevel.byteChar(b)), b);
        vocab.put("ab", 256);
        vocab.put("abc", 257);
        vocab.put("Ġab", 258);
        vocab.put("</s>", 259);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("vocab", vocab);
        model.put("merges", List.of(merges));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("added_tokens", List.of(Map.of("id", 259, "content", "</s>", "special", true),
                Map.of("id", 260, "content", "<|endoftext|>", "special", true)));
        root.put("normalizer", null);
        root.put("pre_tokenizer", Map.of("type", "ByteLevel", "add_prefix_space", false, "use_regex", true));
        root.put("model", model);
        return root;
    }

    @Test
    void readsHandWrittenTokenizerJsonInBothMergeForms(@TempDir Path dir) {
        // older files list merges as "a b", newer ones as ["a", "b"]
        for (Object[] merges : List.of(new Object[]{"a b", "ab c", "Ġ ab"},
                new Object[]{List.of("a", "b"), List.of("ab", "c"), List.of("Ġ", "ab")})) {
            Json.write(dir.resolve("tokenizer.json"), tinyTokenizerJson(merges));
            BpeTokenizer tok = BpeTokenizer.fromPretrained(dir);
            assertEquals(261, tok.vocabSize());
            assertEquals(260, tok.eosId());
            assertArrayEquals(new int[]{257}, tok.encode("abc"));
            assertArrayEquals(new int[]{258}, tok.encode(" ab"));
            assertArrayEquals(new int[]{256, 'd'}, tok.encode("abd"));
            assertArrayEquals(new int[]{'x', 259, 260}, tok.encode("x</s><|endoftext|>"));
            assertEquals("abc ab</s>x<|endoftext|>", tok.decode(tok.encode("abc ab</s>x<|endoftext|>")));
            assertTrue(tok.name().startsWith("bpe-261-"), tok.name());
        }
    }

    @Test
    void eosComesFromTokenizerConfig(@TempDir Path dir) {
        Json.write(dir.resolve("tokenizer.json"), tinyTokenizerJson("a b"));
        Json.write(dir.resolve("tokenizer_config.json"), Map.of("eos_token", Map.of("content", "</s>")));
        BpeTokenizer tok = BpeTokenizer.fromPretrained(dir);
        assertEquals(259, tok.eosId());
        assertEquals("</s>", tok.eosToken());
    }

    @Test
    void writtenFilesReadBackIdentically(@TempDir Path dir) throws IOException {
        Json.write(dir.resolve("src").resolve("tokenizer.json"), tinyTokenizerJson("a b", "ab c", "Ġ ab"));
        BpeTokenizer tok = BpeTokenizer.fromPretrained(dir.resolve("src"));
        tok.save(dir.resolve("out"), 0);
        BpeTokenizer back = BpeTokenizer.fromPretrained(dir.resolve("out"));
        assertEquals(tok.name(), back.name());
        assertEquals(tok.contentHash(), back.contentHash());
        Files.delete(dir.resolve("out").resolve("tokenizer.json"));
        assertEquals(tok.name(), BpeTokenizer.fromPretrained(dir.resolve("out")).name());
        String text = "abc ab cab </s> <|endoftext|> ü";
        assertArrayEquals(tok.encode(text), back.encode(text));
        try (var files = Files.list(dir)) {
            assertEquals(List.of("out", "src"), files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporary folder is left behind");
        }
    }

    @Test
    void namesDependOnContent(@TempDir Path dir) {
        Json.write(dir.resolve("a").resolve("tokenizer.json"), tinyTokenizerJson("a b", "ab c"));
        Json.write(dir.resolve("b").resolve("tokenizer.json"), tinyTokenizerJson("a b", "ab c", "Ġ ab"));
        assertNotEquals(BpeTokenizer.fromPretrained(dir.resolve("a")).name(),
                BpeTokenizer.fromPretrained(dir.resolve("b")).name());
    }

    private static void assertRefused(Path dir, String... expected) {
        var e = assertThrows(LumensparkException.class, () -> Tokenizer.fromPretrained(dir));
        for (String s : expected) assertTrue(e.getMessage().contains(s), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    @SuppressWarnings("unchecked")
    void malformedTokenizerJsonIsAClearError(@TempDir Path root) throws IOException {
        Path dir = root.resolve("t");
        Files.createDirectories(dir);
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
        assertRefused(dir, "tokenizer.json", "not valid JSON");

        Map<String, Object> json = tinyTokenizerJson("a b");
        ((Map<String, Object>) json.get("model")).put("type", "WordPiece");
        Json.write(file, json);
        assertRefused(dir, "tokenizer.json", "WordPiece", "not supported");

        Json.write(file, tinyTokenizerJson("a b", "ab q"));
        assertRefused(dir, "tokenizer.json", "merge 2", "'q'", "not in the vocabulary");

        Json.write(file, tinyTokenizerJson("a b c"));
        assertRefused(dir, "merge 1 is not two tokens");

        Json.write(file, tinyTokenizerJson("a c")); // "ac" is no token
        assertRefused(dir, "merge 1", "result is not in the vocabulary");

        json = tinyTokenizerJson("a b");
        ((Map<String, Object>) ((Map<String, Object>) json.get("model")).get("vocab")).put("zz", -3);
        Json.write(file, json);
        assertRefused(dir, "'zz'", "non-negative");

        json = tinyTokenizerJson("a b");
        var vocab0 = (Map<String, Object>) ((Map<String, Object>) json.get("model")).get("vocab");
        vocab0.remove("Ā"); // byte 0's token; its id goes to a multi-byte one
        vocab0.put("bc", 0);
        Json.write(file, json);
        assertRefused(dir, "no token for the byte 0x00");

        json = tinyTokenizerJson("a b");
        json.put("pre_tokenizer", Map.of("type", "Metaspace"));
        Json.write(file, json);
        assertRefused(dir, "pre-tokenizer must be GPT-2's ByteLevel", "Metaspace");

        json = tinyTokenizerJson("a b");
        ((Map<String, Object>) ((Map<String, Object>) json.get("model")).get("vocab")).put("▁x", 261);
        Json.write(file, json);
        assertRefused(dir, "'▁x'", "not in byte-level form");

        json = tinyTokenizerJson("a b");
        json.put("added_tokens", List.of(Map.of("id", 260, "content", "<pad>")));
        Json.write(file, json);
        assertRefused(dir, "end-of-text token '<|endoftext|>' is not in the vocabulary");

        // Ids index arrays: a stray large one is refused before it can size them.
        for (int id : new int[]{300, 2_000_000_000, Integer.MAX_VALUE}) {
            json = tinyTokenizerJson("a b");
            ((Map<String, Object>) ((Map<String, Object>) json.get("model")).get("vocab")).put("xy", id);
            Json.write(file, json);
            assertRefused(dir, "token ids must run from 0 to 260 without gaps", "largest id is " + id);
        }
    }

    @Test
    void malformedVocabAndMergesAreClearErrors(@TempDir Path root) throws IOException {
        Path dir = root.resolve("t");
        GPT2.save(dir, 0);
        Files.delete(dir.resolve("tokenizer.json"));
        List<String> merges = new ArrayList<>(Files.readAllLines(dir.resolve("merges.txt")));
        merges.set(5, "Ġ m x");
        Files.write(dir.resolve("merges.txt"), merges);
        assertRefused(dir, "merges.txt", "line 6", "not two tokens");

        Files.delete(dir.resolve("merges.txt"));
        assertRefused(dir, "no tokenizer files", "merges.txt");

        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\nq z\n");
        Files.writeString(dir.resolve("vocab.json"), "[1, 2]");
        assertRefused(dir, "vocab.json", "must be a JSON object");

        Files.writeString(dir.resolve("vocab.json"), "{\"a\": 1, \"b\": 1}", StandardCharsets.UTF_8);
        assertRefused(dir, "vocab.json", "id 1 is given to two tokens");
    }

    @Test
    void aConfigNamingAnUnknownTokenizerIsRefusedEvenWithFiles(@TempDir Path dir) throws IOException {
        GPT2.save(dir, 0);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"tokenizer\": \"klingon\"}");
        assertRefused(dir, "klingon");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"tokenizer\": \"bpe-9-abc\"}");
        for (String f : List.of("tokenizer.json", "vocab.json", "merges.txt")) Files.delete(dir.resolve(f));
        assertRefused(dir, "bpe-9-abc", "files", "missing");
    }
}
