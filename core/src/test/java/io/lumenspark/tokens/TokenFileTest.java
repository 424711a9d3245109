package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenFileTest {

    @TempDir
    Path tmp;

    private Path writeLittleEndian(TokenDtype dtype, int... ids) throws IOException {
        ByteBuffer bb = ByteBuffer.allocate(ids.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (int id : ids) {
            if (dtype == TokenDtype.UINT16) {
                bb.putShort((short) id);
            } else {
                bb.putInt(id);
            }
        }
        return Files.write(tmp.resolve(dtype.label() + ".bin"), bb.array());
    }

    @Test
    void readsUint16() throws IOException {
        int[] ids = {0, 1, 50256, 65535, 300, 7};
        try (TokenFile f = TokenFile.open(writeLittleEndian(TokenDtype.UINT16, ids), TokenDtype.UINT16)) {
            assertEquals(6, f.length());
            assertEquals(65535, f.get(3));
            int[] dest = new int[8];
            f.copy(1, 4, dest, 2);
            assertArrayEquals(new int[] {0, 0, 1, 50256, 65535, 300, 0, 0}, dest);
            assertThrows(IndexOutOfBoundsException.class, () -> f.get(6));
            assertThrows(IndexOutOfBoundsException.class, () -> f.copy(3, 4, dest, 0));
        }
    }

    @Test
    void readsUint32AndInMemory() throws IOException {
        int[] ids = {0, 100_000, 2_000_000_000, 5};
        try (TokenFile f = TokenFile.open(writeLittleEndian(TokenDtype.UINT32, ids), TokenDtype.UINT32);
             TokenFile m = TokenFile.of(ids)) {
            for (TokenFile t : new TokenFile[] {f, m}) {
                int[] dest = new int[4];
                t.copy(0, 4, dest, 0);
                assertArrayEquals(ids, dest);
                assertEquals(2_000_000_000, t.get(2));
            }
        }
    }

    @Test
    void opensEmptyFile() throws IOException {
        Path p = Files.write(tmp.resolve("empty.bin"), new byte[0]);
        try (TokenFile f = TokenFile.open(p, TokenDtype.UINT16)) {
            assertEquals(0, f.length());
        }
    }

    @Test
    void rejectsBadFiles() throws IOException {
        Path odd = Files.write(tmp.resolve("odd.bin"), new byte[3]);
        var e = assertThrows(LumensparkException.class, () -> TokenFile.open(odd, TokenDtype.UINT16));
        assertTrue(e.getMessage().contains("not a whole number of uint16 tokens"), e.getMessage());
        Path missing = tmp.resolve("missing.bin");
        e = assertThrows(LumensparkException.class, () -> TokenFile.open(missing, TokenDtype.UINT16));
        assertEquals("no such file: " + missing, e.getMessage());
        assertThrows(LumensparkException.class, () -> TokenDtype.fromLabel("int8"));
        assertEquals(TokenDtype.UINT16, TokenDtype.forVocab(65536));
        assertEquals(TokenDtype.UINT32, TokenDtype.forVocab(65537));
    }
}
