package io.lumenspark.study;

import io.lumenspark.io.AtomicFiles;
import io.lumenspark.io.Charts;
import io.lumenspark.study.ConvLinformerStudy.CellResult;

import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The study's outputs in its folder: {@value #CSV} (one row per cell), {@value #MARKDOWN} (the same as a table),
 * the validation curves of each length with the three variants overlaid ({@code curves-n512.png}) and the final
 * pseudo-perplexity against n per variant and learning rate ({@value #PPL_CHART}; a diverged cell's last value is
 * no final one, so it is left out there, and its curve is marked).
 */
final class StudyReport {
    static final String CSV = "results.csv", MARKDOWN = "results.md", PPL_CHART = "pseudo-perplexity-vs-n.png";
    static final String CSV_HEADER = "variant,n,k,lr,batch,steps,tokens,final_val_loss,final_pseudo_ppl,"
            + "best_val_loss,best_pseudo_ppl,tokens_per_s,peak_rss_mib,diverged,diverged_at_step,reason";

    private StudyReport() {
    }

    /** Writes every output file for these results. */
    static void write(StudyOptions opt, List<CellResult> results) {
        Path out = opt.out();
        AtomicFiles.writeString(out.resolve(CSV), csv(results));
        AtomicFiles.writeString(out.resolve(MARKDOWN), markdown(opt, results));
        for (int n : opt.lengths()) {
            Map<String, double[][]> series = new LinkedHashMap<>();
            for (CellResult r : results) {
                if (r.cell().n() == n) series.put(seriesName(opt, r), r.curve());
            }
            Charts.write(out.resolve(curveChart(n)), "Validation loss (masked tokens), n = " + n, "step",
                    "validation loss", false, series);
        }
        Map<String, double[][]> ppl = new LinkedHashMap<>();
        for (double lr : opt.lrs()) {
            for (Variant v : Variant.values()) {
                List<CellResult> line = results.stream()
                        .filter(r -> r.cell().variant() == v && r.cell().lr() == lr && !r.diverged()).toList();
                double[][] xy = new double[2][line.size()];
                for (int i = 0; i < line.size(); i++) {
                    xy[0][i] = line.get(i).cell().n();
                    xy[1][i] = Math.exp(line.get(i).finalValLoss());
                }
                ppl.put(v.title() + (opt.lrs().size() > 1 ? " lr " + ConvLinformerStudy.lrLabel(lr) : ""), xy);
            }
        }
        Charts.write(out.resolve(PPL_CHART), "Final validation pseudo-perplexity (diverged cells left out)",
                "n (tokens per sequence)", "pseudo-perplexity", false, ppl);
    }

    /** The file name of length n's validation curves. */
    static String curveChart(int n) {
        return "curves-n" + n + ".png";
    }

    private static String seriesName(StudyOptions opt, CellResult r) {
        return r.cell().variant().title() + (opt.lrs().size() > 1 ? " lr " + ConvLinformerStudy.lrLabel(r.cell().lr())
                : "") + (r.diverged() ? " (diverged)" : "");
    }

    static String csv(List<CellResult> results) {
        StringBuilder s = new StringBuilder(CSV_HEADER).append('\n');
        for (CellResult r : results) {
            var c = r.cell();
            s.append(String.join(",", c.variant().label(), Integer.toString(c.n()),
                    c.variant() == Variant.TRANSFORMER ? "" : Integer.toString(r.k()),
                    ConvLinformerStudy.lrLabel(c.lr()), Integer.toString(r.batch()), Long.toString(r.steps()),
                    Long.toString(r.tokens()), number("%.4f", r.finalValLoss()),
                    number("%.2f", Math.exp(r.finalValLoss())), number("%.4f", r.bestValLoss()),
                    number("%.2f", Math.exp(r.bestValLoss())), number("%.0f", r.tokensPerSecond()),
                    number("%.0f", r.peakRssMib()), r.diverged() ? "yes" : "no",
                    r.diverged() ? Long.toString(r.divergedAt()) : "", quoted(r.reason()))).append('\n');
        }
        return s.toString();
    }

    static String markdown(StudyOptions opt, List<CellResult> results) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "Masked-LM validation loss and pseudo-perplexity (exp of the mean loss over"
                        + " masked tokens) per cell: preset %s%s, k = %d, %,d steps of %,d tokens (%,d tokens per cell),"
                        + " warm-up %s, weight decay %s.%n%n", opt.preset(),
                opt.overrides().isEmpty() ? "" : " with " + new TreeMap<>(opt.overrides()), opt.k(),
                opt.steps(), opt.tokensPerStep(), opt.tokensPerCell(), plain(opt.warmup()), plain(opt.weightDecay())));
        s.append("| variant | n | k | lr | rows x n | steps | final loss | final PPPL | best loss | best PPPL"
                + " | tokens/s | peak RSS (MiB) | diverged |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (CellResult r : results) {
            var c = r.cell();
            s.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %d x %d | %,d | %s | %s | %s | %s | %s | %s | %s |%n",
                    c.variant().title(), c.n(), c.variant() == Variant.TRANSFORMER ? "-" : Integer.toString(r.k()),
                    ConvLinformerStudy.lrLabel(c.lr()), r.batch(), c.n(), r.steps(),
                    number("%.3f", r.finalValLoss()), number("%.1f", Math.exp(r.finalValLoss())),
                    number("%.3f", r.bestValLoss()), number("%.1f", Math.exp(r.bestValLoss())),
                    number("%,.0f", r.tokensPerSecond()), number("%,.0f", r.peakRssMib()),
                    r.diverged() ? "**yes**, step " + r.divergedAt() : "no"));
        }
        List<CellResult> diverged = results.stream().filter(CellResult::diverged).toList();
        if (!diverged.isEmpty()) {
            s.append("\nDiverged cells (stopped there; their losses are the last measured):\n\n");
            for (CellResult r : diverged) s.append("- ").append(r.cell().name()).append(": ").append(r.reason()).append('\n');
        }
        return s.toString();
    }

    private static String number(String format, double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, format, v) : Double.isNaN(v) ? "" : "inf";
    }

    private static String plain(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    /** A CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
    private static String quoted(String field) {
        return field.matches("[^,\"\\r\\n]*") ? field : "\"" + field.replace("\"", "\"\"") + "\"";
    }
}
