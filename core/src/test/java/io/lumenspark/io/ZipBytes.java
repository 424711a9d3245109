package io.lumenspark.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Writes zip archives byte by byte (stored or deflated entries, optionally every size and offset in zip64 form), so
 * tests can build checkpoints, including broken and hostile ones, that no zip library would write.
 */
final class ZipBytes {
    private record Item(byte[] name, byte[] data, byte[] stored, int method) {}

    private final List<Item> items = new ArrayList<>();
    private boolean zip64;

    /** A torch-style checkpoint: {@code archive/data.pkl}, storages {@code archive/data/<key>}, version, byteorder. */
    static ZipBytes checkpoint(byte[] pickle, String... keysAndData) {
        ZipBytes zip = new ZipBytes().add("archive/data.pkl", pickle);
        for (int i = 0; i < keysAndData.length; i += 2) {
            zip.add("archive/data/" + keysAndData[i], HexFormat.of().parseHex(keysAndData[i + 1]));
        }
        return zip.add("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII))
                .add("archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
    }

    ZipBytes add(String name, byte[] data) {
        items.add(new Item(name.getBytes(StandardCharsets.UTF_8), data, data, 0));
        return this;
    }

    ZipBytes deflated(String name, byte[] data) {
        Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION, true);
        deflater.setInput(data);
        deflater.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        while (!deflater.finished()) out.write(buffer, 0, deflater.deflate(buffer));
        deflater.end();
        items.add(new Item(name.getBytes(StandardCharsets.UTF_8), data, out.toByteArray(), 8));
        return this;
    }

    /** Writes every size and offset as zip64 extra fields, with a zip64 end record, as for files over 4 GiB. */
    ZipBytes zip64() {
        zip64 = true;
        return this;
    }

    byte[] bytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long[] offsets = new long[items.size()];
        for (int i = 0; i < items.size(); i++) {
            Item it = items.get(i);
            offsets[i] = out.size();
            le(out, 0x04034b50, 4);
            header(out, it);
            le(out, zip64 ? 20 : 0, 2);
            out.writeBytes(it.name());
            if (zip64) {
                le(out, 1, 2);
                le(out, 16, 2);
                le(out, it.data().length, 8);
                le(out, it.stored().length, 8);
            }
            out.writeBytes(it.stored());
        }
        long directory = out.size();
        for (int i = 0; i < items.size(); i++) {
            Item it = items.get(i);
            le(out, 0x02014b50, 4);
            le(out, 45, 2); // made by
            header(out, it);
            le(out, zip64 ? 28 : 0, 2);
            le(out, 0, 2); // comment
            le(out, 0, 2); // disk
            le(out, 0, 2); // internal attributes
            le(out, 0, 4); // external attributes
            le(out, zip64 ? 0xFFFF_FFFFL : offsets[i], 4);
            out.writeBytes(it.name());
            if (zip64) {
                le(out, 1, 2);
                le(out, 24, 2);
                le(out, it.data().length, 8);
                le(out, it.stored().length, 8);
                le(out, offsets[i], 8);
            }
        }
        long directorySize = out.size() - directory;
        if (zip64) {
            long record = out.size();
            le(out, 0x06064b50, 4);
            le(out, 44, 8);
            le(out, 45, 2);
            le(out, 45, 2);
            le(out, 0, 4);
            le(out, 0, 4);
            le(out, items.size(), 8);
            le(out, items.size(), 8);
            le(out, directorySize, 8);
            le(out, directory, 8);
            le(out, 0x07064b50, 4);
            le(out, 0, 4);
            le(out, record, 8);
            le(out, 1, 4);
        }
        le(out, 0x06054b50, 4);
        le(out, 0, 2);
        le(out, 0, 2);
        le(out, zip64 ? 0xFFFF : items.size(), 2);
        le(out, zip64 ? 0xFFFF : items.size(), 2);
        le(out, zip64 ? 0xFFFF_FFFFL : directorySize, 4);
        le(out, zip64 ? 0xFFFF_FFFFL : directory, 4);
        le(out, 0, 2);
        return out.toByteArray();
    }

    // version needed .. name length, shared by local and central headers
    private void header(ByteArrayOutputStream out, Item it) {
        CRC32 crc = new CRC32();
        crc.update(it.data());
        le(out, zip64 ? 45 : 20, 2);
        le(out, 0x0800, 2); // UTF-8 names
        le(out, it.method(), 2);
        le(out, 0, 2); // time
        le(out, 0x21, 2); // 1980-01-01
        le(out, crc.getValue(), 4);
        le(out, zip64 ? 0xFFFF_FFFFL : it.stored().length, 4);
        le(out, zip64 ? 0xFFFF_FFFFL : it.data().length, 4);
        le(out, it.name().length, 2);
    }

    private static void le(ByteArrayOutputStream out, long v, int bytes) {
        for (int i = 0; i < bytes; i++) out.write((int) (v >>> (8 * i)));
    }
}
