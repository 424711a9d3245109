package io.lumenspark.cli;

import io.lumenspark.io.Json;
import io.lumenspark.pretrained.SmallModels;
import io.lumenspark.tokenizer.BpeTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What info, eval and score say about a model folder, and that they agree on what they refuse. */
class ModelFolderCliTest {
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

    @Test
    void infoShowsTheValidationLossOfTheCheckpointsStep() throws Exception {
        Path run = tmp.resolve("run");
        SmallModels.write(run, tokenizer, Map.of());
        Json.write(run.resolve("checkpoint").resolve("trainer_state.json"), Map.of("step", 30));
        // a validation at step 40 was logged after the checkpoint, by a run that then died: not this model's
        Files.writeString(run.resolve("metrics.jsonl"), """
                {"step":10,"train_loss":5.0,"val_loss":4.5,"val_ppl":90.0}
                {"step":20,"train_loss":4.0,"val_loss":3.25,"val_ppl":25.8}
                {"step":30,"train_loss":3.5}
                {"step":40,"train_loss":3.0,"val_loss":2.0,"val_ppl":7.4}
                """);
        CliTest.Run r = CliTest.run("info", "--model", run.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("training:   checkpoint at step 30\n"), r.out());
        assertTrue(r.out().contains("validation: loss 3.2500, perplexity 25.79 at step 20\n"), r.out());
    }

    @Test
    void infoComputesNothingSoTakesNoThreadsOrBackend() {
        for (String option : new String[]{"--backend", "--threads"}) {
            CliTest.Run r = CliTest.run("info", "--model", model.toString(), option, "1");
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().startsWith("error: unknown option '" + option + "'"), r.err());
        }
        CliTest.Run help = CliTest.run("info", "--help");
        assertFalse(help.out().contains("--backend") || help.out().contains("--threads"), help.out());
    }

    @Test
    void evalAndScoreWarnThatABidirectionalModelsLossIsNotHonest() {
        Path bidirectional = SmallModels.write(tmp.resolve("bidirectional"), tokenizer, Map.of("causal", "false"));
        String warning = "warning: this model is bidirectional (causal=false): every position sees the tokens it is"
                + " asked to predict, so its next-token loss is not an honest language-model loss";
        for (Path folder : new Path[]{bidirectional, model}) {
            CliTest.Run eval = CliTest.run("eval", "--model", folder.toString(), "--data", data.toString());
            CliTest.Run score = CliTest.run("score", "--model", folder.toString(), "--text", "It was the best");
            for (CliTest.Run r : new CliTest.Run[]{eval, score}) {
                assertEquals(0, r.code(), r.err());
                assertEquals(folder == bidirectional, r.err().lines().anyMatch(warning::equals), r.err());
            }
        }
    }

    @Test
    void evalRefusesABatchNoPassCanHold() {
        CliTest.Run r = CliTest.run("eval", "--model", model.toString(), "--data", data.toString(), "--batch",
                "2147483647");
        assertEquals(2, r.code(), r.err());
        assertEquals("error: a batch of 2,147,483,647 x 32 tokens is more than the 536,870,911 one pass can hold;"
                + " use a smaller batch\n", r.err());
    }

    @Test
    void infoEvalAndScoreAgreeOnAFolderWithoutTokenizerFiles() throws Exception {
        Path bare = SmallModels.write(tmp.resolve("bare"), tokenizer, Map.of());
        for (String f : new String[]{"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"}) {
            Files.delete(bare.resolve(f));
        }
        String error = "error: " + bare + " has no tokenizer files (tokenizer.json, or vocab.json and merges.txt),"
                + " and GPT-2's 50,257 tokens do not fit its vocab_size " + tokenizer.vocabSize() + ": copy in the"
                + " files of the tokenizer it was trained with\n";
        for (String[] command : new String[][]{{"info"}, {"eval", "--data", data.toString()},
                {"score", "--text", "It was"}}) {
            String[] args = new String[command.length + 2];
            args[0] = command[0];
            args[1] = "--model";
            args[2] = bare.toString();
            System.arraycopy(command, 1, args, 3, command.length - 1);
            CliTest.Run r = CliTest.run(args);
            assertEquals(2, r.code(), command[0] + ": " + r.err());
            assertEquals(error, r.err(), command[0]);
        }
    }
}
