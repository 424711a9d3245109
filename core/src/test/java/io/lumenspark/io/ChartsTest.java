package io.lumenspark.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ChartsTest {
    @TempDir
    Path dir;

    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    @Test
    void writesPngWithNanSinglePointAndEmptySeries() throws IOException {
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("train", new double[][] {{1, 2, 3, 4}, {5.0, Double.NaN, 3.2, 2.9}});
        series.put("validation", new double[][] {{4}, {3.1}});
        series.put("empty", new double[][] {{}, {}});
        series.put("all-nan", new double[][] {{1}, {Double.NaN}});
        Path png = dir.resolve("charts/loss.png");
        assertTrue(Charts.write(png, "tiny run", series));

        byte[] bytes = Files.readAllBytes(png);
        assertArrayEquals(PNG_MAGIC, Arrays.copyOf(bytes, 8));
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(900, image.getWidth());
        assertEquals(550, image.getHeight());
    }

    @Test
    void writesNothingWhenNoSeriesHasPoints() {
        Path png = dir.resolve("loss.png");
        assertFalse(Charts.write(png, "t", Map.of("train", new double[][] {{}, {}},
                "validation", new double[][] {{1, 2}, {Double.NaN, Double.POSITIVE_INFINITY}})));
        assertFalse(Charts.write(png, "t", Map.of()));
        assertFalse(Files.exists(png));
    }

    @Test
    void rejectsMismatchedSeries() {
        assertThrows(IllegalArgumentException.class,
                () -> Charts.write(dir.resolve("x.png"), "t", Map.of("train", new double[][] {{1, 2}, {1}})));
    }

    @Test
    void cleanDropsNonFiniteAndThinsKeepingTheLastPoint() {
        double[][] cleaned = Charts.clean("s", new double[][] {{1, 2, 3}, {Double.NaN, 2, Double.NEGATIVE_INFINITY}});
        assertArrayEquals(new double[] {2}, cleaned[0]);
        assertArrayEquals(new double[] {2}, cleaned[1]);

        int n = 10 * Charts.MAX_POINTS + 7;
        double[] steps = new double[n], values = new double[n];
        for (int i = 0; i < n; i++) {
            steps[i] = i;
            values[i] = 1.0 / (i + 1);
        }
        double[][] thin = Charts.clean("s", new double[][] {steps, values});
        assertTrue(thin[0].length <= Charts.MAX_POINTS + 1, "thinned to " + thin[0].length);
        assertEquals(0, thin[0][0]);
        assertEquals(n - 1, thin[0][thin[0].length - 1]);
        assertEquals(values[n - 1], thin[1][thin[1].length - 1]);
    }

    @Test
    void isFastEnoughToRefreshDuringTraining() {
        int n = 50_000;
        double[] steps = new double[n], train = new double[n];
        for (int i = 0; i < n; i++) {
            steps[i] = i;
            train[i] = 8 * Math.exp(-i / 5000.0) + 0.1 * Math.sin(i);
        }
        Map<String, double[][]> series = Map.of("train", new double[][] {steps, train},
                "validation", new double[][] {{0, 25_000, 49_999}, {8, 3, 2.5}});
        Path png = dir.resolve("loss.png");
        for (int i = 0; i < 3; i++) Charts.write(png, "warm-up", series);
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            long start = System.nanoTime();
            Charts.write(png, "run", series);
            best = Math.min(best, System.nanoTime() - start);
        }
        System.out.printf("Charts.write: %.1f ms%n", best / 1e6);
        assertTrue(best < 1_000_000_000L, "chart took " + best / 1_000_000 + " ms"); // generous: shared CI machines
    }

    @Test
    void stepAxisLabelsNeverRunTogether() throws IOException {
        for (int steps : new int[] {3, 40, 150, 999, 12_345, 1_000_000}) {
            double[] x = new double[Math.min(steps, 5000)], y = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = 1 + (long) i * steps / x.length; // steps 1, 2, 3, ... as a run logs them (thinned when long)
                y[i] = 10 * Math.exp(-3.0 * i / x.length);
            }
            x[x.length - 1] = steps;
            Map<String, double[][]> series = new LinkedHashMap<>();
            series.put("train", new double[][] {x, y});
            series.put("validation", new double[][] {{Math.max(1, steps / 2), steps}, {6, 5}});
            Path png = dir.resolve("loss-" + steps + ".png");
            assertTrue(Charts.write(png, "Loss", series));
            List<int[]> labels = xTickLabels(ImageIO.read(png.toFile()));
            assertTrue(labels.size() >= 3 && labels.size() <= 20, steps + " steps: " + labels.size() + " labels");
            for (int i = 1; i < labels.size(); i++) {
                int gap = labels.get(i)[0] - labels.get(i - 1)[1];
                assertTrue(gap >= 8, steps + " steps: labels " + (i - 1) + " and " + i + " are " + gap + " px apart");
            }
        }
    }

    /**
     * The [first, last] pixel columns of each x tick label: below the plot's frame, the second band of dark rows
     * (the first is the tick marks, the third the axis title) cut into runs of dark columns, a gap of up to 3
     * columns (between two glyphs of one label) counting as part of a run.
     */
    private static List<int[]> xTickLabels(BufferedImage image) {
        int w = image.getWidth(), h = image.getHeight();
        int frame = -1;
        for (int row = h - 1; row >= 0 && frame < 0; row--) {
            int dark = 0;
            for (int col = 0; col < w; col++) dark += dark(image, col, row) ? 1 : 0;
            if (dark > w / 2) frame = row;
        }
        assertTrue(frame > 0, "no plot frame found");
        List<int[]> bands = new ArrayList<>();
        for (int row = frame + 1; row < h; row++) {
            boolean any = false;
            for (int col = 0; col < w && !any; col++) any = dark(image, col, row);
            if (!any) continue;
            if (!bands.isEmpty() && bands.getLast()[1] == row - 1) bands.getLast()[1] = row;
            else bands.add(new int[] {row, row});
        }
        assertEquals(3, bands.size(), "tick marks, labels and title below the frame");
        int[] band = bands.get(1);
        List<int[]> runs = new ArrayList<>();
        for (int col = 0; col < w; col++) {
            boolean any = false;
            for (int row = band[0]; row <= band[1] && !any; row++) any = dark(image, col, row);
            if (!any) continue;
            if (!runs.isEmpty() && col - runs.getLast()[1] <= 4) runs.getLast()[1] = col;
            else runs.add(new int[] {col, col});
        }
        return runs;
    }

    /** Log axes label the measured n (powers of two), not only the powers of ten XChart's log axis labels. */
    @Test
    void logChartsLabelTheirPowersOfTwo(@TempDir Path dir) throws IOException {
        assertEquals("128", Charts.powerOfTwo(7));
        assertEquals("2,048", Charts.powerOfTwo(11.000000000001));
        assertEquals(" ", Charts.powerOfTwo(7.5));
        Path png = dir.resolve("log.png");
        double[] n = {128, 256, 512, 1024, 2048};
        assertTrue(Charts.write(png, "t", "n", "ms", true, Map.of("a", new double[][]{n, {1, 2, 4, 8, 16}})));
        assertNotNull(ImageIO.read(png.toFile()));
    }

    private static boolean dark(BufferedImage image, int col, int row) {
        int rgb = image.getRGB(col, row);
        return ((rgb >> 16 & 255) + (rgb >> 8 & 255) + (rgb & 255)) / 3 < 160;
    }
}
