package io.lumenspark.engine;

import io.lumenspark.LumensparkException;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * OpenBLAS called through the FFM API. The bytedeco artifact only ships and loads the native library (it picks
 * AVX-512 kernels on CPUs that have them); calls go straight to cblas_sgemm with our native segments, no copies.
 */
final class OpenBlas implements Blas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private final MethodHandle sgemm, sgemv;
    private final String name;

    private OpenBlas(MethodHandle sgemm, MethodHandle sgemv, String name) {
        this.sgemm = sgemm;
        this.sgemv = sgemv;
        this.name = name;
    }

    // binding native functions is what this class is for; the JVM runs with --enable-native-access
    @SuppressWarnings("restricted")
    static OpenBlas load() {
        Linker linker = Linker.nativeLinker();
        SymbolLookup lookup = symbols();
        MemorySegment sgemm = lookup.find("cblas_sgemm")
                .orElseThrow(() -> new LumensparkException("OpenBLAS loaded but has no cblas_sgemm"));
        MethodHandle handle = linker.downcallHandle(sgemm, FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS,
                JAVA_INT));
        MemorySegment sgemv = lookup.find("cblas_sgemv")
                .orElseThrow(() -> new LumensparkException("OpenBLAS loaded but has no cblas_sgemv"));
        MethodHandle gemv = linker.downcallHandle(sgemv, FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT));
        String config = "OpenBLAS";
        try {
            // OpenBLAS runs single-threaded; products are split across our own pool instead. Its own worker
            // threads spin after each product and would steal the cores our kernels run on between products.
            lookup.find("openblas_set_num_threads").ifPresent(f -> invokeQuietly(
                    linker.downcallHandle(f, FunctionDescriptor.ofVoid(JAVA_INT)), 1));
            MemorySegment getConfig = lookup.find("openblas_get_config").orElse(null);
            if (getConfig != null) {
                MemorySegment s = (MemorySegment) linker.downcallHandle(getConfig, FunctionDescriptor.of(ADDRESS))
                        .invokeExact();
                config = s.reinterpret(256).getString(0);
            }
        } catch (Throwable e) {
            throw new LumensparkException("cannot configure OpenBLAS: " + e.getMessage(), e);
        }
        return new OpenBlas(handle, gemv, config.replace(" NO_AFFINITY", "").replace(" DYNAMIC_ARCH", ""));
    }

    /**
     * Loads the library (JavaCPP extracts it from its jar) and returns its symbols, looked up in the file it loaded
     * and the libraries that file links, not through a class loader: under spark-submit, JavaCPP and this class may
     * be loaded by different class loaders, and {@link SymbolLookup#loaderLookup()} sees only the libraries of this
     * one.
     */
    @SuppressWarnings("restricted") // a lookup in a native library's file, for the downcalls above
    static SymbolLookup symbols() {
        String file;
        try {
            file = Loader.load(openblas_nolapack.class);
        } catch (Throwable e) {
            throw new LumensparkException("cannot load OpenBLAS: " + e.getMessage(), e);
        }
        if (file == null) throw new LumensparkException("cannot load OpenBLAS: JavaCPP found no library file");
        return SymbolLookup.libraryLookup(Path.of(file), Arena.global());
    }

    private static void invokeQuietly(MethodHandle h, int arg) {
        try {
            h.invokeExact(arg);
        } catch (Throwable e) {
            throw new LumensparkException("OpenBLAS call failed: " + e.getMessage(), e);
        }
    }

    /** One single-threaded OpenBLAS call per thread on a block of C (see {@link SplitGemm}). */
    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        ((SplitGemm) this::call).split(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c,
                cOffset, ldc);
    }

    /** cblas_sgemv on a block of rows per thread (measured: 5.7 ms for 50257 x 512 on 2 threads, numpy 5.0). */
    @Override
    public void matVec(int m, int n, MemorySegment a, long aOffset, int lda, MemorySegment x, long xOffset,
                       MemorySegment y, long yOffset) {
        Parallel.rows(m, n, (r0, r1) -> {
            try {
                sgemv.invokeExact(ROW_MAJOR, NO_TRANS, r1 - r0, n, 1f, a.asSlice((aOffset + (long) r0 * lda) * 4),
                        lda, x.asSlice(xOffset * 4), 1, 0f, y.asSlice((yOffset + r0) * 4), 1);
            } catch (Throwable e) {
                throw new IllegalStateException("cblas_sgemv failed", e);
            }
        });
    }

    private void call(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        if (m == 0 || n == 0) return;
        try {
            sgemm.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    a.asSlice(aOffset * 4), lda, b.asSlice(bOffset * 4), ldb, beta, c.asSlice(cOffset * 4), ldc);
        } catch (Throwable e) {
            throw new IllegalStateException("cblas_sgemm failed", e);
        }
    }

    @Override
    public String name() {
        return name;
    }
}
