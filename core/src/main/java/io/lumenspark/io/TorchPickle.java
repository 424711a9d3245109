package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A restricted pickle reader for the {@code data.pkl} of a PyTorch checkpoint. It runs the pickle VM only as far as
 * a state dict needs and never executes anything: the only globals it resolves are {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor_v2}, {@code torch._utils._rebuild_parameter(_with_state)} and the typed
 * storage classes ({@code torch.FloatStorage}, ...), and {@code REDUCE} only builds an empty OrderedDict or a
 * {@link TensorRef} from them. Any other global or opcode is refused with a one-line {@link LumensparkException}
 * naming it. Persistent ids become {@link StorageRef}s; the caller resolves them against the zip's storages.
 * <p>
 * Python values become: {@code str} {@link String}, {@code int} {@link Long} (up to 64 bits), {@code float}
 * {@link Double}, {@code bool} {@link Boolean}, {@code None} {@code null}, {@code tuple} {@link Tuple},
 * {@code list} {@link PyList}, {@code dict} and {@code OrderedDict} {@link PyDict}. Lists and dicts compare by
 * identity and are never walked recursively, so cyclic or deeply nested input cannot overflow the Java stack; tuples
 * (which may be dict keys) are limited in depth. The pickle's size, memo, stack and the number of values it builds
 * are capped, so a hostile file cannot use unbounded memory.
 */
final class TorchPickle {
    static final int MAX_PICKLE_BYTES = 64 << 20;
    static final int MAX_STACK = 100_000;
    static final int MAX_MEMO = 1 << 20;
    static final long MAX_VALUES = 8L << 20;
    static final int MAX_TUPLE_DEPTH = 64;
    static final int MAX_DIMS = 64;

    private static final String ONLY = " (only PyTorch state dicts of tensors can be read)";

    /** A Python tuple; immutable, compared by value (it can be a dict key). */
    record Tuple(List<Object> items, int depth) {
        Object get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }
    }

    /** A Python list; compared by identity. */
    static final class PyList {
        final List<Object> items = new ArrayList<>();
    }

    /** A Python dict or OrderedDict (both keep insertion order); compared by identity. */
    static final class PyDict {
        final Map<Object, Object> items = new LinkedHashMap<>();
        final boolean ordered;

        PyDict(boolean ordered) {
            this.ordered = ordered;
        }
    }

    /** A persistent id {@code ('storage', torch.XStorage, key, location, numel)}: the storage in {@code data/<key>}. */
    record StorageRef(String key, DType dtype, long numel) {}

    /** {@code _rebuild_tensor_v2(storage, offset, size, stride, ...)}, not yet checked against the storage. */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

    /** The globals a state dict needs; every other one is refused. */
    enum Global {
        ORDERED_DICT("collections", "OrderedDict", null),
        REBUILD_TENSOR_V2("torch._utils", "_rebuild_tensor_v2", null),
        REBUILD_PARAMETER("torch._utils", "_rebuild_parameter", null),
        REBUILD_PARAMETER_WITH_STATE("torch._utils", "_rebuild_parameter_with_state", null),
        FLOAT_STORAGE("torch", "FloatStorage", DType.F32),
        HALF_STORAGE("torch", "HalfStorage", DType.F16),
        BFLOAT16_STORAGE("torch", "BFloat16Storage", DType.BF16),
        DOUBLE_STORAGE("torch", "DoubleStorage", DType.F64),
        LONG_STORAGE("torch", "LongStorage", DType.I64),
        INT_STORAGE("torch", "IntStorage", DType.I32),
        SHORT_STORAGE("torch", "ShortStorage", DType.I16),
        CHAR_STORAGE("torch", "CharStorage", DType.I8),
        BYTE_STORAGE("torch", "ByteStorage", DType.U8),
        BOOL_STORAGE("torch", "BoolStorage", DType.BOOL);

        final String module, name;
        final DType storageType; // null for the callables

        Global(String module, String name, DType storageType) {
            this.module = module;
            this.name = name;
            this.storageType = storageType;
        }

        static Global find(String module, String name) {
            for (Global g : values()) {
                if (g.module.equals(module) && g.name.equals(name)) return g;
            }
            return null;
        }

        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    private static final String[] OPCODE_NAMES = new String[256];

    static {
        String table = "(MARK .STOP 0POP 1POP_MARK 2DUP FFLOAT IINT JBININT KBININT1 LLONG MBININT2 NNONE PPERSID "
                + "QBINPERSID RREDUCE SSTRING TBINSTRING USHORT_BINSTRING VUNICODE XBINUNICODE aAPPEND bBUILD cGLOBAL "
                + "dDICT }EMPTY_DICT eAPPENDS gGET hBINGET iINST jLONG_BINGET lLIST ]EMPTY_LIST oOBJ pPUT qBINPUT "
                + "rLONG_BINPUT sSETITEM tTUPLE )EMPTY_TUPLE uSETITEMS GBINFLOAT BBINBYTES CSHORT_BINBYTES";
        for (String op : table.split(" ")) OPCODE_NAMES[op.charAt(0)] = op.substring(1);
        String[] high = {"PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE",
                "LONG1", "LONG4", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS",
                "FROZENSET", "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER",
                "READONLY_BUFFER"};
        for (int i = 0; i < high.length; i++) OPCODE_NAMES[0x80 + i] = high[i];
    }

    private final byte[] data;
    private final String where;
    private int pos;
    private final List<Object> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private final Map<Long, Object> memo = new HashMap<>();
    private long values;

    private TorchPickle(byte[] data, String where) {
        this.data = data;
        this.where = where;
    }

    /**
     * Runs the restricted VM over {@code pickle} and returns the unpickled root object.
     *
     * @param where prefix of every error message, e.g. the checkpoint's path and the entry name
     * @throws LumensparkException for any global, opcode or structure a state dict does not need, or malformed input
     */
    static Object load(byte[] pickle, String where) {
        if (pickle.length > MAX_PICKLE_BYTES) {
            throw new LumensparkException(where + ": the pickle is " + pickle.length + " bytes, more than the "
                    + MAX_PICKLE_BYTES + " a state dict could need");
        }
        return new TorchPickle(pickle, where).run();
    }

    private Object run() {
        while (true) {
            int at = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int protocol = u8();
                    if (protocol < 2 || protocol > 5) throw malformed("unsupported pickle protocol " + protocol);
                }
                case 0x95 -> { // FRAME: a length prefix for buffered readers; the data is already in memory
                    long length = le(8);
                    if (length < 0 || length > data.length - pos) throw malformed("frame runs past the end");
                }
                case '.' -> { // STOP
                    if (stack.size() != 1 || markCount != 0) throw malformed("the stack does not hold exactly one value at STOP");
                    return stack.getFirst();
                }
                case '(' -> mark();
                case '0' -> pop(); // POP
                case '1' -> popMark(); // POP_MARK
                case '}' -> push(new PyDict(false));
                case ']' -> push(new PyList());
                case ')' -> push(tuple(List.of()));
                case 'd' -> { // DICT
                    List<Object> items = popMark();
                    PyDict dict = new PyDict(false);
                    putPairs(dict, items);
                    push(dict);
                }
                case 'l' -> { // LIST
                    List<Object> items = popMark();
                    PyList list = new PyList();
                    addAll(list, items);
                    push(list);
                }
                case 't' -> push(tuple(popMark()));
                case 0x85, 0x86, 0x87 -> { // TUPLE1..3
                    int n = op - 0x84;
                    List<Object> items = popN(n);
                    push(tuple(items));
                }
                case 'J' -> push((long) (int) le(4)); // BININT
                case 'K' -> push((long) u8()); // BININT1
                case 'M' -> push(le(2)); // BININT2
                case 0x8a -> push(long1()); // LONG1
                case 'G' -> { // BINFLOAT, big-endian
                    need(8);
                    push(ByteBuffer.wrap(data, pos, 8).getDouble());
                    pos += 8;
                }
                case 'X' -> push(string(le(4))); // BINUNICODE
                case 0x8c -> push(string(u8())); // SHORT_BINUNICODE
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'N' -> push(null);
                case 'q' -> put(u8()); // BINPUT
                case 'r' -> put(le(4)); // LONG_BINPUT
                case 0x94 -> put(memo.size()); // MEMOIZE
                case 'h' -> get(u8()); // BINGET
                case 'j' -> get(le(4)); // LONG_BINGET
                case 's' -> { // SETITEM
                    List<Object> pair = popN(2);
                    putPairs(dictBelow("SETITEM"), pair);
                }
                case 'u' -> { // SETITEMS
                    List<Object> items = popMark();
                    putPairs(dictBelow("SETITEMS"), items);
                }
                case 'a' -> { // APPEND
                    List<Object> item = popN(1);
                    addAll(listBelow("APPEND"), item);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popMark();
                    addAll(listBelow("APPENDS"), items);
                }
                case 'c' -> push(global(line(), line())); // GLOBAL
                case 0x93 -> { // STACK_GLOBAL
                    List<Object> names = popN(2);
                    if (!(names.get(0) instanceof String module) || !(names.get(1) instanceof String name)) {
                        throw malformed("STACK_GLOBAL needs two strings");
                    }
                    push(global(module, name));
                }
                case 'R' -> { // REDUCE
                    List<Object> callAndArgs = popN(2);
                    push(reduce(callAndArgs.get(0), callAndArgs.get(1)));
                }
                case 'b' -> build(); // BUILD
                case 'Q' -> push(persistentLoad(pop())); // BINPERSID
                default -> {
                    String name = OPCODE_NAMES[op];
                    String shown = name != null ? "opcode " + name : String.format("unknown opcode 0x%02x", op);
                    throw refuse("the pickle uses " + shown + " at byte " + at + ", which a state dict does not need");
                }
            }
        }
    }

    // ---- opcode helpers ----

    // every value pushed counts against MAX_VALUES, so the objects a pickle can build are bounded
    private void push(Object value) {
        if (stack.size() >= MAX_STACK) throw malformed("the stack grows beyond " + MAX_STACK + " entries");
        count(1);
        stack.add(value);
    }

    private Object pop() {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor) throw malformed("pop from an empty stack");
        return stack.removeLast();
    }

    private List<Object> popN(int n) {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() - floor < n) throw malformed("pop from an empty stack");
        List<Object> top = stack.subList(stack.size() - n, stack.size());
        List<Object> items = new ArrayList<>(top);
        top.clear();
        return items;
    }

    private void mark() {
        if (markCount >= MAX_STACK) throw malformed("the stack grows beyond " + MAX_STACK + " entries");
        if (markCount == marks.length) marks = Arrays.copyOf(marks, markCount * 2);
        marks[markCount++] = stack.size();
    }

    private List<Object> popMark() {
        if (markCount == 0) throw malformed("no MARK on the stack");
        int from = marks[--markCount];
        List<Object> top = stack.subList(from, stack.size());
        List<Object> items = new ArrayList<>(top);
        top.clear();
        return items;
    }

    private void put(long index) {
        if (stack.size() <= (markCount > 0 ? marks[markCount - 1] : 0)) throw malformed("memoizing from an empty stack");
        if (memo.size() >= MAX_MEMO && !memo.containsKey(index)) {
            throw malformed("the memo grows beyond " + MAX_MEMO + " entries");
        }
        memo.put(index, stack.getLast());
    }

    private void get(long index) {
        if (!memo.containsKey(index)) throw malformed("memo entry " + index + " is read before it is written");
        push(memo.get(index));
    }

    private void count(long n) {
        values += n;
        if (values > MAX_VALUES) throw malformed("it builds more than " + MAX_VALUES + " values");
    }

    private Tuple tuple(List<Object> items) {
        count(items.size());
        int depth = 1;
        for (Object o : items) {
            if (o instanceof Tuple t) depth = Math.max(depth, t.depth() + 1);
        }
        if (depth > MAX_TUPLE_DEPTH) throw malformed("tuples nest deeper than " + MAX_TUPLE_DEPTH);
        return new Tuple(Collections.unmodifiableList(items), depth);
    }

    private void addAll(PyList list, List<Object> items) {
        count(items.size());
        list.items.addAll(items);
    }

    private void putPairs(PyDict dict, List<Object> items) {
        if (items.size() % 2 != 0) throw malformed("odd number of items for a dict");
        count(items.size());
        for (int i = 0; i < items.size(); i += 2) {
            Object key = items.get(i);
            if (!hashable(key)) throw malformed("unhashable dict key (" + typeName(key) + ")");
            dict.items.put(key, items.get(i + 1));
        }
    }

    private static boolean hashable(Object key) {
        if (key instanceof Tuple t) {
            for (Object o : t.items()) {
                if (!hashable(o)) return false; // depth is capped at MAX_TUPLE_DEPTH
            }
            return true;
        }
        return key == null || key instanceof String || key instanceof Long || key instanceof Double || key instanceof Boolean;
    }

    private PyDict dictBelow(String op) {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor || !(stack.getLast() instanceof PyDict d)) throw malformed(op + " without a dict");
        return d;
    }

    private PyList listBelow(String op) {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor || !(stack.getLast() instanceof PyList l)) throw malformed(op + " without a list");
        return l;
    }

    private Object global(String module, String name) {
        Global g = Global.find(module, name);
        if (g == null) throw refuse("the pickle calls " + module + "." + name);
        return g;
    }

    private Object reduce(Object callable, Object argsObject) {
        if (!(callable instanceof Global g)) throw refuse("the pickle calls a " + typeName(callable));
        if (!(argsObject instanceof Tuple args)) throw malformed("REDUCE arguments for " + g + " are not a tuple");
        return switch (g) {
            case ORDERED_DICT -> {
                if (args.size() != 0) throw refuse("the pickle calls collections.OrderedDict with arguments");
                yield new PyDict(true);
            }
            case REBUILD_TENSOR_V2 -> rebuildTensor(args);
            case REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE -> {
                int arity = g == Global.REBUILD_PARAMETER ? 3 : 4;
                if (args.size() != arity || !(args.get(0) instanceof TensorRef t) || !(args.get(1) instanceof Boolean)) {
                    throw malformed(g + " needs (tensor, requires_grad, backward_hooks" + (arity == 4 ? ", state)" : ")"));
                }
                yield t;
            }
            default -> throw refuse("the pickle calls " + g);
        };
    }

    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    private TensorRef rebuildTensor(Tuple args) {
        if (args.size() != 6 && args.size() != 7) {
            throw malformed("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + args.size());
        }
        if (!(args.get(0) instanceof StorageRef storage)) throw malformed("_rebuild_tensor_v2 needs a storage, got " + typeName(args.get(0)));
        if (!(args.get(1) instanceof Long offset)) throw malformed("tensor storage offset is not an int");
        long[] size = ints(args.get(2), "size");
        long[] stride = ints(args.get(3), "stride");
        if (size.length != stride.length) {
            throw malformed("tensor size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride) + " differ in length");
        }
        if (!(args.get(4) instanceof Boolean)) throw malformed("tensor requires_grad is not a bool");
        if (!(args.get(5) instanceof PyDict)) throw malformed("tensor backward_hooks is not a dict");
        return new TensorRef(storage, offset, size, stride);
    }

    private long[] ints(Object value, String what) {
        if (!(value instanceof Tuple t)) throw malformed("tensor " + what + " is not a tuple");
        if (t.size() > MAX_DIMS) throw malformed("tensor " + what + " has " + t.size() + " dimensions, more than " + MAX_DIMS);
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long v)) throw malformed("tensor " + what + " holds a " + typeName(t.get(i)));
            out[i] = v;
        }
        return out;
    }

    private void build() {
        Object state = pop();
        Object target = pop();
        // nn.Module.state_dict() sets a _metadata attribute on its OrderedDict; nothing else is allowed a state
        if (!(target instanceof PyDict d) || !d.ordered) throw refuse("the pickle sets the state of a " + typeName(target));
        if (state != null && !(state instanceof PyDict)) throw refuse("the pickle sets an OrderedDict's state to a " + typeName(state));
        push(target);
    }

    private StorageRef persistentLoad(Object pid) {
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0))) {
            throw refuse("the pickle has a persistent id that is not a tensor storage");
        }
        if (!(t.get(1) instanceof Global g) || g.storageType == null) {
            throw refuse("the storage type is " + typeName(t.get(1)));
        }
        if (!(t.get(2) instanceof String key)) throw malformed("storage key is not a string");
        if (!(t.get(3) instanceof String)) throw malformed("storage location is not a string");
        if (!(t.get(4) instanceof Long numel) || numel < 0) throw malformed("storage size is not a non-negative int");
        return new StorageRef(key, g.storageType, numel);
    }

    // ---- reading the byte stream ----

    private void need(long n) {
        if (n > data.length - pos) throw malformed("truncated pickle (needs " + n + " more bytes at byte " + pos + ")");
    }

    private int u8() {
        need(1);
        return data[pos++] & 0xFF;
    }

    private long le(int n) {
        need(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | (data[pos + i] & 0xFF);
        pos += n;
        return v;
    }

    private long long1() {
        int n = u8();
        if (n > 8) throw malformed("integer of " + n + " bytes is too large");
        if (n == 0) return 0;
        need(n);
        long v = data[pos + n - 1]; // sign-extends the most significant byte
        for (int i = n - 2; i >= 0; i--) v = (v << 8) | (data[pos + i] & 0xFF);
        pos += n;
        return v;
    }

    private String string(long length) {
        need(length);
        try {
            String s = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(data, pos, (int) length)).toString();
            pos += (int) length;
            return s;
        } catch (CharacterCodingException e) {
            throw malformed("string at byte " + pos + " is not valid UTF-8");
        }
    }

    // a GLOBAL argument: printable ASCII up to a newline
    private String line() {
        int start = pos;
        while (pos < data.length && data[pos] != '\n') {
            if (data[pos] < 0x20 || data[pos] > 0x7e || pos - start > 256) throw malformed("malformed GLOBAL name at byte " + start);
            pos++;
        }
        need(1);
        String s = new String(data, start, pos - start, StandardCharsets.US_ASCII);
        pos++;
        return s;
    }

    static String typeName(Object o) {
        return switch (o) {
            case null -> "None";
            case String _ -> "str";
            case Long _ -> "int";
            case Double _ -> "float";
            case Boolean _ -> "bool";
            case Tuple _ -> "tuple";
            case PyList _ -> "list";
            case PyDict d -> d.ordered ? "OrderedDict" : "dict";
            case StorageRef _ -> "storage";
            case TensorRef _ -> "tensor";
            case Global g -> g.toString();
            default -> o.getClass().getSimpleName();
        };
    }

    private LumensparkException refuse(String what) {
        return new LumensparkException(where + ": refusing to load: " + what + ONLY);
    }

    private LumensparkException malformed(String what) {
        return new LumensparkException(where + ": refusing to load: malformed or hostile pickle: " + what + ONLY);
    }
}
