package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;
import io.lumenspark.io.SafeTensors.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.*;

/** Checkpoints written by torch.save (reference/make_torch_checkpoints.py) and hand-made broken or hostile ones. */
class TorchCheckpointTest {
    private static final String ONLY = " (only PyTorch state dicts of tensors can be read)";

    @TempDir
    Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(TorchCheckpointTest.class.getResource("/torch/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertSameTensors(Map<String, Entry> expected, Map<String, Entry> actual) {
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(actual.keySet()));
        expected.forEach((name, e) -> {
            Entry a = actual.get(name);
            assertEquals(e.dtype(), a.dtype(), name);
            assertArrayEquals(e.shape(), a.shape(), name);
            assertEquals(-1, e.data().mismatch(a.data()), name + ": values differ");
        });
    }

    /** The tensors of expected.safetensors named "{stem}/...", with the prefix dropped. */
    private static Map<String, Entry> expected(SafeTensors.File file, String stem) {
        Map<String, Entry> out = new LinkedHashMap<>();
        file.tensors().forEach((name, e) -> {
            if (name.startsWith(stem + "/")) out.put(name.substring(stem.length() + 1), e);
        });
        assertFalse(out.isEmpty(), stem);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "fp16", "bf16", "dtypes", "views", "proto4", "nested", "deflated"})
    void readsWhatTorchSaveWroteLikeTheSafetensorsRoute(String stem) {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File safetensors = SafeTensors.open(fixture("expected.safetensors"), arena);
            TorchCheckpoint checkpoint = TorchCheckpoint.open(fixture(stem + ".bin"), arena);
            assertSameTensors(expected(safetensors, stem), checkpoint.tensors());
        }
    }

    @Test
    void floatValuesConvertAsFromSafetensors() {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File safetensors = SafeTensors.open(fixture("expected.safetensors"), arena);
            for (String stem : List.of("fp32", "fp16", "bf16")) {
                Entry bin = TorchCheckpoint.open(fixture(stem + ".bin"), arena).get("layer.0.weight");
                assertEquals(Map.of("fp32", DType.F32, "fp16", DType.F16, "bf16", DType.BF16).get(stem), bin.dtype());
                float[] values = safetensors.toFloatArray(bin);
                assertArrayEquals(safetensors.toFloatArray(safetensors.get(stem + "/layer.0.weight")), values);
                assertTrue(values[0] != 0 && values[0] == values[0], stem); // real data, not zeros or NaN
            }
        }
    }

    @Test
    void contiguousTensorsAreViewsOfTheMappingStridedOnesCopies() {
        try (Arena arena = Arena.ofConfined()) {
            TorchCheckpoint views = TorchCheckpoint.open(fixture("views.bin"), arena);
            Entry a = views.get("a");
            // a view of the file is read-only (the mapping is), a copy is memory of its own
            assertTrue(a.data().isReadOnly());
            assertEquals(0, a.data().address() % 64, "torch aligns storages to 64 bytes");
            Entry row = views.get("a.row");
            assertTrue(row.data().isReadOnly());
            assertEquals(a.data().address() + 12 * 4, row.data().address());
            for (String strided : List.of("a.t", "a.slice", "a.col", "a.every_other", "bias.expand")) {
                assertFalse(views.get(strided).data().isReadOnly(), strided);
            }
            // tied weights: both names view the same bytes; two views of one storage lie within it
            assertEquals(views.get("tok.weight").data().address(), views.get("head.weight").data().address());
            assertEquals(views.get("vec.head").data().address() + 6 * 4, views.get("vec.tail").data().address());
            assertFalse(TorchCheckpoint.open(fixture("deflated.bin"), arena).get("embed.weight").data().isReadOnly());
        }
    }

    @Test
    void readsShardedCheckpointsInIndexOrder() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path index = fixture("sharded/pytorch_model.bin.index.json");
            TorchCheckpoint sharded = TorchCheckpoint.openSharded(index, arena);
            assertEquals(index, sharded.path());
            assertSameTensors(expected(SafeTensors.open(fixture("expected.safetensors"), arena), "sharded"), sharded.tensors());
            assertEquals(List.of("embed.weight", "layer.0.weight", "layer.0.bias", "head.weight"),
                    List.copyOf(sharded.tensors().keySet()));
        }
    }

    private Path index(String weightMap) throws IOException {
        for (int i = 1; i <= 2; i++) {
            String shard = "pytorch_model-0000" + i + "-of-00002.bin";
            Path copy = dir.resolve(shard);
            if (!Files.exists(copy)) Files.copy(fixture("sharded/" + shard), copy);
        }
        Path index = dir.resolve("pytorch_model.bin.index.json");
        Files.writeString(index, "{\"weight_map\": {" + weightMap + "}}");
        return index;
    }

    @Test
    void refusesShardIndexesThatEscapeTheFolderOrDisagreeWithTheShards() throws IOException {
        String first = "\"pytorch_model-00001-of-00002.bin\"", second = "\"pytorch_model-00002-of-00002.bin\"";
        String all = "\"embed.weight\": " + first + ", \"layer.0.weight\": " + first + ", \"layer.0.bias\": " + second
                + ", \"head.weight\": " + second;
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(4, TorchCheckpoint.openSharded(index(all), arena).tensors().size());
            for (String escape : List.of("\"../pytorch_model-00001-of-00002.bin\"", "\"/etc/passwd\"", "\"..\"",
                    "\"sub\\\\x.bin\"", "\"\"", "3")) {
                Path index = index("\"embed.weight\": " + escape);
                var e = assertThrows(LumensparkException.class, () -> TorchCheckpoint.openSharded(index, arena));
                assertTrue(e.getMessage().endsWith("which is not a file name in the index's folder"), e.getMessage());
            }
            Path missing = index(all.replace("\"head.weight\"", "\"lm_head.weight\""));
            assertEquals(missing + ": shard pytorch_model-00002-of-00002.bin holds tensor 'head.weight', which the index "
                    + "does not assign to it", assertThrows(LumensparkException.class,
                    () -> TorchCheckpoint.openSharded(missing, arena)).getMessage());
            Path extra = index(all + ", \"extra\": " + first);
            assertEquals(extra + ": the index assigns tensor 'extra' to shard pytorch_model-00001-of-00002.bin, which "
                    + "does not hold it", assertThrows(LumensparkException.class,
                    () -> TorchCheckpoint.openSharded(extra, arena)).getMessage());
            Path empty = index("");
            assertTrue(assertThrows(LumensparkException.class, () -> TorchCheckpoint.openSharded(empty, arena))
                    .getMessage().contains("expected a non-empty \"weight_map\""));
        }
    }

    static Stream<Arguments> hostileFixtures() {
        return Stream.of(
                Arguments.of("hostile-os-system.bin", "refusing to load: the pickle calls os.system" + ONLY),
                Arguments.of("hostile-eval.bin", "refusing to load: the pickle calls builtins.eval" + ONLY),
                Arguments.of("hostile-huge-storage.bin", "refusing to load: storage '0' declares 1099511627776 elements "
                        + "of F32 but its entry archive/data/0 holds 16 bytes"),
                Arguments.of("hostile-truncated.bin", "not a zip file, or a truncated one (no end-of-central-directory record)"),
                Arguments.of("hostile-zip-slip.bin", "refusing to load: zip entry name 'archive/../../lumenspark-zip-slip.txt' "
                        + "is absolute or leaves the archive" + ONLY),
                Arguments.of("hostile-deep-lists.bin", "refusing to load: malformed or hostile pickle: the stack grows beyond "
                        + "100000 entries" + ONLY));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileFixtures")
    void refusesHostileFilesWithoutSideEffects(String name, String problem) throws IOException {
        Path file = Files.copy(fixture(name), dir.resolve(name));
        try (Arena arena = Arena.ofConfined()) {
            var e = assertThrows(LumensparkException.class, () -> TorchCheckpoint.open(file, arena));
            assertEquals(file + ": " + problem, e.getMessage());
        }
        // the payloads would touch these, relative to the working directory; nothing may appear next to the file either
        for (String marker : List.of("lumenspark-pickle-ran", "lumenspark-zip-slip.txt", "../lumenspark-zip-slip.txt")) {
            assertFalse(Files.exists(Path.of(marker)), marker);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    private Path write(ZipBytes zip) throws IOException {
        return Files.write(dir.resolve("model.bin"), zip.bytes());
    }

    private String refusal(ZipBytes zip) throws IOException {
        Path file = write(zip);
        try (Arena arena = Arena.ofConfined()) {
            String message = assertThrows(LumensparkException.class, () -> TorchCheckpoint.open(file, arena)).getMessage();
            assertTrue(message.startsWith(file + ": "), message);
            assertFalse(message.contains("\n"), message);
            return message.substring(file.toString().length() + 2);
        }
    }

    private static final String FLOATS = "0000803f000000400000404000008040000080400000a040"; // 1, 2, 3, 4, 4, 5

    private static byte[] oneTensor(String type, long numel, long offset, long[] size, long[] stride) {
        return PickleBytes.proto2().orderedDict().mark().str("w").tensor(type, "0", numel, offset, size, stride)
                .op('u').stop().bytes();
    }

    @Test
    void runsCommandsInNoPickleItLoads() throws IOException {
        Path marker = dir.resolve("marker");
        byte[] pickle = PickleBytes.proto2().orderedDict().mark().str("w")
                .global("os", "system").str("touch " + marker).op(0x85).op('R').op('u').stop().bytes();
        assertEquals("refusing to load: the pickle calls os.system" + ONLY, refusal(ZipBytes.checkpoint(pickle)));
        assertFalse(Files.exists(marker));
    }

    @Test
    void readsZip64AndDeflatedEntries() throws IOException {
        byte[] pickle = oneTensor("FloatStorage", 6, 0, new long[] {2, 3}, new long[] {3, 1});
        for (ZipBytes zip : List.of(ZipBytes.checkpoint(pickle, "0", FLOATS).zip64(),
                new ZipBytes().deflated("archive/data.pkl", pickle).deflated("archive/data/0", HexFormat.of().parseHex(FLOATS)))) {
            Path file = write(zip);
            try (Arena arena = Arena.ofConfined()) {
                Entry w = TorchCheckpoint.open(file, arena).get("w");
                assertArrayEquals(new long[] {2, 3}, w.shape());
                assertArrayEquals(HexFormat.of().parseHex(FLOATS), w.data().toArray(JAVA_BYTE));
            }
        }
    }

    @Test
    void refusesViewsOutsideTheirStorage() throws IOException {
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 1, new long[] {2, 3}, new long[] {3, 1}), "0", FLOATS))
                .endsWith("tensor 'w' (offset 1, size [2, 3], stride [3, 1]) reaches element 6 of storage '0', which has 6 elements"));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 0, new long[] {3, 2}, new long[] {2, 3}), "0", FLOATS))
                .contains("reaches element 7 of storage '0'"));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 0, new long[] {2, 2}, new long[] {-1, 1}), "0", FLOATS))
                .endsWith("has a negative size or stride"));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, -1, new long[] {1}, new long[] {1}), "0", FLOATS))
                .endsWith("has a negative storage offset"));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 0, new long[] {2, 3}, new long[] {Long.MAX_VALUE, 1}), "0", FLOATS))
                .contains("overflows: it reaches outside storage '0' of 6 elements"));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 0, new long[] {1L << 20, 1L << 20}, new long[] {0, 0}), "0", FLOATS))
                .contains("needs a copy of 1099511627776 elements, more than the "), "stride-0 views may not blow up memory");
        assertEquals("refusing to load: storage '0' declares 7 elements of F32 but its entry archive/data/0 holds 24 bytes",
                refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 7, 0, new long[] {1}, new long[] {1}), "0", FLOATS)));
        assertTrue(refusal(ZipBytes.checkpoint(oneTensor("DoubleStorage", 1L << 61, 0, new long[] {1}, new long[] {1}), "0", FLOATS))
                .startsWith("refusing to load: storage '0' declares 2305843009213693952 elements of F64"));
        assertEquals("storage '0' has no entry archive/data/0",
                refusal(ZipBytes.checkpoint(oneTensor("FloatStorage", 6, 0, new long[] {1}, new long[] {1}))));
        byte[] twoTypes = PickleBytes.proto2().orderedDict().mark()
                .str("a").tensor("FloatStorage", "0", 6, 0, new long[] {6}, new long[] {1})
                .str("b").tensor("IntStorage", "0", 6, 0, new long[] {6}, new long[] {1}).op('u').stop().bytes();
        assertEquals("storage '0' is declared as 6 F32 and as 6 I32", refusal(ZipBytes.checkpoint(twoTypes, "0", FLOATS)));
    }

    @Test
    void readsExpandedAndEmptyTensorsAndNestedModelDicts() throws IOException {
        byte[] pickle = PickleBytes.proto2().op('}').mark().str("step").op('K', 3).str("model").op('}').mark()
                .str("expand").tensor("FloatStorage", "0", 6, 4, new long[] {2, 2}, new long[] {0, 1})
                .str("empty").tensor("FloatStorage", "0", 6, 0, new long[] {0, 5}, new long[] {5, 1})
                .op('u').op('u').stop().bytes();
        Path file = write(ZipBytes.checkpoint(pickle, "0", FLOATS));
        try (Arena arena = Arena.ofConfined()) {
            TorchCheckpoint c = TorchCheckpoint.open(file, arena);
            assertEquals(List.of("expand", "empty"), List.copyOf(c.tensors().keySet()));
            assertEquals("000080400000a040" + "000080400000a040", HexFormat.of().formatHex(c.get("expand").data().toArray(JAVA_BYTE)));
            assertEquals(0, c.get("empty").data().byteSize());
            assertArrayEquals(new long[] {0, 5}, c.get("empty").shape());
        }
    }

    @Test
    void refusesWhatIsNotAStateDict() throws IOException {
        assertEquals("the checkpoint holds a list, not a state dict of tensors",
                refusal(ZipBytes.checkpoint(PickleBytes.proto2().op(']').stop().bytes())));
        byte[] noTensors = PickleBytes.proto2().op('}').mark().str("epoch").op('K', 3).str("optimizer").op('}')
                .op('u').stop().bytes();
        assertEquals("the checkpoint holds no tensors, nor a \"state_dict\" or \"model\" dict of them (keys: epoch, optimizer)",
                refusal(ZipBytes.checkpoint(noTensors)));
        byte[] intName = PickleBytes.proto2().op('}').op('K', 1)
                .tensor("FloatStorage", "0", 6, 0, new long[] {6}, new long[] {1}).op('s').stop().bytes();
        assertEquals("a tensor's name is a int, not a string", refusal(ZipBytes.checkpoint(intName, "0", FLOATS)));
        Path empty = write(ZipBytes.checkpoint(PickleBytes.proto2().orderedDict().stop().bytes()));
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(TorchCheckpoint.open(empty, arena).tensors().isEmpty());
        }
    }

    @Test
    void refusesUnsafeNamesAndBrokenArchives() throws IOException {
        byte[] pickle = oneTensor("FloatStorage", 6, 0, new long[] {6}, new long[] {1});
        for (String name : List.of("/etc/passwd", "archive/../../x", "..\\x", "archive/a\0b", "C:/x", "archive/..")) {
            String message = refusal(ZipBytes.checkpoint(pickle, "0", FLOATS).add(name, new byte[1]));
            assertTrue(message.startsWith("refusing to load: zip entry name '"), message);
            assertTrue(message.endsWith("' is absolute or leaves the archive" + ONLY), message);
        }
        assertEquals("the checkpoint's byte order is 'big'; only little-endian checkpoints can be read",
                refusal(new ZipBytes().add("archive/data.pkl", pickle).add("archive/data/0", HexFormat.of().parseHex(FLOATS))
                        .add("archive/byteorder", "big".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("not a PyTorch checkpoint: the zip has no archive/data.pkl",
                refusal(new ZipBytes().add("archive/model.json", new byte[2])));
        assertEquals("not a PyTorch checkpoint: zip entry 'data.pkl' is not in an archive folder",
                refusal(new ZipBytes().add("data.pkl", pickle)));
    }

    private String refusal(byte[] file) throws IOException {
        Path path = Files.write(dir.resolve("model.bin"), file);
        try (Arena arena = Arena.ofConfined()) {
            String message = assertThrows(LumensparkException.class, () -> TorchCheckpoint.open(path, arena)).getMessage();
            assertTrue(message.startsWith(path + ": "), message);
            assertFalse(message.contains("\n"), message);
            return message.substring(path.toString().length() + 2);
        }
    }

    @Test
    void refusesTruncatedCorruptAndLegacyFiles() throws IOException {
        byte[] pickle = oneTensor("FloatStorage", 6, 0, new long[] {6}, new long[] {1});
        byte[] good = ZipBytes.checkpoint(pickle, "0", FLOATS).bytes();
        for (int length : new int[] {good.length - 1, good.length / 2, 21, 0}) {
            assertEquals("not a zip file, or a truncated one (no end-of-central-directory record)",
                    refusal(Arrays.copyOf(good, length)));
        }
        // a directory that points past its own start, and an entry whose data runs into the directory
        byte[] badOffset = good.clone();
        putInt(badOffset, badOffset.length - 6, 0x7fff_0000);
        assertTrue(refusal(badOffset).startsWith("corrupt or truncated zip: the central directory (offset "));
        byte[] longEntry = good.clone();
        int central = indexOf(longEntry, new byte[] {0x50, 0x4b, 0x01, 0x02});
        putInt(longEntry, central + 20, 0x7fff_0000); // compressed and uncompressed size of archive/data.pkl
        putInt(longEntry, central + 24, 0x7fff_0000);
        assertTrue(refusal(longEntry).matches("corrupt or truncated zip: entry 'archive/data.pkl' \\(\\d+ bytes at byte \\d+\\) "
                + "runs past the end of its data; truncated file\\?"), refusal(longEntry));
        byte[] renamedLocal = good.clone();
        renamedLocal[30 + "archive/".length()] = 'D'; // the local header's name of archive/data.pkl
        assertEquals("corrupt or truncated zip: entry 'archive/data.pkl': the local header does not match the central directory",
                refusal(renamedLocal));
        byte[] duplicate = new ZipBytes().add("archive/data.pkl", pickle).add("archive/data.pkx", pickle).bytes();
        for (int at = indexOf(duplicate, "data.pkx".getBytes(StandardCharsets.US_ASCII)); at >= 0;
             at = indexOf(duplicate, "data.pkx".getBytes(StandardCharsets.US_ASCII))) {
            duplicate[at + 7] = 'l';
        }
        assertEquals("corrupt or truncated zip: two entries are named 'archive/data.pkl'", refusal(duplicate));

        // the pre-1.6 format is a bare pickle stream
        byte[] legacy = PickleBytes.proto2().op(0x8a, 10).op(new int[10]).stop().bytes();
        assertEquals("a checkpoint in the legacy torch.save format (before PyTorch 1.6) cannot be read safely; re-save it "
                + "with a newer PyTorch or as safetensors", refusal(legacy));
    }

    @Test
    void refusesDeflatedEntriesThatLieAboutTheirSize() throws IOException {
        byte[] pickle = oneTensor("FloatStorage", 6, 0, new long[] {6}, new long[] {1});
        byte[] good = new ZipBytes().deflated("archive/data.pkl", pickle).deflated("archive/data/0", HexFormat.of().parseHex(FLOATS)).bytes();
        int central = indexOf(good, new byte[] {0x50, 0x4b, 0x01, 0x02});
        byte[] shorter = good.clone();
        putInt(shorter, central + 24, pickle.length - 1); // declared size of archive/data.pkl one byte short
        assertEquals("corrupt or truncated zip: deflated entry 'archive/data.pkl' inflates to more than its declared "
                + (pickle.length - 1) + " bytes", refusal(shorter));
        byte[] longer = good.clone();
        putInt(longer, central + 24, pickle.length + 1);
        assertEquals("corrupt or truncated zip: deflated entry 'archive/data.pkl' inflates to " + pickle.length
                + " bytes, not the declared " + (pickle.length + 1), refusal(longer));
        byte[] bomb = good.clone();
        int storage = indexOf(good, "archive/data/0".getBytes(StandardCharsets.US_ASCII), central) - 46;
        putInt(bomb, storage + 24, 0x7fff_ffff); // archive/data/0 declares 2 GB from a few bytes
        assertTrue(refusal(bomb).contains("more than deflate can produce"), refusal(bomb));
    }

    private static void putInt(byte[] bytes, int at, int value) {
        for (int i = 0; i < 4; i++) bytes[at + i] = (byte) (value >>> (8 * i));
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        return indexOf(haystack, needle, 0);
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int i = from; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) continue outer;
            }
            return i;
        }
        return -1;
    }

    @Test
    void reportsMissingFiles() {
        try (Arena arena = Arena.ofConfined()) {
            Path missing = dir.resolve("nope.bin");
            assertEquals("no such file: " + missing, assertThrows(LumensparkException.class,
                    () -> TorchCheckpoint.open(missing, arena)).getMessage());
        }
    }
}
