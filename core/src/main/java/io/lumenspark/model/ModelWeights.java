package io.lumenspark.model;

import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Kernels;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A model's part of a Hugging Face-style folder: config.json and model.safetensors (PyTorch names and [out, in]
 * layout, so {@code load_state_dict} reads it), to and from a {@link LanguageModel}'s {@link Params}; and
 * safetensors files of buffers laid out like the parameters (optimizer moments). The tokenizer and the generation
 * defaults beside them are {@code io.lumenspark.pretrained.ModelFolder}'s.
 */
public final class ModelWeights {
    public static final String CONFIG = "config.json", WEIGHTS = "model.safetensors";

    /**
     * The largest magnitude a weight may have: 2^64 (about 1.8e19), the square root of float32's largest value.
     * A weight beyond it overflows the arithmetic it takes part in (products square weights, RMSNorm squares the
     * activations they make), so such a file is refused at load, as NaN and infinities are; trained weights stay
     * many orders of magnitude below. Smaller weights can still overflow together: a non-finite loss is an error
     * too ({@link LanguageModel#evaluate}).
     */
    public static final float MAX_WEIGHT = 0x1p64f;

    private static final Pattern LAYER = Pattern.compile("layers\\.(\\d{1,9})\\..*");

    private ModelWeights() {
    }

    /**
     * The folder's config.json, checked (see {@link ModelConfig#fromMap}). Keys that are neither ours nor Hugging
     * Face's standard ones are ignored with a warning on stderr that names the nearest known key.
     */
    public static ModelConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isDirectory(dir)) throw new LumensparkException("no such model folder: " + dir);
        if (!Files.exists(file)) throw new LumensparkException(dir + " is not a model folder: it has no " + CONFIG);
        var node = Json.read(file);
        if (!node.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        Map<String, Object> map = Json.mapper().convertValue(node, new TypeReference<>() {
        });
        ModelConfig config = ModelConfig.fromMap(map, file.toString());
        for (String warning : ConfigKeys.unknownKeyWarnings(map.keySet(), file.toString())) warn(warning);
        return config;
    }

    /** The folder's weights file; it must be a regular file. */
    static Path weightsFile(Path dir) {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.exists(file)) throw new LumensparkException(dir + " has no " + WEIGHTS);
        InputFiles.requireRegularFile(file);
        return file;
    }

    /**
     * Opens a folder's weights for inference: float32 tensors are memory-mapped, not copied (processes serving the
     * same file share them); other dtypes are converted on load. The config is checked against the weights file's
     * tensors before the model is built, and every weight is checked to be finite and within
     * {@link #MAX_WEIGHT}. The weights are read-only; use {@link #load} to train.
     *
     * @throws LumensparkException if the folder, its config or its weights are missing, malformed or disagree
     */
    public static LanguageModel loadMapped(Path dir) {
        ModelConfig cfg = readConfig(dir);
        Path file = weightsFile(dir);
        Arena arena = Arena.ofShared(); // the mapping lives as long as the model
        LanguageModel model = null;
        try {
            SafeTensors.File st = SafeTensors.open(file, arena);
            checkTensors(cfg, st);
            MemoryPlan.forConvertedWeights(convertedBytes(st)).check();
            model = new LanguageModel(cfg, arena, false);
            List<MemorySegment> views = tensorsFor(st, model.params(), "", arena);
            checkValues(st, model.params(), "", views, MAX_WEIGHT);
            model.params().useViews(arena, views);
        } catch (RuntimeException e) {
            if (model != null) model.close();
            else arena.close();
            throw e;
        }
        return model;
    }

    /**
     * Loads a folder's weights into a new, trainable model: the config, checked against the weights file's tensors
     * before anything is allocated, then every parameter copied from model.safetensors (F32, F16 or BF16; each
     * finite and within {@link #MAX_WEIGHT}).
     *
     * @throws LumensparkException for a missing, malformed or mismatched file, or a model too large for memory
     */
    public static LanguageModel load(Path dir) {
        return load(dir, readConfig(dir));
    }

    /**
     * {@link #load(Path)} with the folder's config already read by {@link #readConfig} (a caller that plans memory
     * from it first), so that its warnings are not repeated; it is checked against the weights all the same.
     */
    public static LanguageModel load(Path dir, ModelConfig cfg) {
        Path file = weightsFile(dir);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File st = SafeTensors.open(file, arena);
            checkTensors(cfg, st);
            LanguageModel model = new LanguageModel(cfg); // checks the memory, then allocates
            try {
                Params params = model.params();
                copyChecked(st, params, "", params.slicesOf(params.values()), arena, MAX_WEIGHT);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
            return model;
        }
    }

    /** Prints a warning line on stderr. */
    private static void warn(String message) {
        System.err.println("warning: " + message);
    }

    /**
     * Checks, before a model is built, that the weights file holds exactly the config's parameters with their
     * shapes: first its layers against depth, then every parameter by name (generated one at a time, so the work
     * is bounded by the file, whatever the config says), then that nothing else is there.
     */
    static void checkTensors(ModelConfig cfg, SafeTensors.File st) {
        Layout layout = Layout.of(cfg);
        checkDepth(cfg, st);
        Set<String> expected = new HashSet<>();
        layout.forEach((name, shape) -> {
            SafeTensors.Entry e = st.get(name);
            checkShape(st, e, shape);
            expected.add(name);
        });
        if (expected.size() != st.tensors().size()) {
            throw unexpected(st, st.tensors().keySet().stream().filter(n -> !expected.contains(n)).toList());
        }
    }

    private static void checkDepth(ModelConfig cfg, SafeTensors.File st) {
        Set<Integer> layers = new HashSet<>();
        int last = -1;
        for (String name : st.tensors().keySet()) {
            var m = LAYER.matcher(name);
            if (m.matches()) {
                int index = Integer.parseInt(m.group(1));
                layers.add(index);
                last = Math.max(last, index);
            }
        }
        if (layers.size() == cfg.depth() && last == cfg.depth() - 1) return;
        String held = layers.isEmpty() ? "no layers (no tensors named layers.N.*)"
                : layers.size() == 1 && last == 0 ? "1 layer (layers.0)"
                : last == layers.size() - 1 ? layers.size() + " layers (layers.0 to layers." + last + ")"
                : layers.size() + " layers numbered up to " + last;
        throw new LumensparkException(st.path() + " holds " + held + ", but " + CONFIG + " says depth "
                + cfg.depth() + " (wrong " + CONFIG + "?)");
    }

    private static void checkShape(SafeTensors.File st, SafeTensors.Entry e, int[] shape) {
        long[] want = Arrays.stream(shape).asLongStream().toArray();
        if (!Arrays.equals(e.shape(), want)) {
            throw new LumensparkException(st.path() + ": tensor '" + e.name() + "' has shape "
                    + Arrays.toString(e.shape()) + ", the config needs " + Arrays.toString(want));
        }
    }

    /** Bytes that loading converts into float32 copies (tensors stored as F16, BF16, F64). */
    static long convertedBytes(SafeTensors.File st) {
        long bytes = 0;
        for (SafeTensors.Entry e : st.tensors().values()) {
            if (e.dtype() != SafeTensors.DType.F32) bytes = Math.min(Long.MAX_VALUE / 8, bytes + 4 * e.elementCount());
        }
        return bytes;
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
            checkShape(st, e, p.shape());
            out.add(st.toF32(e, arena));
        }
        return out;
    }

    /**
     * Refuses a tensor holding NaN, an infinity or a value of magnitude above bound, naming it and the element:
     * one vectorized pass over each (see {@link Kernels#firstBeyond}).
     */
    static void checkValues(SafeTensors.File st, Params params, String prefix, List<MemorySegment> tensors,
                            float bound) {
        for (Params.Param p : params.list()) {
            MemorySegment m = tensors.get(p.index());
            long i = Kernels.firstBeyond(m, 0, p.size(), bound);
            if (i < 0) continue;
            float v = m.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            String at = "tensor '" + prefix + p.name() + "' holds " + v + " at " + position(p.shape(), i);
            throw new LumensparkException(st.path() + ": " + at + (Float.isFinite(v)
                    ? ", beyond the largest magnitude a weight may have (2^64, about 1.8e19: its square overflows"
                    + " float32)" : "; weights must be finite numbers"));
        }
    }

    /** The index of element i of a row-major tensor of this shape, e.g. [3, 17]. */
    private static String position(int[] shape, long i) {
        long[] at = new long[shape.length];
        for (int dim = shape.length - 1; dim >= 0; dim--) {
            at[dim] = i % shape[dim];
            i /= shape[dim];
        }
        return Arrays.toString(at);
    }

    private static void copyChecked(SafeTensors.File st, Params params, String prefix,
                                    Function<Params.Param, MemorySegment> target, Arena arena, float bound) {
        List<MemorySegment> tensors = tensorsFor(st, params, prefix, arena);
        checkValues(st, params, prefix, tensors, bound);
        for (Params.Param p : params.list()) {
            MemorySegment.copy(tensors.get(p.index()), 0, target.apply(p), 0, p.size() * 4);
        }
    }

    /** Rejects tensors that no buffer claims: a sign of the wrong variant or config.json. */
    static void checkNoOthers(SafeTensors.File st, Params params, Iterable<String> prefixes) {
        List<String> unexpected = new ArrayList<>(st.tensors().keySet());
        for (String prefix : prefixes) for (Params.Param p : params.list()) unexpected.remove(prefix + p.name());
        if (!unexpected.isEmpty()) throw unexpected(st, unexpected);
    }

    private static LumensparkException unexpected(SafeTensors.File st, List<String> names) {
        return new LumensparkException(st.path() + ": unexpected tensor(s) " + names.subList(0, Math.min(5,
                names.size())) + " for this config (wrong variant or config.json?)");
    }

    /**
     * Reads buffers laid out like params from a safetensors file whose tensors are named prefix + parameter
     * name, one prefix per buffer ("" for the weights, "exp_avg." for an optimizer moment, ...). Every
     * parameter must be there with its shape, and nothing else may be; every value must be finite.
     */
    public static void readBuffers(Path file, Params params, Map<String, Function<Params.Param, MemorySegment>> buffers) {
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors.File st = SafeTensors.open(file, arena);
            checkNoOthers(st, params, buffers.keySet());
            for (var buffer : buffers.entrySet()) {
                copyChecked(st, params, buffer.getKey(), buffer.getValue(), arena, Float.MAX_VALUE);
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

    /** Writes the model's weights (float32) to the folder's model.safetensors, atomically. */
    public static void writeWeights(LanguageModel model, Path dir) {
        writeBuffers(dir.resolve(WEIGHTS), model.params(), Map.of("", model.params()::segment));
    }

    /**
     * Writes the folder's config.json, atomically. A folder's save writes it last, so that an interrupted save
     * never pairs a new config with old weights of another shape.
     */
    public static void writeConfig(LanguageModel model, Path dir) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("architectures", List.of("LumensparkForCausalLM"));
        config.putAll(model.config().toMap());
        config.put("torch_dtype", "float32");
        Json.write(dir.resolve(CONFIG), config);
    }
}
