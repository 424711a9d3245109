package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;
import io.lumenspark.io.TorchPickle.PyDict;
import io.lumenspark.io.TorchPickle.PyList;
import io.lumenspark.io.TorchPickle.TensorRef;
import io.lumenspark.io.TorchPickle.Tuple;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class TorchPickleTest {
    private static final String ONLY = " (only PyTorch state dicts of tensors can be read)";

    @TempDir
    Path dir;

    private static LumensparkException refused(byte[] pickle) {
        return assertThrows(LumensparkException.class, () -> TorchPickle.load(pickle, "model.bin"));
    }

    @Test
    void readsTheValuesAStateDictUses() {
        byte[] pickle = PickleBytes.proto2().op('}') // {
                .mark()
                .str("i").op('J').le(-5, 4) // BININT
                .str("k").op('K', 255) // BININT1
                .str("m").op('M').le(65535, 2) // BININT2
                .str("big").op(0x8a, 5).le(-(1L << 39), 5) // LONG1, negative
                .str("zero").op(0x8a, 0) // LONG1 of no bytes
                .str("f").op('G').op(0x3f, 0xf8, 0, 0, 0, 0, 0, 0) // BINFLOAT 1.5, big-endian
                .str("t").op(0x88).str("n").op('N')
                .str("short").op(0x8c, 3).op('a', 'b', 'c') // SHORT_BINUNICODE
                .str("tuple").op('K', 1).op('K', 2).op(0x86) // TUPLE2
                .str("list").op(']').op('q', 7).mark().op('K', 1).op('K', 2).op('e').op('K', 3).op('a') // APPENDS, APPEND
                .str("again").op('h', 7) // BINGET of the same list
                .str("od").orderedDict().op('}').str("_metadata").op('}').op('s').op('b') // BUILD sets OrderedDict state
                .op('u').stop().bytes();
        PyDict root = assertInstanceOf(PyDict.class, TorchPickle.load(pickle, "x"));
        assertFalse(root.ordered);
        var items = root.items;
        assertEquals(List.of("i", "k", "m", "big", "zero", "f", "t", "n", "short", "tuple", "list", "again", "od"),
                List.copyOf(items.keySet()));
        assertEquals(-5L, items.get("i"));
        assertEquals(255L, items.get("k"));
        assertEquals(65535L, items.get("m"));
        assertEquals(-(1L << 39), items.get("big"));
        assertEquals(0L, items.get("zero"));
        assertEquals(1.5, items.get("f"));
        assertEquals(true, items.get("t"));
        assertNull(items.get("n"));
        assertEquals("abc", items.get("short"));
        assertEquals(List.of(1L, 2L), assertInstanceOf(Tuple.class, items.get("tuple")).items());
        PyList list = assertInstanceOf(PyList.class, items.get("list"));
        assertEquals(List.of(1L, 2L, 3L), list.items);
        assertSame(list, items.get("again"));
        assertTrue(assertInstanceOf(PyDict.class, items.get("od")).ordered);
    }

    @Test
    void readsProtocol4FramesMemoizeAndStackGlobal() {
        byte[] body = new PickleBytes()
                .op(0x8c, 11).op("collections".chars().toArray()).op(0x94)
                .op(0x8c, 11).op("OrderedDict".chars().toArray()).op(0x94)
                .op(0x93).op(0x94).op(')').op('R').op(0x94) // STACK_GLOBAL, REDUCE
                .op(0x8c, 1, 'w').op('h', 2).op(')').op('R').op('s') // od['w'] = OrderedDict() via the memo
                .stop().bytes();
        byte[] pickle = new PickleBytes().op(0x80, 4).op(0x95).le(body.length, 8).raw(body).bytes();
        PyDict root = assertInstanceOf(PyDict.class, TorchPickle.load(pickle, "x"));
        assertTrue(root.ordered);
        assertTrue(assertInstanceOf(PyDict.class, root.items.get("w")).ordered);
    }

    @Test
    void rebuildsTensorsAndParametersWithoutResolvingStorages() {
        byte[] pickle = PickleBytes.proto2().orderedDict().mark()
                .str("w").tensor("HalfStorage", "7", 12, 2, new long[] {2, 3}, new long[] {1, 2})
                .str("p").global("torch._utils", "_rebuild_parameter").mark()
                .tensor("LongStorage", "8", 1, 0, new long[] {}, new long[] {})
                .op(0x88).orderedDict().op('t').op('R')
                .str("s").global("torch._utils", "_rebuild_parameter_with_state").mark()
                .tensor("FloatStorage", "9", 2, 0, new long[] {2}, new long[] {1})
                .op(0x89).orderedDict().op('}').op('t').op('R')
                .op('u').stop().bytes();
        PyDict root = (PyDict) TorchPickle.load(pickle, "x");
        TensorRef w = assertInstanceOf(TensorRef.class, root.items.get("w"));
        assertEquals(new TorchPickle.StorageRef("7", DType.F16, 12), w.storage());
        assertEquals(2, w.offset());
        assertArrayEquals(new long[] {2, 3}, w.size());
        assertArrayEquals(new long[] {1, 2}, w.stride());
        TensorRef p = assertInstanceOf(TensorRef.class, root.items.get("p"));
        assertEquals(new TorchPickle.StorageRef("8", DType.I64, 1), p.storage());
        assertArrayEquals(new long[] {}, p.size());
        TensorRef withState = assertInstanceOf(TensorRef.class, root.items.get("s"));
        assertEquals(new TorchPickle.StorageRef("9", DType.F32, 2), withState.storage());
    }

    @Test
    void refusesOsSystemWithoutRunningIt() {
        Path marker = dir.resolve("marker");
        byte[] pickle = PickleBytes.proto2().global("os", "system").str("touch " + marker).op(0x85).op('R').stop().bytes();
        assertEquals("model.bin: refusing to load: the pickle calls os.system" + ONLY, refused(pickle).getMessage());
        assertFalse(Files.exists(marker));
    }

    static Stream<Arguments> hostile() {
        return Stream.of(
                Arguments.of("posix.system", PickleBytes.proto2().global("posix", "system").bytes()),
                Arguments.of("builtins.eval", PickleBytes.proto2().global("builtins", "eval").bytes()),
                Arguments.of("__builtin__.getattr", PickleBytes.proto2().global("__builtin__", "getattr").bytes()),
                Arguments.of("subprocess.Popen", PickleBytes.proto2().op(0x8c, 10).op("subprocess".chars().toArray())
                        .op(0x8c, 5).op("Popen".chars().toArray()).op(0x93).bytes()),
                Arguments.of("torch.load", PickleBytes.proto2().global("torch", "load").bytes()),
                Arguments.of("torch._utils._rebuild_tensor", PickleBytes.proto2().global("torch._utils", "_rebuild_tensor").bytes()),
                Arguments.of("collections.OrderedDict with arguments", PickleBytes.proto2().global("collections", "OrderedDict")
                        .op(']').op(0x85).op('R').bytes()),
                Arguments.of("torch.FloatStorage", PickleBytes.proto2().global("torch", "FloatStorage").op(')').op('R').bytes()),
                Arguments.of("a str", PickleBytes.proto2().str("os.system").op(')').op('R').bytes()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostile")
    void refusesEveryOtherCall(String what, byte[] pickle) {
        assertEquals("model.bin: refusing to load: the pickle calls " + what + ONLY, refused(pickle).getMessage());
    }

    static Stream<Arguments> opcodes() {
        return Stream.of(
                Arguments.of("opcode INST", PickleBytes.proto2().op('i').bytes()),
                Arguments.of("opcode OBJ", PickleBytes.proto2().mark().op('o').bytes()),
                Arguments.of("opcode NEWOBJ", PickleBytes.proto2().op(0x81).bytes()),
                Arguments.of("opcode NEWOBJ_EX", PickleBytes.proto2().op(0x92).bytes()),
                Arguments.of("opcode EXT1", PickleBytes.proto2().op(0x82, 1).bytes()),
                Arguments.of("opcode PERSID", PickleBytes.proto2().op('P').bytes()),
                Arguments.of("opcode BINBYTES", PickleBytes.proto2().op('B').bytes()),
                Arguments.of("opcode EMPTY_SET", PickleBytes.proto2().op(0x8f).bytes()),
                Arguments.of("opcode NEXT_BUFFER", PickleBytes.proto2().op(0x97).bytes()),
                Arguments.of("unknown opcode 0xff", PickleBytes.proto2().op(0xff).bytes()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("opcodes")
    void refusesOpcodesAStateDictDoesNotNeed(String what, byte[] pickle) {
        String message = refused(pickle).getMessage();
        assertTrue(message.startsWith("model.bin: refusing to load: the pickle uses " + what + " at byte "), message);
        assertTrue(message.endsWith(", which a state dict does not need" + ONLY), message);
    }

    @Test
    void refusesBuildOnAnythingButAnOrderedDictAndForeignPersistentIds() {
        assertTrue(refused(PickleBytes.proto2().op(']').op('}').op('b').stop().bytes()).getMessage()
                .contains("the pickle sets the state of a list"));
        assertTrue(refused(PickleBytes.proto2().op('}').op('}').op('b').stop().bytes()).getMessage()
                .contains("the pickle sets the state of a dict"));
        assertTrue(refused(PickleBytes.proto2().str("module").op(0x85).op('Q').stop().bytes()).getMessage()
                .contains("persistent id that is not a tensor storage"));
        byte[] dictAsStorage = PickleBytes.proto2().mark().str("storage").global("collections", "OrderedDict")
                .str("0").str("cpu").op('K', 1).op('t').op('Q').stop().bytes();
        assertTrue(refused(dictAsStorage).getMessage().contains("the storage type is collections.OrderedDict"));
    }

    @Test
    void capsStackTupleDepthMemoAndValues() {
        ByteArrayOutputStream deep = new ByteArrayOutputStream();
        deep.writeBytes(PickleBytes.proto2().bytes());
        for (int i = 0; i <= TorchPickle.MAX_STACK; i++) deep.write('(');
        assertTrue(refused(deep.toByteArray()).getMessage().contains("the stack grows beyond 100000 entries"));

        PickleBytes tuples = PickleBytes.proto2().op(')');
        for (int i = 0; i < TorchPickle.MAX_TUPLE_DEPTH; i++) tuples.op(0x85);
        assertTrue(refused(tuples.bytes()).getMessage().contains("tuples nest deeper than 64"));

        PickleBytes memo = PickleBytes.proto2().op('N');
        for (int i = 0; i <= TorchPickle.MAX_MEMO; i++) memo.op('r').le(i, 4);
        assertTrue(refused(memo.bytes()).getMessage().contains("the memo grows beyond 1048576 entries"));

        ByteArrayOutputStream many = new ByteArrayOutputStream();
        many.writeBytes(PickleBytes.proto2().bytes());
        for (long i = 0; i <= TorchPickle.MAX_VALUES; i++) many.writeBytes(new byte[] {'N', '0'}); // NONE, POP
        assertTrue(refused(many.toByteArray()).getMessage().contains("it builds more than 8388608 values"));
    }

    @Test
    void refusesMalformedPickles() {
        assertTrue(refused(PickleBytes.proto2().op('}').bytes()).getMessage().contains("truncated pickle"));
        assertTrue(refused(PickleBytes.proto2().op('h', 3).bytes()).getMessage().contains("memo entry 3 is read before it is written"));
        assertTrue(refused(PickleBytes.proto2().op('}').op(']').op('K', 1).op('s').bytes()).getMessage()
                .contains("unhashable dict key (list)"));
        assertTrue(refused(PickleBytes.proto2().op('K', 1).op('a').bytes()).getMessage().contains("APPEND without a list"));
        assertTrue(refused(PickleBytes.proto2().op('t').bytes()).getMessage().contains("no MARK on the stack"));
        assertTrue(refused(PickleBytes.proto2().op('0').bytes()).getMessage().contains("pop from an empty stack"));
        assertTrue(refused(PickleBytes.proto2().op('N').op('N').stop().bytes()).getMessage()
                .contains("the stack does not hold exactly one value at STOP"));
        assertTrue(refused(new PickleBytes().op(0x80, 1).bytes()).getMessage().contains("unsupported pickle protocol 1"));
        assertTrue(refused(PickleBytes.proto2().op(0x8c, 2, 0xc3, 0x28).bytes()).getMessage().contains("is not valid UTF-8"));
        assertTrue(refused(PickleBytes.proto2().op(0x8a, 9).bytes()).getMessage().contains("integer of 9 bytes is too large"));
        byte[] sizeNotTuple = PickleBytes.proto2().global("torch._utils", "_rebuild_tensor_v2").mark()
                .mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('K', 4).op('t').op('Q')
                .op('K', 0).op(']').op(']').op(0x89).orderedDict().op('t').op('R').stop().bytes();
        assertTrue(refused(sizeNotTuple).getMessage().contains("tensor size is not a tuple"));
        for (byte[] bad : List.of(sizeNotTuple, PickleBytes.proto2().op('}').bytes())) {
            String message = refused(bad).getMessage();
            assertFalse(message.contains("\n"), message);
            assertTrue(message.startsWith("model.bin: refusing to load: malformed or hostile pickle: "), message);
        }
    }
}
