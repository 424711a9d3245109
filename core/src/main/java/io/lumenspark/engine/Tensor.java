package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A float32 tensor in native memory, row-major. Native memory lets OpenBLAS and the Vector API kernels work on
 * the same bytes without copies, and lets checkpoints be memory-mapped.
 */
public final class Tensor {
    private final MemorySegment data;
    private final int[] shape;

    /**
     * Wraps {@code data} without copying it; the shape is copied.
     *
     * @throws IllegalArgumentException if the segment is not exactly {@code numel(shape) * 4} bytes
     */
    public Tensor(MemorySegment data, int... shape) {
        long n = numel(shape);
        if (data.byteSize() != n * 4) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape));
        }
        this.data = data;
        this.shape = shape.clone();
    }

    /** A zero-filled tensor, 64-byte aligned for vector loads. */
    public static Tensor zeros(Arena arena, int... shape) {
        return new Tensor(arena.allocate(numel(shape) * 4, 64), shape);
    }

    /**
     * A new tensor holding a copy of {@code values} in row-major order. Fewer values than the shape needs leave
     * the rest zero; more throw {@link IndexOutOfBoundsException}.
     */
    public static Tensor of(Arena arena, float[] values, int... shape) {
        Tensor t = zeros(arena, shape);
        MemorySegment.copy(values, 0, t.data, ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    /**
     * Number of elements of a shape: 1 for a scalar (no dimensions). Not checked for overflow.
     *
     * @throws IllegalArgumentException for a negative dimension
     */
    public static long numel(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        return n;
    }

    /** The backing memory itself, not a copy: kernels and products read and write the tensor through it. */
    public MemorySegment data() {
        return data;
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return shape[i];
    }

    public int rank() {
        return shape.length;
    }

    /** Number of floats, as {@link #numel} of the shape. */
    public long size() {
        return data.byteSize() / 4;
    }

    /** The element at flat row-major index {@code i}. */
    public float get(long i) {
        return data.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    /** Sets the element at flat row-major index {@code i}. */
    public void set(long i, float v) {
        data.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
    }

    /** A copy of all elements in row-major order. */
    public float[] toArray() {
        return data.toArray(ValueLayout.JAVA_FLOAT);
    }

    /**
     * Overwrites every element from {@code values}, in row-major order.
     *
     * @throws IllegalArgumentException unless there are exactly {@link #size()} values
     */
    public void copyFrom(float[] values) {
        if (values.length != size()) throw new IllegalArgumentException("expected " + size() + " values");
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT, 0, values.length);
    }

    /** Sets every element to 0. */
    public void zero() {
        data.fill((byte) 0);
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}
