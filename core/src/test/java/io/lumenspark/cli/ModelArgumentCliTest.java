package io.lumenspark.cli;

import io.lumenspark.hub.FakeHub;
import io.lumenspark.io.Fifos;
import io.lumenspark.io.Json;
import io.lumenspark.pretrained.PublishedCheckpointTest;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every model option ({@code --model} of info, eval, score, generate, convert; {@code train --init}) takes: a
 * folder (or a training run's checkpoint), pytorch_model.bin as well as safetensors, or a Hugging Face Hub id,
 * fetched from a loopback hub into a Hugging Face cache of the test's own; and the clear refusals of anything else.
 */
class ModelArgumentCliTest {
    static final String COMMIT = "89abcdef0123456789abcdef0123456789abcdef";

    @TempDir
    static Path tmp;
    static BpeTokenizer tokenizer;
    static Path model, data;

    @BeforeAll
    static void writeModel() throws Exception {
        tokenizer = SmallModels.tokenizer(tmp);
        model = SmallModels.write(tmp.resolve("model"), tokenizer, Map.of());
        data = Files.writeString(tmp.resolve("data.txt"), SmallModels.TEXT);
    }

    static void assertRefused(String message, String... args) {
        CliTest.Run r = CliTest.run(args);
        assertEquals(2, r.code(), r.err());
        assertEquals("error: " + message + "\n", r.err());
    }

    @Test
    void anEmptyNameAFileOrANamedPipeIsNamedAsWhatItIs() throws Exception {
        CliTest.Run empty = CliTest.run("info", "--model", ""); // as every path option: a failed $(...) said as such
        assertEquals(2, empty.code(), empty.err());
        assertTrue(empty.err().startsWith("error: --model is empty (an empty path would mean the current folder"),
                empty.err());
        Path file = Files.writeString(tmp.resolve("notes.txt"), "x");
        assertRefused("not a model folder: " + file + " is a file (a model folder holds config.json and the weights)",
                "info", "--model", file.toString());
        Path fifo = Fifos.make(tmp.resolve("pipe"));
        assertRefused("not a model folder: " + fifo + " is a named pipe, device or socket (a model folder holds"
                + " config.json and the weights)", "score", "--model", fifo.toString(), "--text", "It was");
    }

    @Test
    void aStoppedRunPointsAtItsCheckpointWhichInfoDescribesWithItsTraining() throws Exception {
        Path run = Files.createDirectories(tmp.resolve("stopped"));
        Path checkpoint = SmallModels.write(run.resolve("checkpoint"), tokenizer, Map.of());
        Json.write(checkpoint.resolve("trainer_state.json"), Map.of("step", 2));
        Files.writeString(run.resolve("metrics.jsonl"), """
                {"step":1,"train_loss":5.0}
                {"step":2,"train_loss":4.0,"val_loss":3.5,"val_ppl":33.1}
                """);
        String message = run + " is not a model folder: it has no config.json; it holds a training run's checkpoint"
                + " (the run stopped before its end): use " + checkpoint;
        assertRefused(message, "info", "--model", run.toString());
        assertRefused(message, "generate", "--model", run.toString(), "--prompt", "It was", "--max-new-tokens", "2");
        assertRefused(message, "eval", "--model", run.toString(), "--data", data.toString());

        CliTest.Run info = CliTest.run("info", "--model", checkpoint.toString());
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("training:   checkpoint at step 2\n"), info.out());
        assertTrue(info.out().contains("validation: loss 3.5000, perplexity 33.12 at step 2\n"), info.out());
    }

    @Test
    void pytorchCheckpointsWorkThroughEveryCommand() throws Exception {
        Path bin = PublishedCheckpointTest.folder(tmp.resolve("published-bin"), "fp16.bin");
        CliTest.Run info = CliTest.run("info", "--model", bin.toString());
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("weights:    pytorch_model.bin, "), info.out());
        assertTrue(info.out().contains("attention:  linformer (bidirectional: sees the future), k=4, kv_heads=1\n"),
                info.out());
        assertTrue(info.out().contains("objective:  next-token LM head (bidirectional: its next-token loss is not"
                + " honest)\n"), info.out());
        assertTrue(info.out().contains("rank 32\n"), info.out());
        Path sharded = PublishedCheckpointTest.folder(tmp.resolve("published-sharded"), "sharded");
        CliTest.Run shardInfo = CliTest.run("info", "--model", sharded.toString());
        assertEquals(0, shardInfo.code(), shardInfo.err());
        assertTrue(shardInfo.out().contains("weights:    pytorch_model.bin.index.json + 2 shards, "), shardInfo.out());
        CliTest.Run score = CliTest.run("score", "--model", bin.toString(), "--text", "Hi!", "--json");
        assertEquals(0, score.code(), score.err());
        CliTest.Run gen = CliTest.run("generate", "--model", sharded.toString(), "--prompt", "Hi", "--max-new-tokens",
                "3", "--greedy", "--json");
        assertEquals(0, gen.code(), gen.err());
    }

    @Test
    void hubIdsAreFetchedIntoHuggingFacesCacheAndUsedOfflineFromThere() throws Exception {
        Path cache = tmp.resolve("hf-home").resolve("hub");
        try (FakeHub hub = new FakeHub(); FakeHub.ProcessSettings settings = hub.useForThisProcess(cache)) {
            hub.repo("acme/small").commit("main", COMMIT, SmallModels.files(model));
            Path published = PublishedCheckpointTest.folder(tmp.resolve("published-served"), "bf16.bin");
            hub.repo("anto/published").commit("main", COMMIT, SmallModels.files(published));

            Path snapshot = cache.resolve("models--acme--small").resolve("snapshots").resolve(COMMIT);
            CliTest.Run info = CliTest.run("info", "--model", "acme/small");
            assertEquals(0, info.code(), info.err());
            assertTrue(info.out().startsWith("model:      acme/small (" + snapshot + ")\n"), info.out());
            assertTrue(Files.isSymbolicLink(snapshot.resolve("model.safetensors")));
            assertEquals(COMMIT, Files.readString(cache.resolve("models--acme--small/refs/main")));

            CliTest.Run gen = CliTest.run("generate", "--model", "acme/small", "--prompt", "It was",
                    "--max-new-tokens", "4", "--seed", "1", "--json");
            assertEquals(0, gen.code(), gen.err());
            CliTest.Run local = CliTest.run("generate", "--model", model.toString(), "--prompt", "It was",
                    "--max-new-tokens", "4", "--seed", "1", "--json");
            assertEquals(Json.mapper().readTree(local.out()).get("ids"), Json.mapper().readTree(gen.out()).get("ids"));

            CliTest.Run bin = CliTest.run("info", "--model", "anto/published@main");
            assertEquals(0, bin.code(), bin.err());
            assertTrue(bin.out().contains("weights:    pytorch_model.bin, "), bin.out());

            hub.clearRequests();
            settings.offline(true);
            for (String[] args : List.of(new String[]{"info", "--model", "acme/small"},
                    new String[]{"score", "--model", "acme/small", "--text", "It was the best"},
                    new String[]{"info", "--model", "anto/published"})) {
                CliTest.Run r = CliTest.run(args);
                assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
            }
            assertEquals(List.of(), hub.hubRequests, "offline: not one request");
            assertEquals(List.of(), hub.fileRequests);
            CliTest.Run missing = CliTest.run("info", "--model", "acme/other");
            assertEquals(2, missing.code());
            assertTrue(missing.err().startsWith("error: HF_HUB_OFFLINE is set and the cache " + cache
                    + " has no snapshot of acme/other, and there is no local folder acme/other either: "), missing.err());
        }
    }

    @Test
    void trainInitTakesAHubIdToo() throws Exception {
        Path cache = tmp.resolve("hf-init").resolve("hub");
        Path out = tmp.resolve("run-from-hub");
        try (FakeHub hub = new FakeHub(); FakeHub.ProcessSettings ignored = hub.useForThisProcess(cache)) {
            hub.repo("acme/small").commit("main", COMMIT, SmallModels.files(model));
            CliTest.Run r = CliTest.run("train", "--init", "acme/small", "--data", data.toString(), "--out",
                    out.toString(), "--batch", "2", "--seq-length", "16", "--steps", "1", "--eval-every", "1",
                    "--eval-tokens", "32", "--threads", "1");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains(cache.resolve("models--acme--small").toString()), "it names where it started: "
                    + r.out());
        }
        CliTest.Run info = CliTest.run("info", "--model", out.toString());
        assertEquals(0, info.code(), info.err());
        assertEquals(tokenizerLine(model), tokenizerLine(out), "the hub model's tokenizer came along");
    }

    private static String tokenizerLine(Path folder) {
        return CliTest.run("info", "--model", folder.toString()).out().lines()
                .filter(l -> l.startsWith("tokenizer:")).findFirst().orElseThrow();
    }
}
