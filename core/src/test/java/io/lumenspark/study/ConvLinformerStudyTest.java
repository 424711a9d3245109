package io.lumenspark.study;

import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.study.ConvLinformerStudy.Cell;
import io.lumenspark.study.ConvLinformerStudy.CellResult;
import io.lumenspark.training.RunFolder;
import io.lumenspark.training.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The study runner on a tiny corpus and model: the grid, its files, reruns, resumption and divergence. */
class ConvLinformerStudyTest {
    @TempDir
    static Path tmp;
    /** The tiny grid, run once for the tests that read it. */
    static Ran grid;

    static final Map<String, String> TINY = Map.of("embed_dim", "32", "depth", "2", "heads", "2", "kv_heads", "2",
            "rank", "8", "dropout", "0");

    static Path corpus(Path dir) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) sb.append("The quick brown fox ").append(i % 17).append(" jumps over the lazy dog.\n");
        Path f = dir.resolve("corpus.txt");
        Files.writeString(f, sb);
        return f;
    }

    /** Lengths 16 and 32 (k = 8), 64 tokens a step, 4 steps, validation every 2. */
    static StudyOptions.Builder tiny(Path data, Path out) {
        return StudyOptions.builder(false).data(List.of(data)).overrides(TINY).lengths(List.of(16, 32))
                .lrs(List.of(3e-3)).steps(4L).tokensPerStep(64).k(8).evalEvery(2L).evalTokens(128L).out(out);
    }

    record Ran(List<CellResult> results, String log) {
    }

    static Ran run(StudyOptions options) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<CellResult> results = new ConvLinformerStudy(options, new PrintStream(bytes, true, StandardCharsets.UTF_8))
                .run();
        return new Ran(results, bytes.toString(StandardCharsets.UTF_8));
    }

    @BeforeAll
    static void runTheTinyGrid() throws Exception {
        grid = run(tiny(corpus(tmp), tmp.resolve("study")).build());
    }

    @Test
    void aTinyGridTrainsEveryCellOnTheSameTokensAndWritesTheTableAndCharts() throws Exception {
        Path out = tmp.resolve("study");
        Ran first = grid;
        assertEquals(6, first.results().size());
        List<String> csv = Files.readAllLines(out.resolve(StudyReport.CSV));
        assertEquals(StudyReport.CSV_HEADER, csv.getFirst());
        assertEquals(7, csv.size());
        for (CellResult r : first.results()) {
            Cell c = r.cell();
            Path dir = out.resolve(c.name());
            assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")), c.name() + " saved its model");
            assertTrue(Files.isRegularFile(dir.resolve(ConvLinformerStudy.CELL_FILE)));
            assertEquals(64 / c.n(), r.batch());
            assertEquals(4, r.steps());
            assertEquals(256, r.tokens(), "every cell trains the same tokens");
            assertEquals(2, r.curve()[0].length, "validations at steps 2 and 4");
            assertEquals(r.finalValLoss(), r.curve()[1][1]);
            assertTrue(r.bestValLoss() <= r.finalValLoss());
            // the row of the CSV holds the cell's figures
            String row = csv.stream().filter(l -> l.startsWith(c.variant().label() + "," + c.n() + ","))
                    .findFirst().orElseThrow();
            String[] f = row.split(",", -1);
            assertEquals(c.variant() == Variant.TRANSFORMER ? "" : "8", f[2]);
            assertEquals("3e-3", f[3]);
            assertEquals(Integer.toString(64 / c.n()), f[4]);
            assertEquals("256", f[6]);
            assertEquals(r.finalValLoss(), Double.parseDouble(f[7]), 1e-4);
            assertEquals(Math.exp(r.finalValLoss()), Double.parseDouble(f[8]), 0.01);
            assertEquals(r.diverged() ? "yes" : "no", f[13]);
            // and it is the run's own record
            List<Map<String, Object>> metrics = MetricsLog.read(dir.resolve(RunFolder.METRICS));
            assertEquals(4, metrics.size());
            assertEquals(r.finalValLoss(), ((Number) metrics.getLast().get("val_loss")).doubleValue());
        }
        assertEquals(List.of("transformer-n16-lr3e-3", "linformer-n16-lr3e-3", "conv_linformer-n16-lr3e-3",
                "transformer-n32-lr3e-3", "linformer-n32-lr3e-3", "conv_linformer-n32-lr3e-3"),
                first.results().stream().map(r -> r.cell().name()).toList());
        String md = Files.readString(out.resolve(StudyReport.MARKDOWN));
        assertTrue(md.contains("| Conv-Linformer | 32 | 8 | 3e-3 | 2 x 32 | 4 |"), md);
        assertTrue(md.contains("| Transformer | 16 | - | 3e-3 | 4 x 16 | 4 |"), md);
        assertEquals(6, md.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| variant")).count());
        for (String png : List.of("curves-n16.png", "curves-n32.png", StudyReport.PPL_CHART)) {
            assertTrue(Files.size(out.resolve(png)) > 1000, png);
        }

        // a rerun trains nothing and reports the same figures
        Ran again = run(tiny(corpus(tmp), out).build());
        assertEquals(6, again.log().lines().filter(l -> l.endsWith("skipped")).count(), again.log());
        assertEquals(csv, Files.readAllLines(out.resolve(StudyReport.CSV)));
    }

    @Test
    void aStoppedCellResumesAndEndsAsAnUninterruptedOne() throws Exception {
        Path data = corpus(tmp);
        List<CellResult> reference = grid.results().subList(3, 6); // n = 32

        StudyOptions options = tiny(data, tmp.resolve("stopped")).lengths(List.of(32)).build();
        ConvLinformerStudy study = new ConvLinformerStudy(options, new PrintStream(new ByteArrayOutputStream()));
        Cell cell = new Cell(Variant.CONV_LINFORMER, 32, 3e-3);
        Path dir = options.out().resolve(cell.name());
        new Trainer(study.trainOptions(cell, dir), new PrintStream(new ByteArrayOutputStream())).stopAfter(2).run(false);
        assertFalse(Files.exists(dir.resolve(ConvLinformerStudy.CELL_FILE)));

        Ran resumed = run(options);
        assertTrue(resumed.log().contains(cell.name() + ": 2 rows x 32 tokens, 4 steps, resuming from step 2"),
                resumed.log());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(reference.get(i).curve()[1], resumed.results().get(i).curve()[1],
                    reference.get(i).cell().name());
        }
    }

    @Test
    void aHugeLearningRateIsDetectedRecordedAndTheCellStopped() throws Exception {
        Path out = tmp.resolve("diverging");
        StudyOptions options = tiny(corpus(tmp), out).lengths(List.of(16)).lrs(List.of(1e4)).steps(8L).build();
        Ran ran = run(options);
        for (CellResult r : ran.results()) {
            assertTrue(r.diverged(), r.cell().name() + " " + ran.log());
            assertTrue(r.steps() < 8, "stopped before the end: " + r.steps());
            assertFalse(Files.exists(out.resolve(r.cell().name()).resolve("model.safetensors")), "no final model");
            assertEquals("diverged", Json.read(out.resolve(r.cell().name()).resolve(ConvLinformerStudy.CELL_FILE))
                    .path("status").asText());
        }
        List<String> csv = Files.readAllLines(out.resolve(StudyReport.CSV));
        assertTrue(csv.stream().skip(1).allMatch(l -> l.split(",", -1)[13].equals("yes")), String.join("\n", csv));
        assertTrue(Files.readString(out.resolve(StudyReport.MARKDOWN)).contains("Diverged cells"));
        // a rerun keeps them as they are
        Ran again = run(options);
        assertEquals(3, again.log().lines().filter(l -> l.contains("diverged at step") && l.endsWith("skipped"))
                .count(), again.log());
    }

    @Test
    void divergenceIsANonFiniteLossOrOneAboveTheFirst() {
        assertEquals("", ConvLinformerStudy.divergence(new double[][]{{}, {}}));
        assertEquals("", ConvLinformerStudy.divergence(new double[][]{{10, 20, 30}, {7.0, 6.5, 6.9}}));
        assertEquals("", ConvLinformerStudy.divergence(new double[][]{{10, 20}, {7.0, 7.0}}));
        assertEquals("validation loss 7.1000 at step 30 rose above its first value 7.0000 (step 10)",
                ConvLinformerStudy.divergence(new double[][]{{10, 20, 30}, {7.0, 6.5, 7.1}}));
        assertEquals("validation loss NaN at step 20",
                ConvLinformerStudy.divergence(new double[][]{{10, 20}, {7.0, Double.NaN}}));
    }

    @Test
    void learningRatesAreWrittenShort() {
        assertEquals("3e-4", ConvLinformerStudy.lrLabel(3e-4));
        assertEquals("1e-3", ConvLinformerStudy.lrLabel(0.001));
        assertEquals("2.5e-3", ConvLinformerStudy.lrLabel(0.0025));
        assertEquals("1e0", ConvLinformerStudy.lrLabel(1));
        assertEquals("conv_linformer-n512-lr3e-4", new Cell(Variant.CONV_LINFORMER, 512, 3e-4).name());
    }
}
