package io.lumenspark.model;

import io.lumenspark.engine.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * All parameters of a model in one contiguous native buffer, with their gradients in a second one of the same
 * layout. One buffer makes the optimizer, gradient clipping and zeroing single loops, and checkpoint I/O a walk
 * over a list.
 *
 * <p>A model loaded for inference ({@link LumensparkModel#fromPretrained}) has no flat buffer: each parameter is
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
            throw new io.lumenspark.LumensparkException("parameter " + name + " of shape "
                    + java.util.Arrays.toString(shape) + " is too large to hold");
        }
    }

    void allocate(Arena arena) {
        this.arena = arena;
        values = arena.allocate(total * 4, 64);
    }

    /** Uses the given segment of each parameter (in {@link #list()} order) instead of a flat buffer. */
    void useViews(Arena arena, List<MemorySegment> segments) {
        if (segments.size() != list.size()) throw new IllegalArgumentException("one segment per parameter");
        this.arena = arena;
        views = segments.toArray(MemorySegment[]::new);
    }

    /** The values of one parameter. */
    public MemorySegment segment(Param p) {
        if (views != null) return views[p.index()];
        return values.asSlice(p.offset() * 4, p.size() * 4);
    }

    /** Whether the values are read-only views of a weights file (no training, no flat buffer). */
    public boolean isMapped() {
        return views != null;
    }

    /** Slices of a flat buffer laid out like the parameters (an optimizer moment, the gradients, ...). */
    public java.util.function.Function<Param, MemorySegment> slicesOf(MemorySegment flat) {
        return p -> flat.asSlice(p.offset() * 4, p.size() * 4);
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

    /** The flat buffer of all values; not available for memory-mapped weights. */
    public MemorySegment values() {
        if (values == null) {
            throw new io.lumenspark.LumensparkException("this model's weights are memory-mapped read-only (load it"
                    + " with ModelFiles.load to train or change it)");
        }
        return values;
    }

    /** Whether the gradient buffer exists yet (see {@link #grads()}). */
    synchronized boolean hasGrads() {
        return grads != null;
    }

    /** The gradient buffer, allocated on first use: evaluation and scoring never need it. */
    public synchronized MemorySegment grads() {
        values();
        if (grads == null) grads = arena.allocate(total * 4, 64);
        return grads;
    }

    public Tensor value(Param p) {
        return new Tensor(segment(p), p.shape());
    }

    public Tensor grad(Param p) {
        return new Tensor(grads.asSlice(p.offset() * 4, p.size() * 4), p.shape());
    }

    public void zeroGrads() {
        grads().fill((byte) 0);
    }
}
