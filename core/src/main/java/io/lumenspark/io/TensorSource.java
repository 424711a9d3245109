package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;
import io.lumenspark.io.SafeTensors.Entry;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;

import static io.lumenspark.io.SafeTensors.LE_DOUBLE;
import static io.lumenspark.io.SafeTensors.LE_FLOAT;
import static io.lumenspark.io.SafeTensors.LE_INT;
import static io.lumenspark.io.SafeTensors.LE_LONG;
import static io.lumenspark.io.SafeTensors.LE_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Named tensors read from weights files, whatever their format: a safetensors file ({@link SafeTensors#open}), a
 * PyTorch checkpoint ({@link TorchCheckpoint#open}), or a sharded set of either ({@link WeightFiles#open}). Every
 * {@link Entry} holds its values contiguous and little-endian, valid as long as the arena the source was opened in.
 */
public interface TensorSource {
    /** The file the tensors came from (for a sharded set, its index): errors name it. */
    Path path();

    /** All tensors, in the file's order. */
    Map<String, Entry> tensors();

    /** The named tensor; a {@link LumensparkException} naming the file if it is not there. */
    default Entry get(String name) {
        Entry e = tensors().get(name);
        if (e == null) throw new LumensparkException(path() + ": missing tensor '" + name + "'");
        return e;
    }

    /**
     * The tensor's values as 4-byte-aligned floats in native byte order (readable with {@link ValueLayout#JAVA_FLOAT}).
     * On little-endian machines an aligned F32 tensor is returned as is, without copying; otherwise F32, F16,
     * BF16 and F64 are converted into a segment allocated from {@code arena}. Other dtypes are a
     * {@link LumensparkException}.
     */
    default MemorySegment toF32(Entry e, Arena arena) {
        if (e.dtype() == DType.F32 && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN
                && e.data().maxByteAlignment() >= Float.BYTES) {
            return e.data();
        }
        MemorySegment out = arena.allocate(JAVA_FLOAT, e.elementCount());
        convertFloats(path(), e, out);
        return out;
    }

    /** The tensor's values as a new float array (F32, F16, BF16 or F64; other dtypes are an error). */
    default float[] toFloatArray(Entry e) {
        float[] out = new float[arrayLength(path(), e)];
        convertFloats(path(), e, MemorySegment.ofArray(out));
        return out;
    }

    /** The tensor's values as a new int array; any integer dtype, each value must fit in an int. */
    default int[] toIntArray(Entry e) {
        int n = arrayLength(path(), e);
        int[] out = new int[n];
        MemorySegment d = e.data();
        if (e.dtype() == DType.I32) {
            MemorySegment.copy(d, LE_INT, 0, out, 0, n);
            return out;
        }
        for (int i = 0; i < n; i++) {
            long v = switch (e.dtype()) {
                case U8 -> d.get(JAVA_BYTE, i) & 0xFFL;
                case I8 -> d.get(JAVA_BYTE, i);
                case U16 -> d.get(LE_SHORT, 2L * i) & 0xFFFFL;
                case I16 -> d.get(LE_SHORT, 2L * i);
                case U32 -> d.get(LE_INT, 4L * i) & 0xFFFF_FFFFL;
                case I64, U64 -> d.get(LE_LONG, 8L * i);
                default -> throw new LumensparkException(path() + ": tensor '" + e.name() + "' has dtype " + e.dtype()
                        + ", expected an integer type");
            };
            boolean unsignedOverflow = e.dtype() == DType.U64 && v < 0;
            if (unsignedOverflow || v != (int) v) {
                String shown = e.dtype() == DType.U64 ? Long.toUnsignedString(v) : Long.toString(v);
                throw new LumensparkException(path() + ": tensor '" + e.name() + "' element " + i + " is " + shown
                        + ", outside the int range");
            }
            out[i] = (int) v;
        }
        return out;
    }

    private static void convertFloats(Path path, Entry e, MemorySegment out) {
        MemorySegment d = e.data();
        long n = e.elementCount();
        switch (e.dtype()) {
            case F32 -> MemorySegment.copy(d, LE_FLOAT, 0, out, JAVA_FLOAT, 0, n);
            case F16 -> {
                for (long i = 0; i < n; i++) out.setAtIndex(JAVA_FLOAT, i, Float.float16ToFloat(d.get(LE_SHORT, 2 * i)));
            }
            case BF16 -> {
                // bfloat16 is the top half of an IEEE float32
                for (long i = 0; i < n; i++) {
                    out.setAtIndex(JAVA_FLOAT, i, Float.intBitsToFloat((d.get(LE_SHORT, 2 * i) & 0xFFFF) << 16));
                }
            }
            case F64 -> {
                for (long i = 0; i < n; i++) out.setAtIndex(JAVA_FLOAT, i, (float) d.get(LE_DOUBLE, 8 * i));
            }
            default -> throw new LumensparkException(path + ": tensor '" + e.name() + "' has dtype " + e.dtype()
                    + ", expected F32, F16, BF16 or F64");
        }
    }

    private static int arrayLength(Path path, Entry e) {
        long n = e.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new LumensparkException(path + ": tensor '" + e.name() + "' has " + n
                    + " elements, too many for a Java array");
        }
        return (int) n;
    }
}
