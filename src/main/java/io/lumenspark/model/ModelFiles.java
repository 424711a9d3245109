package io.lumenspark.model;

import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.LumensparkException;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face-style model folder: config.json, model.safetensors (PyTorch names and [out, in] layout, so
 * {@code load_state_dict} reads it), generation_config.json and tokenizer_config.json (the tokenizer's identity).
 */
public final class ModelFiles {
    public static final String CONFIG = "config.json", WEIGHTS = "model.safetensors",
            GENERATION = "generation_config.json", TOKENIZER = "tokenizer_config.json";

    private ModelFiles() {
    }

    public static ModelConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isDirectory(dir)) throw new LumensparkException("no such model folder: " + dir);
        if (!Files.exists(file)) throw new LumensparkException(dir + " is not a model folder: it has no " + CONFIG);
        var node = Json.read(file);
        if (!node.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        Map<String, Object> map = Json.mapper().convertValue(node, new TypeReference<>() {
        });
        return ModelConfig.fromMap(map, file.toString());
    }

    /** Loads a model folder: the config, then every parameter from model.safetensors (F32, F16 or BF16). */
    public static LumensparkModel load(Path dir) {
        ModelConfig cfg = readConfig(dir);
        LumensparkModel model = new LumensparkModel(cfg);
        try {
            readBuffers(dir.resolve(WEIGHTS), model.params(), Map.of("", model.params().values()));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /**
     * Reads buffers laid out like params from a safetensors file whose tensors are named prefix + parameter
     * name, one prefix per buffer ("" for the weights, "exp_avg." for an optimizer moment, ...). Every
     * parameter must be there with its shape, and nothing else may be.
     */
    public static void readBuffers(Path file, Params params, Map<String, MemorySegment> buffers) {
        if (!Files.exists(file)) throw new LumensparkException("no such file: " + file);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File st = SafeTensors.open(file, arena);
            List<String> unexpected = new ArrayList<>(st.tensors().keySet());
            for (var buffer : buffers.entrySet()) {
                for (Params.Param p : params.list()) {
                    SafeTensors.Entry e = st.get(buffer.getKey() + p.name());
                    unexpected.remove(e.name());
                    long[] want = Arrays.stream(p.shape()).asLongStream().toArray();
                    if (!Arrays.equals(e.shape(), want)) {
                        throw new LumensparkException(file + ": tensor '" + e.name() + "' has shape "
                                + Arrays.toString(e.shape()) + ", the config needs " + Arrays.toString(want));
                    }
                    MemorySegment.copy(st.toF32(e, arena), 0, buffer.getValue(), p.offset() * 4, p.size() * 4);
                }
            }
            if (!unexpected.isEmpty()) {
                throw new LumensparkException(file + ": unexpected tensor(s) " + unexpected.subList(0,
                        Math.min(5, unexpected.size())) + " for this config (wrong variant or config.json?)");
            }
        }
    }

    /** Writes buffers laid out like params, each under its name prefix (see readBuffers). */
    public static void writeBuffers(Path file, Params params, Map<String, MemorySegment> buffers) {
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (var buffer : buffers.entrySet()) {
            for (Params.Param p : params.list()) {
                entries.add(SafeTensors.Entry.f32(buffer.getKey() + p.name(),
                        Arrays.stream(p.shape()).asLongStream().toArray(),
                        buffer.getValue().asSlice(p.offset() * 4, p.size() * 4)));
            }
        }
        SafeTensors.write(file, entries, Map.of("format", "pt"));
    }

    /**
     * Saves the model folder; tokenizer is the tokenizer's name (e.g. "gpt2"), eosId its end-of-text id. Each
     * file is written atomically, config.json last, so an interrupted save never pairs a new config with old
     * weights of another shape.
     */
    public static void save(LumensparkModel model, Path dir, String tokenizer, int eosId) {
        writeBuffers(dir.resolve(WEIGHTS), model.params(), Map.of("", model.params().values()));
        Path gen = dir.resolve(GENERATION);
        if (!Files.exists(gen)) { // defaults for sampling from this model; a user's own file is kept
            new GenerationConfig(model.config().seqLength(), null, 0, true, 0.8, 50, 1, 1, "hf", 0, eosId,
                    List.of(), null, 1).write(gen);
        }
        Map<String, Object> tok = new LinkedHashMap<>();
        tok.put("tokenizer", tokenizer);
        tok.put("eos_token", "<|endoftext|>");
        tok.put("eos_token_id", eosId);
        tok.put("vocab_size", model.config().vocabSize());
        Json.write(dir.resolve(TOKENIZER), tok);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("architectures", List.of("LumensparkForCausalLM"));
        config.putAll(model.config().toMap());
        config.put("torch_dtype", "float32");
        Json.write(dir.resolve(CONFIG), config);
    }

    /** The tokenizer name a model folder records ("gpt2" when the folder predates tokenizer_config.json). */
    public static String tokenizerName(Path dir) {
        Path file = dir.resolve(TOKENIZER);
        if (!Files.exists(file)) return "gpt2";
        var node = Json.read(file).get("tokenizer");
        if (node == null || !node.isTextual()) throw new LumensparkException(file + ": missing \"tokenizer\" name");
        return node.asText();
    }
}
