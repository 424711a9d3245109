package io.lumenspark.study;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.bench.Processes;
import io.lumenspark.bench.Stats;
import io.lumenspark.io.Json;
import io.lumenspark.io.MetricsLog;
import io.lumenspark.model.LmObjective;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.training.Checkpoint;
import io.lumenspark.training.RunFolder;
import io.lumenspark.training.TrainOptions;
import io.lumenspark.training.Trainer;
import io.lumenspark.training.TrainerState;

import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The Conv-Linformer study: Transformer, Linformer and Conv-Linformer trained as masked language models over a
 * grid of sequence lengths and learning rates, every cell on the same tokens, then one table and a few charts.
 * <p>
 * Each cell is an ordinary training run ({@link Trainer}) in its own folder under the study's, named like
 * {@code conv_linformer-n512-lr3e-4}, trained from one validation to the next ({@link Trainer#stopAfter}, then
 * resumed, which repeats an uninterrupted run exactly). After every validation the cell is checked for divergence:
 * a non-finite loss, or a validation loss above the cell's first one. A diverged cell stops there and is recorded as
 * diverged, with the step and the reason. A finished or diverged cell gets {@value #CELL_FILE}; a rerun skips those
 * cells and resumes the others from their last checkpoint. The study's settings are kept in {@value #SETTINGS_FILE},
 * and a rerun with other settings (other than the lengths and learning rates, which only add or leave out cells) is
 * refused.
 */
public final class ConvLinformerStudy {
    /** A cell's outcome file, written when it finished or diverged. */
    public static final String CELL_FILE = "cell.json";
    /** The study's settings, written at its first run. */
    public static final String SETTINGS_FILE = "study.json";
    /**
     * How the messages of a non-finite loss begin: the trainer's for a training loss or gradient norm, the model's
     * for a validation loss. Any other failure of a cell is an error, not a result.
     */
    static final List<String> NON_FINITE = List.of("training diverged", "the model's loss is ");

    /** One cell of the grid. */
    public record Cell(Variant variant, int n, double lr) {
        /** The cell's folder name, e.g. {@code conv_linformer-n512-lr3e-4}. */
        public String name() {
            return variant.label() + "-n" + n + "-lr" + lrLabel(lr);
        }
    }

    /**
     * What one cell measured.
     *
     * @param cell             the cell
     * @param k                the compressed length (the Transformer's column leaves it out)
     * @param batch            rows per step
     * @param steps            steps trained (fewer than the study's when it diverged)
     * @param tokens           training tokens seen: steps x rows x n
     * @param curve            the validation losses, {steps, losses}
     * @param tokensPerSecond  median training tokens/s over its steps
     * @param peakRssMib       the process's peak resident memory while the cell trained in this run (Linux VmHWM,
     *                         reset when the cell started), NaN where unknown
     * @param divergedAt       the step at which it diverged, 0 if it did not
     * @param reason           why it is counted as diverged, empty if it is not
     */
    public record CellResult(Cell cell, int k, int batch, long steps, long tokens, double[][] curve,
                             double tokensPerSecond, double peakRssMib, long divergedAt, String reason) {
        /** Whether the cell diverged. */
        public boolean diverged() {
            return divergedAt > 0;
        }

        /** The last validation loss (NaN if none was measured). */
        public double finalValLoss() {
            int m = curve[1].length;
            return m == 0 ? Double.NaN : curve[1][m - 1];
        }

        /** The lowest finite validation loss (NaN if none). */
        public double bestValLoss() {
            double best = Double.NaN;
            for (double v : curve[1]) if (Double.isFinite(v) && !(v >= best)) best = v;
            return best;
        }
    }

    private final StudyOptions opt;
    private final PrintStream log;

    /** A study with these settings; {@code log} gets one line per validation of each cell. */
    public ConvLinformerStudy(StudyOptions options, PrintStream log) {
        this.opt = options;
        this.log = log;
    }

    /** The cells, variant by variant within each length, lengths and learning rates in the options' order. */
    public List<Cell> grid() {
        List<Cell> cells = new ArrayList<>();
        for (int n : opt.lengths()) {
            for (double lr : opt.lrs()) {
                for (Variant v : Variant.values()) cells.add(new Cell(v, n, lr));
            }
        }
        return cells;
    }

    /**
     * Trains every cell not yet finished or diverged (resuming those a stopped run left), then writes
     * results.csv, results.md and the charts into the study folder.
     *
     * @return one result per cell, in {@link #grid} order
     * @throws LumensparkException for bad settings or data, a folder holding another study's settings, or a
     *                             cell's training failing other than by diverging
     */
    public List<CellResult> run() {
        List<Cell> cells = grid();
        for (Cell c : cells) config(c); // every model shape is checked before anything trains
        Path out = opt.out();
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new LumensparkException("--out " + out + " is a file, not a folder");
        }
        checkSettings(out);
        List<CellResult> results = new ArrayList<>();
        for (int i = 0; i < cells.size(); i++) {
            results.add(runCell(cells.get(i), String.format("[%d/%d]", i + 1, cells.size())));
        }
        StudyReport.write(opt, results);
        log.printf("results: %s, %s and charts in %s%n", StudyReport.CSV, StudyReport.MARKDOWN, out);
        return results;
    }

    /** The model config of a cell: the preset, the overrides, then the cell's n, k and attention. */
    ModelConfig config(Cell cell) {
        return ModelConfig.preset(opt.preset()).with(opt.overrides()).with(cellKeys(cell));
    }

    private Map<String, String> cellKeys(Cell cell) {
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("seq_length", Integer.toString(cell.n()));
        keys.put("k", Integer.toString(opt.k()));
        keys.put("attention", cell.variant().attention());
        keys.put("causal", "false");
        return keys;
    }

    /** The training run of a cell. */
    TrainOptions trainOptions(Cell cell, Path dir) {
        Map<String, String> overrides = new HashMap<>(opt.overrides());
        overrides.putAll(cellKeys(cell));
        return TrainOptions.builder().data(opt.data()).tokenizer(opt.tokenizer()).preset(opt.preset())
                .overrides(overrides).batch(opt.batch(cell.n())).seqLength(cell.n()).steps(opt.steps())
                .lr(cell.lr()).warmupFraction(opt.warmup()).weightDecay(opt.weightDecay()).evalEvery(opt.evalEvery())
                .evalTokens(opt.evalTokens()).checkpointEvery(opt.evalEvery()).seed(opt.seed()).out(dir)
                .objective(LmObjective.MASKED_LM).build();
    }

    /** Writes the settings at the first run; refuses a folder whose settings differ. */
    private void checkSettings(Path out) {
        Map<String, Object> settings = settings();
        Path file = out.resolve(SETTINGS_FILE);
        if (Files.exists(file)) {
            JsonNode before = Json.read(file);
            for (var e : settings.entrySet()) {
                JsonNode was = before.get(e.getKey());
                if (!Json.toLine(e.getValue()).equals(Json.toLine(was))) {
                    throw new LumensparkException(out + " holds a study with other settings (" + e.getKey() + ": "
                            + Json.toLine(was) + " there, " + Json.toLine(e.getValue()) + " now); use another --out");
                }
            }
        } else {
            Json.write(file, settings);
        }
    }

    /** The settings every cell shares (lengths and learning rates only choose cells). */
    private Map<String, Object> settings() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("data", opt.data().stream().map(p -> p.toAbsolutePath().normalize().toString()).toList());
        s.put("tokenizer", opt.tokenizer());
        s.put("preset", opt.preset());
        s.put("overrides", new TreeMap<>(opt.overrides()));
        s.put("steps", opt.steps());
        s.put("tokens_per_step", opt.tokensPerStep());
        s.put("k", opt.k());
        s.put("warmup", opt.warmup());
        s.put("weight_decay", opt.weightDecay());
        s.put("eval_every", opt.evalEvery());
        s.put("eval_tokens", opt.evalTokens());
        s.put("seed", opt.seed());
        return s;
    }

    private CellResult runCell(Cell cell, String position) {
        Path dir = opt.out().resolve(cell.name());
        Path marker = dir.resolve(CELL_FILE);
        if (Files.exists(marker)) {
            var m = Json.read(marker);
            CellResult r = result(cell, dir, m.path("diverged_at").asLong(0), m.path("reason").asText(""),
                    m.path("peak_rss_mib").asDouble(Double.NaN));
            log.printf("%s %s: %s earlier, skipped%n", position, cell.name(),
                    r.diverged() ? "diverged at step " + r.divergedAt() : "finished");
            return r;
        }
        TrainOptions train = trainOptions(cell, dir);
        long reached = Files.isDirectory(dir.resolve(Checkpoint.FOLDER)) ? TrainerState.read(dir).step() : 0;
        log.printf("%s %s: %d rows x %d tokens, %d steps%s%n", position, cell.name(), opt.batch(cell.n()), cell.n(),
                opt.steps(), reached > 0 ? ", resuming from step " + reached : "");
        Processes.resetPeakRss();
        double peak = Double.NaN;
        long divergedAt = 0;
        String reason = "";
        PrintStream quiet = new PrintStream(PrintStream.nullOutputStream());
        while (reached < opt.steps() && divergedAt == 0) {
            long next = Math.min(opt.steps(), (reached / opt.evalEvery() + 1) * opt.evalEvery());
            try {
                new Trainer(train, quiet).replace(reached == 0).stopAfter(next).run(reached > 0);
                reached = next;
            } catch (LumensparkException e) {
                if (NON_FINITE.stream().noneMatch(e.getMessage()::startsWith)) throw e;
                divergedAt = lastStep(dir) + 1;
                reason = e.getMessage().startsWith(NON_FINITE.getFirst())
                        ? e.getMessage().replace("; the last checkpoint is intact", "").replace("; try a lower --lr", "")
                        : "validation loss not finite at step " + divergedAt;
            }
            peak = Math.max(Double.isNaN(peak) ? 0 : peak, Processes.peakRssMib());
            double[][] curve = curve(dir);
            int m = curve[1].length;
            if (divergedAt == 0 && !divergence(curve).isEmpty()) {
                divergedAt = (long) curve[0][m - 1];
                reason = divergence(curve);
            }
            if (m > 0) {
                log.printf("%s %s: step %d of %d, validation loss %.4f (pseudo-perplexity %.2f)%s%n", position,
                        cell.name(), (long) curve[0][m - 1], opt.steps(), curve[1][m - 1], Math.exp(curve[1][m - 1]),
                        divergedAt > 0 ? ": diverged, " + reason : "");
            } else if (divergedAt > 0) {
                log.printf("%s %s: diverged, %s%n", position, cell.name(), reason);
            }
        }
        Map<String, Object> outcome = new LinkedHashMap<>();
        outcome.put("status", divergedAt > 0 ? "diverged" : "finished");
        outcome.put("diverged_at", divergedAt);
        outcome.put("reason", reason);
        outcome.put("peak_rss_mib", Double.isNaN(peak) ? null : Math.round(peak));
        Json.write(marker, outcome);
        return result(cell, dir, divergedAt, reason, peak);
    }

    /**
     * Why a validation curve ({steps, losses}) counts as diverged at its last point: a non-finite loss, or a loss
     * above the first one; empty if it does not.
     */
    static String divergence(double[][] curve) {
        int m = curve[1].length;
        if (m == 0) return "";
        double first = curve[1][0], last = curve[1][m - 1];
        long at = (long) curve[0][m - 1];
        if (!Double.isFinite(last)) return "validation loss " + last + " at step " + at;
        if (last > first) {
            return String.format(Locale.ROOT, "validation loss %.4f at step %d rose above its first value %.4f"
                    + " (step %d)", last, at, first, (long) curve[0][0]);
        }
        return "";
    }

    private CellResult result(Cell cell, Path dir, long divergedAt, String reason, double peak) {
        List<Map<String, Object>> records = MetricsLog.read(dir.resolve(RunFolder.METRICS));
        List<Double> speeds = new ArrayList<>();
        for (var r : records) if (r.get("tokens_per_s") instanceof Number v) speeds.add(v.doubleValue());
        long steps = lastStep(records);
        int batch = opt.batch(cell.n());
        return new CellResult(cell, opt.k(), batch, steps, steps * batch * cell.n(), curve(records),
                speeds.isEmpty() ? Double.NaN : Stats.median(speeds), peak, divergedAt, reason);
    }

    private static long lastStep(Path dir) {
        return lastStep(MetricsLog.read(dir.resolve(RunFolder.METRICS)));
    }

    private static long lastStep(List<Map<String, Object>> records) {
        return records.isEmpty() || !(records.getLast().get("step") instanceof Number s) ? 0 : s.longValue();
    }

    private static double[][] curve(Path dir) {
        return curve(MetricsLog.read(dir.resolve(RunFolder.METRICS)));
    }

    /** {steps, validation losses} of a run's metrics; a non-finite loss (logged as a string) is NaN. */
    private static double[][] curve(List<Map<String, Object>> records) {
        List<double[]> points = new ArrayList<>();
        for (var r : records) {
            if (!r.containsKey("val_loss") || !(r.get("step") instanceof Number s)) continue;
            double v = r.get("val_loss") instanceof Number x ? x.doubleValue() : Double.NaN;
            points.add(new double[]{s.doubleValue(), v});
        }
        double[][] xy = new double[2][points.size()];
        for (int i = 0; i < points.size(); i++) {
            xy[0][i] = points.get(i)[0];
            xy[1][i] = points.get(i)[1];
        }
        return xy;
    }

    /** A learning rate as a short word for names and tables: 3e-4, 1e-3, 2.5e-3. */
    public static String lrLabel(double lr) {
        BigDecimal d = new BigDecimal(Double.toString(lr)).stripTrailingZeros();
        int exponent = d.precision() - d.scale() - 1;
        return d.movePointLeft(exponent).toPlainString() + "e" + exponent;
    }
}
