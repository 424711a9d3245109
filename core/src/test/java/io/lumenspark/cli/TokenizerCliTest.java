package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.bench.TokenizerBench;
import io.lumenspark.io.Json;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.lumenspark.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tokenizer train}, then {@code train --tokenizer} with it, resumed, and the bad inputs of both. */
class TokenizerCliTest {

    @Test
    void trainsATokenizerAndAModelWithIt(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, "It was the best of times, it was the worst of times.\n".repeat(300)
                + "It was the age of wisdom, it was the age of foolishness.\n".repeat(300));
        Path tokDir = tmp.resolve("tok");
        CliTest.Run t = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                tokDir.toString(), "--threads", "2");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("saved bpe-296-"), t.out());
        assertTrue(t.out().contains("stopped at 296 tokens"), "the small corpus runs out of pairs: " + t.out());
        for (String f : new String[]{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"}) {
            assertTrue(Files.exists(tokDir.resolve(f)), f);
        }
        Tokenizer tok = Tokenizer.load(tokDir.toString());
        assertEquals(296, tok.vocabSize());

        Path model = tmp.resolve("model");
        CliTest.Run r = run("train", "--data", corpus.toString(), "--tokenizer", tokDir.toString(), "--out",
                model.toString(), "--preset", "tiny", "--set", "embed_dim=32", "--set", "depth=1", "--set",
                "seq_length=32", "--set", "k=8", "--batch", "2", "--steps", "2", "--eval-every", "2", "--threads", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("tokenizer " + tok.name()), r.out());
        JsonNode config = Json.read(model.resolve("config.json"));
        assertEquals(296, config.get("vocab_size").asInt(), "a fresh model's vocab_size follows the tokenizer");
        assertEquals(tok.name(), Tokenizer.fromPretrained(model).name(), "the model folder carries the tokenizer");
        assertEquals(tok.name(), Tokenizer.fromPretrained(model.resolve("checkpoint")).name());
        CliTest.Run info = run("info", "--model", model.toString());
        assertTrue(info.out().contains(tok.name()), info.out());

        // Resuming uses the checkpoint's copy: the token cache key (and so the data check) depends on it.
        for (String f : new String[]{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"}) {
            Files.delete(tokDir.resolve(f));
        }
        CliTest.Run resumed = run("train", "--resume", "--out", model.toString());
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("tokenizer " + tok.name()), resumed.out());

        CliTest.Run gen = run("generate", "--model", model.toString(), "--prompt", "It was", "--max-new-tokens", "3",
                "--seed", "1", "--json");
        assertEquals(0, gen.code(), gen.err());
    }

    @Test
    void benchReportsBothTokenizersWithEqualTokenCounts(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, TokenizerBench.generate(200_000, 3));
        CliTest.Run r = run("bench", "tokenizer", "--data", text.toString(), "--runs", "1", "--warmup", "0",
                "--threads", "2");
        assertEquals(0, r.code(), r.err());
        var rows = r.out().lines().filter(l -> l.startsWith("| gpt2") || l.startsWith("| jtokkit")).toList();
        assertEquals(2, rows.size(), r.out());
        String ours = rows.get(0).split("\\|")[2].strip(), theirs = rows.get(1).split("\\|")[2].strip();
        assertEquals(theirs, ours, "token counts: " + r.out());
        assertTrue(Integer.parseInt(ours.replace(",", "")) > 20_000, r.out());
        assertBadInput("--runs and --mb must be at least 1", "bench", "tokenizer", "--runs", "0");
    }

    private static void assertBadInput(String expected, String... args) {
        CliTest.Run r = run(args);
        assertEquals(2, r.code(), "exit code for " + String.join(" ", args) + ": " + r.err());
        assertTrue(r.err().contains(expected), "stderr for " + String.join(" ", args) + ": " + r.err());
        assertFalse(r.err().contains("\tat "), "stack trace printed: " + r.err());
    }

    @Test
    void badInputIsOneClearLine(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, "hello world ".repeat(50));
        assertBadInput("no such file", "tokenizer", "train", "--input", tmp.resolve("nope.txt").toString(),
                "--vocab-size", "300", "--out", tmp.resolve("t1").toString());
        assertBadInput("--vocab-size must be in 257..", "tokenizer", "train", "--input", corpus.toString(),
                "--vocab-size", "100", "--out", tmp.resolve("t2").toString());
        assertBadInput("missing --vocab-size N and --out DIR", "tokenizer", "train", "--input", corpus.toString());
        assertBadInput("missing subcommand", "tokenizer");
        assertFalse(Files.exists(tmp.resolve("t1")) || Files.exists(tmp.resolve("t2")), "nothing half-written");

        assertBadInput("no such tokenizer folder", "train", "--data", corpus.toString(), "--tokenizer",
                tmp.resolve("none").toString() + "/", "--out", tmp.resolve("m1").toString());
        assertBadInput("unknown tokenizer 'klingon'", "train", "--data", corpus.toString(), "--tokenizer",
                "klingon", "--out", tmp.resolve("m2").toString());
        Path broken = tmp.resolve("broken");
        Files.createDirectories(broken);
        Files.writeString(broken.resolve("vocab.json"), "{\"a\": 0}");
        Files.writeString(broken.resolve("merges.txt"), "#version: 0.2\n");
        assertBadInput("vocab.json: the vocabulary has no token for the byte", "train", "--data", corpus.toString(),
                "--tokenizer", broken.toString(), "--out", tmp.resolve("m3").toString());
        CliTest.Run t = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                tmp.resolve("tok").toString());
        assertEquals(0, t.code(), t.err());
        assertBadInput("vocab_size 100 is smaller than the tokenizer's", "train", "--data", corpus.toString(),
                "--tokenizer", tmp.resolve("tok").toString(), "--set", "vocab_size=100", "--preset", "tiny",
                "--out", tmp.resolve("m4").toString(), "--steps", "1");
    }

    @Test
    void mistakesAreCaughtBeforeTheWorkAndNothingIsOverwritten(@TempDir Path tmp) throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, "hello world, the cat sat on the mat. ".repeat(50));
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertBadInput("holds no tokenizer files", "train", "--data", corpus.toString(), "--tokenizer",
                empty.toString(), "--out", tmp.resolve("m1").toString());
        assertBadInput("holds no tokenizer files", "data", "prepare", corpus.toString(), "--tokenizer",
                empty.toString(), "--out", tmp.resolve("p1").toString());
        assertBadInput("is a file; a tokenizer is a folder", "train", "--data", corpus.toString(), "--tokenizer",
                corpus.toString(), "--out", tmp.resolve("m2").toString());

        // A model folder is not a place for a new tokenizer: refused before training, and left as it was.
        Path model = Files.createDirectories(tmp.resolve("model"));
        Files.writeString(model.resolve("config.json"), "{}");
        CliTest.Run r = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                model.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("holds other files than a tokenizer's (config.json)"), r.err());
        assertFalse(r.out().contains("merges"), "refused before training: " + r.out());
        assertFalse(Files.exists(model.resolve("tokenizer.json")));
        // An earlier tokenizer's folder is replaced with --force only, as train and data prepare replace theirs.
        Path tok = tmp.resolve("tok");
        CliTest.Run first = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "300", "--out",
                tok.toString(), "--min-frequency", "1");
        assertEquals(0, first.code(), first.err());
        String vocab = Files.readString(tok.resolve("vocab.json"));
        assertBadInput("--out " + tok + " holds a tokenizer; replace it with --force", "tokenizer", "train",
                "--input", corpus.toString(), "--vocab-size", "280", "--out", tok.toString(), "--min-frequency", "1");
        assertEquals(vocab, Files.readString(tok.resolve("vocab.json")), "left as it was");
        CliTest.Run forced = run("tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "280", "--out",
                tok.toString(), "--min-frequency", "1", "--force");
        assertEquals(0, forced.code(), forced.err());
        assertTrue(forced.out().contains("saved bpe-"), forced.out());
        assertBadInput("--special-tokens names <|user|> twice", "tokenizer", "train", "--input", corpus.toString(),
                "--vocab-size", "300", "--special-tokens", "<|user|>,<|bot|>,<|user|>", "--out",
                tmp.resolve("t3").toString());
        assertBadInput("is the byte-level form of a byte token", "tokenizer", "train", "--input", corpus.toString(),
                "--vocab-size", "300", "--special-tokens", "e", "--out", tmp.resolve("t2").toString());

        // Configuration mistakes end the run before the data is tokenized.
        CliTest.Run bad = run("train", "--data", corpus.toString(), "--preset", "tiny", "--set", "vocab_size=100",
                "--out", tmp.resolve("m3").toString(), "--steps", "1");
        assertEquals(2, bad.code(), bad.err());
        assertFalse(bad.out().contains("data:"), "tokenized before the check: " + bad.out());
    }
}
