package io.lumenspark.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bench serve on small models: a JSON line per point, the tables, the charts; bad settings in one line. */
class BenchServeTest {
    @Test
    void aSmallRunPrintsEveryPointAndWritesTheCharts(@TempDir Path out) throws Exception {
        CliTest.Run r = CliTest.run("bench", "serve", "--preset", "lumenspark,transformer", "--set", "embed_dim=32",
                "--set", "depth=1", "--set", "heads=2", "--set", "seq_length=64", "--set", "k=16", "--streams", "1,3",
                "--prompt-tokens", "4", "--tokens", "12", "--rounds", "1", "--warm-up", "0", "--threads", "1", "--dtype", "int8", "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> points = r.out().lines().filter(l -> l.startsWith("{\"preset\"")).toList();
        assertEquals(4, points.size(), r.out());
        assertTrue(points.getFirst().contains("\"generate_ms_per_token_p50\""), "beside batch-1 generation");
        assertTrue(points.stream().allMatch(l -> l.contains("\"dtype\":\"int8\"")), r.out());
        assertTrue(r.out().contains("matrix weights: int8\n"), r.out());
        assertTrue(points.get(1).contains("\"x_single_stream\""), "the speed-up over paired single-stream rounds");
        for (String p : points) { // the server's own account of its steps: each holds 1 to the streams' rows
            JsonNode j = Json.mapper().readTree(p);
            double rows = j.get("rows_per_step").asDouble(), share = j.get("step_share").asDouble();
            assertTrue(rows >= 1 && rows <= j.get("streams").asInt(), p);
            assertTrue(j.get("step_ms").asDouble() > 0 && share > 0 && share <= 1, p);
            double feeding = j.get("feed_share").asDouble(); // the rest of the rounds: feeding prompts, HTTP
            assertTrue(feeding >= 0 && share + feeding <= 1.0001, p);
            // the generation phase leaves out the prompts and the waits for first tokens, and its first tokens:
            // at least (tokens - 1) / tokens of the round's rate (12 tokens a stream here), and for one stream the
            // inverse of its time per token. Null (never 0) where no round could time its tokens: a tiny model's
            // text can come in one chunk (a token that is part of a character is sent with the next), or a late
            // client can read its chunks at once
            JsonNode generation = j.get("generation_tokens_per_s"), x = j.get("x_single_stream_generation");
            JsonNode ms = j.get("ms_per_token_p50");
            assertTrue(x.isNull() || x.asDouble() > 0, p);
            if (generation.isNull()) continue;
            assertTrue(generation.asDouble() >= 0.98 * 11 / 12 * j.get("tokens_per_s").asDouble(), p);
            if (j.get("streams").asInt() == 1) { // ms per token printed to 0.01 ms (a small model: about 0.1)
                assertEquals(ms.asDouble(), 1000 / generation.asDouble(), 0.0051 + 0.02 * ms.asDouble(), p);
            }
        }
        // four rounds of 12 tokens a stream: at least one stream waited for its tokens
        assertTrue(points.stream().anyMatch(p -> !p.contains("\"ms_per_token_p50\":null")), r.out());
        for (String row : List.of("| lumenspark | 1 |", "| lumenspark | 3 |", "| transformer | 3 |")) {
            assertTrue(r.out().contains(row), row + " in\n" + r.out());
        }
        for (String f : List.of("serve_tokens_per_s.png", "serve_ms_per_token.png")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
    }

    @Test
    void badSettingsAreOneErrorLine() {
        CliTest.Run r = CliTest.run("bench", "serve", "--streams", "0");
        assertEquals(2, r.code());
        assertEquals("error: --streams must be numbers in 1..1024\n", r.err());
        CliTest.Run fit = CliTest.run("bench", "serve", "--preset", "lumenspark", "--set", "seq_length=16", "--set", "k=8");
        assertEquals(2, fit.code());
        assertTrue(fit.err().startsWith("error: --prompt-tokens + --tokens must fit lumenspark's context 16"), fit.err());
        CliTest.Run warm = CliTest.run("bench", "serve", "--warm-up", "-1");
        assertEquals(2, warm.code());
        assertEquals("error: --warm-up must be 0..3600 seconds\n", warm.err());
        CliTest.Run dtype = CliTest.run("bench", "serve", "--dtype", "int4");
        assertEquals(2, dtype.code());
        assertTrue(dtype.err().startsWith("error: --dtype") && dtype.err().lines().count() == 1, dtype.err());
    }
}
