package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;
import io.lumenspark.io.SafeTensors.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path dir;

    /** A tensor of {@code dtype} whose data is the given little-endian bytes (hex). */
    private static Entry raw(String name, DType dtype, long[] shape, String hex) {
        return new Entry(name, dtype, shape, MemorySegment.ofArray(HexFormat.of().parseHex(hex)));
    }

    @Test
    void roundTripsManyDtypesShapesEmptyTensorsAndScalars() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nativeF32 = arena.allocate(JAVA_FLOAT, 6);
            for (int i = 0; i < 6; i++) nativeF32.setAtIndex(JAVA_FLOAT, i, i * 0.25f);
            List<Entry> written = List.of(
                    Entry.f32("w.weight", new long[] {2, 3}, new float[] {1, -2, 3.5f, 0, Float.MIN_VALUE, 1e30f}),
                    Entry.f32("native", new long[] {3, 2}, nativeF32),
                    Entry.f32("scalar", new long[] {}, new float[] {42f}),
                    Entry.f32("empty", new long[] {0, 4}, new float[0]),
                    Entry.i32("ids", new long[] {4}, new int[] {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE}),
                    raw("empty.i64", DType.I64, new long[] {3, 0}, ""),
                    raw("half", DType.F16, new long[] {3}, "003c00c0ff7b"),
                    raw("brain", DType.BF16, new long[] {2, 1}, "803f40c0"),
                    raw("big", DType.I64, new long[] {2}, "0100000000000000ffffffffffffff7f"),
                    raw("u16", DType.U16, new long[] {1, 1, 3}, "0100ffff0080"),
                    raw("bytes", DType.U8, new long[] {5}, "0001027fff"),
                    raw("f64", DType.F64, new long[] {1}, "000000000000f03f"));
            Path file = dir.resolve("model.safetensors");
            SafeTensors.write(file, written, Map.of("format", "pt", "note", "ünïcode"));

            SafeTensors.File read = SafeTensors.open(file, arena);
            assertEquals(written.stream().map(Entry::name).toList(), List.copyOf(read.tensors().keySet()));
            assertEquals(Map.of("format", "pt", "note", "ünïcode"), read.metadata());
            for (Entry w : written) {
                Entry r = read.get(w.name());
                assertEquals(w.dtype(), r.dtype(), w.name());
                assertArrayEquals(w.shape(), r.shape(), w.name());
                assertEquals(w.elementCount(), r.elementCount(), w.name());
                assertEquals(-1, w.data().mismatch(r.data()), w.name());
            }
            assertEquals(1, read.get("scalar").elementCount());
            assertEquals(0, read.get("empty").elementCount());
            assertArrayEquals(new float[] {42f}, read.toFloatArray(read.get("scalar")));
            assertArrayEquals(new float[] {1, -2, 3.5f, 0, Float.MIN_VALUE, 1e30f}, read.toFloatArray(read.get("w.weight")));
            assertArrayEquals(new int[] {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE}, read.toIntArray(read.get("ids")));

            // the mapped tensors are plain native segments, as allocated ones (the kernels' loads are compiled for
            // the kinds of segment they see), and read-only
            MemorySegment w = read.get("w.weight").data();
            assertEquals(nativeF32.getClass(), w.getClass());
            assertTrue(w.isReadOnly());
            assertThrows(RuntimeException.class, () -> w.set(JAVA_FLOAT, 0, 1f));

            // rewriting the mapped tensors reproduces the file byte for byte
            Path copy = dir.resolve("copy.safetensors");
            SafeTensors.write(copy, List.copyOf(read.tensors().values()), read.metadata());
            assertEquals(-1, Files.mismatch(file, copy));
        }
    }

    @Test
    void writesExactlyTheSpecifiedBytes() throws IOException {
        Path file = dir.resolve("tiny.safetensors");
        SafeTensors.write(file, List.of(
                Entry.f32("a", new long[] {2}, new float[] {1f, -2f}),
                Entry.i32("b", new long[] {}, new int[] {7})), Map.of("k", "v"));

        String json = "{\"__metadata__\":{\"k\":\"v\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}}";
        int padded = (json.length() + 7) / 8 * 8;
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
        expected.writeBytes(json.getBytes(StandardCharsets.US_ASCII));
        expected.writeBytes(" ".repeat(padded - json.length()).getBytes(StandardCharsets.US_ASCII));
        expected.writeBytes(HexFormat.of().parseHex("0000803f" + "000000c0" + "07000000"));

        byte[] actual = Files.readAllBytes(file);
        assertEquals(0, (8 + padded) % 8);
        assertEquals(HexFormat.of().formatHex(expected.toByteArray()), HexFormat.of().formatHex(actual));
    }

    @Test
    void readsHandMadeFileWithUnpaddedHeaderAndUnorderedOffsets() throws IOException {
        // header order differs from data order; header length 97 is not a multiple of 8
        String header = "{\"second\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"first\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
        Path file = Files.write(dir.resolve("hand.safetensors"), fileBytes(header, "0000c03f" + "000020c1"));
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File read = SafeTensors.open(file, arena);
            assertEquals(List.of("second", "first"), List.copyOf(read.tensors().keySet()));
            assertArrayEquals(new float[] {1.5f}, read.toFloatArray(read.get("first")));
            assertArrayEquals(new float[] {-10f}, read.toFloatArray(read.get("second")));
            assertTrue(read.metadata().isEmpty());
        }
    }

    private static byte[] fileBytes(String header, String dataHex) {
        return fileBytes(header.getBytes(StandardCharsets.UTF_8), dataHex);
    }

    private static byte[] fileBytes(byte[] json, String dataHex) {
        byte[] data = HexFormat.of().parseHex(dataHex);
        return ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(json.length).put(json).put(data).array();
    }

    private static String tensor(String name, String dtype, String shape, String offsets) {
        return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
    }

    static Stream<Arguments> malformed() {
        String zeros16 = "00".repeat(16);
        String okA = tensor("a", "\"F32\"", "[2]", "[0,8]");
        return Stream.of(
                Arguments.of("too short", HexFormat.of().parseHex("0100000000"), "too short"),
                Arguments.of("absurd header length", HexFormat.of().parseHex("00000000000100000000"), "implausible"),
                Arguments.of("negative u64 header length", HexFormat.of().parseHex("ffffffffffffffff7b7d"), "implausible"),
                Arguments.of("header past end of file", ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(100).array(), "exceeds the file size"),
                Arguments.of("not JSON", fileBytes("{nope", zeros16), "header is not valid JSON"),
                Arguments.of("invalid UTF-8", fileBytes(new byte[] {'{', '"', (byte) 0xff, '"', ':', '1', '}'}, zeros16), "header is not valid JSON"),
                Arguments.of("not an object", fileBytes("[1, 2]", zeros16), "not a JSON object"),
                Arguments.of("trailing content", fileBytes("{} {}", zeros16), "after the header"),
                Arguments.of("tensor not an object", fileBytes("{\"a\": 3}", zeros16), "tensor 'a'"),
                Arguments.of("missing dtype", fileBytes("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", zeros16), "tensor 'a': missing or non-string \"dtype\""),
                Arguments.of("numeric dtype", fileBytes("{" + tensor("a", "4", "[2]", "[0,8]") + "}", zeros16), "tensor 'a': missing or non-string"),
                Arguments.of("unknown dtype", fileBytes("{" + tensor("a", "\"Q4_K\"", "[2]", "[0,8]") + "}", zeros16), "tensor 'a': unknown dtype 'Q4_K'"),
                Arguments.of("missing shape", fileBytes("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", zeros16), "tensor 'a': missing \"shape\""),
                Arguments.of("shape not array", fileBytes("{" + tensor("a", "\"F32\"", "2", "[0,8]") + "}", zeros16), "tensor 'a': \"shape\" must be an array"),
                Arguments.of("fractional dim", fileBytes("{" + tensor("a", "\"F32\"", "[2.5]", "[0,8]") + "}", zeros16), "tensor 'a': \"shape\" must be"),
                Arguments.of("negative dim", fileBytes("{" + tensor("a", "\"F32\"", "[-2]", "[0,8]") + "}", zeros16), "tensor 'a': negative dimension"),
                Arguments.of("huge shape", fileBytes("{" + tensor("a", "\"F32\"", "[4611686018427387904, 4]", "[0,8]") + "}", zeros16), "tensor 'a': shape"),
                Arguments.of("missing offsets", fileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", zeros16), "tensor 'a': missing \"data_offsets\""),
                Arguments.of("one offset", fileBytes("{" + tensor("a", "\"F32\"", "[2]", "[0]") + "}", zeros16), "tensor 'a': \"data_offsets\" must be an array of 2"),
                Arguments.of("string offset", fileBytes("{" + tensor("a", "\"F32\"", "[2]", "[\"0\",8]") + "}", zeros16), "tensor 'a': \"data_offsets\""),
                Arguments.of("end before begin", fileBytes("{" + tensor("a", "\"F32\"", "[0]", "[8,4]") + "}", zeros16), "tensor 'a': data_offsets [8, 4]"),
                Arguments.of("negative begin", fileBytes("{" + tensor("a", "\"F32\"", "[2]", "[-8,0]") + "}", zeros16), "tensor 'a': data_offsets [-8, 0]"),
                Arguments.of("past the end", fileBytes("{" + tensor("a", "\"F32\"", "[16]", "[0,64]") + "}", zeros16), "tensor 'a': data_offsets [0, 64] run past the end"),
                Arguments.of("size mismatch", fileBytes("{" + tensor("a", "\"F32\"", "[3]", "[0,8]") + "}", zeros16), "tensor 'a': data_offsets [0, 8] span 8 bytes but shape [3] of F32 needs 12"),
                Arguments.of("overlap", fileBytes("{" + okA + "," + tensor("b", "\"F32\"", "[2]", "[4,12]") + "}", zeros16), "tensors 'a' and 'b' overlap"),
                Arguments.of("duplicate name", fileBytes("{" + okA + "," + tensor("a", "\"F32\"", "[2]", "[8,16]") + "}", zeros16), "duplicate tensor name 'a'"),
                Arguments.of("metadata not strings", fileBytes("{\"__metadata__\":{\"epochs\":3}," + okA + "}", zeros16), "\"__metadata__\" value 'epochs'"),
                Arguments.of("metadata not object", fileBytes("{\"__metadata__\":\"x\"," + okA + "}", zeros16), "\"__metadata__\" must be an object"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedFilesGiveOneLineErrorsNamingFile(String name, byte[] content, String fragment) throws IOException {
        Path file = Files.write(dir.resolve("bad.safetensors"), content);
        try (Arena arena = Arena.ofConfined()) {
            LumensparkException e = assertThrows(LumensparkException.class, () -> SafeTensors.open(file, arena));
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(fragment), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    @Test
    void emptyTensorsInsideAnotherRangeDoNotCountAsOverlap() throws IOException {
        String header = "{" + tensor("a", "\"F32\"", "[2]", "[0,8]") + "," + tensor("e", "\"F32\"", "[0]", "[4,4]") + "}";
        Path file = Files.write(dir.resolve("ok.safetensors"), fileBytes(header, "00".repeat(8)));
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(2, SafeTensors.open(file, arena).tensors().size());
        }
    }

    @Test
    void missingFileAndMissingTensorAndWrongShape() throws IOException {
        Path file = dir.resolve("model.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            assertEquals("no such file: " + file,
                    assertThrows(LumensparkException.class, () -> SafeTensors.open(file, arena)).getMessage());
            SafeTensors.write(file, List.of(Entry.f32("w", new long[] {2, 2}, new float[4])), null);
            SafeTensors.File read = SafeTensors.open(file, arena);
            assertEquals(file + ": missing tensor 'x'",
                    assertThrows(LumensparkException.class, () -> read.get("x")).getMessage());
            assertEquals(file + ": tensor 'w' has shape [2, 2], expected [4]",
                    assertThrows(LumensparkException.class, () -> read.require("w", 4)).getMessage());
            assertSame(read.get("w"), read.require("w", 2, 2));
            LumensparkException notInt = assertThrows(LumensparkException.class, () -> read.toIntArray(read.get("w")));
            assertEquals(file + ": tensor 'w' has dtype F32, expected an integer type", notInt.getMessage());
        }
    }

    @Test
    void namedPipesAndFoldersAreRefusedWithoutOpeningThem() {
        try (Arena arena = Arena.ofConfined()) {
            Path fifo = Fifos.make(dir.resolve("pipe.safetensors")); // opening it would wait for a writer forever
            assertEquals("cannot read " + fifo + ": not a regular file (a named pipe, device or socket?)",
                    assertThrows(LumensparkException.class, () -> SafeTensors.open(fifo, arena)).getMessage());
            Path folder = dir.resolve("model.safetensors");
            assertTrue(folder.toFile().mkdir());
            assertEquals("cannot read " + folder + ": not a regular file (a folder)", // mapping it: "No such device"
                    assertThrows(LumensparkException.class, () -> SafeTensors.open(folder, arena)).getMessage());
        }
    }

    @Test
    void convertsHalfAndBrainFloat() throws IOException {
        // bit patterns with known float values, little-endian
        short[] f16 = {0x3C00, (short) 0xC000, 0x3555, 0x7BFF, 0x0001, 0x7C00, (short) 0x8000, 0x7E00};
        float[] f16Values = {1f, -2f, 0.333251953125f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, -0f, Float.NaN};
        short[] bf16 = {0x3F80, (short) 0xC040, 0x4049, 0x0080, (short) 0xFF80, 0x7FC0};
        float[] bf16Values = {1f, -3f, 3.140625f, 0x1p-126f, Float.NEGATIVE_INFINITY, Float.NaN};
        Path file = dir.resolve("half.safetensors");
        SafeTensors.write(file, List.of(
                new Entry("h", DType.F16, new long[] {f16.length}, leShorts(f16)),
                new Entry("b", DType.BF16, new long[] {2, 3}, leShorts(bf16))), Map.of());
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File read = SafeTensors.open(file, arena);
            assertArrayEquals(f16Values, read.toFloatArray(read.get("h")));
            assertArrayEquals(bf16Values, read.toFloatArray(read.get("b")));
            MemorySegment h = read.toF32(read.get("h"), arena);
            assertEquals(f16.length * 4L, h.byteSize());
            for (int i = 0; i < f16.length; i++) assertEquals(f16Values[i], h.getAtIndex(JAVA_FLOAT, i));
        }
    }

    private static MemorySegment leShorts(short[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short v : values) b.putShort(v);
        return MemorySegment.ofArray(b.array());
    }

    @Test
    void f32IsZeroCopyAndIntegersConvertWithRangeChecks() throws IOException {
        Path file = dir.resolve("ints.safetensors");
        SafeTensors.write(file, List.of(
                Entry.f32("f", new long[] {3}, new float[] {1, 2, 3}),
                raw("i64", DType.I64, new long[] {2}, "feffffffffffffff" + "0300000000000000"),
                raw("i64.big", DType.I64, new long[] {1}, "0000000001000000"),
                raw("u16", DType.U16, new long[] {2}, "ffff0100")), Map.of());
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File read = SafeTensors.open(file, arena);
            Entry f = read.get("f");
            MemorySegment floats = read.toF32(f, arena);
            assertEquals(f.data().address(), floats.address(), "F32 data is used in place");
            assertEquals(3f, floats.getAtIndex(JAVA_FLOAT, 2));
            assertArrayEquals(new int[] {-2, 3}, read.toIntArray(read.get("i64")));
            assertArrayEquals(new int[] {65535, 1}, read.toIntArray(read.get("u16")));
            LumensparkException e = assertThrows(LumensparkException.class, () -> read.toIntArray(read.get("i64.big")));
            assertEquals(file + ": tensor 'i64.big' element 0 is 4294967296, outside the int range", e.getMessage());
            assertThrows(LumensparkException.class, () -> read.toF32(read.get("u16"), arena));
        }
    }

    @Test
    void streamsTensorsLargerThanOneChunk() throws IOException {
        int n = 5_000_000; // 20 MB, more than two write chunks
        float[] heap = new float[n];
        for (int i = 0; i < n; i++) heap[i] = i;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offHeap = arena.allocate(JAVA_FLOAT, n);
            MemorySegment.copy(heap, 0, offHeap, JAVA_FLOAT, 0, n);
            Path file = dir.resolve("big.safetensors");
            SafeTensors.write(file, List.of(
                    Entry.f32("heap", new long[] {n}, heap),
                    Entry.f32("native", new long[] {1000, n / 1000}, offHeap),
                    Entry.f32("readonly", new long[] {n}, MemorySegment.ofArray(heap).asReadOnly())), Map.of());
            SafeTensors.File read = SafeTensors.open(file, arena);
            for (String name : List.of("heap", "native", "readonly")) {
                assertEquals(-1, offHeap.mismatch(read.get(name).data()), name);
            }
        }
    }

    @Test
    void entryRejectsDataOfTheWrongSizeAndWriterRejectsDuplicates() {
        assertThrows(IllegalArgumentException.class, () -> Entry.f32("w", new long[] {3}, new float[2]));
        assertThrows(IllegalArgumentException.class, () -> Entry.f32("w", new long[] {-1}, new float[0]));
        long[] shape = {2};
        Entry e = Entry.f32("w", shape, new float[2]);
        shape[0] = 5;
        assertArrayEquals(new long[] {2}, e.shape(), "shape is copied");
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir.resolve("d.safetensors"), List.of(e, e), Map.of()));
        assertFalse(Files.exists(dir.resolve("d.safetensors")));
    }
}
