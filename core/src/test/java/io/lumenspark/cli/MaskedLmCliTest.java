package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.lumenspark.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The masked-LM workflow from the command line: a tokenizer trained with {@code <mask>} and {@code <pad>}, a model
 * trained with {@code --objective mlm}, then {@code eval}, {@code info} and {@code fill-mask} on it.
 */
class MaskedLmCliTest {
    @Test
    void tokenizerTrainMlmEvalInfoAndFillMask(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, "It was the best of times, it was the worst of times.\n".repeat(200)
                + "The state of the Union is strong.\n".repeat(200));
        Path tokDir = tmp.resolve("tok");
        CliTest.Run t = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                tokDir.toString(), "--special-tokens", "<mask>,<pad>", "--threads", "1");
        assertEquals(0, t.code(), t.err());
        Tokenizer tok = Tokenizer.load(tokDir.toString());
        int mask = tok.specialId(Tokenizer.MASK_TEXT).orElseThrow(), pad = tok.specialId(Tokenizer.PAD_TEXT).orElseThrow();
        JsonNode tokConfig = Json.read(tokDir.resolve("tokenizer_config.json"));
        assertEquals("<mask>", tokConfig.get("mask_token").asText(), tokConfig.toString());
        assertEquals("<pad>", tokConfig.get("pad_token").asText(), tokConfig.toString());

        Path model = tmp.resolve("model");
        CliTest.Run r = run("train", "--data", corpus.toString(), "--tokenizer", tokDir.toString(), "--out",
                model.toString(), "--objective", "mlm", "--preset", "encoder", "--set", "embed_dim=32", "--set",
                "depth=2", "--set", "heads=2", "--set", "kv_heads=2", "--set", "seq_length=32", "--set", "k=8",
                "--batch", "2", "--steps", "2", "--eval-every", "2", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        JsonNode config = Json.read(model.resolve("config.json"));
        assertEquals("masked_lm", config.get("objective").asText());
        assertEquals("LumensparkForMaskedLM", config.get("architectures").get(0).asText());
        assertEquals(tok.vocabSize(), config.get("vocab_size").asInt(), "the tokenizer had both tokens already");
        assertEquals(mask, config.get("mask_token_id").asInt());
        assertEquals(pad, config.get("pad_token_id").asInt());

        // eval: the loss over one fixed mask, the same every time; pseudo-perplexity its exponential
        CliTest.Run e1 = run("eval", "--model", model.toString(), "--data", corpus.toString(), "--json",
                "--threads", "1"), e2 = run("eval", "--model", model.toString(), "--data", corpus.toString(), "--json",
                "--threads", "1");
        assertEquals(0, e1.code(), e1.err());
        JsonNode j1 = Json.mapper().readTree(e1.out().strip()), j2 = Json.mapper().readTree(e2.out().strip());
        assertEquals("masked_lm", j1.get("objective").asText());
        assertEquals(j1.get("loss").asDouble(), j2.get("loss").asDouble(), 0.0, "one fixed mask");
        assertEquals(Math.exp(j1.get("loss").asDouble()), j1.get("pseudo_perplexity").asDouble(), 1e-9);
        double share = j1.get("masked_tokens").asDouble() / j1.get("tokens").asDouble();
        assertTrue(share > 0.1 && share < 0.2, "about 15 % masked: " + j1);
        CliTest.Run text = run("eval", "--model", model.toString(), "--data", corpus.toString(), "--threads", "1");
        assertTrue(text.out().contains(String.format("masked LM loss %.4f, pseudo-perplexity %.2f over",
                j1.get("loss").asDouble(), j1.get("pseudo_perplexity").asDouble())), text.out());

        CliTest.Run info = run("info", "--model", model.toString());
        assertTrue(info.out().contains("objective:  masked LM (head: fc_out; fill-mask, <mask> = " + mask
                + ", <pad> = " + pad + ")"), info.out());
        assertTrue(info.out().contains("validation: masked LM loss "), info.out());
        assertTrue(info.out().contains("pseudo-perplexity"), info.out());

        // fill-mask: top-k lines, or with --json the pipeline's keys and the ids read
        CliTest.Run fill = run("fill-mask", "--model", model.toString(), "--text", "The <mask> of the Union is strong.",
                "--top-k", "3", "--threads", "1");
        assertEquals(0, fill.code(), fill.err());
        assertEquals(3, fill.out().lines().count(), fill.out());
        CliTest.Run two = run("fill-mask", "--model", model.toString(), "--text", "The <mask> of the <mask> is strong.",
                "--text", "It was the <mask> of times.", "--top-k", "2", "--threads", "1");
        assertEquals(List.of("text 1, mask 1:", "text 1, mask 2:", "text 2, mask 1:"),
                two.out().lines().filter(l -> l.startsWith("text ")).toList(), two.out());
        assertEquals(3 * 3, two.out().lines().count(), "a header and 2 candidates per mask: " + two.out());
        CliTest.Run json = run("fill-mask", "--model", model.toString(), "--text", "The <mask> of the <mask> is strong.",
                "--top-k", "2", "--json", "--threads", "1");
        assertEquals(0, json.code(), json.err());
        JsonNode line = Json.mapper().readTree(json.out().strip());
        List<Integer> ids = new ArrayList<>();
        line.get("input_ids").forEach(id -> ids.add(id.asInt()));
        assertEquals(List.of(mask, mask), ids.stream().filter(id -> id == mask).toList(), ids.toString());
        assertEquals(2, line.get("masks").size());
        for (JsonNode candidates : line.get("masks")) {
            assertEquals(2, candidates.size());
            double last = 1;
            for (JsonNode c : candidates) {
                List<String> keys = new ArrayList<>();
                c.fieldNames().forEachRemaining(keys::add);
                assertEquals(List.of("score", "token", "token_str", "sequence"), keys);
                assertTrue(c.get("score").asDouble() <= last, "most likely first: " + candidates);
                last = c.get("score").asDouble();
                assertEquals(tok.decode(new int[]{c.get("token").asInt()}), c.get("token_str").asText());
            }
        }

        CliTest.Run generate = run("generate", "--model", model.toString(), "--prompt", "The state",
                "--max-new-tokens", "2", "--threads", "1");
        assertEquals(0, generate.code(), generate.err());
        assertTrue(generate.err().contains("warning: this model is bidirectional"), "as score warns: " + generate.err());
        // the note on added tokens comes only once the options are valid
        for (String[] bad : List.of(new String[]{"--preset", "nope"}, new String[]{"--set", "depth=0"})) {
            List<String> args = new ArrayList<>(List.of("train", "--data", corpus.toString(), "--out",
                    tmp.resolve("refused").toString(), "--objective", "mlm", "--steps", "1"));
            args.addAll(List.of(bad));
            CliTest.Run refused = run(args.toArray(String[]::new));
            assertEquals(2, refused.code(), refused.err());
            assertFalse(refused.out().contains("tokenizer: <mask>"), refused.out());
        }
        assertOneErrorLine(run("fill-mask", "--model", model.toString(), "--text", "No mask here."),
                "error: the text has no <mask> token to fill");
        assertOneErrorLine(run("fill-mask", "--model", model.toString(), "--text", "The <mask>.", "--top-k", "0"),
                "error: --top-k must be at least 1");
        Path causal = SmallModels.write(tmp.resolve("causal"), SmallModels.tokenizer(tmp), Map.of());
        assertOneErrorLine(run("fill-mask", "--model", causal.toString(), "--text", "The <mask>."),
                "error: this model predicts the next token (objective causal_lm); fill-mask needs a masked LM");
        assertTrue(run("info", "--model", causal.toString()).out().contains("objective:  causal LM"));
    }

    /**
     * A folder prepared with the tokenizer a masked LM trains with serves for training and eval: the tokenizer that
     * already has {@code <mask>} and {@code <pad>}, GPT-2's (which gets them appended) and the masked LM's own (GPT-2's
     * with them), whose ids are the model's. A folder of another tokenizer is still refused, naming the model's.
     */
    @Test
    void preparedFolderOfTheModelsTokenizerServes(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, "It was the best of times, it was the worst of times.\n".repeat(200)
                + "The state of the Union is strong.\n".repeat(200));
        Path tokDir = tmp.resolve("tok");
        assertEquals(0, run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                tokDir.toString(), "--special-tokens", "<mask>,<pad>", "--threads", "1").code());
        Path prepared = tmp.resolve("prepared");
        CliTest.Run p = run("data", "prepare", corpus.toString(), "--out", prepared.toString(), "--tokenizer",
                tokDir.toString(), "--threads", "1");
        assertEquals(0, p.code(), p.err());
        Path model = trainMlm(tmp.resolve("model"), prepared, tokDir.toString());
        evalPrepared(model, prepared);

        Path gpt2Prepared = tmp.resolve("gpt2-prepared");
        assertEquals(0, run("data", "prepare", corpus.toString(), "--out", gpt2Prepared.toString(), "--tokenizer",
                "gpt2", "--threads", "1").code());
        Path gpt2Model = trainMlm(tmp.resolve("gpt2-model"), gpt2Prepared, "gpt2");
        assertEquals(50_259, Tokenizer.fromPretrained(gpt2Model).vocabSize(), "GPT-2's with <mask> and <pad>");
        evalPrepared(gpt2Model, gpt2Prepared);
        Path ownPrepared = tmp.resolve("own-prepared"); // prepared with the masked LM's tokenizer
        assertEquals(0, run("data", "prepare", corpus.toString(), "--out", ownPrepared.toString(), "--tokenizer",
                gpt2Model.toString(), "--threads", "1").code());
        evalPrepared(gpt2Model, ownPrepared);

        assertOneErrorLine(run("eval", "--model", model.toString(), "--data", gpt2Prepared.toString()),
                "error: " + gpt2Prepared + " was prepared with tokenizer 'gpt2' (vocabulary 50257), but the model"
                        + " uses '" + Tokenizer.load(tokDir.toString()).name() + "'");
    }

    private static Path trainMlm(Path out, Path data, String tokenizer) {
        CliTest.Run r = run("train", "--data", data.toString(), "--tokenizer", tokenizer, "--out", out.toString(),
                "--objective", "mlm", "--preset", "tiny", "--set", "causal=false", "--set", "embed_dim=32", "--set",
                "depth=1", "--set", "seq_length=32", "--set", "k=8", "--batch", "2", "--steps", "2",
                "--eval-every", "2", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        return out;
    }

    private static void evalPrepared(Path model, Path prepared) throws Exception {
        CliTest.Run e = run("eval", "--model", model.toString(), "--data", prepared.toString(), "--json",
                "--threads", "1");
        assertEquals(0, e.code(), e.err());
        JsonNode j = Json.mapper().readTree(e.out().strip());
        assertEquals("masked_lm", j.get("objective").asText());
        assertTrue(j.get("masked_tokens").asInt() > 0, j.toString());
    }

    private static void assertOneErrorLine(CliTest.Run r, String start) {
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith(start), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }
}
