package io.lumenspark.io;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.DType;
import io.lumenspark.io.SafeTensors.Entry;
import io.lumenspark.io.TorchPickle.PyDict;
import io.lumenspark.io.TorchPickle.StorageRef;
import io.lumenspark.io.TorchPickle.TensorRef;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

import static io.lumenspark.io.SafeTensors.LE_INT;
import static io.lumenspark.io.SafeTensors.LE_LONG;
import static io.lumenspark.io.SafeTensors.LE_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Reads the tensors of a PyTorch checkpoint ({@code pytorch_model.bin}, written by {@code torch.save} since
 * PyTorch 1.6) safely: nothing in the file is ever executed.
 * <p>
 * The file is a zip archive with one folder, {@code <name>/}: {@code data.pkl} is a pickle of the state dict whose
 * tensors refer to raw little-endian storages {@code data/<key>}, and newer versions add {@code byteorder}. The zip
 * is parsed here from its central directory (zip64 included); every entry name, size and offset is checked against
 * the file first, and names that are absolute or contain {@code ..} or NUL are refused. The pickle is read by
 * {@link TorchPickle}, which understands only what a state dict needs and refuses every other global or opcode.
 * <p>
 * Tensors are {@link Entry}s like those of {@link SafeTensors}, so both formats load the same way. A contiguous tensor
 * is a view into a read-only memory mapping of the file (torch stores storages uncompressed, 64-byte aligned); a
 * strided one (a transposed or sliced view, an expand) is copied into a contiguous segment of the caller's arena, and
 * a storage whose zip entry is deflated is inflated into the arena. Several tensors may share one storage.
 * Everything lives as long as the arena.
 */
public final class TorchCheckpoint implements TensorSource {
    /** More entries than any real checkpoint has (one per storage). */
    static final int MAX_ENTRIES = 1 << 20;
    /** The largest deflated entry that is inflated into memory. */
    static final long MAX_INFLATED_BYTES = 16L << 30;
    // deflate cannot compress better than 1032:1, so a larger declared size is a lie
    private static final long MAX_DEFLATE_RATIO = 1032;
    private static final int CHUNK_BYTES = 1 << 20;
    private static final int ALIGNMENT = 64;
    /**
     * Strided tensors are copied; together the copies may take the file's size plus this much. Real views (transposes,
     * slices) need at most their storages, so only a hostile file (e.g. a huge stride-0 expand) comes near it.
     */
    static final long MAX_COPY_OVERHEAD = 1L << 30;

    private final Path path;
    private final Map<String, Entry> tensors;

    private TorchCheckpoint(Path path, Map<String, Entry> tensors) {
        this.path = path;
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    /** The checkpoint file, or the index of a sharded checkpoint. */
    @Override
    public Path path() {
        return path;
    }

    /** All tensors of the state dict, in the order of the file (of the index's {@code weight_map} when sharded). */
    @Override
    public Map<String, Entry> tensors() {
        return tensors;
    }

    @Override
    public String toString() {
        return path + " (" + tensors.size() + " tensors)";
    }

    /**
     * Opens a {@code torch.save} checkpoint: a state dict ({@code dict} or {@code OrderedDict} of tensors), or a dict
     * holding one under {@code "state_dict"} or {@code "model"}. Values that are not tensors (e.g. a step count) are
     * ignored. The file is mapped read-only into {@code arena}.
     *
     * @throws LumensparkException (one line, naming the file) for a missing, truncated or corrupt file, an unsafe
     *                             zip entry name, a pickle that does anything but build a state dict, or tensors that
     *                             do not fit their storages
     */
    public static TorchCheckpoint open(Path file, Arena arena) {
        InputFiles.requireRegularFile(file); // a named pipe would block the mapping, a folder fail it obscurely
        Zip zip = Zip.read(file, map(file, arena));
        return new TorchCheckpoint(file, new Loader(file, zip, arena).tensors());
    }

    /**
     * Opens a sharded checkpoint from its index ({@code pytorch_model.bin.index.json}: {@code "weight_map"} maps each
     * tensor name to a shard file in the same folder). Each shard must hold exactly the tensors the index assigns it.
     *
     * @throws LumensparkException for a malformed index, a shard name that is not a plain file name in that folder,
     *                             a shard that disagrees with the index, or any error of {@link #open}
     */
    public static TorchCheckpoint openSharded(Path indexJson, Arena arena) {
        return new TorchCheckpoint(indexJson, WeightFiles.openShards(indexJson, arena, TorchCheckpoint::open));
    }

    private static MemorySegment map(Path file, Arena arena) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return SafeTensors.mapReadOnly(channel, channel.size(), arena);
        } catch (NoSuchFileException e) {
            throw new LumensparkException("no such file: " + file, e);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + file + ": " + AtomicFiles.reason(e), e);
        }
    }

    private static LumensparkException bad(Path path, String problem) {
        return new LumensparkException(path + ": " + problem);
    }

    // ---- the state dict ----

    private record Storage(String key, DType dtype, long numel, MemorySegment data) {}

    /** Turns the unpickled state dict into entries, resolving storages against the zip. */
    private static final class Loader {
        private final Path path;
        private final Zip zip;
        private final Arena arena;
        private final String folder;
        private final Map<String, Storage> storages = new HashMap<>();
        private long copyBudget;

        Loader(Path path, Zip zip, Arena arena) {
            this.path = path;
            this.zip = zip;
            this.arena = arena;
            String first = zip.entries.keySet().iterator().next();
            int slash = first.indexOf('/');
            if (slash <= 0) throw bad(path, "not a PyTorch checkpoint: zip entry '" + first + "' is not in an archive folder");
            this.folder = first.substring(0, slash + 1);
            this.copyBudget = zip.file.byteSize() + MAX_COPY_OVERHEAD;
        }

        Map<String, Entry> tensors() {
            ZipEntry pickle = zip.entries.get(folder + "data.pkl");
            if (pickle == null) throw bad(path, "not a PyTorch checkpoint: the zip has no " + folder + "data.pkl");
            checkByteOrder();
            PyDict stateDict = stateDict(TorchPickle.load(zip.bytes(pickle, TorchPickle.MAX_PICKLE_BYTES), path.toString()));
            Map<String, Entry> out = new LinkedHashMap<>();
            for (Map.Entry<Object, Object> e : stateDict.items.entrySet()) {
                if (!(e.getValue() instanceof TensorRef t)) continue; // e.g. a version number
                if (!(e.getKey() instanceof String name)) {
                    throw bad(path, "a tensor's name is a " + TorchPickle.typeName(e.getKey()) + ", not a string");
                }
                out.put(name, tensor(name, t));
            }
            return out;
        }

        // PyTorch writes it since 2.1; older files are read as little-endian, as every machine that matters is
        private void checkByteOrder() {
            ZipEntry entry = zip.entries.get(folder + "byteorder");
            if (entry == null) return;
            String order = new String(zip.bytes(entry, 16), StandardCharsets.US_ASCII).strip();
            if (!order.equals("little")) {
                throw bad(path, "the checkpoint's byte order is '" + order + "'; only little-endian checkpoints can be read");
            }
        }

        private PyDict stateDict(Object root) {
            if (!(root instanceof PyDict dict)) {
                throw bad(path, "the checkpoint holds a " + TorchPickle.typeName(root) + ", not a state dict of tensors");
            }
            if (hasTensors(dict)) return dict;
            for (String key : List.of("state_dict", "model")) {
                if (dict.items.get(key) instanceof PyDict inner) return inner;
            }
            if (dict.items.isEmpty()) return dict;
            List<String> keys = new ArrayList<>();
            for (Object k : dict.items.keySet()) {
                if (keys.size() == 8) {
                    keys.add("...");
                    break;
                }
                keys.add(k instanceof String s ? s : TorchPickle.typeName(k));
            }
            throw bad(path, "the checkpoint holds no tensors, nor a \"state_dict\" or \"model\" dict of them (keys: "
                    + String.join(", ", keys) + ")");
        }

        private static boolean hasTensors(PyDict dict) {
            for (Object v : dict.items.values()) {
                if (v instanceof TensorRef) return true;
            }
            return false;
        }

        private Storage storage(StorageRef ref) {
            Storage known = storages.get(ref.key());
            if (known != null) {
                if (known.dtype() != ref.dtype() || known.numel() != ref.numel()) {
                    throw bad(path, "storage '" + ref.key() + "' is declared as " + known.numel() + " " + known.dtype()
                            + " and as " + ref.numel() + " " + ref.dtype());
                }
                return known;
            }
            ZipEntry entry = zip.entries.get(folder + "data/" + ref.key());
            if (entry == null) throw bad(path, "storage '" + ref.key() + "' has no entry " + folder + "data/" + ref.key());
            long bytes;
            try {
                bytes = Math.multiplyExact(ref.numel(), ref.dtype().byteSize());
            } catch (ArithmeticException overflow) {
                bytes = Long.MAX_VALUE;
            }
            if (bytes > entry.size()) {
                throw bad(path, "refusing to load: storage '" + ref.key() + "' declares " + ref.numel() + " elements of "
                        + ref.dtype() + " but its entry " + entry.name() + " holds " + entry.size() + " bytes");
            }
            Storage s = new Storage(ref.key(), ref.dtype(), ref.numel(), zip.data(entry, arena).asSlice(0, bytes));
            storages.put(ref.key(), s);
            return s;
        }

        private Entry tensor(String name, TensorRef t) {
            Storage s = storage(t.storage());
            long[] size = t.size(), stride = t.stride();
            String view = "tensor '" + name + "' (offset " + t.offset() + ", size " + Arrays.toString(size)
                    + ", stride " + Arrays.toString(stride) + ")";
            if (t.offset() < 0) throw bad(path, view + " has a negative storage offset");
            long count = 1, last = t.offset();
            boolean contiguous = true;
            long expected = 1;
            try {
                for (int i = size.length - 1; i >= 0; i--) {
                    if (size[i] < 0 || stride[i] < 0) throw bad(path, view + " has a negative size or stride");
                    count = Math.multiplyExact(count, size[i]);
                    if (size[i] > 0) last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
                    if (size[i] != 1 && stride[i] != expected) contiguous = false;
                    expected = Math.multiplyExact(expected, size[i]);
                }
            } catch (ArithmeticException overflow) {
                throw bad(path, view + " overflows: it reaches outside storage '" + s.key() + "' of " + s.numel() + " elements");
            }
            int es = s.dtype().byteSize();
            if (count == 0) return new Entry(name, s.dtype(), size, s.data().asSlice(0, 0));
            if (last >= s.numel()) {
                throw bad(path, view + " reaches element " + last + " of storage '" + s.key() + "', which has "
                        + s.numel() + " elements");
            }
            if (contiguous) return new Entry(name, s.dtype(), size, s.data().asSlice(t.offset() * es, count * es));
            if (count > copyBudget / es) {
                throw bad(path, "refusing to load: " + view + " needs a copy of " + count + " elements, more than the "
                        + (zip.file.byteSize() + MAX_COPY_OVERHEAD) + " bytes allowed for the copies of strided tensors");
            }
            copyBudget -= count * es;
            return new Entry(name, s.dtype(), size, gather(s.data(), es, t.offset(), size, stride, count));
        }

        // copies a strided view (bounds checked by the caller) into a new contiguous segment, row-major
        private MemorySegment gather(MemorySegment src, int es, long offset, long[] size, long[] stride, long count) {
            MemorySegment out = arena.allocate(count * es, ALIGNMENT);
            int inner = size.length - 1;
            long n = size[inner], step = stride[inner];
            long[] index = new long[size.length];
            long at = offset;
            for (long done = 0; done < count; done += n) {
                if (step == 1) {
                    MemorySegment.copy(src, at * es, out, done * es, n * es);
                } else {
                    for (long i = 0; i < n; i++) MemorySegment.copy(src, (at + i * step) * es, out, (done + i) * es, es);
                }
                for (int d = inner - 1; d >= 0; d--) { // odometer over the outer dimensions
                    at += stride[d];
                    if (++index[d] < size[d]) break;
                    at -= stride[d] * size[d];
                    index[d] = 0;
                }
            }
            return out;
        }
    }

    // ---- the zip archive ----

    private record ZipEntry(String name, int method, long compressedSize, long size, long dataOffset) {}

    /** A zip's central directory, validated against the file; entries in directory order. */
    private static final class Zip {
        private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
        private static final int CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
        private static final int STORED = 0, DEFLATED = 8;
        private static final long U32 = 0xFFFF_FFFFL;

        private final Path path;
        private final MemorySegment file;
        final Map<String, ZipEntry> entries = new LinkedHashMap<>();

        private Zip(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        static Zip read(Path path, MemorySegment file) {
            Zip zip = new Zip(path, file);
            zip.readDirectory();
            return zip;
        }

        private void readDirectory() {
            long size = file.byteSize();
            long eocd = -1;
            for (long p = size - 22; p >= Math.max(0, size - 22 - 0xFFFF); p--) {
                if (file.get(LE_INT, p) == EOCD && u16(p + 20) == size - p - 22) {
                    eocd = p;
                    break;
                }
            }
            if (eocd < 0) {
                boolean legacy = size >= 2 && (file.get(JAVA_BYTE, 0) & 0xFF) == 0x80;
                throw bad(path, legacy
                        ? "a checkpoint in the legacy torch.save format (before PyTorch 1.6) cannot be read safely; "
                          + "re-save it with a newer PyTorch or as safetensors"
                        : "not a zip file, or a truncated one (no end-of-central-directory record)");
            }
            if (u16(eocd + 4) != 0 || u16(eocd + 6) != 0) throw corrupt("multi-disk archives are not supported");
            long count = u16(eocd + 10), dirSize = u32(eocd + 12), dirOffset = u32(eocd + 16);
            long dirEnd = eocd;
            if (eocd >= 20 && file.get(LE_INT, eocd - 20) == ZIP64_LOCATOR) {
                long z = file.get(LE_LONG, eocd - 12);
                if (z < 0 || z > eocd - 20 - 56 || file.get(LE_INT, z) != ZIP64_EOCD) {
                    throw corrupt("the zip64 end-of-central-directory record is missing or misplaced");
                }
                count = file.get(LE_LONG, z + 32);
                dirSize = file.get(LE_LONG, z + 40);
                dirOffset = file.get(LE_LONG, z + 48);
                dirEnd = z;
            }
            if (dirOffset < 0 || dirSize < 0 || dirOffset > dirEnd || dirSize > dirEnd - dirOffset) {
                throw corrupt("the central directory (offset " + dirOffset + ", " + dirSize
                        + " bytes) lies outside the file");
            }
            if (count < 0 || count > MAX_ENTRIES || count > dirSize / 46) {
                throw corrupt("the central directory claims " + count + " entries");
            }
            if (count == 0) throw corrupt("the archive is empty");
            long p = dirOffset, end = dirOffset + dirSize;
            for (long i = 0; i < count; i++) p = readEntry(p, end, dirOffset);
        }

        // one central directory record at p; returns the offset of the next
        private long readEntry(long p, long end, long dirOffset) {
            if (end - p < 46 || file.get(LE_INT, p) != CENTRAL) throw corrupt("bad central directory record at byte " + p);
            int flags = u16(p + 8), method = u16(p + 10);
            long compressed = u32(p + 20), size = u32(p + 24), local = u32(p + 42);
            int nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32);
            long next = p + 46 + nameLength + extraLength + commentLength;
            if (next > end) throw corrupt("central directory record at byte " + p + " runs past the directory");
            byte[] nameBytes = file.asSlice(p + 46, nameLength).toArray(JAVA_BYTE);
            String name = new String(nameBytes, StandardCharsets.UTF_8);
            checkName(name);
            // zip64 extended information: the 8-byte values of the fields saturated at 0xFFFFFFFF, in this order
            for (long x = p + 46 + nameLength, xEnd = x + extraLength; xEnd - x >= 4; ) {
                int id = u16(x), length = u16(x + 2);
                long data = x + 4;
                if (length > xEnd - data) throw corrupt("entry '" + name + "' has a malformed extra field");
                if (id == 0x0001) {
                    long q = data, qEnd = data + length;
                    if (size == U32) {
                        size = zip64Value(q, qEnd, name);
                        q += 8;
                    }
                    if (compressed == U32) {
                        compressed = zip64Value(q, qEnd, name);
                        q += 8;
                    }
                    if (local == U32) local = zip64Value(q, qEnd, name);
                }
                x = data + length;
            }
            if ((flags & 1) != 0) throw corrupt("entry '" + name + "' is encrypted");
            if (entries.containsKey(name)) throw corrupt("two entries are named '" + name + "'");
            if (entries.size() >= MAX_ENTRIES) throw corrupt("more than " + MAX_ENTRIES + " entries");
            entries.put(name, new ZipEntry(name, method, compressed, size, dataOffset(name, nameBytes, local, compressed, dirOffset)));
            return next;
        }

        private long zip64Value(long q, long end, String name) {
            if (end - q < 8) throw corrupt("entry '" + name + "' has a truncated zip64 field");
            long v = file.get(LE_LONG, q);
            if (v < 0) throw corrupt("entry '" + name + "' has a size or offset beyond 2^63");
            return v;
        }

        // checks the local header at `local` and that the data fits before the central directory
        private long dataOffset(String name, byte[] nameBytes, long local, long compressed, long dirOffset) {
            if (local > dirOffset - 30 || file.get(LE_INT, local) != LOCAL) {
                throw corrupt("entry '" + name + "' has no local header at byte " + local);
            }
            int nameLength = u16(local + 26), extraLength = u16(local + 28);
            long data = local + 30 + nameLength + extraLength;
            if (nameLength != nameBytes.length || data > dirOffset
                    || file.asSlice(local + 30, nameLength).mismatch(MemorySegment.ofArray(nameBytes)) != -1) {
                throw corrupt("entry '" + name + "': the local header does not match the central directory");
            }
            if (compressed > dirOffset - data) {
                throw corrupt("entry '" + name + "' (" + compressed + " bytes at byte " + data
                        + ") runs past the end of its data; truncated file?");
            }
            return data;
        }

        private void checkName(String name) {
            boolean unsafe = name.isEmpty() || name.indexOf('\0') >= 0 || name.startsWith("/") || name.startsWith("\\")
                    || (name.length() > 1 && name.charAt(1) == ':');
            for (String part : name.split("[/\\\\]")) unsafe |= part.equals("..");
            if (unsafe) {
                throw bad(path, "refusing to load: zip entry name '" + name.replace("\0", "\\0")
                        + "' is absolute or leaves the archive (only PyTorch state dicts of tensors can be read)");
            }
        }

        /** An entry's bytes: a view of the mapping when stored, else inflated into {@code arena}. */
        MemorySegment data(ZipEntry e, Arena arena) {
            if (e.method() == STORED) return stored(e);
            checkDeflated(e, MAX_INFLATED_BYTES);
            MemorySegment out = arena.allocate(e.size(), ALIGNMENT);
            inflate(e, out);
            return out;
        }

        /** A small entry's bytes (at most {@code cap}) as an array. */
        byte[] bytes(ZipEntry e, long cap) {
            if (e.size() > cap) throw corrupt("entry '" + e.name() + "' is " + e.size() + " bytes, more than the " + cap + " expected");
            if (e.method() == STORED) return stored(e).toArray(JAVA_BYTE);
            checkDeflated(e, cap);
            byte[] out = new byte[(int) e.size()];
            inflate(e, MemorySegment.ofArray(out));
            return out;
        }

        private MemorySegment stored(ZipEntry e) {
            if (e.compressedSize() != e.size()) throw corrupt("stored entry '" + e.name() + "' has two different sizes");
            return file.asSlice(e.dataOffset(), e.size());
        }

        private void checkDeflated(ZipEntry e, long cap) {
            if (e.method() != DEFLATED) {
                throw corrupt("entry '" + e.name() + "' uses compression method " + e.method() + "; only stored and deflated entries can be read");
            }
            if (e.size() > cap || e.size() > e.compressedSize() * MAX_DEFLATE_RATIO + 1024) {
                throw corrupt("deflated entry '" + e.name() + "' declares " + e.size() + " bytes from "
                        + e.compressedSize() + " compressed, more than deflate can produce or than " + cap);
            }
        }

        private void inflate(ZipEntry e, MemorySegment out) {
            MemorySegment in = file.asSlice(e.dataOffset(), e.compressedSize());
            Inflater inflater = new Inflater(true);
            try {
                long read = 0, written = 0;
                ByteBuffer probe = ByteBuffer.allocate(1);
                while (!inflater.finished()) {
                    if (inflater.needsInput()) {
                        if (read == in.byteSize()) throw corrupt("deflated entry '" + e.name() + "' ends early");
                        int n = (int) Math.min(CHUNK_BYTES, in.byteSize() - read);
                        inflater.setInput(in.asSlice(read, n).asByteBuffer());
                        read += n;
                    }
                    if (inflater.needsDictionary()) throw corrupt("deflated entry '" + e.name() + "' needs a dictionary");
                    if (written == out.byteSize()) {
                        if (inflater.inflate(probe) > 0) {
                            throw corrupt("deflated entry '" + e.name() + "' inflates to more than its declared " + e.size() + " bytes");
                        }
                        continue;
                    }
                    written += inflater.inflate(out.asSlice(written, Math.min(CHUNK_BYTES, out.byteSize() - written)).asByteBuffer());
                }
                if (written != out.byteSize()) {
                    throw corrupt("deflated entry '" + e.name() + "' inflates to " + written + " bytes, not the declared " + e.size());
                }
            } catch (DataFormatException x) {
                throw corrupt("deflated entry '" + e.name() + "' is corrupt: " + x.getMessage());
            } finally {
                inflater.end();
            }
        }

        private int u16(long at) {
            return file.get(LE_SHORT, at) & 0xFFFF;
        }

        private long u32(long at) {
            return file.get(LE_INT, at) & U32;
        }

        private LumensparkException corrupt(String problem) {
            return bad(path, "corrupt or truncated zip: " + problem);
        }
    }
}
