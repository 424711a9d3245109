package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * C = A B through oneDNN's matmul primitive (the oneDNN 2.x C API), with A [m, k] row-major and B a [k, n] weight
 * matrix packed once ({@link #pack}) in the layout oneDNN's own kernels read, in one of two {@link Kind}s: uint8
 * times int8 into int32 (on AVX512 VNNI its brgemm kernels: VPDPBUSD, four multiply-adds per lane and
 * instruction), or float32 throughout. Packing is what makes it fast for a few rows: {@code dnnl_gemm_u8s8s32}
 * repacks B on every call, which for lumenspark's output layer (50,257 x 512, 16 rows, 2 threads) took 2.7 ms
 * against 1.3 ms here, and 0.74 against 0.36 ms for one row (measured in C on the same library). Weights are
 * packed in the layout of the one-row primitive; the primitive for m rows is used on them only where its layout
 * is the same (on this CPU, AVX512 VNNI without AMX, it was for every m from 1 to 1,024), else the m rows go
 * through the one-row primitive one by one: the same results, slower. (C is written contiguous: with its rows
 * further apart than n, oneDNN 2.6 packs float32 weights in another layout and multiplies 16 rows with its older
 * gemm kernels, four times slower than its brgemm ones here.)
 *
 * <p>Each call runs single-threaded on the calling thread (as {@link OneDnn}'s gemm calls) with its own stream and
 * scratchpad, so threads may multiply concurrently with the same primitive: callers split n across
 * {@link Parallel}'s threads. One primitive per shape (m, n, k) is made on first use and kept for the process
 * (a few shapes: m up to the largest batch, n the slice widths).
 */
final class PackedMatmul {
    // oneDNN 2.x enum values and struct sizes (dnnl_types.h of 2.6; the structs are allocated with room to spare)
    private static final int ENGINE_CPU = 1, DATA_F32 = 3, DATA_S32 = 4, DATA_S8 = 5, DATA_U8 = 6;
    private static final int TAG_ANY = 1, TAG_AB = 3, TAG_BA = 22;
    private static final int QUERY_IMPL_INFO_STR = 8, QUERY_SRC_MD = 129, QUERY_WEIGHTS_MD = 131,
            QUERY_DST_MD = 133, QUERY_SCRATCHPAD_MD = 136;
    private static final int ARG_SRC = 1, ARG_DST = 17, ARG_WEIGHTS = 33, ARG_SCRATCHPAD = 80;
    private static final int SCRATCHPAD_MODE_USER = 1, STREAM_IN_ORDER = 1;
    private static final long MEMORY_DESC_BYTES = 2048, MATMUL_DESC_BYTES = 8192; // 696 and 2800 in 2.6
    /** dnnl_cpu_isa_avx512_core: the ISA bits of the AVX-512 float32 kernels (the enum is cumulative bits). */
    private static final int ISA_AVX512_CORE = 0x27;
    /** One instance per library and kind, or why there is none (the library is not oneDNN 2, or binding failed). */
    private static final Map<Key, Made> INSTANCES = new ConcurrentHashMap<>();

    /** The data types of a product: A's, B's and C's, with their sizes in bytes. */
    enum Kind {
        /** uint8 A times int8 B into int32 C: exact sums where the CPU has AVX512 VNNI. */
        INT8(DATA_U8, DATA_S8, DATA_S32, 1, 1, "int8", "u8 x s8"),
        /** float32 throughout. */
        F32(DATA_F32, DATA_F32, DATA_F32, 4, 4, "float32", "f32");

        private final int src, weights, dst, srcBytes, weightBytes;
        private final String label, types;

        Kind(int src, int weights, int dst, int srcBytes, int weightBytes, String label, String types) {
            this.src = src;
            this.weights = weights;
            this.dst = dst;
            this.srcBytes = srcBytes;
            this.weightBytes = weightBytes;
            this.label = label;
            this.types = types;
        }

        /** A's and B's types, for messages: "u8 x s8". */
        String types() {
            return types;
        }
    }

    private record Key(OneDnn library, Kind kind) {
    }

    private final OneDnn dnnl;
    private final Kind kind;
    private final MethodHandle engineCreate, streamCreate, mdInitByTag, mdGetSize, mdEqual, matmulDescInit,
            attrCreate,
            attrSetScratchpadMode, pdCreate, pdQuery, pdQueryMd, pdDestroy, primitiveCreate, primitiveDestroy,
            primitiveExecute, memoryCreate, memoryDestroy, reorderPdCreate, streamWait;
    private final MemorySegment engine, attr;
    private final Map<Shape, Primitive> primitives = new ConcurrentHashMap<>();
    private final ThreadLocal<Calls> calls = new ThreadLocal<>();

    /** A product's shape: C [m, n] = A [m, k] B [k, n]. */
    private record Shape(int m, int n, int k) {
    }

    private record Made(PackedMatmul matmul, String reason) {
    }

    /**
     * A matmul primitive and its memory descriptors (owned by its primitive descriptor; both kept for the process);
     * packedLayout: whether its weights layout is the one-row primitive's, in which {@link #pack} packs.
     */
    private record Primitive(int m, int n, int k, MemorySegment primitive, MemorySegment src, MemorySegment weights,
                             long weightsBytes, MemorySegment dst, MemorySegment scratchpadMd, long scratchpadBytes,
                             String implementation, boolean packedLayout) {
    }

    /** One thread's stream, scratchpad and argument block. */
    private record Calls(MemorySegment stream, MemorySegment out, MemorySegment args, MemorySegment[] scratchpad) {
    }

    // binding native functions is what this class is for; the JVM runs with --enable-native-access
    @SuppressWarnings("restricted")
    private PackedMatmul(OneDnn dnnl, Kind kind) throws Throwable {
        this.dnnl = dnnl;
        this.kind = kind;
        Linker linker = Linker.nativeLinker();
        java.util.function.BiFunction<String, FunctionDescriptor, MethodHandle> bind = (name, f) ->
                linker.downcallHandle(dnnl.lookup().find(name).orElseThrow(() -> new IllegalStateException(name)), f);
        FunctionDescriptor status2 = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
        engineCreate = bind.apply("dnnl_engine_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        streamCreate = bind.apply("dnnl_stream_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        mdInitByTag = bind.apply("dnnl_memory_desc_init_by_tag",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        mdGetSize = bind.apply("dnnl_memory_desc_get_size", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        mdEqual = bind.apply("dnnl_memory_desc_equal", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        matmulDescInit = bind.apply("dnnl_matmul_desc_init",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        attrCreate = bind.apply("dnnl_primitive_attr_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        attrSetScratchpadMode = bind.apply("dnnl_primitive_attr_set_scratchpad_mode",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        pdCreate = bind.apply("dnnl_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        pdQuery = bind.apply("dnnl_primitive_desc_query",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        pdQueryMd = bind.apply("dnnl_primitive_desc_query_md",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT));
        pdDestroy = bind.apply("dnnl_primitive_desc_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveCreate = bind.apply("dnnl_primitive_create", status2);
        primitiveDestroy = bind.apply("dnnl_primitive_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveExecute = bind.apply("dnnl_primitive_execute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        memoryCreate = bind.apply("dnnl_memory_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        memoryDestroy = bind.apply("dnnl_memory_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        reorderPdCreate = bind.apply("dnnl_reorder_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        streamWait = bind.apply("dnnl_stream_wait", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        Arena global = Arena.global();
        MemorySegment out = global.allocate(ADDRESS);
        check((int) engineCreate.invokeExact(out, ENGINE_CPU, 0L), "dnnl_engine_create");
        engine = out.get(ADDRESS, 0);
        check((int) attrCreate.invokeExact(out), "dnnl_primitive_attr_create");
        attr = out.get(ADDRESS, 0);
        check((int) attrSetScratchpadMode.invokeExact(attr, SCRATCHPAD_MODE_USER),
                "dnnl_primitive_attr_set_scratchpad_mode");
    }

    /**
     * oneDNN's products of this kind when it loads, is version 2 (whose C API this class speaks) and runs them
     * natively on this CPU (int8: exact sums with AVX512 VNNI; float32: its AVX-512 kernels, the ones measured);
     * else empty.
     */
    static Optional<PackedMatmul> find(Kind kind) {
        OneDnn dnnl = OneDnn.system().library();
        if (dnnl == null || !runsNatively(dnnl, kind) || dnnl.major() != 2) return Optional.empty();
        return Optional.ofNullable(made(dnnl, kind).matmul);
    }

    private static boolean runsNatively(OneDnn dnnl, Kind kind) {
        return kind == Kind.INT8 ? dnnl.vnni() : dnnl.hasIsa(ISA_AVX512_CORE);
    }

    private static Made made(OneDnn dnnl, Kind kind) {
        return INSTANCES.computeIfAbsent(new Key(dnnl, kind), key -> {
            try {
                PackedMatmul m = new PackedMatmul(key.library, key.kind);
                m.implementation(); // a primitive can be made here
                return new Made(m, null);
            } catch (Throwable e) {
                return new Made(null, e.getMessage() != null ? e.getMessage() : e.toString());
            }
        });
    }

    /** Why {@link #find} is empty, in a few words for a message; null when it is not. */
    static String unavailableReason(Kind kind) {
        OneDnn.Loaded l = OneDnn.system();
        if (l.library() == null) return l.reason();
        OneDnn d = l.library();
        if (!runsNatively(d, kind)) {
            return d.version() + " found, but " + (kind == Kind.INT8
                    ? "its int8 sums are not exact on this CPU without AVX512 VNNI"
                    : "its float32 kernels here are not the AVX-512 ones measured") + " (oneDNN's ISA here: "
                    + d.isa() + ")";
        }
        if (d.major() != 2) return d.version() + " found, but the packed products need oneDNN 2.x (its C API)";
        Made m = made(d, kind);
        return m.matmul != null ? null
                : d.version() + " found, but its " + kind.label + " matmul could not be set up: " + m.reason;
    }

    /** The library, e.g. "oneDNN 2.6.3". */
    String version() {
        return dnnl.version();
    }

    /** This instance's kind. */
    Kind kind() {
        return kind;
    }

    /** oneDNN's kernel, e.g. "brg:avx512_core_vnni" (for one row and 64 x 64 weights, made when it was found). */
    String implementation() {
        return primitive(1, 64, 64).implementation;
    }

    /** Bytes of weights k x n packed for {@link #multiply} (n and k padded to oneDNN's blocks). */
    long packedBytes(int n, int k) {
        return primitive(1, n, k).weightsBytes;
    }

    /**
     * Packs n x k weights q (row-major: one row of k per output, PyTorch's [out, in]; int8 or float32 as the kind
     * says) into packed ({@link #packedBytes} bytes), as the k x n matrix B of {@link #multiply}. Runs on the
     * calling thread.
     */
    void pack(MemorySegment q, int n, int k, MemorySegment packed) {
        Primitive p = primitive(1, n, k);
        if (q.byteSize() < (long) n * k * kind.weightBytes || packed.byteSize() < p.weightsBytes) {
            throw new IllegalArgumentException("buffers too small to pack " + n + "x" + k + " " + kind.label
                    + " weights");
        }
        MemorySegment pd = MemorySegment.NULL, reorder = MemorySegment.NULL, from = MemorySegment.NULL,
                to = MemorySegment.NULL;
        try (Arena arena = Arena.ofConfined()) {
            dnnl.singleThreaded();
            MemorySegment plain = arena.allocate(MEMORY_DESC_BYTES, 8), out = arena.allocate(ADDRESS);
            check((int) mdInitByTag.invokeExact(plain, 2, arena.allocateFrom(JAVA_LONG, k, n), kind.weights, TAG_BA),
                    "dnnl_memory_desc_init_by_tag");
            check((int) reorderPdCreate.invokeExact(out, plain, engine, p.weights, engine, MemorySegment.NULL),
                    "dnnl_reorder_primitive_desc_create");
            pd = out.get(ADDRESS, 0);
            check((int) primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
            reorder = out.get(ADDRESS, 0);
            from = memory(plain, q, out);
            to = memory(p.weights, packed, out);
            Calls c = calls();
            MemorySegment args = c.args;
            args.set(JAVA_INT, 0, ARG_SRC); // DNNL_ARG_FROM
            args.set(ADDRESS, 8, from);
            args.set(JAVA_INT, 16, ARG_DST); // DNNL_ARG_TO
            args.set(ADDRESS, 24, to);
            check((int) primitiveExecute.invokeExact(reorder, c.stream, 2, args), "dnnl_primitive_execute (reorder)");
            check((int) streamWait.invokeExact(c.stream), "dnnl_stream_wait");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("packing " + kind.label + " weights for oneDNN failed", e);
        } finally {
            destroy(memoryDestroy, from, to);
            destroy(primitiveDestroy, reorder);
            destroy(pdDestroy, pd);
        }
    }

    /**
     * C = A B as single-threaded calls: A [m, k] and C [m, n] row-major and contiguous (int8: int32 sums, exact
     * with VNNI); B the k x n weights {@link #pack}ed into packed. Returns false where the m rows went through the
     * one-row primitive one by one, as oneDNN packs for m rows differently.
     */
    boolean multiply(int m, int n, int k, MemorySegment a, MemorySegment packed, MemorySegment c) {
        if (m == 0 || n == 0) return true;
        Primitive p = primitive(m, n, k);
        if (p.packedLayout) {
            execute(p, a, packed, c);
            return true;
        }
        multiplyRowByRow(m, n, k, a, packed, c);
        return false;
    }

    /** {@link #multiply} one row at a time through the one-row primitive, in whose layout the weights are packed. */
    void multiplyRowByRow(int m, int n, int k, MemorySegment a, MemorySegment packed, MemorySegment c) {
        Primitive one = primitive(1, n, k);
        long rowA = (long) k * kind.srcBytes, rowC = (long) n * 4;
        for (int r = 0; r < m; r++) execute(one, a.asSlice(r * rowA, rowA), packed, c.asSlice(r * rowC, rowC));
    }

    /** Runs p on the calling thread with its own stream and scratchpad. */
    private void execute(Primitive p, MemorySegment a, MemorySegment packed, MemorySegment c) {
        // oneDNN gets raw addresses: the segments must hold what it reads and writes
        if (a.byteSize() < (long) p.m * p.k * kind.srcBytes || packed.byteSize() < p.weightsBytes
                || c.byteSize() < 4L * p.m * p.n) {
            throw new IllegalArgumentException("buffers too small for a " + p.m + "x" + p.k + " by " + p.k + "x" + p.n
                    + " " + kind.label + " product");
        }
        Calls t = calls();
        MemorySegment src = MemorySegment.NULL, weights = MemorySegment.NULL, dst = MemorySegment.NULL,
                scratch = MemorySegment.NULL;
        try {
            MemorySegment out = t.out;
            src = memory(p.src, a, out);
            weights = memory(p.weights, packed, out);
            dst = memory(p.dst, c, out);
            MemorySegment args = t.args;
            args.set(JAVA_INT, 0, ARG_SRC);
            args.set(ADDRESS, 8, src);
            args.set(JAVA_INT, 16, ARG_WEIGHTS);
            args.set(ADDRESS, 24, weights);
            args.set(JAVA_INT, 32, ARG_DST);
            args.set(ADDRESS, 40, dst);
            int nargs = 3;
            if (p.scratchpadBytes > 0) {
                MemorySegment[] s = t.scratchpad;
                if (s[0] == null || s[0].byteSize() < p.scratchpadBytes) {
                    s[0] = Arena.ofAuto().allocate(p.scratchpadBytes, 64); // freed with the thread's calls
                }
                scratch = memory(p.scratchpadMd, s[0], out);
                args.set(JAVA_INT, 48, ARG_SCRATCHPAD);
                args.set(ADDRESS, 56, scratch);
                nargs = 4;
            }
            check((int) primitiveExecute.invokeExact(p.primitive, t.stream, nargs, args),
                    "dnnl_primitive_execute (matmul)");
            check((int) streamWait.invokeExact(t.stream), "dnnl_stream_wait");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("oneDNN's " + kind.label + " matmul failed", e);
        } finally {
            destroy(memoryDestroy, src, weights, dst, scratch);
        }
    }

    /** Calls destroy on each handle that was made (not NULL); a failure to destroy is not worth an exception. */
    private static void destroy(MethodHandle destroy, MemorySegment... handles) {
        for (MemorySegment h : handles) {
            if (h.equals(MemorySegment.NULL)) continue;
            try {
                int ignored = (int) destroy.invokeExact(h);
            } catch (Throwable e) {
                // nothing to do: at worst a small native object stays allocated
            }
        }
    }

    /** A memory object over handle with descriptor md (destroyed by the caller; the data stays the caller's). */
    private MemorySegment memory(MemorySegment md, MemorySegment handle, MemorySegment out) throws Throwable {
        check((int) memoryCreate.invokeExact(out, md, engine, handle), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    /** This thread's stream and buffers, made on its first call (which also makes its OpenMP single-threaded). */
    private Calls calls() {
        Calls c = this.calls.get();
        if (c == null) {
            Arena arena = Arena.ofAuto(); // freed with the thread
            try {
                dnnl.singleThreaded();
                MemorySegment out = arena.allocate(ADDRESS);
                check((int) streamCreate.invokeExact(out, engine, STREAM_IN_ORDER), "dnnl_stream_create");
                c = new Calls(out.get(ADDRESS, 0), arena.allocate(ADDRESS), arena.allocate(64, 8),
                        new MemorySegment[1]);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException("dnnl_stream_create failed", e);
            }
            this.calls.set(c);
        }
        return c;
    }

    /** The matmul primitive for [m, k] x [k, n], made on first use (on a single-threaded OpenMP thread). */
    private Primitive primitive(int m, int n, int k) {
        Shape shape = new Shape(m, n, k);
        Primitive p = primitives.get(shape);
        if (p != null) return p;
        Primitive one = m == 1 ? null : primitive(1, n, k); // made first: no nested update of the map
        return primitives.computeIfAbsent(shape, s -> {
            try (Arena arena = Arena.ofConfined()) {
                dnnl.singleThreaded();
                MemorySegment src = arena.allocate(MEMORY_DESC_BYTES, 8),
                        weights = arena.allocate(MEMORY_DESC_BYTES, 8),
                        dst = arena.allocate(MEMORY_DESC_BYTES, 8), desc = arena.allocate(MATMUL_DESC_BYTES, 8),
                        out = arena.allocate(ADDRESS);
                check((int) mdInitByTag.invokeExact(src, 2, arena.allocateFrom(JAVA_LONG, m, k), kind.src, TAG_AB),
                        "dnnl_memory_desc_init_by_tag");
                check((int) mdInitByTag.invokeExact(weights, 2, arena.allocateFrom(JAVA_LONG, k, n), kind.weights,
                        TAG_ANY), "dnnl_memory_desc_init_by_tag");
                check((int) mdInitByTag.invokeExact(dst, 2, arena.allocateFrom(JAVA_LONG, m, n), kind.dst, TAG_AB),
                        "dnnl_memory_desc_init_by_tag");
                check((int) matmulDescInit.invokeExact(desc, src, weights, MemorySegment.NULL, dst),
                        "dnnl_matmul_desc_init");
                check((int) pdCreate.invokeExact(out, desc, attr, engine, MemorySegment.NULL),
                        "dnnl_primitive_desc_create (matmul " + kind.types + ")");
                MemorySegment pd = out.get(ADDRESS, 0);
                check((int) pdQuery.invokeExact(pd, QUERY_IMPL_INFO_STR, 0, out), "dnnl_primitive_desc_query");
                String implementation = out.get(ADDRESS, 0).reinterpret(256).getString(0);
                MemorySegment srcMd = (MemorySegment) pdQueryMd.invokeExact(pd, QUERY_SRC_MD, 0),
                        weightsMd = (MemorySegment) pdQueryMd.invokeExact(pd, QUERY_WEIGHTS_MD, 0),
                        dstMd = (MemorySegment) pdQueryMd.invokeExact(pd, QUERY_DST_MD, 0),
                        scratchpadMd = (MemorySegment) pdQueryMd.invokeExact(pd, QUERY_SCRATCHPAD_MD, 0);
                long scratchpad = scratchpadMd.equals(MemorySegment.NULL) ? 0
                        : (long) mdGetSize.invokeExact(scratchpadMd);
                check((int) primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
                boolean packedLayout = one == null || (int) mdEqual.invokeExact(weightsMd, one.weights) == 1;
                return new Primitive(m, n, k, out.get(ADDRESS, 0), srcMd, weightsMd,
                        (long) mdGetSize.invokeExact(weightsMd), dstMd, scratchpadMd, scratchpad, implementation,
                        packedLayout);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException("oneDNN's " + kind.label + " matmul could not be made", e);
            }
        });
    }

    private static void check(int status, String function) {
        if (status != 0) throw new IllegalStateException(function + " returned status " + status);
    }
}
