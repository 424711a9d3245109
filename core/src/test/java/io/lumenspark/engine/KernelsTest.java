package io.lumenspark.engine;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelsTest {
    /** The sampler's maximum: every length around the vector and unrolled widths, the largest anywhere, -0 and 0. */
    @Test
    void maxIsTheLargestEntryAtEveryLengthAndPlace() {
        Random random = new Random(5);
        int lanes = Kernels.lanes();
        for (int n = 0; n <= 5 * lanes + 3; n++) {
            for (int at = 0; at < Math.max(1, n); at++) {
                float[] x = new float[n];
                for (int i = 0; i < n; i++) x[i] = random.nextBoolean() ? Float.NEGATIVE_INFINITY : -random.nextFloat();
                if (n > 0) x[at] = 2f; // the one largest entry, wherever it is
                assertEquals(n == 0 ? Float.NEGATIVE_INFINITY : 2f, Kernels.max(x, n), n + " entries, largest at " + at);
            }
        }
        float[] zeros = new float[4 * lanes + 1];
        java.util.Arrays.fill(zeros, -0f);
        zeros[3 * lanes + 1] = 0f;
        assertEquals(Float.floatToIntBits(0f), Float.floatToIntBits(Kernels.max(zeros, zeros.length)), "0 over -0");
    }

    @Test
    void expIsAccurateAndScalarMatchesVectorBitForBit() {
        float[] xs = new float[Kernels.L];
        Random r = new Random(1);
        for (int trial = 0; trial < 20000; trial++) {
            for (int i = 0; i < xs.length; i++) xs[i] = (float) (r.nextDouble() * 170 - 86);
            float[] v = Kernels.exp(FloatVector.fromArray(Kernels.S, xs, 0)).toArray();
            for (int i = 0; i < xs.length; i++) {
                double want = Math.exp(xs[i]);
                assertEquals(want, v[i], want * 4e-7, "exp(" + xs[i] + ")");
                assertEquals(Float.floatToIntBits(v[i]), Float.floatToIntBits(Kernels.exp(xs[i])));
            }
        }
        assertEquals(0f, Kernels.exp(-1000f), 1e-37f);
        // beyond the clamps, the special values and any bit pattern: the vector and the scalar twin agree
        float[] special = {Float.NaN, -0f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -87.3f, 88.37f,
                Math.nextDown(-87.3f), Math.nextUp(88.37f), -1000f, 1000f, Float.MIN_VALUE, -Float.MAX_VALUE};
        for (int trial = 0; trial < 20000; trial++) {
            for (int i = 0; i < xs.length; i++) {
                int at = trial * xs.length + i;
                xs[i] = at < special.length ? special[at] : Float.intBitsToFloat(r.nextInt());
            }
            float[] v = Kernels.exp(FloatVector.fromArray(Kernels.S, xs, 0)).toArray();
            for (int i = 0; i < xs.length; i++) {
                assertEquals(Float.floatToIntBits(Kernels.exp(xs[i])), Float.floatToIntBits(v[i]),
                        "exp(" + xs[i] + ")");
            }
        }
    }

    /** The first NaN or infinity (or not -infinity when removed entries are allowed), in a run or in the tail. */
    @Test
    void firstNonFiniteFindsTheFirstBadEntryAnywhere() {
        int n = 5 * Kernels.L + 3;
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        Random r = new Random(6);
        for (int trial = 0; trial < 300; trial++) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian() * 1e30f;
            int hits = r.nextInt(3);
            for (int h = 0; h < hits; h++) x[r.nextInt(n)] = bad[r.nextInt(3)];
            for (boolean removed : new boolean[]{false, true}) {
                int want = -1;
                for (int i = 0; i < n && want < 0; i++) {
                    if (!Float.isFinite(x[i]) && !(removed && x[i] == Float.NEGATIVE_INFINITY)) want = i;
                }
                assertEquals(want, Kernels.firstNonFinite(x, n, removed), "trial " + trial + ", removed " + removed);
            }
        }
    }

    /** The sampler's weights: exp(x - shift) lane by lane and in the tail alike, exactly 0 for -infinity only. */
    @Test
    void expShiftOnArraysIsTheScalarExpAndZeroOnlyForRemovedEntries() {
        int n = 3 * Kernels.L + 5;
        float[] x = new float[n], out = new float[n];
        Random r = new Random(4);
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * 30);
        x[2] = Float.NEGATIVE_INFINITY;
        x[n - 1] = Float.NEGATIVE_INFINITY;
        x[5] = -500; // underflows to (nearly) nothing, but stays drawable
        Kernels.expShift(x, n, 7f, out);
        for (int i = 0; i < n; i++) {
            if (x[i] == Float.NEGATIVE_INFINITY) {
                assertEquals(0f, out[i], "removed entry " + i);
            } else {
                assertEquals(Float.floatToIntBits(Kernels.exp(x[i] - 7f)), Float.floatToIntBits(out[i]), "entry " + i);
                assertTrue(out[i] > 0, "entry " + i + " is drawable");
            }
        }
    }

    /**
     * The sampler's run sums: each run's sum exactly that of {@link Kernels#sum(FloatVector)} on its lanes (the
     * tree the draws have always used), in blocks of L runs computed together, in the runs after them and in the
     * short last run, for lengths around the block size and the GPT-2 vocabulary's.
     */
    @Test
    void runSumsAreEachRunsTreeSumBitForBit() {
        int l = Kernels.L;
        Random r = new Random(9);
        int[] lengths = {1, l - 1, l, l * l - 1, l * l, l * l + 1, l * l + l, 2 * l * l + 3 * l + 5, 50_257};
        for (int n : lengths) {
            for (int trial = 0; trial < 20; trial++) {
                float[] x = new float[n];
                // magnitudes over many decades and both signs (the sampler's weights are never negative; the
                // kernel does not care), so that any other order of the additions rounds differently
                for (int i = 0; i < n; i++) {
                    int sign = r.nextInt(5) == 0 ? 0 : trial % 2 == 0 ? 1 : r.nextInt(2) * 2 - 1;
                    x[i] = (float) (Math.exp(r.nextGaussian() * 8) * sign);
                }
                double[] sums = new double[(n + l - 1) / l];
                assertEquals(sums.length, Kernels.runSums(x, n, sums), "runs of " + n);
                for (int c = 0; c < sums.length; c++) {
                    float want;
                    if ((c + 1) * l <= n) {
                        want = Kernels.sum(FloatVector.fromArray(Kernels.S, x, c * l));
                    } else {
                        want = 0;
                        for (int i = c * l; i < n; i++) want += x[i];
                    }
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits((float) sums[c]),
                            "run " + c + " of " + n + ", trial " + trial);
                }
            }
        }
    }

    @Test
    void erfMatchesSeriesReference() {
        for (double x = -5; x <= 5; x += 0.01) {
            assertEquals(erfReference(x), Kernels.erf((float) x), 3e-7, "erf(" + x + ")");
        }
    }

    /** erf by its Taylor series in double precision (converges for {@code |x| <= 5} with enough terms). */
    private static double erfReference(double x) {
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    @Test
    void geluAndItsDerivativeMatchDefinitions() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1001;
            MemorySegment x = a.allocate(4L * n, 64), y = a.allocate(4L * n, 64), ones = a.allocate(4L * n, 64),
                    dx = a.allocate(4L * n, 64);
            for (int i = 0; i < n; i++) {
                x.setAtIndex(JAVA_FLOAT, i, (i - 500) / 80f);
                ones.setAtIndex(JAVA_FLOAT, i, 1f);
            }
            Kernels.gelu(x, y, 0, n);
            Kernels.geluBackward(x, ones, dx, 0, n);
            for (int i = 0; i < n; i++) {
                double v = (i - 500) / 80.0;
                double cdf = 0.5 * (1 + erfReference(v / Math.sqrt(2)));
                assertEquals(v * cdf, y.getAtIndex(JAVA_FLOAT, i), 1e-6, "gelu(" + v + ")");
                double deriv = cdf + v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
                assertEquals(deriv, dx.getAtIndex(JAVA_FLOAT, i), 1e-6, "gelu'(" + v + ")");
            }
        }
    }

    @Test
    void maskedSoftmaxSumsToOneOverVisibleEntries() {
        try (Arena a = Arena.ofConfined()) {
            int w = 37;
            MemorySegment x = a.allocate(4L * w, 64);
            Random r = new Random(2);
            for (int i = 0; i < w; i++) x.setAtIndex(JAVA_FLOAT, i, (float) r.nextGaussian() * 5);
            float[] before = x.toArray(JAVA_FLOAT);
            Kernels.maskedSoftmax(x, 0, w, 9, 20, 6); // visible: [0, 9) and [20, 26)
            double total = 0, max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < w; i++) if (i < 9 || (i >= 20 && i < 26)) max = Math.max(max, before[i]);
            double z = 0;
            for (int i = 0; i < w; i++) if (i < 9 || (i >= 20 && i < 26)) z += Math.exp(before[i] - max);
            for (int i = 0; i < w; i++) {
                boolean visible = i < 9 || (i >= 20 && i < 26);
                double want = visible ? Math.exp(before[i] - max) / z : 0;
                assertEquals(want, x.getAtIndex(JAVA_FLOAT, i), 1e-6);
                total += x.getAtIndex(JAVA_FLOAT, i);
            }
            assertEquals(1, total, 1e-5);
        }
    }

    @Test
    void openBlasAndJavaBackendsAgreeOnEveryTransposeAndStride() {
        Blas openblas;
        try {
            openblas = OpenBlas.load();
        } catch (RuntimeException | LinkageError e) {
            org.junit.jupiter.api.Assumptions.abort("OpenBLAS unavailable: " + e.getMessage());
            return;
        }
        Blas java = new JavaBlas();
        Random r = new Random(3);
        try (Arena a = Arena.ofShared()) {
            for (int trial = 0; trial < 40; trial++) {
                int m = 1 + r.nextInt(70), n = 1 + r.nextInt(70), k = 1 + r.nextInt(70);
                boolean ta = r.nextBoolean(), tb = r.nextBoolean();
                int lda = (ta ? m : k) + r.nextInt(3), ldb = (tb ? k : n) + r.nextInt(3), ldc = n + r.nextInt(3);
                long aOff = r.nextInt(5), bOff = r.nextInt(5), cOff = r.nextInt(5);
                MemorySegment A = random(a, aOff + (long) (ta ? k : m) * lda, r);
                MemorySegment B = random(a, bOff + (long) (tb ? n : k) * ldb, r);
                MemorySegment c1 = random(a, cOff + (long) m * ldc, r);
                MemorySegment c2 = a.allocate(c1.byteSize(), 64);
                c2.copyFrom(c1);
                float alpha = 0.7f, beta = trial % 2 == 0 ? 0f : 0.3f;
                openblas.sgemm(ta, tb, m, n, k, alpha, A, aOff, lda, B, bOff, ldb, beta, c1, cOff, ldc);
                java.sgemm(ta, tb, m, n, k, alpha, A, aOff, lda, B, bOff, ldb, beta, c2, cOff, ldc);
                for (long i = 0; i < c1.byteSize() / 4; i++) {
                    float x = c1.getAtIndex(JAVA_FLOAT, i), y = c2.getAtIndex(JAVA_FLOAT, i);
                    assertTrue(Math.abs(x - y) <= 1e-4f * (1 + Math.abs(x)), "trial " + trial + " element " + i
                            + ": " + x + " vs " + y);
                }
            }
        }
    }

    /**
     * OpenBLAS loaded by a copy of this class in a class loader of its own under one that holds JavaCPP, as an
     * application's jars sit under a cluster's class path: JavaCPP loads the library in its class loader, which a
     * class loader's symbol lookup does not see, so the symbols are looked up in the library file.
     */
    @Test
    void openBlasLoadsWhenJavaCppIsInAnotherClassLoader() throws Exception {
        try {
            OpenBlas.symbols();
        } catch (RuntimeException | LinkageError e) {
            org.junit.jupiter.api.Assumptions.abort("OpenBLAS unavailable: " + e.getMessage());
        }
        List<java.net.URL> javacpp = new java.util.ArrayList<>(), rest = new java.util.ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            (entry.contains("bytedeco") ? javacpp : rest).add(java.nio.file.Path.of(entry).toUri().toURL());
        }
        org.junit.jupiter.api.Assumptions.assumeFalse(javacpp.isEmpty(), "JavaCPP's jars on the class path");
        try (var cluster = new java.net.URLClassLoader(javacpp.toArray(java.net.URL[]::new),
                ClassLoader.getPlatformClassLoader());
             var app = new java.net.URLClassLoader(rest.toArray(java.net.URL[]::new), cluster)) {
            Class<?> copy = Class.forName(OpenBlas.class.getName(), true, app);
            assertTrue(copy != OpenBlas.class, "a copy of the class");
            var load = copy.getDeclaredMethod("load");
            load.setAccessible(true);
            var name = copy.getDeclaredMethod("name");
            name.setAccessible(true);
            String loaded = (String) name.invoke(load.invoke(null));
            assertTrue(loaded.startsWith("OpenBLAS"), loaded);
        }
    }

    /** Both backends' matrix-vector products against a double-precision sum, with strides and offsets. */
    @Test
    void matVecMatchesADoubleSumOnBothBackends() {
        List<Blas> backends = new java.util.ArrayList<>(List.of(new JavaBlas()));
        try {
            backends.add(OpenBlas.load());
        } catch (RuntimeException | LinkageError e) {
            // the Java backend alone
        }
        Random r = new Random(8);
        try (Arena a = Arena.ofShared()) {
            for (int trial = 0; trial < 30; trial++) {
                int m = 1 + r.nextInt(trial < 25 ? 70 : 3000), n = 1 + r.nextInt(trial < 25 ? 70 : 600);
                int lda = n + r.nextInt(3);
                long aOff = r.nextInt(5), xOff = r.nextInt(5), yOff = r.nextInt(5);
                MemorySegment A = random(a, aOff + (long) m * lda, r), x = random(a, xOff + n, r);
                for (Blas blas : backends) {
                    MemorySegment y = a.allocate(4L * (yOff + m), 64);
                    blas.matVec(m, n, A, aOff, lda, x, xOff, y, yOff);
                    for (int i = 0; i < m; i++) {
                        double want = 0;
                        for (int j = 0; j < n; j++) {
                            want += (double) A.getAtIndex(JAVA_FLOAT, aOff + (long) i * lda + j)
                                    * x.getAtIndex(JAVA_FLOAT, xOff + j);
                        }
                        float got = y.getAtIndex(JAVA_FLOAT, yOff + i);
                        assertTrue(Math.abs(got - want) <= 1e-4 * (Math.sqrt(n) + Math.abs(want)),
                                blas.name() + " " + m + "x" + n + " row " + i + ": " + got + " vs " + want);
                    }
                }
            }
        }
    }

    /**
     * The attention-weighted sum of value rows gives the bits that axpy row after row gives (what a decoding step
     * computed before it), for widths around the vector length and its groups of four, strides and offsets.
     */
    @Test
    void addWeightedRowsEqualsAxpyRowAfterRowBitForBit() {
        Random r = new Random(12);
        int l = Kernels.L;
        try (Arena a = Arena.ofShared()) {
            for (int n : new int[]{1, l - 1, l, l + 1, 4 * l, 4 * l + l + 3, 8 * l, 130}) {
                for (int rows : new int[]{0, 1, 5, 33}) {
                    int ld = n + r.nextInt(3);
                    long po = r.nextInt(4), vo = r.nextInt(4), yo = r.nextInt(4);
                    MemorySegment p = random(a, po + rows, r), v = random(a, vo + (long) rows * ld, r),
                            y0 = random(a, yo + n, r);
                    MemorySegment want = a.allocate(y0.byteSize(), 64), got = a.allocate(y0.byteSize(), 64);
                    want.copyFrom(y0);
                    got.copyFrom(y0);
                    for (int j = 0; j < rows; j++) {
                        Kernels.axpy(p.getAtIndex(JAVA_FLOAT, po + j), v, vo + (long) j * ld, want, yo, n);
                    }
                    Kernels.addWeightedRows(p, po, rows, v, vo, ld, got, yo, n);
                    for (int i = 0; i < yo + n; i++) {
                        assertEquals(Float.floatToIntBits(want.getAtIndex(JAVA_FLOAT, i)),
                                Float.floatToIntBits(got.getAtIndex(JAVA_FLOAT, i)),
                                "n " + n + ", " + rows + " rows, element " + i);
                    }
                }
            }
        }
    }

    /** The rank-one update of rows gives the bits that axpy into each row gives, as addWeightedRows above. */
    @Test
    void addScaledRowEqualsAxpyIntoEachRowBitForBit() {
        Random r = new Random(13);
        int l = Kernels.L;
        try (Arena a = Arena.ofShared()) {
            for (int n : new int[]{1, l - 1, l, l + 1, 4 * l, 4 * l + l + 3, 8 * l, 130}) {
                for (int rows : new int[]{0, 1, 5, 33}) {
                    int ld = n + r.nextInt(3);
                    long ao = r.nextInt(4), xo = r.nextInt(4), yo = r.nextInt(4);
                    MemorySegment s = random(a, ao + rows, r), x = random(a, xo + n, r),
                            y0 = random(a, yo + (long) rows * ld + n, r);
                    MemorySegment want = a.allocate(y0.byteSize(), 64), got = a.allocate(y0.byteSize(), 64);
                    want.copyFrom(y0);
                    got.copyFrom(y0);
                    for (int j = 0; j < rows; j++) {
                        Kernels.axpy(s.getAtIndex(JAVA_FLOAT, ao + j), x, xo, want, yo + (long) j * ld, n);
                    }
                    Kernels.addScaledRow(s, ao, rows, x, xo, got, yo, ld, n);
                    for (long i = 0; i < y0.byteSize() / 4; i++) {
                        assertEquals(Float.floatToIntBits(want.getAtIndex(JAVA_FLOAT, i)),
                                Float.floatToIntBits(got.getAtIndex(JAVA_FLOAT, i)),
                                "n " + n + ", " + rows + " rows, element " + i);
                    }
                }
            }
        }
    }

    @Test
    void firstBeyondFindsTheFirstNaNInfinityOrValueAboveTheBound() {
        Random r = new Random(5);
        float bound = 0x1p64f;
        float[] bad = {Float.NaN, Float.intBitsToFloat(0xFFC00001), Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, 1e38f, -Math.nextUp(bound), Float.MAX_VALUE};
        try (Arena a = Arena.ofConfined()) {
            for (int trial = 0; trial < 200; trial++) {
                int n = 1 + r.nextInt(trial < 100 ? 300 : 200_000); // blocks of 65,536 and partial ones
                int offset = r.nextInt(5);
                MemorySegment x = random(a, n + offset, r);
                x.setAtIndex(JAVA_FLOAT, offset + r.nextInt(n), r.nextBoolean() ? bound : -bound); // allowed
                assertEquals(-1, Kernels.firstBeyond(x, offset, n, bound), "no offender, n " + n);
                int first = r.nextInt(n), nan = first + 1 < n ? first + 1 + r.nextInt(n - first - 1) : -1;
                float v = bad[r.nextInt(bad.length)];
                x.setAtIndex(JAVA_FLOAT, offset + first, v);
                if (nan >= 0) x.setAtIndex(JAVA_FLOAT, offset + nan, Float.NaN);
                assertEquals(first, Kernels.firstBeyond(x, offset, n, bound), "n " + n + ", " + v);
                // with the largest finite bound only NaN and infinities are beyond it
                assertEquals(Float.isFinite(v) ? nan : first, Kernels.firstBeyond(x, offset, n, Float.MAX_VALUE),
                        "n " + n + ", " + v);
            }
        }
    }

    private static MemorySegment random(Arena a, long n, Random r) {
        MemorySegment s = a.allocate(Math.max(1, n) * 4, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, (float) r.nextGaussian());
        return s;
    }
}
