package io.lumenspark.engine;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Element-wise and row-wise float32 kernels on native memory, written with the Vector API. Offsets and lengths
 * are in elements. Row kernels take a row range so callers can split them across threads with {@link Parallel}.
 */
public final class Kernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    /** Shorts as many as S's floats: the lanes of a float32 vector narrowed to bf16. */
    private static final VectorSpecies<Short> HS = VectorSpecies.of(short.class,
            VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final float SQRT_HALF = (float) Math.sqrt(0.5);
    private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));

    /** Shuffles that swap lanes i and i ^ w, for a reduction tree whose order never changes. */
    private static final VectorShuffle<Float>[] SWAP = swaps();
    /** For each width w of {@link #SWAP}, the lanes i with bit w set. */
    private static final VectorMask<Float>[] HIGH_LANES = highLanes();
    /** Each thread's room for {@link #runSumsOfBlock}'s L / 2 vectors between levels (no garbage per draw). */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[L * L / 2]);
    /** Lane i's index with its log2(L) bits in reverse order. */
    private static final int[] BIT_REVERSED = bitReversed();

    private Kernels() {
    }

    /**
     * Which kernels run here, for {@code info} and benchmarks: the matrix-product backend (OpenBLAS names the
     * CPU kernels it picked, which {@code OPENBLAS_CORETYPE} sets), the Vector API's width for our own, and the
     * bf16 products of {@code train --precision bf16} (oneDNN, or why there are none), the float32 output layer's
     * products in decoding ({@link PackedFloatMatrix}) and the int8 output layer's integer products ({@link
     * IntegerMatrix}).
     */
    public static String describe() {
        String coretype = System.getenv("OPENBLAS_CORETYPE");
        return "products " + Blas.get().name() + (coretype == null ? "" : " (OPENBLAS_CORETYPE=" + coretype + ")")
                + "; decoding and element-wise kernels: Vector API, " + S.vectorBitSize() + "-bit (" + L + " floats)"
                + "; bf16 training products: " + Bf16Gemm.find().map(Bf16Gemm::name)
                .orElseGet(() -> "unavailable (" + Bf16Gemm.unavailableReason() + ")")
                + "; float32 output layer in decoding: " + PackedFloatMatrix.describe()
                + "; int8 output layer in decoding: " + IntegerMatrix.describe();
    }

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] swaps() {
        VectorShuffle<Float>[] s = (VectorShuffle<Float>[]) new VectorShuffle<?>[L]; // no generic array creation
        for (int w = L / 2; w >= 1; w /= 2) {
            final int width = w;
            s[w] = VectorShuffle.fromOp(S, i -> i ^ width);
        }
        return s;
    }

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] highLanes() {
        VectorMask<Float>[] m = (VectorMask<Float>[]) new VectorMask<?>[L];
        for (int w = L / 2; w >= 1; w /= 2) {
            boolean[] bits = new boolean[L];
            for (int i = 0; i < L; i++) bits[i] = (i & w) != 0;
            m[w] = VectorMask.fromArray(S, bits, 0);
        }
        return m;
    }

    private static int[] bitReversed() {
        int[] r = new int[L];
        for (int i = 0; i < L; i++) {
            for (int w = 1, v = L / 2; w < L; w *= 2, v /= 2) if ((i & w) != 0) r[i] |= v;
        }
        return r;
    }

    /**
     * Sum of the lanes in a fixed tree order. FloatVector.reduceLanes(ADD) leaves the order unspecified, and
     * it does differ between interpreted and compiled code, which would make results depend on JIT timing.
     */
    static float sum(FloatVector v) {
        for (int w = L / 2; w >= 1; w /= 2) v = v.add(v.rearrange(SWAP[w]));
        return v.lane(0);
    }

    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f,
            ROUND = 12582912f; // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer

    /**
     * exp(x) from adds, multiplies and FMAs only (range reduction by ln 2, degree-6 polynomial; within 2 ulp),
     * so it gives the same bits in every JIT tier, unlike the library EXP operator. x is clamped to [-87.3, 88.37]
     * by compare and blend, which gives Math.max's and min's results for every x, NaN included (it stays NaN),
     * in two instructions each where the Vector API's max and min, with Java's rules for NaN and signed zeros,
     * take several: exp over GPT-2's 50,257 logits in 11.6 against 16.6 us.
     */
    static FloatVector exp(FloatVector x) {
        x = x.blend(-87.3f, x.lt(-87.3f));
        x = x.blend(88.37f, x.compare(VectorOperators.GT, 88.37f));
        FloatVector n = x.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(FloatVector.broadcast(S, 1 / 720f), FloatVector.broadcast(S, 1 / 120f));
        p = p.fma(r, FloatVector.broadcast(S, 1 / 24f));
        p = p.fma(r, FloatVector.broadcast(S, 1 / 6f));
        p = p.fma(r, FloatVector.broadcast(S, 0.5f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(bits.reinterpretAsFloats());
    }

    /** The scalar twin of {@link #exp(FloatVector)}, bit for bit. */
    static float exp(float x) {
        x = Math.min(Math.max(x, -87.3f), 88.37f);
        float n = (x * LOG2E + ROUND) - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, 1 / 720f, 1 / 120f);
        p = Math.fma(p, r, 1 / 24f);
        p = Math.fma(p, r, 1 / 6f);
        p = Math.fma(p, r, 0.5f);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    static FloatVector load(MemorySegment m, long i) {
        return FloatVector.fromMemorySegment(S, m, i * 4, NATIVE);
    }

    static void store(FloatVector v, MemorySegment m, long i) {
        v.intoMemorySegment(m, i * 4, NATIVE);
    }

    static float get(MemorySegment m, long i) {
        return m.getAtIndex(JAVA_FLOAT, i);
    }

    static void put(MemorySegment m, long i, float v) {
        m.setAtIndex(JAVA_FLOAT, i, v);
    }

    /** y[yo..] += x[xo..] over n elements. */
    public static void add(MemorySegment x, long xo, MemorySegment y, long yo, long n) {
        axpy(1f, x, xo, y, yo, n);
    }

    /** y += a * x. */
    public static void axpy(float a, MemorySegment x, long xo, MemorySegment y, long yo, long n) {
        long i = 0;
        FloatVector va = FloatVector.broadcast(S, a);
        for (long bound = n - L; i <= bound; i += L) {
            store(load(x, xo + i).fma(va, load(y, yo + i)), y, yo + i);
        }
        for (; i < n; i++) put(y, yo + i, a * get(x, xo + i) + get(y, yo + i));
    }

    /** out = x + y (out may alias either). */
    public static void sum(MemorySegment x, long xo, MemorySegment y, long yo, MemorySegment out, long oo, long n) {
        long i = 0;
        for (long bound = n - L; i <= bound; i += L) store(load(x, xo + i).add(load(y, yo + i)), out, oo + i);
        for (; i < n; i++) put(out, oo + i, get(x, xo + i) + get(y, yo + i));
    }

    /** x *= a, then acc += x (the softmax gradient row and its contribution to the bias gradient). */
    public static void scaleAndAccumulate(MemorySegment x, long xo, long n, float a, MemorySegment acc, long ao) {
        long i = 0;
        for (long bound = n - L; i <= bound; i += L) {
            FloatVector v = load(x, xo + i).mul(a);
            store(v, x, xo + i);
            store(load(acc, ao + i).add(v), acc, ao + i);
        }
        for (; i < n; i++) {
            float v = get(x, xo + i) * a;
            put(x, xo + i, v);
            put(acc, ao + i, get(acc, ao + i) + v);
        }
    }

    /** x *= a. */
    public static void scale(MemorySegment x, long xo, long n, float a) {
        long i = 0;
        for (long bound = n - L; i <= bound; i += L) store(load(x, xo + i).mul(a), x, xo + i);
        for (; i < n; i++) put(x, xo + i, get(x, xo + i) * a);
    }

    /** Dot product of n elements; lanes are summed in a fixed order, so the result does not depend on the JIT. */
    public static float dot(MemorySegment x, long xo, MemorySegment y, long yo, long n) {
        FloatVector acc = FloatVector.zero(S);
        long i = 0;
        for (long bound = n - L; i <= bound; i += L) acc = load(x, xo + i).fma(load(y, yo + i), acc);
        float s = sum(acc);
        for (; i < n; i++) s += get(x, xo + i) * get(y, yo + i);
        return s;
    }

    /**
     * y[r] = W[r] . x for rows [from, to) of a row-major matrix W with n columns (rows ld apart): a matrix-vector product, the
     * whole cost of a decoding step's output layer. Four rows share each load of x, and four independent
     * accumulators keep enough loads in flight to run at memory bandwidth. Each y[r] is rounded exactly as
     * {@link #dot} rounds it.
     */
    public static void matVec(MemorySegment w, long wo, int ld, int n, MemorySegment x, long xo, MemorySegment y,
                              long yo, int from, int to) {
        int r = from;
        for (; r + 4 <= to; r += 4) {
            long r0 = wo + (long) r * ld, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            int i = 0;
            for (int bound = n - L; i <= bound; i += L) {
                FloatVector xv = load(x, xo + i);
                a0 = load(w, r0 + i).fma(xv, a0);
                a1 = load(w, r1 + i).fma(xv, a1);
                a2 = load(w, r2 + i).fma(xv, a2);
                a3 = load(w, r3 + i).fma(xv, a3);
            }
            float s0 = sum(a0), s1 = sum(a1), s2 = sum(a2), s3 = sum(a3);
            for (; i < n; i++) {
                float xi = get(x, xo + i);
                s0 += get(w, r0 + i) * xi;
                s1 += get(w, r1 + i) * xi;
                s2 += get(w, r2 + i) * xi;
                s3 += get(w, r3 + i) * xi;
            }
            put(y, yo + r, s0);
            put(y, yo + r + 1, s1);
            put(y, yo + r + 2, s2);
            put(y, yo + r + 3, s3);
        }
        for (; r < to; r++) put(y, yo + r, dot(w, wo + (long) r * ld, x, xo, n));
    }

    /**
     * y[0..n) += sum over j in [0, rows) of p[po + j] * V[j] for rows of a row-major V (rows ld apart from vo): the
     * attention-weighted sum of value rows. Four vectors of y stay in registers while the rows go by, so y is
     * loaded and stored once instead of once per row; each element gets the same multiply-adds in the same order
     * as {@link #axpy} row after row would give it, so the result is the same bits.
     */
    public static void addWeightedRows(MemorySegment p, long po, int rows, MemorySegment v, long vo, int ld,
                                       MemorySegment y, long yo, int n) {
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            FloatVector a0 = load(y, yo + i), a1 = load(y, yo + i + L), a2 = load(y, yo + i + 2 * L),
                    a3 = load(y, yo + i + 3 * L);
            for (int j = 0; j < rows; j++) {
                FloatVector pj = FloatVector.broadcast(S, get(p, po + j));
                long r = vo + (long) j * ld + i;
                a0 = load(v, r).fma(pj, a0);
                a1 = load(v, r + L).fma(pj, a1);
                a2 = load(v, r + 2 * L).fma(pj, a2);
                a3 = load(v, r + 3 * L).fma(pj, a3);
            }
            store(a0, y, yo + i);
            store(a1, y, yo + i + L);
            store(a2, y, yo + i + 2 * L);
            store(a3, y, yo + i + 3 * L);
        }
        for (; i + L <= n; i += L) {
            FloatVector a = load(y, yo + i);
            for (int j = 0; j < rows; j++) {
                a = load(v, vo + (long) j * ld + i).fma(FloatVector.broadcast(S, get(p, po + j)), a);
            }
            store(a, y, yo + i);
        }
        for (; i < n; i++) {
            float a = get(y, yo + i);
            for (int j = 0; j < rows; j++) a = get(p, po + j) * get(v, vo + (long) j * ld + i) + a;
            put(y, yo + i, a);
        }
    }

    /**
     * Y[j] += a[ao + j] * x for j in [0, rows), Y's rows n wide and ld apart from yo: a rank-one update (a new key
     * added to every compressed slot it belongs to). x stays in registers, four vectors at a time; each element
     * gets the multiply-add {@link #axpy} would give it, so the result is the same bits.
     */
    public static void addScaledRow(MemorySegment a, long ao, int rows, MemorySegment x, long xo, MemorySegment y,
                                    long yo, int ld, int n) {
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            FloatVector x0 = load(x, xo + i), x1 = load(x, xo + i + L), x2 = load(x, xo + i + 2 * L),
                    x3 = load(x, xo + i + 3 * L);
            for (int j = 0; j < rows; j++) {
                FloatVector aj = FloatVector.broadcast(S, get(a, ao + j));
                long r = yo + (long) j * ld + i;
                store(x0.fma(aj, load(y, r)), y, r);
                store(x1.fma(aj, load(y, r + L)), y, r + L);
                store(x2.fma(aj, load(y, r + 2 * L)), y, r + 2 * L);
                store(x3.fma(aj, load(y, r + 3 * L)), y, r + 3 * L);
            }
        }
        for (; i + L <= n; i += L) {
            FloatVector xv = load(x, xo + i);
            for (int j = 0; j < rows; j++) {
                long r = yo + (long) j * ld + i;
                store(xv.fma(FloatVector.broadcast(S, get(a, ao + j)), load(y, r)), y, r);
            }
        }
        for (; i < n; i++) {
            float xi = get(x, xo + i);
            for (int j = 0; j < rows; j++) {
                long r = yo + (long) j * ld + i;
                put(y, r, get(a, ao + j) * xi + get(y, r));
            }
        }
    }

    /** Sum of squares for gradient norms: float sums over 4096-element chunks, added up in double. */
    public static double sumOfSquares(MemorySegment x, long xo, long n) {
        double total = 0;
        long i = 0;
        while (i < n) {
            long end = Math.min(n, i + 4096); // a float accumulator per 4096 elements keeps rounding small
            total += dot(x, xo + i, x, xo + i, end - i);
            i = end;
        }
        return total;
    }

    /** Maximum of n elements; negative infinity when n is 0. */
    public static float max(MemorySegment x, long xo, int n) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) m = m.max(load(x, xo + i));
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) r = Math.max(r, get(x, xo + i));
        return r;
    }

    /** Elements per block of {@link #firstBeyond}: its plain maximum runs over a block, then the block is tested. */
    private static final int CHECK_BLOCK = 1 << 16;

    /**
     * The index (counted from xo) of the first of n elements that is NaN or of magnitude above bound (an infinity,
     * for any finite bound), or -1 when every one is within: the check of weights as they are loaded. Magnitudes
     * compare as their bit patterns (sign cleared; NaN and infinity lie above every finite value), so the pass is
     * a maximum of ints per block, which C2 compiles to SIMD instructions; single elements are looked at only in a
     * block that holds an offender. Not the Vector API: the check runs once per process, before anything is
     * compiled, and there a Vector API loop (interpreted, then compiled with boxing, until C2 takes it over) took
     * 0.7-1.0 s over the 55 M-parameter model's weights, in memory, where this loop takes 0.1 s; warm, both run
     * at memory speed (10-30 ms).
     *
     * @param bound a non-negative, non-NaN limit
     */
    public static long firstBeyond(MemorySegment x, long xo, long n, float bound) {
        int limit = Float.floatToRawIntBits(bound);
        for (long from = 0; from < n; from += CHECK_BLOCK) {
            long to = Math.min(n, from + CHECK_BLOCK);
            int max = 0;
            for (long i = from; i < to; i++) max = Math.max(max, x.getAtIndex(JAVA_INT, xo + i) & 0x7FFFFFFF);
            if (max <= limit) continue;
            for (long i = from; i < to; i++) {
                if ((x.getAtIndex(JAVA_INT, xo + i) & 0x7FFFFFFF) > limit) return i;
            }
        }
        return -1;
    }

    /** y += x over n elements and returns the maximum of the new y (the LM head's bias add and row max). */
    public static float addAndMax(MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector v = load(x, xo + i).add(load(y, yo + i));
            store(v, y, yo + i);
            m = m.max(v);
        }
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            float v = get(x, xo + i) + get(y, yo + i);
            put(y, yo + i, v);
            r = Math.max(r, v);
        }
        return r;
    }

    /** x = exp(x - shift) in place; returns the sum of the results. */
    public static float expShiftSum(MemorySegment x, long xo, int n, float shift) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector e = exp(load(x, xo + i).sub(shift));
            store(e, x, xo + i);
            acc = acc.add(e);
        }
        float s = sum(acc);
        for (; i < n; i++) {
            float e = exp(get(x, xo + i) - shift);
            put(x, xo + i, e);
            s += e;
        }
        return s;
    }

    /**
     * out[i] = exp(x[i] - shift) for i in [0, n), exactly 0 where x[i] is -infinity (a token removed from a draw),
     * on Java arrays (the sampler's logits): the exp of {@link #exp(FloatVector)}, the same bits in every JIT tier.
     */
    public static void expShift(float[] x, int n, float shift, float[] out) {
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector e = exp(v.sub(shift)).blend(0f, v.eq(Float.NEGATIVE_INFINITY));
            e.intoArray(out, i);
        }
        for (; i < n; i++) out[i] = x[i] == Float.NEGATIVE_INFINITY ? 0 : exp(x[i] - shift);
    }

    /** The largest of x[0..n), on Java arrays (the sampler's logits; no NaN among them); -infinity for n = 0. */
    public static float max(float[] x, int n) {
        // four running maxima: Java's max (NaN and signed zeros) compiles to a chain of several instructions, and
        // one accumulator made the pass latency-bound (10.7 against 5.9 us over GPT-2's 50,257 logits)
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY), m1 = m0, m2 = m0, m3 = m0;
        int i = 0;
        for (int bound = n - 4 * L; i <= bound; i += 4 * L) {
            m0 = m0.max(FloatVector.fromArray(S, x, i));
            m1 = m1.max(FloatVector.fromArray(S, x, i + L));
            m2 = m2.max(FloatVector.fromArray(S, x, i + 2 * L));
            m3 = m3.max(FloatVector.fromArray(S, x, i + 3 * L));
        }
        for (int bound = n - L; i <= bound; i += L) m0 = m0.max(FloatVector.fromArray(S, x, i));
        float r = m0.max(m1).max(m2.max(m3)).reduceLanes(VectorOperators.MAX); // exact whatever the order
        for (; i < n; i++) r = Math.max(r, x[i]);
        return r;
    }

    /**
     * The sums of x's runs of {@link #lanes()} entries (the last run may be shorter) into sums[0..], each added
     * in the same fixed order every time; returns the number of runs. For the sampler's scan over the vocabulary.
     */
    public static int runSums(float[] x, int n, double[] sums) {
        int c = 0, i = 0;
        if (n >= L * L) {
            float[] half = BLOCK.get();
            for (int bound = n - L * L; i <= bound; i += L * L, c += L) runSumsOfBlock(x, i, half, sums, c);
        }
        for (int bound = n - L; i <= bound; i += L) sums[c++] = sum(FloatVector.fromArray(S, x, i));
        if (i < n) {
            float s = 0;
            for (; i < n; i++) s += x[i];
            sums[c++] = s;
        }
        return c;
    }

    /**
     * The sums of the L runs of x[from, from + L * L) into sums[c, c + L), each exactly {@link #sum(FloatVector)}
     * of its run, for a fraction of the shuffles: the reduction tree's levels run on two runs' vectors at once.
     * At the level of width w, lane i of a run's vector gains lane i ^ w; two runs a and b are combined into one
     * vector whose lanes without bit w carry a's sums and those with it b's, since each run needs only half its
     * lanes from there on (lane i and lane i ^ w hold the same sum: addition commutes exactly). After the last
     * level, lane i holds the sum of run bitReverse(i). half holds L / 2 vectors between levels.
     */
    private static void runSumsOfBlock(float[] x, int from, float[] half, double[] sums, int c) {
        int w = L / 2;
        VectorMask<Float> high = HIGH_LANES[w];
        for (int p = 0; p < L / 2; p++) { // the first level, reading the runs
            FloatVector a = FloatVector.fromArray(S, x, from + 2 * p * L);
            FloatVector b = FloatVector.fromArray(S, x, from + (2 * p + 1) * L);
            a.blend(b, high).add(b.blend(a, high).rearrange(SWAP[w])).intoArray(half, p * L);
        }
        for (int vectors = L / 2; vectors > 1; vectors /= 2) {
            w /= 2;
            high = HIGH_LANES[w];
            for (int p = 0; p < vectors / 2; p++) {
                FloatVector a = FloatVector.fromArray(S, half, 2 * p * L);
                FloatVector b = FloatVector.fromArray(S, half, (2 * p + 1) * L);
                a.blend(b, high).add(b.blend(a, high).rearrange(SWAP[w])).intoArray(half, p * L);
            }
        }
        for (int lane = 0; lane < L; lane++) sums[c + BIT_REVERSED[lane]] = half[lane];
    }

    /**
     * The index of the first entry of x[0..n) that is NaN or infinite (-infinity allowed when removedAllowed), or
     * -1: runs of lanes with none are passed over at once.
     */
    public static int firstNonFinite(float[] x, int n, boolean removedAllowed) {
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            if (v.sub(v).eq(0f).allTrue()) continue; // x - x is NaN exactly for NaN and the infinities
            int at = scalarFirstNonFinite(x, i, i + L, removedAllowed);
            if (at >= 0) return at;
        }
        return scalarFirstNonFinite(x, i, n, removedAllowed);
    }

    private static int scalarFirstNonFinite(float[] x, int from, int to, boolean removedAllowed) {
        for (int i = from; i < to; i++) {
            if (!Float.isFinite(x[i]) && !(removedAllowed && x[i] == Float.NEGATIVE_INFINITY)) return i;
        }
        return -1;
    }

    /** Floats per vector in these kernels. */
    public static int lanes() {
        return L;
    }

    /** Sum of exp(x - shift), leaving x unchanged. */
    public static float sumExpShift(MemorySegment x, long xo, int n, float shift) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            acc = acc.add(exp(load(x, xo + i).sub(shift)));
        }
        float s = sum(acc);
        for (; i < n; i++) s += exp(get(x, xo + i) - shift);
        return s;
    }

    /**
     * RMSNorm of rows [from, to) of width d: y = scale * x / (sqrt(mean(x^2)) + eps), as published lumenspark
     * defines it (eps added to the RMS, not under the square root). Stores the denominator per row for backward.
     */
    public static void rmsNorm(MemorySegment x, MemorySegment scale, long scaleOffset, MemorySegment y,
                               MemorySegment denom, int d, float eps, int from, int to) {
        for (int r = from; r < to; r++) {
            long o = (long) r * d;
            float rms = (float) Math.sqrt(dot(x, o, x, o, d) / d);
            float den = rms + eps;
            put(denom, r, den);
            float inv = 1f / den;
            int i = 0;
            for (int bound = d - L; i <= bound; i += L) {
                store(load(x, o + i).mul(inv).mul(load(scale, scaleOffset + i)), y, o + i);
            }
            for (; i < d; i++) put(y, o + i, get(x, o + i) * inv * get(scale, scaleOffset + i));
        }
    }

    /**
     * RMSNorm backward for rows [from, to): dx = s*dy/D - x * (sum(s*dy*x) / (D^2 * d * rms)); also writes
     * dy * x / D into xhatGrad (the per-row contribution to the scale gradient, summed over rows by the caller).
     */
    public static void rmsNormBackward(MemorySegment x, MemorySegment scale, long scaleOffset, MemorySegment denom,
                                       MemorySegment dy, MemorySegment dx, MemorySegment xhatGrad, int d, float eps,
                                       int from, int to) {
        for (int r = from; r < to; r++) {
            long o = (long) r * d;
            float den = get(denom, r);
            float rms = den - eps;
            float inv = 1f / den;
            FloatVector acc = FloatVector.zero(S);
            int i = 0;
            for (int bound = d - L; i <= bound; i += L) {
                FloatVector sdy = load(dy, o + i).mul(load(scale, scaleOffset + i));
                acc = sdy.fma(load(x, o + i), acc);
            }
            float sdx = sum(acc);
            for (; i < d; i++) sdx += get(dy, o + i) * get(scale, scaleOffset + i) * get(x, o + i);
            // d rms / d x_i = x_i / (d * rms); guard rms == 0 (an all-zero row has zero gradient there)
            float coef = rms > 0 ? sdx * inv * inv / (d * rms) : 0f;
            i = 0;
            for (int bound = d - L; i <= bound; i += L) {
                FloatVector vx = load(x, o + i);
                FloatVector vdy = load(dy, o + i);
                store(vdy.mul(vx).mul(inv), xhatGrad, o + i);
                store(vdy.mul(load(scale, scaleOffset + i)).mul(inv).sub(vx.mul(coef)), dx, o + i);
            }
            for (; i < d; i++) {
                float vx = get(x, o + i), vdy = get(dy, o + i);
                put(xhatGrad, o + i, vdy * vx * inv);
                put(dx, o + i, vdy * get(scale, scaleOffset + i) * inv - vx * coef);
            }
        }
    }

    /** erf(x) by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, below float32 resolution near 1). */
    private static FloatVector erf(FloatVector x) {
        FloatVector ax = x.abs();
        FloatVector t = FloatVector.broadcast(S, 1f).div(ax.mul(0.3275911f).add(1f));
        FloatVector poly = t.mul(1.061405429f).add(-1.453152027f);
        poly = poly.fma(t, FloatVector.broadcast(S, 1.421413741f));
        poly = poly.fma(t, FloatVector.broadcast(S, -0.284496736f));
        poly = poly.fma(t, FloatVector.broadcast(S, 0.254829592f));
        poly = poly.mul(t);
        FloatVector e = exp(ax.mul(ax).neg());
        FloatVector y = FloatVector.broadcast(S, 1f).sub(poly.mul(e));
        VectorMask<Float> neg = x.compare(VectorOperators.LT, 0f);
        return y.blend(y.neg(), neg);
    }

    static float erf(float x) {
        float ax = Math.abs(x);
        float t = 1f / (1f + 0.3275911f * ax);
        float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t
                + 0.254829592f) * t;
        float y = 1f - poly * exp(-ax * ax);
        return x < 0 ? -y : y;
    }

    /** Exact (erf) GELU: y = x * Phi(x) over elements [from, to), the same indices in x and y. */
    public static void gelu(MemorySegment x, MemorySegment y, long from, long to) {
        long i = from;
        for (long bound = to - L; i <= bound; i += L) {
            FloatVector v = load(x, i);
            // intoMemorySegment directly, not store(): after inlining erf, C2 runs out of inlining budget for
            // store() and boxes the vector (JMH: GELU 2x slower).
            v.mul(0.5f).mul(erf(v.mul(SQRT_HALF)).add(1f)).intoMemorySegment(y, i * 4, NATIVE);
        }
        for (; i < to; i++) {
            float v = get(x, i);
            put(y, i, 0.5f * v * (1f + erf(v * SQRT_HALF)));
        }
    }

    /** GELU backward over elements [from, to): dx = dy * (Phi(x) + x * phi(x)); dx may alias dy. */
    public static void geluBackward(MemorySegment x, MemorySegment dy, MemorySegment dx, long from, long to) {
        long i = from;
        for (long bound = to - L; i <= bound; i += L) {
            FloatVector v = load(x, i);
            FloatVector cdf = erf(v.mul(SQRT_HALF)).add(1f).mul(0.5f);
            FloatVector pdf = exp(v.mul(v).mul(-0.5f)).mul(INV_SQRT_2PI);
            load(dy, i).mul(v.fma(pdf, cdf)).intoMemorySegment(dx, i * 4, NATIVE); // as in gelu
        }
        for (; i < to; i++) {
            float v = get(x, i);
            float cdf = 0.5f * (1f + erf(v * SQRT_HALF));
            float pdf = exp(-0.5f * v * v) * INV_SQRT_2PI;
            put(dx, i, get(dy, i) * (cdf + v * pdf));
        }
    }

    /**
     * One AdamW update over [from, to): decoupled weight decay (lr * wd * w), bias-corrected moments, the
     * gradient first multiplied by gradScale (gradient clipping, fused here to save a pass over memory).
     * b1c and b2c are 1 - beta^t. The range indexes all four buffers alike; w, m and v are updated in place.
     */
    public static void adamw(MemorySegment w, MemorySegment g, MemorySegment m, MemorySegment v, long from, long to,
                             float lr, float beta1, float beta2, float eps, float weightDecay, float b1c, float b2c,
                             float gradScale) {
        float decay = 1f - lr * weightDecay;
        float stepSize = lr / b1c;
        float invSqrtB2c = (float) (1 / Math.sqrt(b2c));
        long i = from;
        for (long bound = to - L; i <= bound; i += L) {
            FloatVector vg = load(g, i).mul(gradScale);
            FloatVector vm = load(m, i).mul(beta1).add(vg.mul(1f - beta1));
            FloatVector vv = load(v, i).mul(beta2).add(vg.mul(vg).mul(1f - beta2));
            store(vm, m, i);
            store(vv, v, i);
            FloatVector denom = vv.sqrt().mul(invSqrtB2c).add(eps);
            store(load(w, i).mul(decay).sub(vm.mul(stepSize).div(denom)), w, i);
        }
        for (; i < to; i++) {
            float gi = get(g, i) * gradScale;
            float mi = beta1 * get(m, i) + (1f - beta1) * gi;
            float vi = beta2 * get(v, i) + (1f - beta2) * gi * gi;
            put(m, i, mi);
            put(v, i, vi);
            float denom = (float) Math.sqrt(vi) * invSqrtB2c + eps;
            put(w, i, get(w, i) * decay - stepSize * mi / denom);
        }
    }

    /**
     * Softmax of one attention row of width w starting at element o, whose visible entries are [0, slots) and
     * [localStart, localStart + local), with slots &lt;= localStart &lt;= w - local; every other entry becomes 0.
     */
    public static void maskedSoftmax(MemorySegment x, long o, int w, int slots, int localStart, int local) {
        float m = Math.max(slots > 0 ? max(x, o, slots) : Float.NEGATIVE_INFINITY,
                local > 0 ? max(x, o + localStart, local) : Float.NEGATIVE_INFINITY);
        float s = expShiftSum(x, o, slots, m) + expShiftSum(x, o + localStart, local, m);
        float inv = 1f / s;
        scale(x, o, slots, inv);
        scale(x, o + localStart, local, inv);
        zeroOutside(x, o, w, slots, localStart, local);
    }

    /**
     * Backward of {@link #maskedSoftmax} for one row: p (at po) is the softmax output, dp (at dpo) the gradient
     * of the output; dp becomes p * (dp - sum(p * dp)) on the visible entries and 0 elsewhere.
     */
    public static void maskedSoftmaxBackward(MemorySegment p, long po, MemorySegment dp, long dpo, int w, int slots,
                                             int localStart, int local) {
        float s = dot(p, po, dp, dpo, slots) + dot(p, po + localStart, dp, dpo + localStart, local);
        FloatVector vs = FloatVector.broadcast(S, s);
        for (int part = 0; part < 2; part++) {
            int shift = part == 0 ? 0 : localStart;
            int n = part == 0 ? slots : local;
            int i = 0;
            for (int bound = n - L; i <= bound; i += L) {
                long a = po + shift + i, b = dpo + shift + i;
                store(load(p, a).mul(load(dp, b).sub(vs)), dp, b);
            }
            for (; i < n; i++) {
                long a = po + shift + i, b = dpo + shift + i;
                put(dp, b, get(p, a) * (get(dp, b) - s));
            }
        }
        zeroOutside(dp, dpo, w, slots, localStart, local);
    }

    /**
     * dst[dstFrom..] = src[srcFrom..] as bfloat16 over count elements, rounded to nearest even: the bits of
     * {@link QuantizedMatrix#toBf16} for finite values, a vector at a time.
     */
    public static void toBf16(MemorySegment src, long srcFrom, MemorySegment dst, long dstFrom, long count) {
        long i = 0;
        for (long bound = count - L; i <= bound; i += L) {
            IntVector bits = IntVector.fromMemorySegment(IS, src, (srcFrom + i) * 4, NATIVE);
            IntVector odd = bits.lanewise(VectorOperators.LSHR, 16).and(1);
            IntVector rounded = bits.add(0x7FFF).add(odd).lanewise(VectorOperators.LSHR, 16);
            ((ShortVector) rounded.convertShape(VectorOperators.I2S, HS, 0)).intoMemorySegment(dst,
                    (dstFrom + i) * 2, NATIVE);
        }
        for (; i < count; i++) {
            dst.setAtIndex(JAVA_SHORT, dstFrom + i, QuantizedMatrix.toBf16(get(src, srcFrom + i)));
        }
    }

    private static void zeroOutside(MemorySegment x, long o, int w, int slots, int localStart, int local) {
        x.asSlice((o + slots) * 4, (long) (localStart - slots) * 4).fill((byte) 0);
        x.asSlice((o + localStart + local) * 4, (long) (w - localStart - local) * 4).fill((byte) 0);
    }
}
