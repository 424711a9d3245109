package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.QuantizedMatrix;
import io.lumenspark.engine.Tensor;
import io.lumenspark.engine.WeightDtype;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * All parameters of a model in one contiguous native buffer, with their gradients in a second one of the same
 * layout. One buffer makes the optimizer, gradient clipping and zeroing single loops, and checkpoint I/O a walk
 * over a list.
 *
 * <p>A model loaded for inference ({@link ModelWeights#loadMapped}) has no flat buffer: each parameter is
 * a read-only view into the memory-mapped weights file, so loading is instant, pages come in as they are used,
 * and processes serving the same file share its memory.
 */
public final class Params {
    /** One named parameter: a slice of the flat buffers. Matrices (rank >= 2) get weight decay. */
    public record Param(String name, int[] shape, long offset, long size, int index) {
        public boolean decays() {
            return shape.length >= 2;
        }
    }

    private final List<Param> list = new ArrayList<>();
    private final Map<String, Param> byName = new LinkedHashMap<>();
    private long total;
    private Arena arena;
    private MemorySegment values, grads;
    private MemorySegment[] views; // per parameter, when the weights are views into a mapped file
    private final BitSet matrices = new BitSet(); // the weights of matrix products (Linear)
    private WeightDtype dtype = WeightDtype.F32;
    private QuantizedMatrix[] quantized; // per parameter: a product weight held in bf16 or int8, else null
    private volatile boolean integerProducts; // see useIntegerProducts
    private final AtomicLong version = new AtomicLong(); // bumped when the weights may change (see version())
    private Arena decoding;              // the decoding copies of the product weights, made for decodingVersion
    private long decodingVersion = -1;
    private final List<Arena> retired = new ArrayList<>(); // copies of older weights, closed when no product runs
    private final AtomicInteger decodingInFlight = new AtomicInteger();

    /** Declares a parameter; must be called before {@link #allocate}. */
    Param declare(String name, int... shape) {
        if (values != null) throw new IllegalStateException("parameters already allocated");
        if (byName.containsKey(name)) throw new IllegalStateException("duplicate parameter " + name);
        long size = 1;
        try {
            for (int d : shape) size = Math.multiplyExact(size, d);
            // keep every parameter 16-float aligned so vector loops start on a boundary
            long next = Math.addExact(total, Math.addExact(size, 15) / 16 * 16);
            Math.multiplyExact(next, 4); // the flat buffer's bytes
            Param p = new Param(name, shape.clone(), total, size, list.size());
            total = next;
            list.add(p);
            byName.put(name, p);
            return p;
        } catch (ArithmeticException overflow) {
            throw new LumensparkException("parameter " + name + " of shape "
                    + Arrays.toString(shape) + " is too large to hold");
        }
    }

    /** Declares the weight [out, in] of a matrix product (a Linear layer's): the weights {@code --dtype} applies to. */
    Param declareMatrix(String name, int out, int in) {
        Param p = declare(name, out, in);
        matrices.set(p.index());
        return p;
    }

    /** Whether p is the weight of a matrix product (see {@link #declareMatrix}). */
    public boolean isMatrix(Param p) {
        return matrices.get(p.index());
    }

    /**
     * Holds the product weights in dtype: q has one entry per parameter, the quantized matrix of each product
     * weight ({@link #isMatrix}), null for the others. A product weight's float32 segment may then be absent
     * (a quantized folder has none).
     */
    void useQuantized(WeightDtype dtype, QuantizedMatrix[] q) {
        if (q.length != list.size()) throw new IllegalArgumentException("one entry per parameter");
        this.dtype = dtype;
        this.quantized = q.clone();
        version.incrementAndGet();
    }

    /**
     * Asks decoding to run int8 output layers in integers where they can ({@link QuantizedMatrix#integerProducts}),
     * or not; the decoding copies are made again.
     */
    void useIntegerProducts(boolean on) {
        if (integerProducts == on) return;
        integerProducts = on;
        version.incrementAndGet(); // every decoding copy is made again, the next step
    }

    /**
     * Whether decoding runs int8 output layers in integers: {@link QuantizedMatrix#INTEGER_PRODUCTS_PROPERTY} when
     * set, else what {@link #useIntegerProducts} asked (no, by default).
     */
    boolean integerProducts() {
        Boolean forced = QuantizedMatrix.integerProductsForced();
        return forced != null ? forced : integerProducts;
    }

    /**
     * A number that changes whenever the weights may have changed: when {@link #values()} hands out the writable
     * buffer (to an optimizer, initialization, a training pass) and when the product weights change dtype. Copies
     * made for decoding ({@link #decodingArena}) are kept while it stays the same.
     */
    long version() {
        return version.get();
    }

    /**
     * Marks the weights changed once more: for a writer that got {@link #values()} (which marks them as it hands
     * them out) and has now finished writing, so that a decoding copy made while it wrote is not kept.
     */
    public void markChanged() {
        version.incrementAndGet();
    }

    /**
     * Where decoding copies of the product weights made for weights of version live: one shared arena per version.
     * A newer version retires the current arena, which is closed once no product that may read it is running
     * ({@link #beginDecoding}); an older version (a caller that read the version before it changed) gets the
     * current arena, never an older one.
     */
    synchronized Arena decodingArena(long forVersion) {
        if (decoding == null || forVersion > decodingVersion) {
            if (decoding != null) retired.add(decoding);
            decoding = Arena.ofShared();
            decodingVersion = forVersion;
        }
        return decoding;
    }

    /** A product that reads decoding copies starts: retired copies stay open until it ends. */
    void beginDecoding() {
        decodingInFlight.incrementAndGet();
    }

    /** A product that read decoding copies ended; the last one out closes the retired copies. */
    void endDecoding() {
        if (decodingInFlight.decrementAndGet() == 0) closeRetired();
    }

    private synchronized void closeRetired() {
        if (decodingInFlight.get() != 0) return;
        retired.forEach(Arena::close);
        retired.clear();
    }

    /** Frees the decoding copies (the model is being closed). */
    synchronized void closeDecoding() {
        retired.forEach(Arena::close);
        retired.clear();
        if (decoding != null) decoding.close();
        decoding = null;
    }

    /** How the product weights are held: float32 unless the model was loaded with another dtype. */
    public WeightDtype dtype() {
        return dtype;
    }

    /** The quantized form of a product weight, or null when it is float32. */
    public QuantizedMatrix quantized(Param p) {
        return quantized == null ? null : quantized[p.index()];
    }

    /** Bytes of the product weights as held: float32, or their bf16 or int8 form (scales included). */
    public long matrixBytes() {
        long bytes = 0;
        for (Param p : list) {
            if (!isMatrix(p)) continue;
            QuantizedMatrix q = quantized(p);
            bytes += q != null ? q.bytes() : p.size() * 4;
        }
        return bytes;
    }

    void allocate(Arena arena) {
        this.arena = arena;
        values = Floats.allocate(arena, total);
    }

    /**
     * Fills the parameters as a new model's, by their names: embeddings N(0, 0.02) as in GPT-2 (PyTorch's default
     * N(0, 1), which published lumenspark keeps, trains far slower: validation loss 6.55 instead of 5.12 after 300
     * steps on Tiny Shakespeare), Linear and Conv1d weights and biases uniform in +-1/sqrt(fan_in) as PyTorch does,
     * sequence projections Xavier-uniform, norm scales 1.
     */
    void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (Param p : list) {
            MemorySegment m = Floats.slice(values(), p.offset(), p.size());
            String name = p.name();
            int[] s = p.shape();
            if (name.endsWith(".scale")) {
                fill(m, p.size(), () -> 1f);
            } else if (name.endsWith("_embedding.weight")) {
                fill(m, p.size(), () -> (float) (0.02 * gaussian(random)));
            } else if (name.endsWith("_proj")) {
                double bound = Math.sqrt(6.0 / (s[0] + s[1]));
                fill(m, p.size(), () -> (float) ((random.nextDouble() * 2 - 1) * bound));
            } else {
                // Linear [out, in] / Conv1d [out, in, kernel] weight, or a bias whose fan-in is its layer's
                int fanIn = s.length >= 2 ? (int) (p.size() / s[0]) : get(name.replace(".bias", ".weight"))
                        .shape()[1];
                double bound = 1 / Math.sqrt(fanIn);
                fill(m, p.size(), () -> (float) ((random.nextDouble() * 2 - 1) * bound));
            }
        }
    }

    private static double gaussian(SplittableRandom r) {
        double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static void fill(MemorySegment m, long n, Supplier<Float> f) {
        for (long i = 0; i < n; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, f.get());
    }

    /** Uses the given segment of each parameter (in {@link #list()} order) instead of a flat buffer. */
    void useViews(Arena arena, List<MemorySegment> segments) {
        if (segments.size() != list.size()) throw new IllegalArgumentException("one segment per parameter");
        this.arena = arena;
        views = segments.toArray(MemorySegment[]::new);
    }

    /**
     * The values of one parameter, read-only: weights are changed through {@link #values()}, which lets the
     * decoding copies know.
     */
    public MemorySegment segment(Param p) {
        if (views != null) {
            MemorySegment v = views[p.index()];
            if (v == null) {
                throw new LumensparkException("weight " + p.name() + " is held in " + dtype.label()
                        + " only (a quantized model folder): there is no float32 copy of it");
            }
            return v;
        }
        return Floats.slice(values, p.offset(), p.size()).asReadOnly();
    }

    /** Whether the values are read-only views of a weights file (no training, no flat buffer). */
    public boolean isMapped() {
        return views != null;
    }

    /** Slices of a flat buffer laid out like the parameters (an optimizer moment, the gradients, ...). */
    public Function<Param, MemorySegment> slicesOf(MemorySegment flat) {
        return p -> Floats.slice(flat, p.offset(), p.size());
    }

    public List<Param> list() {
        return Collections.unmodifiableList(list);
    }

    public Param get(String name) {
        return byName.get(name);
    }

    /** The number of scalars in all parameters (without alignment padding). */
    public long count() {
        return list.stream().mapToLong(Param::size).sum();
    }

    /** The flat length including padding. */
    public long flatSize() {
        return total;
    }

    /**
     * The flat buffer of all values, writable; not available for memory-mapped weights. Handing it out counts as
     * a change of the weights ({@link #version()}): the next decoding step copies them again.
     */
    public MemorySegment values() {
        if (values == null) {
            throw new LumensparkException("this model's weights are memory-mapped read-only (load it"
                    + " with LumensparkModel.load to train or change it)");
        }
        version.incrementAndGet();
        return values;
    }

    /** Whether the gradient buffer exists yet (see {@link #grads()}). */
    synchronized boolean hasGrads() {
        return grads != null;
    }

    /** The gradient buffer, allocated on first use: evaluation and scoring never need it. */
    public synchronized MemorySegment grads() {
        values();
        if (grads == null) grads = Floats.allocate(arena, total);
        return grads;
    }

    public Tensor value(Param p) {
        return new Tensor(segment(p), p.shape());
    }

    public Tensor grad(Param p) {
        return new Tensor(Floats.slice(grads, p.offset(), p.size()), p.shape());
    }

    public void zeroGrads() {
        grads().fill((byte) 0);
    }
}
