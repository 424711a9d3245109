package io.lumenspark.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.io.SafeTensors.Entry;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * The weights of a Hugging Face-style model folder, in any of the four forms {@code save_pretrained} and
 * {@code torch.save} leave: {@code model.safetensors}; {@code model.safetensors.index.json} and the shards its
 * {@code weight_map} names; {@code pytorch_model.bin} (read by {@link TorchCheckpoint}, which never runs the pickle);
 * {@code pytorch_model.bin.index.json} and its shards. A folder holding several is read by that order of preference.
 * <p>
 * A shard index is trusted no more than a weights file: every shard it names must be a plain file name beside it
 * (no folders, no {@code ..}), and each shard must hold exactly the tensors the index assigns it, so every tensor
 * comes from exactly one shard.
 */
public final class WeightFiles {
    public static final String SAFETENSORS = "model.safetensors", SAFETENSORS_INDEX = "model.safetensors.index.json",
            PYTORCH = "pytorch_model.bin", PYTORCH_INDEX = "pytorch_model.bin.index.json";
    /** The names a folder's weights may have, most preferred first. */
    public static final List<String> NAMES = List.of(SAFETENSORS, SAFETENSORS_INDEX, PYTORCH, PYTORCH_INDEX);
    private static final String INDEX = ".index.json";

    private WeightFiles() {
    }

    /** The first of {@link #NAMES} that {@code dir} holds (for a sharded set, its index), or null when none. */
    public static Path find(Path dir) {
        for (String name : NAMES) {
            Path file = dir.resolve(name);
            if (Files.exists(file)) return file;
        }
        return null;
    }

    /** {@link #NAMES} in words, for messages: "model.safetensors, ..., or pytorch_model.bin.index.json". */
    public static String namesInWords() {
        return String.join(", ", NAMES.subList(0, NAMES.size() - 1)) + " or " + NAMES.getLast();
    }

    /**
     * Opens a weights file by its name: a shard index ({@code *.safetensors.index.json}, else a PyTorch one) with all
     * its shards, a safetensors file ({@code *.safetensors}), or else a PyTorch checkpoint. Everything is
     * memory-mapped into {@code arena} where the format allows: views of the files, not copies.
     *
     * @throws LumensparkException (one line, naming the file) for a missing, malformed or hostile file or index
     */
    public static TensorSource open(Path file, Arena arena) {
        String name = file.getFileName().toString();
        if (name.endsWith(".safetensors" + INDEX)) return new Sharded(file, openShards(file, arena, SafeTensors::open));
        if (name.endsWith(INDEX)) return TorchCheckpoint.openSharded(file, arena);
        if (name.endsWith(".safetensors")) return SafeTensors.open(file, arena);
        return TorchCheckpoint.open(file, arena);
    }

    /** The files that hold a weights file's tensors: the file itself, or an index and then each of its shards. */
    public static List<Path> files(Path file) {
        List<Path> files = new ArrayList<>(List.of(file));
        if (file.getFileName().toString().endsWith(INDEX)) {
            for (String shard : shardNames(file)) files.add(file.resolveSibling(shard));
        }
        return files;
    }

    /** The shard files an index names, each once, in the order of its {@code weight_map}. */
    public static List<String> shardNames(Path index) {
        return new ArrayList<>(new LinkedHashSet<>(weightMap(index).values()));
    }

    /**
     * An index's {@code weight_map}: tensor name to shard file, in its order.
     *
     * @throws LumensparkException for a missing or malformed index, or a shard that is not a plain file name
     */
    static Map<String, String> weightMap(Path index) {
        JsonNode weightMap = Json.read(index).get("weight_map");
        if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
            throw new LumensparkException(index + ": expected a non-empty \"weight_map\" object of tensor name -> shard"
                    + " file");
        }
        Map<String, String> shardOf = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            JsonNode shard = e.getValue();
            if (!shard.isTextual() || !plainFileName(shard.textValue())) {
                throw new LumensparkException(index + ": tensor '" + e.getKey() + "' maps to " + shard
                        + ", which is not a file name in the index's folder");
            }
            shardOf.put(e.getKey(), shard.textValue());
        }
        return shardOf;
    }

    /**
     * The tensors of a sharded set, in the index's order: each shard opened with {@code opener}, and checked to hold
     * exactly the tensors the index assigns it.
     *
     * @throws LumensparkException for a malformed index, a shard name that is not a plain file name in its folder, a
     *                             shard that disagrees with the index, or any error of the opener
     */
    static Map<String, Entry> openShards(Path index, Arena arena, BiFunction<Path, Arena, ? extends TensorSource> opener) {
        Map<String, String> shardOf = weightMap(index);
        Map<String, Set<String>> namesOf = new LinkedHashMap<>();
        shardOf.forEach((name, shard) -> namesOf.computeIfAbsent(shard, k -> new HashSet<>()).add(name));
        Map<String, TensorSource> shards = new HashMap<>();
        for (Map.Entry<String, Set<String>> s : namesOf.entrySet()) {
            TensorSource shard = opener.apply(index.resolveSibling(s.getKey()), arena);
            for (String name : shard.tensors().keySet()) {
                if (!s.getValue().contains(name)) {
                    throw new LumensparkException(index + ": shard " + s.getKey() + " holds tensor '" + name
                            + "', which the index does not assign to it");
                }
            }
            for (String name : s.getValue()) {
                if (!shard.tensors().containsKey(name)) {
                    throw new LumensparkException(index + ": the index assigns tensor '" + name + "' to shard "
                            + s.getKey() + ", which does not hold it");
                }
            }
            shards.put(s.getKey(), shard);
        }
        Map<String, Entry> tensors = new LinkedHashMap<>();
        shardOf.forEach((name, shard) -> tensors.put(name, shards.get(shard).tensors().get(name)));
        return tensors;
    }

    private static boolean plainFileName(String name) {
        return !name.isEmpty() && !name.equals(".") && !name.equals("..")
                && name.indexOf('/') < 0 && name.indexOf('\\') < 0 && name.indexOf('\0') < 0;
    }

    /** The tensors of a sharded safetensors set, under its index's name. */
    private record Sharded(Path path, Map<String, Entry> tensors) implements TensorSource {
        Sharded {
            tensors = Collections.unmodifiableMap(tensors);
        }

        @Override
        public String toString() {
            return path + " (" + tensors.size() + " tensors)";
        }
    }
}
