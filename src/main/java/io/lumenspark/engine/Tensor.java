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

    public static Tensor of(Arena arena, float[] values, int... shape) {
        Tensor t = zeros(arena, shape);
        MemorySegment.copy(values, 0, t.data, ValueLayout.JAVA_FLOAT, 0, values.length);
        return t;
    }

    public static long numel(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        return n;
    }

    public MemorySegment data() {
        return data;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return shape[i];
    }

    public int rank() {
        return shape.length;
    }

    public long size() {
        return data.byteSize() / 4;
    }

    public float get(long i) {
        return data.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    public void set(long i, float v) {
        data.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
    }

    public float[] toArray() {
        return data.toArray(ValueLayout.JAVA_FLOAT);
    }

    public void copyFrom(float[] values) {
        if (values.length != size()) throw new IllegalArgumentException("expected " + size() + " values");
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT, 0, values.length);
    }

    public void zero() {
        data.fill((byte) 0);
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}
