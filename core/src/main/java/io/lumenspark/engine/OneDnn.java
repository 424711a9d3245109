package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The system's oneDNN (Debian's libdnnl2, a dependency of python3-torch) called through the FFM API: its row-major
 * {@code dnnl_sgemm} and {@code dnnl_gemm_bf16bf16f32} (bf16 A and B, float32 accumulation and C) here, its
 * primitives API for products on packed weights in {@link PackedMatmul}. Optional: when the library is absent
 * {@link #load} says why in one line instead; {@link #bf16} and {@link #vnni} say whether the CPU runs the bf16 and
 * int8 products natively (without AVX512_BF16 oneDNN would emulate bf16 at a fraction of fp32's speed; without VNNI
 * its int8 kernels add pairs of products in 16 bits, which can saturate, so the sums would not be exact).
 *
 * <p>Debian builds oneDNN on OpenMP (libgomp). Each call runs on one OpenMP thread: products are split across
 * {@link Parallel}'s threads as OpenBLAS's are, so the run's --threads holds for them too and OpenMP's own workers
 * never spin on the cores between products. OpenMP's thread count is a per-thread setting, so every calling
 * thread sets it to 1 before its first call ({@link #singleThreaded}).
 */
final class OneDnn {
    /** The soname, then Debian's path for it. */
    static final List<String> LIBRARIES = List.of("libdnnl.so.2", "/usr/lib/x86_64-linux-gnu/libdnnl.so.2");
    /** System property: the oneDNN library to load (a path or soname) instead of the system's libdnnl.so.2. */
    static final String LIBRARY_PROPERTY = "lumenspark.onednn";
    /** dnnl_cpu_isa_avx512_core_bf16: the ISA bits a native bf16 product needs (the enum is cumulative bits). */
    private static final int ISA_AVX512_CORE_BF16 = 0xe7;
    /** dnnl_cpu_isa_avx512_core_vnni: the ISA bits of exact int8 products (VPDPBUSD: 32-bit sums). */
    private static final int ISA_AVX512_CORE_VNNI = 0x67;
    private static final ThreadLocal<Boolean> SINGLE_THREADED = ThreadLocal.withInitial(() -> false);
    /** What loading each library (the property's value) gave. */
    private static final Map<String, Loaded> LOADED = new ConcurrentHashMap<>();

    private final MethodHandle sgemm, gemmBf16, ompSetNumThreads;
    private final SymbolLookup lookup; // for PackedMatmul's functions
    private final String version;
    private final int major, isa;

    /** A loaded library, or why there is none. */
    record Loaded(OneDnn library, String reason) {
    }

    private OneDnn(MethodHandle sgemm, MethodHandle gemmBf16, MethodHandle ompSetNumThreads, SymbolLookup lookup,
                   int major, String version, int isa) {
        this.sgemm = sgemm;
        this.gemmBf16 = gemmBf16;
        this.ompSetNumThreads = ompSetNumThreads;
        this.lookup = lookup;
        this.major = major;
        this.version = version;
        this.isa = isa;
    }

    /**
     * The library {@value #LIBRARY_PROPERTY} names (a path or soname), else the system's ({@link #LIBRARIES}),
     * loaded once.
     */
    static Loaded system() {
        return LOADED.computeIfAbsent(System.getProperty(LIBRARY_PROPERTY, ""),
                library -> load(library.isEmpty() ? LIBRARIES : List.of(library)));
    }

    /** Loads oneDNN from the first of libraries that opens (a soname or a path); the reason names what is missing. */
    // binding native functions is what this class is for; the JVM runs with --enable-native-access
    @SuppressWarnings("restricted")
    static Loaded load(List<String> libraries) {
        SymbolLookup lookup = null;
        String found = null;
        List<String> tried = new ArrayList<>();
        for (String library : libraries) {
            try {
                lookup = SymbolLookup.libraryLookup(library, Arena.global());
                found = library;
                break;
            } catch (IllegalArgumentException e) {
                tried.add(library);
            }
        }
        if (lookup == null) return new Loaded(null, "oneDNN not found (" + String.join(", ", tried) + ")");
        Linker linker = Linker.nativeLinker();
        Optional<MemorySegment> sgemm = lookup.find("dnnl_sgemm"), bf16 = lookup.find("dnnl_gemm_bf16bf16f32"),
                isa = lookup.find("dnnl_get_effective_cpu_isa"),
                version = lookup.find("dnnl_version"),
                threads = lookup.find("omp_set_num_threads"); // libgomp's, found through libdnnl's dependencies
        if (sgemm.isEmpty() || bf16.isEmpty() || isa.isEmpty() || version.isEmpty()) {
            return new Loaded(null, found + " is not oneDNN 2 or later: it lacks dnnl_sgemm, dnnl_gemm_bf16bf16f32,"
                    + " dnnl_get_effective_cpu_isa or dnnl_version");
        }
        if (threads.isEmpty()) {
            return new Loaded(null, found + " is not the OpenMP build of oneDNN: no omp_set_num_threads");
        }
        // (char transa, char transb, dim_t M, N, K, float alpha, A, dim_t lda, B, dim_t ldb, float beta, C, ldc)
        FunctionDescriptor gemm = FunctionDescriptor.of(JAVA_INT, JAVA_BYTE, JAVA_BYTE, JAVA_LONG, JAVA_LONG,
                JAVA_LONG, JAVA_FLOAT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_FLOAT, ADDRESS, JAVA_LONG);
        String label;
        int cpuIsa, major;
        try {
            cpuIsa = (int) linker.downcallHandle(isa.get(), FunctionDescriptor.of(JAVA_INT)).invokeExact();
            // dnnl_version_t: int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime
            MemorySegment v = ((MemorySegment) linker.downcallHandle(version.get(), FunctionDescriptor.of(ADDRESS))
                    .invokeExact()).reinterpret(12);
            major = v.getAtIndex(JAVA_INT, 0);
            label = "oneDNN " + major + "." + v.getAtIndex(JAVA_INT, 1) + "." + v.getAtIndex(JAVA_INT, 2);
        } catch (Throwable e) {
            return new Loaded(null, "oneDNN found but its version or CPU ISA could not be read: " + e.getMessage());
        }
        return new Loaded(new OneDnn(linker.downcallHandle(sgemm.get(), gemm), linker.downcallHandle(bf16.get(), gemm),
                linker.downcallHandle(threads.get(), FunctionDescriptor.ofVoid(JAVA_INT)), lookup, major, label,
                cpuIsa), null);
    }

    /** The library and its version, e.g. "oneDNN 2.6.3". */
    String version() {
        return version;
    }

    /** Whether this CPU runs {@link #gemmBf16} natively (AVX512_BF16). */
    boolean bf16() {
        return hasIsa(ISA_AVX512_CORE_BF16);
    }

    /** Whether this CPU sums int8 products exactly in oneDNN (AVX512 VNNI). */
    boolean vnni() {
        return hasIsa(ISA_AVX512_CORE_VNNI);
    }

    /** Whether oneDNN's ISA here includes the given one (dnnl_cpu_isa_t values are cumulative bits). */
    boolean hasIsa(int bits) {
        return (isa & bits) == bits;
    }

    /** The library's major version: 2 for Debian's libdnnl2. */
    int major() {
        return major;
    }

    /** The library's symbols, for the functions bound elsewhere ({@link PackedMatmul}). */
    SymbolLookup lookup() {
        return lookup;
    }

    /** oneDNN's ISA on this CPU, for messages: "0xe7". */
    String isa() {
        return "0x" + Integer.toHexString(isa);
    }

    /**
     * C = alpha op(A) op(B) + beta C on float32 (row-major, leading dimensions and offsets in elements), as one
     * single-threaded call.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, long aOffset,
               int lda, MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset, int ldc) {
        call(sgemm, "dnnl_sgemm", transA, transB, m, n, k, alpha, a.asSlice(aOffset * 4), lda,
                b.asSlice(bOffset * 4), ldb, beta, c.asSlice(cOffset * 4), ldc);
    }

    /**
     * C = alpha op(A) op(B) + beta C with A and B bfloat16 (offsets and leading dimensions in bf16 elements) and C
     * float32, accumulated in float32, as one single-threaded call.
     */
    void gemmBf16(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, long aOffset,
                  int lda, MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset,
                  int ldc) {
        call(gemmBf16, "dnnl_gemm_bf16bf16f32", transA, transB, m, n, k, alpha, a.asSlice(aOffset * 2), lda,
                b.asSlice(bOffset * 2), ldb, beta, c.asSlice(cOffset * 4), ldc);
    }

    /** Sets OpenMP's thread count to 1 on the calling thread, once. */
    void singleThreaded() throws Throwable {
        if (!SINGLE_THREADED.get()) {
            ompSetNumThreads.invokeExact(1);
            SINGLE_THREADED.set(true);
        }
    }

    private void call(MethodHandle h, String function, boolean transA, boolean transB, int m, int n, int k,
                      float alpha, MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c,
                      int ldc) {
        if (m == 0 || n == 0) return;
        int status;
        try {
            singleThreaded();
            status = (int) h.invokeExact(transA ? (byte) 'T' : (byte) 'N', transB ? (byte) 'T' : (byte) 'N',
                    (long) m, (long) n, (long) k, alpha, a, (long) lda, b, (long) ldb, beta, c, (long) ldc);
        } catch (Throwable e) {
            throw new IllegalStateException(function + " failed", e);
        }
        if (status != 0) throw new IllegalStateException(function + " returned status " + status);
    }
}
