package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A read-only sequence of token ids, memory-mapped from a file of little-endian uint16/uint32 values (or held in
 * memory, see {@link #of(int[])}). Reads are safe from any thread until {@link #close()}.
 */
public final class TokenFile implements AutoCloseable {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment segment;
    private final TokenDtype dtype;
    private final long length;
    private final Arena arena; // null for in-memory files

    private TokenFile(MemorySegment segment, TokenDtype dtype, Arena arena) {
        this.segment = segment;
        this.dtype = dtype;
        this.length = segment.byteSize() / dtype.bytes();
        this.arena = arena;
    }

    /**
     * Maps a token file read-only; close the result to unmap it. An empty file gives an empty sequence.
     *
     * @throws LumensparkException if the file is missing or its size is not a whole number of tokens
     * @throws java.io.UncheckedIOException for other I/O errors
     */
    public static TokenFile open(Path file, TokenDtype dtype) {
        Objects.requireNonNull(dtype, "dtype");
        // A shared arena: the mapping is read by trainer and evaluator threads alike.
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size % dtype.bytes() != 0) {
                throw new LumensparkException("token file " + file + " has " + size + " bytes, not a whole number of "
                        + dtype.label() + " tokens");
            }
            MemorySegment seg = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new TokenFile(seg, dtype, arena);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new LumensparkException("no such file: " + file);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot map " + file, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** An in-memory token file holding a copy of {@code tokens} (for tests and small data). */
    public static TokenFile of(int[] tokens) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(tokens.length, 4)]);
        for (int i = 0; i < tokens.length; i++) {
            seg.setAtIndex(U32, i, tokens[i]);
        }
        return new TokenFile(seg, TokenDtype.UINT32, null);
    }

    /** Number of tokens. */
    public long length() {
        return length;
    }

    /** Element type on disk. */
    public TokenDtype dtype() {
        return dtype;
    }

    /** The token at index {@code i}; {@link IndexOutOfBoundsException} outside {@code [0, length())}. */
    public int get(long i) {
        Objects.checkIndex(i, length);
        return dtype == TokenDtype.UINT16
                ? Short.toUnsignedInt(segment.getAtIndex(U16, i))
                : segment.getAtIndex(U32, i);
    }

    /**
     * Copies tokens {@code [from, from + count)} into {@code dest[destOffset ..]}.
     *
     * @throws IndexOutOfBoundsException if either range is out of bounds
     */
    public void copy(long from, int count, int[] dest, int destOffset) {
        Objects.checkFromIndexSize(from, count, length);
        Objects.checkFromIndexSize(destOffset, count, dest.length);
        if (dtype == TokenDtype.UINT32) {
            MemorySegment.copy(segment, U32, from * 4, dest, destOffset, count);
        } else {
            for (int k = 0; k < count; k++) {
                dest[destOffset + k] = Short.toUnsignedInt(segment.getAtIndex(U16, from + k));
            }
        }
    }

    /**
     * Tokens {@code [from, from + count)} of this file as a token file of their own, sharing its memory (no copy);
     * valid while this file is open, and closing it does not unmap this one.
     *
     * @throws IndexOutOfBoundsException if the range is out of bounds
     */
    public TokenFile slice(long from, long count) {
        Objects.checkFromIndexSize(from, count, length);
        MemorySegment part = count == 0 ? MemorySegment.NULL
                : segment.asSlice(from * dtype.bytes(), count * dtype.bytes());
        return new TokenFile(part, dtype, null);
    }

    /** Unmaps the file; later reads fail. Idempotent, and a no-op for in-memory files. */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "TokenFile[" + length + " " + dtype.label() + " tokens]";
    }
}
