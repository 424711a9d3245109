package io.lumenspark.io;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Line charts as PNG with XChart, headless: training curves (loss against step) and benchmark curves on log axes.
 * Linear charts start their x axis at 0 and label whole-number x values without decimals. Meant to be refreshed
 * during training, so it is cheap: long series are thinned to about {@value #MAX_POINTS}
 * points before drawing, and the file is replaced atomically so viewers never see half a PNG.
 */
public final class Charts {
    static final int WIDTH = 900, HEIGHT = 550;
    /** More points than pixels across the plot add drawing time but no detail. */
    static final int MAX_POINTS = 2000;

    static {
        // must be set before AWT initializes; charts are rendered off-screen only
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    /**
     * Writes {@code png} showing each named series, given as {@code {steps, values}}; map order is legend order.
     * Non-finite values are dropped, empty series skipped; if nothing is left to draw, no file is written.
     * Failing to write the file is a {@link io.lumenspark.LumensparkException}.
     *
     * @return whether a file was written
     * @throws IllegalArgumentException if a series is not two arrays of equal length
     */
    public static boolean write(Path png, String title, Map<String, double[][]> series) {
        return write(png, title, "step", "loss", false, series);
    }

    /**
     * As {@link #write(Path, String, Map)}, with axis titles, and both axes logarithmic when logAxes is set (x then in
     * powers of two, each labelled with its value: 128, 256, ...).
     */
    public static boolean write(Path png, String title, String xTitle, String yTitle, boolean logAxes,
                                Map<String, double[][]> series) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
                .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        Styler styler = chart.getStyler();
        if (logAxes) {
            // XChart's logarithmic axis labels only powers of ten (1,000 alone for n = 128 .. 2,048), so x is
            // drawn as log2(x) on a linear axis whose whole-number ticks are labelled 2^tick: the measured n
            chart.setCustomXAxisTickLabelsFormatter(Charts::powerOfTwo);
            chart.getStyler().setYAxisLogarithmic(true);
            styler.setLegendPosition(Styler.LegendPosition.OutsideE);
        }
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        if (!logAxes) styler.setLegendPosition(Styler.LegendPosition.InsideNE);
        styler.setAntiAlias(true);
        int drawn = 0;
        double minX = Double.POSITIVE_INFINITY, firstY = Double.NaN;
        boolean wholeX = true;
        for (Map.Entry<String, double[][]> s : series.entrySet()) {
            double[][] xy = clean(s.getKey(), s.getValue());
            if (xy[0].length == 0) continue;
            if (logAxes) for (int i = 0; i < xy[0].length; i++) xy[0][i] = Math.log(xy[0][i]) / Math.log(2);
            XYSeries line = chart.addSeries(s.getKey(), xy[0], xy[1]);
            // a lone point has no line to draw, so show it as a dot
            line.setMarker(xy[0].length == 1 || logAxes ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
            for (double x : xy[0]) {
                minX = Math.min(minX, x);
                wholeX &= x == Math.rint(x);
            }
            if (drawn++ == 0) firstY = xy[1][0];
        }
        if (drawn == 0) return false;
        if (!logAxes) {
            if (wholeX) chart.getStyler().setXAxisDecimalPattern("#,##0"); // steps: no "12.5" between two ticks
            if (minX > 0) anchorAtZero(chart, minX, firstY);
        }
        byte[] bytes;
        try {
            bytes = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode chart " + png, e); // in-memory encoding; not a user error
        }
        AtomicFiles.writeBytes(png, bytes);
        return true;
    }

    /**
     * The label of a tick at log2(n): n at whole numbers, a blank between them (a space: XChart cannot lay out an
     * empty label, which it meets when every tick of a narrow axis falls between whole numbers).
     */
    static String powerOfTwo(double log2) {
        double r = Math.rint(log2);
        return Math.abs(log2 - r) > 1e-9 ? " " : String.format("%,d", Math.round(Math.pow(2, r)));
    }

    /**
     * A confusion matrix as a PNG heat map with the counts written in the cells: rows the true labels (top to
     * bottom), columns the predicted ones, replaced atomically.
     */
    public static void writeConfusion(Path png, String title, List<String> labels, long[][] counts) {
        int k = labels.size();
        HeatMapChart chart = new HeatMapChartBuilder().width(Math.max(WIDTH / 2, 120 + 70 * k))
                .height(Math.max(HEIGHT / 2, 100 + 60 * k)).title(title).xAxisTitle("predicted").yAxisTitle("true")
                .build();
        chart.getStyler().setShowValue(true);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setRangeColors(new Color[]{new Color(0xF7FBFF), new Color(0x6BAED6), new Color(0x08306B)});
        List<Number[]> cells = new ArrayList<>();
        for (int t = 0; t < k; t++) {
            for (int p = 0; p < k; p++) cells.add(new Number[]{p, k - 1 - t, counts[t][p]}); // first label on top
        }
        chart.addSeries("counts", labels, labels.reversed(), cells);
        try {
            AtomicFiles.writeBytes(png, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode chart " + png, e); // in-memory encoding; not a user error
        }
    }

    /**
     * Starts the x axis at 0 with an invisible series. Besides giving step charts their origin, this keeps XChart
     * 3.8.8 from its tick rule for evenly spaced x values (steps 1, 2, 3, ...): that rule puts a tick on every k-th
     * value and accepts labels that touch, so past step 100 they ran together ("96101106111...", knowm/XChart#731).
     * XChart sorts the x values of all series before it checks their spacing, so the series has two points, 0 and
     * a third of the smallest x: their gaps (x/3, then 2x/3) are never equal. The axis then gets round steps
     * (0, 20, 40, ...) spaced for their labels.
     */
    private static void anchorAtZero(XYChart chart, double minX, double y) {
        XYSeries anchor = chart.addSeries(" origin", new double[] {0, minX / 3}, new double[] {y, y});
        anchor.setMarker(SeriesMarkers.NONE);
        anchor.setLineStyle(SeriesLines.NONE);
        anchor.setShowInLegend(false);
    }

    /** Drops points whose step or value is NaN or infinite and thins long series to about MAX_POINTS. */
    static double[][] clean(String name, double[][] xy) {
        if (xy == null || xy.length != 2 || xy[0] == null || xy[1] == null || xy[0].length != xy[1].length) {
            throw new IllegalArgumentException("series '" + name + "' must be {steps[], values[]} of equal length");
        }
        double[] xs = xy[0], ys = xy[1];
        int n = 0;
        for (int i = 0; i < xs.length; i++) {
            if (Double.isFinite(xs[i]) && Double.isFinite(ys[i])) n++;
        }
        // keep every stride-th finite point plus the last, so the newest value is always visible
        int stride = Math.max(1, (n + MAX_POINTS - 1) / MAX_POINTS);
        double[] outX = new double[n], outY = new double[n];
        int k = 0, seen = 0;
        for (int i = 0; i < xs.length; i++) {
            if (!Double.isFinite(xs[i]) || !Double.isFinite(ys[i])) continue;
            if (seen++ % stride == 0 || seen == n) {
                outX[k] = xs[i];
                outY[k++] = ys[i];
            }
        }
        return new double[][] {Arrays.copyOf(outX, k), Arrays.copyOf(outY, k)};
    }
}
