package io.lumenspark.model;

import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.LumensparkException;
import io.lumenspark.data.BpeTokenizer;
import io.lumenspark.data.Tokenizer;
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
import java.util.function.Function;

/**
 * A Hugging Face-style model folder: config.json, model.safetensors (PyTorch names and [out, in] layout, so
 * {@code load_state_dict} reads it), generation_config.json, and the tokenizer in Hugging Face's files
 * (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json).
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

    /**
     * Loads a model folder into a new, trainable model: the config, then every parameter copied from
     * model.safetensors (F32, F16 or BF16), and the folder's tokenizer and generation defaults.
     */
    public static LumensparkModel load(Path dir) {
        ModelConfig cfg = readConfig(dir);
        LumensparkModel model = new LumensparkModel(cfg);
        try {
            readBuffers(dir.resolve(WEIGHTS), model.params(), Map.of("", model.params().slicesOf(model.params().values())));
            attachFolderSettings(model, dir);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /** The folder's tokenizer and, when it has one, its generation_config.json, onto a loaded model. */
    static void attachFolderSettings(LumensparkModel model, Path dir) {
        model.setTokenizer(Tokenizer.fromPretrained(dir));
        Path gen = dir.resolve(GENERATION);
        if (Files.exists(gen)) model.setGenerationConfig(GenerationConfig.read(gen, model.config().vocabSize()));
    }

    /**
     * The tensors prefix + name of every parameter as float32 segments, in parameter order, after checking that
     * each is there with its shape. F32 tensors are views into the file's mapping; other types are converted
     * into arena.
     */
    static List<MemorySegment> tensorsFor(SafeTensors.File st, Params params, String prefix, Arena arena) {
        List<MemorySegment> out = new ArrayList<>();
        for (Params.Param p : params.list()) {
            SafeTensors.Entry e = st.get(prefix + p.name());
            long[] want = Arrays.stream(p.shape()).asLongStream().toArray();
            if (!Arrays.equals(e.shape(), want)) {
                throw new LumensparkException(st.path() + ": tensor '" + e.name() + "' has shape "
                        + Arrays.toString(e.shape()) + ", the config needs " + Arrays.toString(want));
            }
            out.add(st.toF32(e, arena));
        }
        return out;
    }

    /** Rejects tensors that no buffer claims: a sign of the wrong variant or config.json. */
    static void checkNoOthers(SafeTensors.File st, Params params, Iterable<String> prefixes) {
        List<String> unexpected = new ArrayList<>(st.tensors().keySet());
        for (String prefix : prefixes) for (Params.Param p : params.list()) unexpected.remove(prefix + p.name());
        if (!unexpected.isEmpty()) {
            throw new LumensparkException(st.path() + ": unexpected tensor(s) " + unexpected.subList(0,
                    Math.min(5, unexpected.size())) + " for this config (wrong variant or config.json?)");
        }
    }

    /**
     * Reads buffers laid out like params from a safetensors file whose tensors are named prefix + parameter
     * name, one prefix per buffer ("" for the weights, "exp_avg." for an optimizer moment, ...). Every
     * parameter must be there with its shape, and nothing else may be.
     */
    public static void readBuffers(Path file, Params params, Map<String, Function<Params.Param, MemorySegment>> buffers) {
        if (!Files.exists(file)) throw new LumensparkException("no such file: " + file);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File st = SafeTensors.open(file, arena);
            checkNoOthers(st, params, buffers.keySet());
            for (var buffer : buffers.entrySet()) {
                List<MemorySegment> tensors = tensorsFor(st, params, buffer.getKey(), arena);
                for (Params.Param p : params.list()) {
                    MemorySegment.copy(tensors.get(p.index()), 0, buffer.getValue().apply(p), 0, p.size() * 4);
                }
            }
        }
    }

    /** Writes buffers laid out like params, each under its name prefix (see readBuffers). */
    public static void writeBuffers(Path file, Params params, Map<String, Function<Params.Param, MemorySegment>> buffers) {
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (var buffer : buffers.entrySet()) {
            for (Params.Param p : params.list()) {
                entries.add(SafeTensors.Entry.f32(buffer.getKey() + p.name(),
                        Arrays.stream(p.shape()).asLongStream().toArray(), buffer.getValue().apply(p)));
            }
        }
        SafeTensors.write(file, entries, Map.of("format", "pt"));
    }

    /**
     * Saves the model folder with the model's tokenizer. Each file is written atomically, config.json last, so an
     * interrupted save never pairs a new config with old weights of another shape. generation_config.json is the
     * model's own when it was loaded with one; otherwise a file already in the folder is kept (a user's edits
     * survive checkpoints) or the defaults are written.
     */
    public static void save(LumensparkModel model, Path dir) {
        writeBuffers(dir.resolve(WEIGHTS), model.params(), Map.of("", model.params()::segment));
        Path gen = dir.resolve(GENERATION);
        if (model.hasOwnGenerationConfig() || !Files.exists(gen)) model.generationConfig().write(gen);
        // The folder carries its tokenizer in Hugging Face's files, GPT-2's too (3.5 MB beside 100+ MB of weights),
        // so that it is complete on its own, for us and for AutoTokenizer.
        Tokenizer tokenizer = model.tokenizer();
        if (tokenizer instanceof BpeTokenizer bpe) {
            bpe.save(dir, model.config().seqLength());
        } else {
            Map<String, Object> tok = new LinkedHashMap<>();
            tok.put("tokenizer", tokenizer.name());
            tok.put("eos_token", tokenizer.eosToken());
            Json.write(dir.resolve(TOKENIZER), tok);
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("architectures", List.of("LumensparkForCausalLM"));
        config.putAll(model.config().toMap());
        config.put("torch_dtype", "float32");
        Json.write(dir.resolve(CONFIG), config);
    }

}
