package io.lumenspark.engine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class Bf16GemmTest {
    /** The products, or the test skips saying why (CI installs libdnnl2, so it runs there). */
    static Bf16Gemm gemmOrSkip() {
        assumeTrue(Bf16Gemm.find().isPresent(), () -> "skipped: " + Bf16Gemm.unavailableReason());
        return Bf16Gemm.find().orElseThrow();
    }

    @Test
    void vectorConversionMatchesScalarRoundingBitForBit() {
        Random r = new Random(3);
        int n = 1003; // not a multiple of the vector length: the scalar tail runs too
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = arena.allocate(4L * n, 64), h = arena.allocate(2L * n, 64);
            for (int i = 0; i < n; i++) {
                // random bits, and values exactly halfway between two bf16s (ties go to even)
                float v = i % 3 == 0 ? Float.intBitsToFloat((r.nextInt(0x7F00) << 16) | 0x8000)
                        : (float) r.nextGaussian() * (float) Math.pow(10, r.nextInt(20) - 10);
                f.setAtIndex(JAVA_FLOAT, i, i % 2 == 0 ? v : -v);
            }
            Kernels.toBf16(f, 0, h, 0, n);
            for (int i = 0; i < n; i++) {
                assertEquals(QuantizedMatrix.toBf16(f.getAtIndex(JAVA_FLOAT, i)), h.getAtIndex(JAVA_SHORT, i),
                        "element " + i);
            }
        }
    }

    /**
     * Every transpose, offsets, leading dimensions wider than the rows, alpha and beta, at k = 512 on data uniform in
     * [-1, 1]. Rounding an input to bf16 changes it by at most 2^-9 of itself, so a product of two by at most
     * ~2^-8 (0.0039) and each element of C by at most 0.0039 sum|a||b| (float32 accumulation adds ~k 2^-24, far
     * less): that bound is asserted element by element. On such data the errors are random in sign, so C's
     * relative (Frobenius) error is ~0.0039 / sqrt(3) ~ 1e-3: asserted below 1e-2, and above 1e-5, which shows the
     * inputs really were rounded to bf16 (a float32 product would be ~1e-7). The result must also equal, to
     * float32 accumulation, the exact product of the bf16-rounded inputs.
     */
    @Test
    void bf16ProductMatchesFloat32WithinBf16RoundingForEveryTranspose() {
        Bf16Gemm gemm = gemmOrSkip();
        int m = 67, n = 300, k = 512, pad = 5, off = 7;
        Random r = new Random(5);
        for (boolean ta : new boolean[]{false, true}) {
            for (boolean tb : new boolean[]{false, true}) {
                int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
                int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
                float[] a = random(r, off + aRows * lda), b = random(r, off + bRows * ldb),
                        c0 = random(r, off + m * ldc);
                float alpha = 0.75f, beta = 0.5f;
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment as = arena.allocateFrom(JAVA_FLOAT, a), bs = arena.allocateFrom(JAVA_FLOAT, b),
                            cs = arena.allocateFrom(JAVA_FLOAT, c0);
                    gemm.gemm(new Mat(as, off, lda), ta, new Mat(bs, off, ldb), tb, new Mat(cs, off, ldc), m, n, k,
                            alpha, beta);
                    double errSq = 0, normSq = 0;
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double exact = 0, rounded = 0, abs = 0;
                            for (int p = 0; p < k; p++) {
                                float x = a[off + (ta ? p * lda + i : i * lda + p)];
                                float y = b[off + (tb ? j * ldb + p : p * ldb + j)];
                                exact += (double) x * y;
                                rounded += (double) bf16(x) * bf16(y);
                                abs += Math.abs((double) x * y);
                            }
                            double before = c0[off + i * ldc + j];
                            double want = alpha * exact + beta * before;
                            double got = cs.getAtIndex(JAVA_FLOAT, off + (long) i * ldc + j);
                            String at = "(" + i + ", " + j + ") transA " + ta + " transB " + tb;
                            assertEquals(want, got, 0.0039 * alpha * abs + 1e-6, at);
                            assertEquals(alpha * rounded + beta * before, got, 1e-5 * (abs + 1), at);
                            errSq += (got - want) * (got - want);
                            normSq += want * want;
                        }
                    }
                    double rel = Math.sqrt(errSq / normSq);
                    assertTrue(rel < 1e-2 && rel > 1e-5, "relative error " + rel);
                    // the padding between rows of C is left alone
                    assertEquals(c0[off + n], cs.getAtIndex(JAVA_FLOAT, off + n));
                }
            }
        }
    }

    /** A product split across threads (large enough to split) gives the same bits every time. */
    @Test
    void bf16ProductIsDeterministic() {
        Bf16Gemm gemm = gemmOrSkip();
        int m = 300, n = 700, k = 512;
        Random r = new Random(9);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocateFrom(JAVA_FLOAT, random(r, m * k)),
                    b = arena.allocateFrom(JAVA_FLOAT, random(r, n * k)), c = arena.allocate(4L * m * n, 64);
            float[][] results = new float[3][];
            for (int t = 0; t < results.length; t++) {
                gemm.gemm(new Mat(a, k), false, new Mat(b, k), true, new Mat(c, n), m, n, k, 1f, 0f);
                results[t] = c.toArray(JAVA_FLOAT);
            }
            assertArrayEquals(results[0], results[1]);
            assertArrayEquals(results[0], results[2]);
        }
    }

    @Test
    void oneDnnSgemmIsAFloat32Product() {
        Blas blas = gemmOrSkip().sgemm();
        int m = 40, n = 33, k = 512;
        Random r = new Random(4);
        float[] a = random(r, m * k), b = random(r, k * n);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment as = arena.allocateFrom(JAVA_FLOAT, a), bs = arena.allocateFrom(JAVA_FLOAT, b),
                    cs = arena.allocate(4L * m * n, 64), y = arena.allocate(4L * m, 64);
            blas.gemm(new Mat(as, k), false, new Mat(bs, n), false, new Mat(cs, n), m, n, k, 1f, 0f);
            blas.matVec(m, k, as, 0, k, bs, 0, y, 0); // A times b's first k values
            for (int i = 0; i < m; i++) {
                double yi = 0;
                for (int p = 0; p < k; p++) yi += (double) a[i * k + p] * b[p];
                assertEquals(yi, y.getAtIndex(JAVA_FLOAT, i), 1e-4);
                for (int j = 0; j < n; j++) {
                    double want = 0;
                    for (int p = 0; p < k; p++) want += (double) a[i * k + p] * b[p * n + j];
                    assertEquals(want, cs.getAtIndex(JAVA_FLOAT, (long) i * n + j), 1e-4);
                }
            }
        }
        assertTrue(blas.name().startsWith("oneDNN "), blas.name());
    }

    @Test
    void anAbsentLibraryOrAnotherOneMakesBf16UnavailableWithAReason() {
        String before = System.getProperty(Bf16Gemm.LIBRARY_PROPERTY);
        System.setProperty(Bf16Gemm.LIBRARY_PROPERTY, "/nonexistent/libdnnl.so.2");
        try {
            assertTrue(Bf16Gemm.find().isEmpty());
            assertEquals("oneDNN not found (/nonexistent/libdnnl.so.2)", Bf16Gemm.unavailableReason());
            System.setProperty(Bf16Gemm.LIBRARY_PROPERTY, "libm.so.6"); // a library that is there, not oneDNN
            assertTrue(Bf16Gemm.find().isEmpty());
            assertEquals("libm.so.6 is not oneDNN 2 or later: it lacks dnnl_sgemm, dnnl_gemm_bf16bf16f32,"
                    + " dnnl_get_effective_cpu_isa or dnnl_version", Bf16Gemm.unavailableReason());
        } finally {
            if (before == null) System.clearProperty(Bf16Gemm.LIBRARY_PROPERTY);
            else System.setProperty(Bf16Gemm.LIBRARY_PROPERTY, before);
        }
    }

    private static float bf16(float x) {
        return QuantizedMatrix.fromBf16(QuantizedMatrix.toBf16(x));
    }

    private static float[] random(Random r, int count) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float) (r.nextDouble() * 2 - 1);
        return x;
    }
}
