package io.lumenspark.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.io.IOException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Resident memory of weights, page by page. Pages of a read-only file mapping are given back to the operating
 * system once they have been read or copied (weights checked at load, repacked for decoding):
 * {@code madvise(MADV_DONTNEED)} drops them from the process, which reads them again from the page cache or the
 * file if they are touched later, so a model's resident memory is what it uses. On allocated memory the same call
 * would zero it, so {@link #readOnlyFileMapping} asks the operating system ({@code /proc/self/maps}) what the
 * memory is before anything is released. And a large buffer that will be filled piece by piece is mapped
 * untouched ({@link #allocateUntouched}) rather than allocated and zeroed at once.
 */
public final class Pages {
    private static final int MADV_DONTNEED = 4, MADV_HUGEPAGE = 14; // Linux
    /** A transparent huge page (x86-64, and aarch64 with 4 KiB pages). */
    private static final long HUGE = 2L << 20;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE = find("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG,
            JAVA_INT));
    // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset); int munmap(void *, size_t)
    private static final boolean ANONYMOUS_FLAGS_KNOWN = Set.of("amd64", "x86_64", "aarch64")
            .contains(System.getProperty("os.arch", ""));
    private static final MethodHandle MMAP = !ANONYMOUS_FLAGS_KNOWN ? null : find("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = find("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final int PROT_READ_WRITE = 3, MAP_PRIVATE_ANONYMOUS = 0x22; // Linux on x86-64 and aarch64 only

    private Pages() {
    }

    private static MethodHandle find(String name, FunctionDescriptor signature) {
        if (!System.getProperty("os.name", "").startsWith("Linux")) return null;
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find(name).map(a -> linker.downcallHandle(a, signature)).orElse(null);
        } catch (RuntimeException e) {
            return null; // no native access: plain allocation, and the pages stay, which costs memory only
        }
    }

    /**
     * Zeroed memory of bytes for arena's lifetime whose pages become resident only as they are written: an
     * anonymous mapping, unmapped when arena closes (allocated and zeroed by arena where mmap is not available).
     * From 2 MiB on it starts on a 2 MiB boundary and is advised to use transparent huge pages ({@link #HUGE_PAGES};
     * the system decides: with THP "never" it stays in small pages).
     */
    public static MemorySegment allocateUntouched(long bytes, Arena arena) {
        if (MMAP != null && MUNMAP != null && bytes >= PAGE) {
            try {
                boolean huge = bytes >= HUGE && MADVISE != null && HUGE_PAGES;
                long mapped = huge ? bytes + HUGE : bytes; // room to start on a huge page's boundary
                MemorySegment at = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, mapped, PROT_READ_WRITE,
                        MAP_PRIVATE_ANONYMOUS, -1, 0L);
                if (at.address() != -1L) {
                    MemorySegment whole = at.reinterpret(mapped);
                    long skip = huge ? (HUGE - at.address() % HUGE) % HUGE : 0;
                    if (huge) {
                        // advice only: where the system gives no huge pages the memory is the same, in small ones
                        int ignored = (int) MADVISE.invokeExact(whole.asSlice(skip, bytes), bytes, MADV_HUGEPAGE);
                    }
                    return whole.asSlice(skip, bytes).reinterpret(bytes, arena, s -> {
                        try {
                            int ignored = (int) MUNMAP.invokeExact(at, mapped);
                        } catch (Throwable e) {
                            // the mapping stays until the process exits
                        }
                    });
                }
            } catch (Throwable e) {
                // fall through to an ordinary allocation
            }
        }
        return arena.allocate(bytes, 64);
    }

    /**
     * Whether large untouched allocations ask for transparent huge pages (system property lumenspark.hugepages,
     * default true): a decoding step streams every weight of the copies, and with 4 KiB pages the TLB misses cost
     * batch-1 f32 decoding of lumenspark about 12 % (4.19 against 4.79 ms/token, medians of three pairs).
     */
    static final boolean HUGE_PAGES = Boolean.parseBoolean(System.getProperty("lumenspark.hugepages", "true"));

    /** Gives back the pages of segment if it is a read-only file mapping (see the class comment); else nothing. */
    public static void releaseIfFileMapped(MemorySegment segment) {
        if (readOnlyFileMapping(segment, 0, segment.byteSize())) releaseMapped(segment, 0, segment.byteSize());
    }

    /**
     * Whether bytes [from, to) of segment lie in one mapping of a file that the process cannot write (Linux's
     * {@code /proc/self/maps}: no 'w' permission, a file's inode); false when that cannot be told, or where
     * madvise is not available.
     */
    static boolean readOnlyFileMapping(MemorySegment segment, long from, long to) {
        if (MADVISE == null || !segment.isNative() || to <= from) return false;
        long a = segment.address() + from, b = segment.address() + to;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                // start-end perms offset dev inode [path]
                String[] f = line.trim().split("\\s+", 6);
                if (f.length < 6) continue;
                int dash = f[0].indexOf('-');
                long start = Long.parseUnsignedLong(f[0], 0, dash, 16), end = Long.parseUnsignedLong(f[0], dash + 1,
                        f[0].length(), 16);
                if (Long.compareUnsigned(a, start) < 0 || Long.compareUnsigned(b, end) > 0) continue;
                return f[1].indexOf('w') < 0 && !f[4].equals("0") && f[5].startsWith("/");
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }

    /**
     * Releases the whole pages inside bytes [from, to) of a read-only file mapping (see
     * {@link #readOnlyFileMapping}, which the caller has checked); a partial page at either end stays.
     */
    static void releaseMapped(MemorySegment mapping, long from, long to) {
        if (MADVISE == null) return;
        long base = mapping.address();
        long start = (base + from + PAGE - 1) / PAGE * PAGE - base, end = (base + to) / PAGE * PAGE - base;
        if (end <= start) return;
        try {
            // a slice of the mapping, not a bare address: the call keeps the mapping's arena from closing under it
            int ignored = (int) MADVISE.invokeExact(mapping.asSlice(start, end - start), end - start, MADV_DONTNEED);
        } catch (Throwable e) {
            // advice only: the pages stay resident
        }
    }
}
