package io.lumenspark.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
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
}
