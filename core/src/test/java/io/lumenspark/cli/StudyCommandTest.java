package io.lumenspark.cli;

import io.lumenspark.study.ConvLinformerStudy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code lumenspark study conv-linformer}: a tiny grid end to end, and bad options as one-line errors. */
class StudyCommandTest {
    @TempDir
    Path tmp;

    private Path corpus() throws Exception {
        Path f = tmp.resolve("corpus.txt");
        Files.writeString(f, "It was the best of times, it was the worst of times.\n".repeat(200));
        return f;
    }

    /** The tiny grid's arguments; an option in {@code more} replaces the tiny grid's (--set adds to them). */
    private List<String> tiny(String... more) throws Exception {
        String[] base = {"--data", corpus().toString(), "--set", "embed_dim=32", "--set", "depth=2", "--set", "heads=2",
                "--set", "kv_heads=2", "--lengths", "16", "--lrs", "3e-3", "--steps", "2", "--tokens-per-step", "32",
                "--k", "8", "--eval-every", "2", "--eval-tokens", "64", "--threads", "2", "--out",
                tmp.resolve("study").toString()};
        List<String> given = List.of(more);
        List<String> args = new ArrayList<>(List.of("study", "conv-linformer"));
        for (int i = 0; i < base.length; i += 2) {
            if (base[i].equals("--set") || !given.contains(base[i])) args.addAll(List.of(base[i], base[i + 1]));
        }
        args.addAll(given);
        return args;
    }

    @Test
    void aTinyGridRunsFromTheCommandLineAndItsFolderKeepsItsSettings() throws Exception {
        CliTest.Run r = CliTest.run(tiny().toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("[3/3] conv_linformer-n16-lr3e-3"), r.out());
        List<String> csv = Files.readAllLines(tmp.resolve("study").resolve("results.csv"));
        assertEquals(4, csv.size());
        assertTrue(Files.exists(tmp.resolve("study").resolve("transformer-n16-lr3e-3")
                .resolve(ConvLinformerStudy.CELL_FILE)));

        // the folder now holds this study: another seed is another study
        CliTest.Run other = CliTest.run(tiny("--seed", "7").toArray(String[]::new));
        assertEquals(2, other.code(), other.err());
        assertTrue(other.err().startsWith("error: ") && other.err().contains("holds a study with other settings"
                + " (seed: 1337 there, 7 now)"), other.err());
    }

    @Test
    void badOptionsAreOneLineErrors() throws Exception {
        String[][] cases = {
                {"--lengths", "16,24", "--tokens-per-step 32 must be a multiple of every length"},
                {"--k", "6", "--k 6 must divide every length"},
                {"--lengths", "16,16", "names a length twice"},
                {"--lrs", "1e-3,0", "--lrs must be positive"},
                {"--lrs", "1e-3,1e-3", "names a learning rate twice"},
                {"--steps", "0", "--steps must be at least 1"},
                {"--warmup", "1", "--warmup must be in [0, 1)"},
                {"--set", "seq_length=64", "--set seq_length is the study's to choose"},
                {"--set", "heads=3", "embed_dim 32 is not divisible by heads 3"},
                {"--preset", "nope", "unknown preset 'nope'"},
                {"--data", tmp.resolve("missing.txt").toString(), "missing.txt"},
        };
        for (String[] c : cases) {
            List<String> args = tiny(List.of(c).subList(0, c.length - 1).toArray(String[]::new));
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            String expected = c[c.length - 1];
            assertEquals(2, r.code(), String.join(" ", c) + ": " + r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), expected + " in: " + r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        CliTest.Run none = CliTest.run("study");
        assertEquals(2, none.code());
        assertTrue(none.err().startsWith("error: missing study: conv-linformer"), none.err());
    }

}
