package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Matrix products with bfloat16 inputs and float32 accumulation and output, through the system's oneDNN
 * ({@code dnnl_gemm_bf16bf16f32}, AVX512_BF16's {@code VDPBF16PS}: twice fp32's multiply-adds per instruction).
 * Float32 inputs are rounded to bf16 to nearest even ({@link Kernels#toBf16}); callers that use an operand
 * several times convert it once ({@link #convert}) and pass {@link Bf16Mat}s. Products are split across
 * {@link Parallel}'s threads as the fp32 backend's are, so a result depends only on the inputs and the thread
 * count.
 *
 * <p>Optional: {@link #find} is empty, and {@link #unavailableReason} says why in one line, when the library is
 * absent or the CPU has no AVX512_BF16. The system property {@value #LIBRARY_PROPERTY} names another library to
 * load (a path or soname) instead of {@code libdnnl.so.2}.
 */
public final class Bf16Gemm {
    /** System property: the oneDNN library to load (a path or soname) instead of the system's libdnnl.so.2. */
    public static final String LIBRARY_PROPERTY = OneDnn.LIBRARY_PROPERTY;
    /** One instance per library (each keeps its threads' conversion buffers). */
    private static final Map<OneDnn, Bf16Gemm> INSTANCES = new ConcurrentHashMap<>();
    private final OneDnn dnnl;
    /** Each thread's buffers for converting float32 operands: two, grown as needed. */
    private final ThreadLocal<MemorySegment[]> scratch = ThreadLocal.withInitial(() -> new MemorySegment[2]);

    private Bf16Gemm(OneDnn dnnl) {
        this.dnnl = dnnl;
    }

    /** The bf16 products, when oneDNN loads and this CPU multiplies bf16 natively. */
    public static Optional<Bf16Gemm> find() {
        OneDnn dnnl = OneDnn.system().library();
        return dnnl != null && dnnl.bf16() ? Optional.of(INSTANCES.computeIfAbsent(dnnl, Bf16Gemm::new)) : Optional.empty();
    }

    /** Why {@link #find} is empty (one line, e.g. "oneDNN not found (libdnnl.so.2, ...)"), or null when it is not. */
    public static String unavailableReason() {
        OneDnn.Loaded l = OneDnn.system();
        if (l.library() == null) return l.reason();
        return l.library().bf16() ? null : l.library().version() + " found, but this CPU has no AVX512_BF16 (oneDNN's"
                + " ISA here: " + l.library().isa() + ")";
    }

    /** The library, e.g. "oneDNN 2.6.3 (avx512_core_bf16)". */
    public String name() {
        return dnnl.version() + " (avx512_core_bf16)";
    }

    /**
     * Rows x cols float32 elements of src (rows ld apart) as bf16 into dst (its rows dst.ld() apart), rounded to
     * nearest even, the rows split across threads.
     */
    public static void convert(Mat src, int rows, int cols, Bf16Mat dst) {
        Parallel.rows(rows, cols, (from, to) -> {
            for (int r = from; r < to; r++) {
                Kernels.toBf16(src.data(), src.offset() + (long) r * src.ld(), dst.data(),
                        dst.offset() + (long) r * dst.ld(), cols);
            }
        });
    }

    /**
     * C = alpha op(A) op(B) + beta C with A and B in bf16 and C float32 (accumulated in float32): op(X) = X^T when
     * its trans flag is set; op(A) is m x k, op(B) k x n and C m x n. As in BLAS, C need not be initialized when
     * beta is 0.
     */
    public void gemm(Bf16Mat a, boolean transA, Bf16Mat b, boolean transB, Mat c, int m, int n, int k, float alpha,
                     float beta) {
        ((SplitGemm) dnnl::gemmBf16).split(transA, transB, m, n, k, alpha, a.data(), a.offset(), a.ld(), b.data(),
                b.offset(), b.ld(), beta, c.data(), c.offset(), c.ld());
    }

    /**
     * The same product of float32 A and B, each rounded to bf16 first (into this thread's scratch buffers): for
     * operands used once.
     */
    public void gemm(Mat a, boolean transA, Mat b, boolean transB, Mat c, int m, int n, int k, float alpha,
                     float beta) {
        MemorySegment[] buffers = scratch.get();
        gemm(toBf16(a, transA ? k : m, transA ? m : k, buffers, 0), transA,
                toBf16(b, transB ? n : k, transB ? k : n, buffers, 1), transB, c, m, n, k, alpha, beta);
    }

    /** A rows x cols float32 matrix as a packed bf16 one in buffers[slot], grown to fit. */
    private static Bf16Mat toBf16(Mat src, int rows, int cols, MemorySegment[] buffers, int slot) {
        long bytes = Bf16Mat.bytes((long) rows * cols);
        if (buffers[slot] == null || buffers[slot].byteSize() < bytes) {
            buffers[slot] = Arena.ofAuto().allocate(bytes, 64); // freed with the thread's buffers
        }
        Bf16Mat dst = new Bf16Mat(buffers[slot], cols);
        convert(src, rows, cols, dst);
        return dst;
    }

    /**
     * oneDNN's float32 product ({@code dnnl_sgemm}) as a {@link Blas}, split across threads as OpenBLAS's is: for
     * comparing the two fp32 kernels ({@code bench gemm --onednn}).
     */
    public Blas sgemm() {
        SplitGemm split = dnnl::sgemm;
        String name = dnnl.version() + " sgemm";
        return new Blas() {
            @Override
            public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a,
                              long aOffset, int lda, MemorySegment b, long bOffset, int ldb, float beta,
                              MemorySegment c, long cOffset, int ldc) {
                split.split(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            }

            /** y = A x as an m x 1 product. */
            @Override
            public void matVec(int m, int n, MemorySegment a, long aOffset, int lda, MemorySegment x, long xOffset,
                               MemorySegment y, long yOffset) {
                split.split(false, false, m, 1, n, 1f, a, aOffset, lda, x, xOffset, 1, 0f, y, yOffset, 1);
            }

            @Override
            public String name() {
                return name;
            }
        };
    }
}
