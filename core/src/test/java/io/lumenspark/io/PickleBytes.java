package io.lumenspark.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes pickle opcodes by hand, for checkpoints and hostile pickles that torch.save would not produce. */
final class PickleBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** Starts with PROTO 2, as torch.save does. */
    static PickleBytes proto2() {
        return new PickleBytes().op(0x80).op(2);
    }

    PickleBytes op(int... codes) {
        for (int c : codes) out.write(c);
        return this;
    }

    PickleBytes op(char code) {
        return op((int) code);
    }

    PickleBytes raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    PickleBytes global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        return this;
    }

    /** BINUNICODE. */
    PickleBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        le(b.length, 4);
        out.writeBytes(b);
        return this;
    }

    /** LONG1 with 8 bytes, whatever the value. */
    PickleBytes integer(long v) {
        op(0x8a, 8);
        le(v, 8);
        return this;
    }

    PickleBytes le(long v, int bytes) {
        for (int i = 0; i < bytes; i++) out.write((int) (v >>> (8 * i)));
        return this;
    }

    PickleBytes mark() {
        return op('(');
    }

    /** An empty OrderedDict, as torch.save writes it. */
    PickleBytes orderedDict() {
        return global("collections", "OrderedDict").op(')').op('R');
    }

    /** A tuple of ints (MARK ... TUPLE). */
    PickleBytes ints(long... values) {
        mark();
        for (long v : values) integer(v);
        return op('t');
    }

    /** {@code _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())}. */
    PickleBytes tensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2").mark();
        mark().str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).op('t').op('Q');
        integer(offset).ints(size).ints(stride).op(0x89).orderedDict();
        return op('t').op('R');
    }

    PickleBytes stop() {
        return op('.');
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
