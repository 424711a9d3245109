package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.lumenspark.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code data prepare} end to end, and {@code train} and {@code eval} on the folder it writes. */
class DataPrepareCliTest {
    @TempDir
    Path tmp;

    @Test
    void preparedFolderTrainsAndEvaluates() throws Exception {
        StringBuilder csv = new StringBuilder("id,body\n");
        for (int i = 0; i < 200; i++) {
            csv.append(i).append(",\"It was the best of times, it was the worst of times, number ").append(i)
                    .append(".\"\n");
        }
        Path data = Files.writeString(tmp.resolve("corpus.csv"), csv);
        Path out = tmp.resolve("tokens");
        CliTest.Run prep = run("data", "prepare", data.toString(), "--out", out.toString(), "--column", "body",
                "--threads", "2");
        assertEquals(0, prep.code(), prep.err());
        assertTrue(prep.out().contains("prepared " + out) && prep.out().contains("(gpt2, uint16) from 1 file"),
                prep.out());
        JsonNode m = Json.read(out.resolve("manifest.json"));
        assertEquals("body", m.get("column").asText());
        assertEquals(200, m.get("sources").get(0).get("records").asLong());

        CliTest.Run again = run("data", "prepare", data.toString(), "--out", out.toString(), "--column", "body");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("already holds these tokens"), again.out());

        Path model = tmp.resolve("model");
        CliTest.Run train = run("train", "--data", out.toString(), "--out", model.toString(), "--preset", "tiny",
                "--set", "embed_dim=32", "--set", "depth=1", "--set", "seq_length=32", "--set", "k=8",
                "--batch", "2", "--steps", "2", "--eval-every", "2", "--threads", "2");
        assertEquals(0, train.code(), train.err());
        assertTrue(train.out().contains(String.format("data: %,d training tokens, %,d validation tokens (cached)",
                m.get("trainTokens").asLong(), m.get("valTokens").asLong())), train.out());

        CliTest.Run eval = run("eval", "--model", model.toString(), "--data", out.toString(), "--json");
        assertEquals(0, eval.code(), eval.err());
        JsonNode e = Json.mapper().readTree(eval.out().strip());
        assertEquals(m.get("valTokens").asLong() - 1, e.get("tokens").asLong(), eval.out()); // predicted tokens

        // The same folder refilled with other text: resuming the run on it is refused.
        Files.writeString(data, csv.toString().replace("worst", "age"));
        CliTest.Run refill = run("data", "prepare", data.toString(), "--out", out.toString(), "--column", "body",
                "--force");
        assertEquals(0, refill.code(), refill.err());
        CliTest.Run resume = run("train", "--resume", "--out", model.toString());
        assertEquals(2, resume.code(), resume.out());
        assertTrue(resume.err().contains("the training data changed"), resume.err());
    }

    @Test
    void badInputIsOneClearLine() throws Exception {
        Path jsonl = Files.writeString(tmp.resolve("a.jsonl"), "{\"text\": \"fine\"}\n{\"body\": \"no text\"}\n");
        Path out = tmp.resolve("out");
        assertBad(jsonl + " line 2: no field 'text' (--skip-bad-records skips such records)",
                "data", "prepare", jsonl.toString(), "--out", out.toString());
        assertFalse(Files.exists(out));
        assertBad("unknown --format 'xml'", "data", "prepare", jsonl.toString(), "--out", out.toString(),
                "--format", "xml");
        assertBad("unknown tokenizer 'nope'", "data", "prepare", jsonl.toString(), "--out", out.toString(),
                "--tokenizer", "nope");
        assertBad("missing --out DIR", "data", "prepare", jsonl.toString());
        assertBad("missing subcommand", "data");

        CliTest.Run skipped = run("data", "prepare", jsonl.toString(), "--out", out.toString(), "--skip-bad-records",
                "--val-fraction", "0");
        assertEquals(0, skipped.code(), skipped.err());
        assertTrue(skipped.err().contains("warning: skipped 1 bad record"), skipped.err());
        assertBad(out + " already holds tokens prepared from other inputs or options; use --force",
                "data", "prepare", jsonl.toString(), "--out", out.toString(), "--skip-bad-records");
    }

    @Test
    void anOutFolderHoldingAnInputIsNamedAsTheProblem() throws Exception {
        Path folder = Files.createDirectories(tmp.resolve("corpus"));
        Path text = Files.writeString(folder.resolve("book.txt"), "Call me Ishmael. ".repeat(100));
        assertBad("--out " + folder + " holds the input " + text + "; choose an output folder outside the inputs",
                "data", "prepare", text.toString(), "--out", folder.toString());
        assertBad("--out " + folder + " holds the input " + folder, "data", "prepare", folder.toString(), "--out",
                folder.toString());
        try (var left = Files.list(folder)) {
            assertEquals(List.of(text), left.toList(), "the folder is left as it was");
        }
    }

    private static void assertBad(String expected, String... args) {
        CliTest.Run r = run(args);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace");
    }
}
