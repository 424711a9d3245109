package io.lumenspark.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.nio.ByteOrder.LITTLE_ENDIAN;

/**
 * Reads and writes the Hugging Face <a href="https://github.com/huggingface/safetensors">safetensors</a> format:
 * an unsigned 64-bit little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON mapping tensor names to
 * {@code {"dtype", "shape", "data_offsets": [begin, end]}} (plus an optional {@code "__metadata__"} string map),
 * padded with spaces so the data starts at a multiple of 8, then the little-endian tensor data; offsets are relative
 * to the start of the data section.
 * <p>
 * {@link #open} memory-maps the file and validates the whole header up front, so later code can trust every
 * {@link Entry}. Tensor data stays in the mapping (no copies) and lives as long as the caller's {@link Arena}.
 */
public final class SafeTensors {
    /** Headers beyond this are certainly corrupt; the largest real models use a few MB. */
    static final long MAX_HEADER_BYTES = 100L << 20;
    private static final int CHUNK_BYTES = 8 << 20;
    private static final boolean NATIVE_LE = ByteOrder.nativeOrder() == LITTLE_ENDIAN;

    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LITTLE_ENDIAN);
    static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(LITTLE_ENDIAN);

    // reads one value from a parser positioned mid-object, so the rest of the object is not "trailing" content
    private static final ObjectReader HEADER_VALUE =
            Json.mapper().reader().without(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private SafeTensors() {}

    /** Element types of the format; the constant names are the strings used in the header. */
    public enum DType {
        BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1),
        U16(2), I16(2), F16(2), BF16(2),
        U32(4), I32(4), F32(4),
        U64(8), I64(8), F64(8);

        private final int byteSize;

        DType(int byteSize) {
            this.byteSize = byteSize;
        }

        /** Bytes per element. */
        public int byteSize() {
            return byteSize;
        }

        static DType parse(String name) {
            for (DType t : values()) {
                if (t.name().equals(name)) return t;
            }
            return null;
        }
    }

    /**
     * One tensor: its element type, shape ({@code []} for a scalar) and raw data as little-endian bytes, exactly
     * {@code elementCount() * dtype.byteSize()} long. The shape array is copied in and out.
     */
    public record Entry(String name, DType dtype, long[] shape, MemorySegment data) {
        /**
         * Checks that {@code data} holds exactly the bytes the shape needs.
         *
         * @throws IllegalArgumentException if it does not, or for a negative dimension
         */
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(data, "data");
            shape = shape.clone();
            long bytes = Math.multiplyExact(count(shape), dtype.byteSize());
            if (data.byteSize() != bytes) {
                throw new IllegalArgumentException("tensor '" + name + "': data has " + data.byteSize()
                        + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + bytes);
            }
        }

        /** A copy of the shape. */
        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Product of the dimensions; 1 for a scalar, 0 if any dimension is 0. */
        public long elementCount() {
            return count(shape);
        }

        /** An F32 tensor over existing little-endian data (e.g. a slice of a mapped file or an arena segment). */
        public static Entry f32(String name, long[] shape, MemorySegment data) {
            return new Entry(name, DType.F32, shape, data);
        }

        /** An F32 tensor over {@code values}; no copy on little-endian machines, so do not modify them meanwhile. */
        public static Entry f32(String name, long[] shape, float[] values) {
            if (NATIVE_LE) return new Entry(name, DType.F32, shape, MemorySegment.ofArray(values));
            MemorySegment le = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
            MemorySegment.copy(values, 0, le, LE_FLOAT, 0, values.length);
            return new Entry(name, DType.F32, shape, le);
        }

        /** An I32 tensor over {@code values}; no copy on little-endian machines. */
        public static Entry i32(String name, long[] shape, int[] values) {
            if (NATIVE_LE) return new Entry(name, DType.I32, shape, MemorySegment.ofArray(values));
            MemorySegment le = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
            MemorySegment.copy(values, 0, le, LE_INT, 0, values.length);
            return new Entry(name, DType.I32, shape, le);
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    /** An opened, validated safetensors file. Its tensors are valid while the arena given to {@link #open} is. */
    public static final class File implements TensorSource {
        private final Path path;
        private final Map<String, Entry> tensors;
        private final Map<String, String> metadata;

        private File(Path path, Map<String, Entry> tensors, Map<String, String> metadata) {
            this.path = path;
            this.tensors = Collections.unmodifiableMap(tensors);
            this.metadata = Collections.unmodifiableMap(metadata);
        }

        @Override
        public Path path() {
            return path;
        }

        /** All tensors in header order. */
        @Override
        public Map<String, Entry> tensors() {
            return tensors;
        }

        /** The {@code "__metadata__"} map, empty if absent. */
        public Map<String, String> metadata() {
            return metadata;
        }

        /** The named tensor, which must have exactly {@code shape}. */
        public Entry require(String name, long... shape) {
            Entry e = get(name);
            if (!Arrays.equals(e.shape, shape)) {
                throw bad(path, "tensor '" + name + "' has shape " + Arrays.toString(e.shape)
                        + ", expected " + Arrays.toString(shape));
            }
            return e;
        }

        @Override
        public String toString() {
            return path + " (" + tensors.size() + " tensors)";
        }
    }

    /**
     * Memory-maps {@code path} read-only into {@code arena} and validates its header and offsets. Every problem
     * (not a regular file, truncation, bad JSON, unknown dtype, offsets that disagree with shapes, overlapping or
     * duplicate tensors) is reported as a one-line {@link LumensparkException} naming the file and tensor.
     */
    public static File open(Path path, Arena arena) {
        InputFiles.requireRegularFile(path); // a named pipe would block here, a folder fails to map
        MemorySegment file;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) throw bad(path, "file is too short (" + size + " bytes) to be a safetensors file");
            file = mapReadOnly(channel, size, arena);
        } catch (NoSuchFileException e) {
            throw new LumensparkException("no such file: " + path, e);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + path + ": " + AtomicFiles.reason(e), e);
        }
        long headerBytes = file.get(LE_LONG, 0);
        if (Long.compareUnsigned(headerBytes, MAX_HEADER_BYTES) > 0 || headerBytes < 2) {
            throw bad(path, "header length " + Long.toUnsignedString(headerBytes)
                    + " is implausible; not a safetensors file?");
        }
        if (headerBytes > file.byteSize() - 8) {
            throw bad(path, "header length " + headerBytes + " exceeds the file size (" + file.byteSize()
                    + " bytes); truncated file?");
        }
        byte[] header = file.asSlice(8, headerBytes).toArray(JAVA_BYTE);
        return parse(path, header, file.asSlice(8 + headerBytes));
    }

    /**
     * The first size bytes of the channel's file, mapped read-only into arena, as a plain native segment (the
     * same kind of segment as memory the arena allocates) rather than a mapped one. Both kinds read the same
     * memory, but the vector kernels' loads are compiled for the kinds of segment they have seen: weights of the
     * mapped kind beside activations of the allocated kind made a 16-row decoding step 1.6-1.8x slower than with
     * one kind throughout. Still read-only; unmapped when the arena closes.
     */
    static MemorySegment mapReadOnly(FileChannel channel, long size, Arena arena) throws IOException {
        MemorySegment mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        return MemorySegment.ofAddress(mapped.address()).reinterpret(size, arena, null).asReadOnly();
    }

    private record Span(String name, long begin, long end) {}

    private static File parse(Path path, byte[] header, MemorySegment data) {
        Map<String, JsonNode> fields = readHeader(path, header);
        Map<String, Entry> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Span> spans = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : fields.entrySet()) {
            String name = field.getKey();
            JsonNode node = field.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) throw bad(path, "\"__metadata__\" must be an object of strings");
                for (Map.Entry<String, JsonNode> m : node.properties()) {
                    if (!m.getValue().isTextual()) throw bad(path, "\"__metadata__\" value '" + m.getKey() + "' is not a string");
                    metadata.put(m.getKey(), m.getValue().textValue());
                }
                continue;
            }
            String what = "tensor '" + name + "'";
            if (!node.isObject()) throw bad(path, what + ": expected an object with dtype, shape and data_offsets");
            JsonNode dtypeNode = node.get("dtype");
            if (dtypeNode == null || !dtypeNode.isTextual()) throw bad(path, what + ": missing or non-string \"dtype\"");
            DType dtype = DType.parse(dtypeNode.textValue());
            if (dtype == null) throw bad(path, what + ": unknown dtype '" + dtypeNode.textValue() + "'");
            long[] shape = integers(path, what, node, "shape", -1);
            for (long d : shape) {
                if (d < 0) throw bad(path, what + ": negative dimension in shape " + Arrays.toString(shape));
            }
            long[] offsets = integers(path, what, node, "data_offsets", 2);
            long begin = offsets[0], end = offsets[1];
            String range = "data_offsets " + Arrays.toString(offsets);
            if (begin < 0 || end < begin) throw bad(path, what + ": " + range + " are invalid (negative or end before begin)");
            if (end > data.byteSize()) {
                throw bad(path, what + ": " + range + " run past the end of the data section (" + data.byteSize()
                        + " bytes); truncated file?");
            }
            long expected;
            try {
                expected = Math.multiplyExact(count(shape), dtype.byteSize());
            } catch (ArithmeticException overflow) {
                throw bad(path, what + ": shape " + Arrays.toString(shape) + " is too large");
            }
            if (end - begin != expected) {
                throw bad(path, what + ": " + range + " span " + (end - begin) + " bytes but shape "
                        + Arrays.toString(shape) + " of " + dtype + " needs " + expected);
            }
            tensors.put(name, new Entry(name, dtype, shape, data.asSlice(begin, end - begin)));
            spans.add(new Span(name, begin, end));
        }
        checkOverlaps(path, spans);
        return new File(path, tensors, metadata);
    }

    // Top-level keys by hand so that a repeated tensor name gets a precise message rather than Jackson's.
    private static Map<String, JsonNode> readHeader(Path path, byte[] header) {
        Map<String, JsonNode> fields = new LinkedHashMap<>();
        try (JsonParser p = Json.mapper().createParser(header)) {
            p.disable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
            if (p.nextToken() != JsonToken.START_OBJECT) throw bad(path, "header is not a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                JsonNode value = HEADER_VALUE.readTree(p);
                if (fields.putIfAbsent(name, value) != null) throw bad(path, "duplicate tensor name '" + name + "'");
            }
            if (p.nextToken() != null) throw bad(path, "unexpected content after the header JSON");
        } catch (JsonProcessingException e) {
            throw bad(path, "header is not valid JSON: " + Json.detail(e));
        } catch (IOException e) {
            throw bad(path, "cannot parse header: " + e.getMessage()); // parsing a byte[] does no real I/O
        }
        return fields;
    }

    private static long[] integers(Path path, String what, JsonNode node, String field, int requiredLength) {
        JsonNode array = node.get(field);
        String expected = requiredLength < 0 ? "an array of integers" : "an array of " + requiredLength + " integers";
        if (array == null) throw bad(path, what + ": missing \"" + field + "\"");
        if (!array.isArray() || (requiredLength >= 0 && array.size() != requiredLength)) {
            throw bad(path, what + ": \"" + field + "\" must be " + expected + ", got " + array);
        }
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = array.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw bad(path, what + ": \"" + field + "\" must be " + expected + ", got " + array);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    private static void checkOverlaps(Path path, List<Span> spans) {
        spans.sort(Comparator.comparingLong(Span::begin).thenComparingLong(Span::end));
        Span previous = null;
        for (Span s : spans) {
            if (s.begin() == s.end()) continue; // an empty tensor occupies no bytes
            if (previous != null && s.begin() < previous.end()) {
                throw bad(path, "tensors '" + previous.name() + "' and '" + s.name() + "' overlap in the data section");
            }
            previous = s;
        }
    }

    /**
     * Atomically writes {@code tensors} (in list order, data contiguous) and optional {@code metadata} to
     * {@code path}. Tensor data is streamed from each segment in chunks, so multi-GB files need no extra memory.
     *
     * @throws IllegalArgumentException for duplicate tensor names or the reserved name {@code __metadata__}
     */
    public static void write(Path path, List<Entry> tensors, Map<String, String> metadata) {
        ObjectNode header = Json.mapper().createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach((k, v) -> meta.put(k, Objects.requireNonNull(v, "metadata value for " + k)));
        }
        long offset = 0;
        for (Entry e : tensors) {
            if (e.name().equals("__metadata__") || header.has(e.name())) {
                throw new IllegalArgumentException("duplicate or reserved tensor name '" + e.name() + "' writing " + path);
            }
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + e.data().byteSize());
            offset += e.data().byteSize();
        }
        byte[] json;
        try {
            json = Json.mapper().writeValueAsBytes(header);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode safetensors header", e);
        }
        int padded = (json.length + 7) & ~7; // 8-byte length prefix + padded header keeps the data 8-aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        AtomicFiles.write(path, channel -> {
            AtomicFiles.writeFully(channel, head);
            for (Entry e : tensors) stream(channel, e.data());
        });
    }

    private static void stream(FileChannel channel, MemorySegment data) throws IOException {
        long size = data.byteSize();
        if (size == 0) return;
        boolean viewable = data.isNative() || data.heapBase().map(base -> base instanceof byte[]).orElse(false);
        if (viewable) {
            for (long off = 0; off < size; off += CHUNK_BYTES) {
                AtomicFiles.writeFully(channel, data.asSlice(off, Math.min(CHUNK_BYTES, size - off)).asByteBuffer());
            }
            return;
        }
        // heap segments over float[]/int[] (or read-only ones) have no ByteBuffer view: copy through a native buffer
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment buffer = scratch.allocate(Math.min(CHUNK_BYTES, size));
            ByteBuffer view = buffer.asByteBuffer();
            for (long off = 0; off < size; off += CHUNK_BYTES) {
                int len = (int) Math.min(CHUNK_BYTES, size - off);
                MemorySegment.copy(data, off, buffer, 0, len);
                view.clear().limit(len);
                AtomicFiles.writeFully(channel, view);
            }
        }
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static LumensparkException bad(Path path, String problem) {
        return new LumensparkException(path + ": " + problem);
    }
}
