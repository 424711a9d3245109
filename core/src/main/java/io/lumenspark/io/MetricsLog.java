package io.lumenspark.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * An append-only JSON-lines metrics file: one JSON object per line, each written straight to the OS (no buffering),
 * so a killed run loses at most the line being written. That possibly truncated last line is ignored by
 * {@link #read} and removed when the log is reopened. Non-finite doubles are written as the strings "NaN",
 * "Infinity", "-Infinity" (standard JSON has no such numbers).
 */
public final class MetricsLog implements AutoCloseable {
    private static final TypeReference<Map<String, Object>> RECORD = new TypeReference<>() {};

    private final Path path;
    private final FileChannel channel;

    /** Opens {@code path} for appending, creating it (and its folders) if absent. */
    public MetricsLog(Path path) {
        this.path = path;
        try {
            Path parent = path.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            channel = FileChannel.open(path, CREATE, READ, WRITE);
            repairTail();
        } catch (IOException e) {
            throw new LumensparkException("cannot open " + path + ": " + AtomicFiles.reason(e), e);
        }
    }

    /** Appends {@code record} as one line; safe to call from several threads. */
    public synchronized void log(Map<String, ?> record) {
        byte[] line = (Json.toLine(record) + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            AtomicFiles.writeFully(channel, ByteBuffer.wrap(line));
        } catch (IOException e) {
            throw new LumensparkException("cannot write " + path + ": " + AtomicFiles.reason(e), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new LumensparkException("cannot close " + path + ": " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * All records of {@code path} in order; an empty list if the file does not exist. An unterminated last line
     * that does not parse is skipped (a killed run leaves one); any other malformed line is an error.
     */
    public static List<Map<String, Object>> read(Path path) {
        List<Map<String, Object>> records = new ArrayList<>();
        for (Line line : lines(path)) records.add(line.record());
        return records;
    }

    /**
     * Rewrites {@code path} atomically, keeping only records whose {@code "step"} is at most {@code step}, for a run
     * resumed from an older checkpoint. Records without a numeric step are kept if they come before the first
     * dropped record. Kept lines are copied byte for byte. Does nothing if the file does not exist.
     *
     * @return the number of records dropped
     */
    public static int truncateAfterStep(Path path, long step) {
        if (!Files.exists(path)) return 0;
        StringBuilder kept = new StringBuilder();
        int dropped = 0;
        for (Line line : lines(path)) {
            boolean after = line.record().get("step") instanceof Number n ? n.doubleValue() > step : dropped > 0;
            if (after) {
                dropped++;
            } else {
                kept.append(line.text()).append('\n');
            }
        }
        AtomicFiles.writeString(path, kept.toString());
        return dropped;
    }

    private record Line(String text, Map<String, Object> record) {}

    private static List<Line> lines(Path path) {
        if (!Files.exists(path)) return List.of();
        String content = new String(Json.readBytes(path), StandardCharsets.UTF_8);
        String[] parts = content.split("\n", -1);
        List<Line> lines = new ArrayList<>();
        for (int i = 0; i < parts.length; i++) {
            String text = parts[i].strip();
            if (text.isEmpty()) continue;
            boolean unterminated = i == parts.length - 1;
            try {
                Map<String, Object> record = Json.mapper().readValue(text, RECORD);
                if (record == null) throw new LumensparkException(path + ": line " + (i + 1) + " is null, expected a JSON object");
                lines.add(new Line(text, record));
            } catch (JsonProcessingException e) {
                if (unterminated) break; // the write a killed run did not finish
                if (Json.notAnObject(e)) { // Jackson's message would name Java types
                    throw new LumensparkException(path + ": line " + (i + 1) + " is JSON but not an object", e);
                }
                throw new LumensparkException(path + ": line " + (i + 1) + " is not a valid JSON object: "
                        + Json.detail(e), e);
            }
        }
        return lines;
    }

    /**
     * Makes the file end with a newline so the next record starts on its own line: an unterminated last line is
     * kept (newline added) if it is a complete record, otherwise it is the partial write of a killed run and is cut.
     */
    private void repairTail() throws IOException {
        long size = channel.size();
        long complete = size;
        ByteBuffer block = ByteBuffer.allocate(4096);
        search:
        while (complete > 0) {
            long start = Math.max(0, complete - block.capacity());
            block.clear().limit((int) (complete - start));
            while (block.hasRemaining() && channel.read(block, start + block.position()) >= 0) {}
            for (int i = block.position() - 1; i >= 0; i--) {
                if (block.get(i) == '\n') {
                    complete = start + i + 1;
                    break search;
                }
            }
            complete = start;
        }
        if (complete == size) {
            channel.position(size);
            return;
        }
        ByteBuffer tail = ByteBuffer.allocate(Math.toIntExact(size - complete));
        while (tail.hasRemaining() && channel.read(tail, complete + tail.position()) >= 0) {}
        if (isRecord(new String(tail.array(), StandardCharsets.UTF_8))) {
            channel.position(size);
            AtomicFiles.writeFully(channel, ByteBuffer.wrap(new byte[] {'\n'}));
        } else {
            channel.truncate(complete);
            channel.position(complete);
        }
    }

    private static boolean isRecord(String text) {
        try {
            return Json.mapper().readValue(text, RECORD) != null;
        } catch (JsonProcessingException e) {
            return false;
        }
    }
}
