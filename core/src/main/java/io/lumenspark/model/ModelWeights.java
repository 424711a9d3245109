package io.lumenspark.model;

import com.fasterxml.jackson.core.type.TypeReference;
import io.lumenspark.Labeled;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Pages;
import io.lumenspark.engine.QuantizedMatrix;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.Json;
import io.lumenspark.io.SafeTensors;
import io.lumenspark.io.TensorSource;
import io.lumenspark.io.WeightFiles;

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
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A model's part of a Hugging Face-style folder: config.json and the weights (PyTorch names and [out, in] layout, so
 * {@code load_state_dict} reads them), to and from a {@link LanguageModel}'s {@link Params}; and safetensors files
 * of buffers laid out like the parameters (optimizer moments). The weights are read from model.safetensors, a
 * sharded safetensors set, pytorch_model.bin or a sharded PyTorch set ({@link WeightFiles}, in that order of
 * preference) and always written as model.safetensors. The tokenizer and the generation defaults beside them are
 * {@code io.lumenspark.pretrained.ModelFolder}'s.
 */
public final class ModelWeights {
    public static final String CONFIG = "config.json", WEIGHTS = WeightFiles.SAFETENSORS;
    /** Where a training run keeps its last checkpoint (a model folder) beside its final model. */
    private static final String RUN_CHECKPOINT = "checkpoint";
    /**
     * A tensor only published lumenspark 0.1.4 and later have (pre-norm blocks of full attention with LayerScale,
     * {@code final_norm}, rank 256; github.com/anto18671/lumenspark, "Shift in the architecture"), none of ours.
     */
    private static final String LATER_ARCHITECTURE = "final_norm.weight";
    /**
     * config.json's record of a quantized folder: {@code "quantization_config": {"quant_method": "lumenspark",
     * "dtype": "int8", "block_size": 32, "scale_dtype": "float32"}} (bf16: the first two keys only).
     */
    public static final String QUANTIZATION = "quantization_config";
    /** The name suffix of an int8 weight's scales: {@code fc_out.weight} has {@code fc_out.weight_scale}. */
    public static final String SCALE = "_scale";

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
     * Face's standard ones are ignored with a warning on stderr that names the nearest known key. A training run
     * stopped before its end has no config.json yet, only its checkpoint: the error says to load that instead.
     */
    public static ModelConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isDirectory(dir)) throw new LumensparkException("no such model folder: " + dir);
        if (!Files.exists(file)) {
            Path checkpoint = dir.resolve(RUN_CHECKPOINT);
            throw new LumensparkException(dir + " is not a model folder: it has no " + CONFIG
                    + (Files.isRegularFile(checkpoint.resolve(CONFIG)) ? "; it holds a training run's checkpoint"
                    + " (the run stopped before its end): use " + checkpoint : ""));
        }
        var node = Json.read(file);
        if (!node.isObject()) throw new LumensparkException(file + ": expected a JSON object");
        Map<String, Object> map = Json.mapper().convertValue(node, new TypeReference<>() {
        });
        ModelConfig config = ModelConfig.fromMap(map, file.toString());
        for (String warning : ConfigKeys.unknownKeyWarnings(map.keySet(), file.toString())) warn(warning);
        return config;
    }

    /**
     * The folder's weights (see {@link WeightFiles}: the first of model.safetensors, its sharded form,
     * pytorch_model.bin and its sharded form), opened into arena.
     *
     * @throws LumensparkException if the folder has none, or the file is malformed or hostile
     */
    static TensorSource openWeights(Path dir, Arena arena) {
        Path file = WeightFiles.find(dir);
        if (file == null) throw new LumensparkException(dir + " has no weights: no " + WeightFiles.namesInWords());
        return WeightFiles.open(file, arena);
    }

    /**
     * Opens a folder's weights for inference: float32 tensors are memory-mapped, not copied (processes serving the
     * same file share them), from safetensors and PyTorch files alike; other dtypes are converted on load. The config is checked against the weights file's
     * tensors before the model is built, and every weight is checked to be finite and within
     * {@link #MAX_WEIGHT}. The weights are read-only; use {@link #load} to train.
     *
     * @throws LumensparkException if the folder, its config or its weights are missing, malformed or disagree
     */
    public static LanguageModel loadMapped(Path dir) {
        return loadMapped(dir, null);
    }

    /**
     * {@link #loadMapped(Path)} with the matrix products' weights held in dtype: a float32 folder's are quantized
     * on load (into new memory; the float32 file stays mapped, and only the other weights are read from it
     * afterwards). A quantized folder ({@code lumenspark quantize}) is mapped as it is, int8 or bf16, with no
     * float32 copy, and runs only in its own dtype. dtype null: the folder's own (float32 unless quantized).
     *
     * @throws LumensparkException as {@link #loadMapped(Path)}, or for a dtype other than a quantized folder's
     */
    public static LanguageModel loadMapped(Path dir, WeightDtype dtype) {
        ModelConfig cfg = readConfig(dir);
        Quantization stored = readQuantization(dir);
        WeightDtype want = dtype == null ? stored.dtype() : dtype;
        if (stored.dtype() != WeightDtype.F32 && want != stored.dtype()) {
            throw new LumensparkException(dir + " holds " + stored.dtype().label() + " weights (made by lumenspark"
                    + " quantize), which run as " + stored.dtype().label() + " only: --dtype " + want.label()
                    + " needs the float32 folder it was made from");
        }
        Arena arena = Arena.ofShared(); // the mapping lives as long as the model
        LanguageModel model = null;
        try {
            TensorSource st = openWeights(dir, arena);
            if (stored.dtype() != WeightDtype.F32) return loadQuantized(cfg, st, stored, arena);
            checkTensors(cfg, st);
            model = new LanguageModel(cfg, arena, false);
            Params params = model.params();
            long quantizedBytes = 0;
            for (Params.Param p : params.list()) {
                if (want != WeightDtype.F32 && params.isMatrix(p)) {
                    quantizedBytes += (long) Math.ceil(p.size() * want.bytesPerWeight());
                }
            }
            MemoryPlan.forConvertedWeights(convertedBytes(st) + quantizedBytes).check();
            List<MemorySegment> views = tensorsFor(st, params, "", arena);
            checkValues(st, params, "", views, MAX_WEIGHT);
            params.useViews(arena, views);
            model.quantize(want);
        } catch (RuntimeException e) {
            if (model != null) model.close();
            else arena.close();
            throw e;
        }
        return model;
    }

    /**
     * How a folder's matrix weights are stored: its config.json's {@link #QUANTIZATION}, or float32 when it has
     * none.
     *
     * @param block columns per int8 scale; 0 otherwise
     */
    public record Quantization(WeightDtype dtype, int block) {
        static final Quantization NONE = new Quantization(WeightDtype.F32, 0);

        /** The config.json value that records it (null for float32). */
        Map<String, Object> toMap() {
            if (dtype == WeightDtype.F32) return null;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("quant_method", "lumenspark");
            m.put("dtype", dtype.label());
            if (dtype == WeightDtype.INT8) {
                m.put("block_size", block);
                m.put("scale_dtype", "float32");
            }
            return m;
        }
    }

    /** The folder's {@link Quantization}, from its config.json (already checked by {@link #readConfig}). */
    public static Quantization readQuantization(Path dir) {
        Path file = dir.resolve(CONFIG);
        var q = Json.read(file).get(QUANTIZATION);
        if (q == null || q.isNull()) return Quantization.NONE;
        String where = file + ": " + QUANTIZATION;
        if (!q.isObject() || !"lumenspark".equals(q.path("quant_method").asText())) {
            throw new LumensparkException(where + " is not one lumenspark quantize writes (quant_method"
                    + " \"lumenspark\"): this folder's weights cannot be read");
        }
        WeightDtype dtype = Labeled.parse(WeightDtype.class, q.path("dtype").asText(), where + ".dtype");
        if (dtype == WeightDtype.F32) throw new LumensparkException(where + ".dtype must be bf16 or int8, got 'f32'");
        int block = 0;
        if (dtype == WeightDtype.INT8) {
            var b = q.get("block_size");
            if (b == null || !b.canConvertToInt() || !b.isIntegralNumber() || b.asInt() < 1) {
                throw new LumensparkException(where + ".block_size must be a positive integer, got " + b);
            }
            if (!"float32".equals(q.path("scale_dtype").asText("float32"))) {
                throw new LumensparkException(where + ".scale_dtype must be float32, got " + q.get("scale_dtype"));
            }
            block = b.asInt();
        }
        return new Quantization(dtype, block);
    }

    /**
     * A quantized folder's model: its matrix weights mapped as stored (BF16, or I8 with F32 scales), the other
     * weights as {@link #loadMapped(Path)} takes them; every tensor checked by name, dtype and shape first, and
     * every value checked (bf16 weights and int8 scales finite and within {@link #MAX_WEIGHT}).
     */
    private static LanguageModel loadQuantized(ModelConfig cfg, TensorSource st, Quantization q, Arena arena) {
        checkDepth(cfg, st); // bounds the model built next by the file
        LanguageModel model = new LanguageModel(cfg, arena, false);
        Params params = model.params();
        SafeTensors.DType stored = q.dtype() == WeightDtype.INT8 ? SafeTensors.DType.I8 : SafeTensors.DType.BF16;
        Set<String> expected = new HashSet<>();
        long converted = 0;
        for (Params.Param p : params.list()) {
            SafeTensors.Entry e = st.get(p.name());
            checkShape(st, e, p.shape());
            expected.add(p.name());
            if (params.isMatrix(p)) {
                if (e.dtype() != stored) {
                    throw new LumensparkException(st.path() + ": tensor '" + p.name() + "' is " + e.dtype()
                            + ", but " + CONFIG + " says the matrices are " + q.dtype().label() + " (" + stored + ")");
                }
                if (q.dtype() == WeightDtype.INT8) {
                    SafeTensors.Entry s = st.get(p.name() + SCALE);
                    checkShape(st, s, new int[]{p.shape()[0], QuantizedMatrix.blocks(p.shape()[1], q.block())});
                    if (s.dtype() != SafeTensors.DType.F32) {
                        throw new LumensparkException(st.path() + ": tensor '" + s.name() + "' is " + s.dtype()
                                + ", scales must be F32");
                    }
                    expected.add(s.name());
                }
            } else if (e.dtype() != SafeTensors.DType.F32) {
                converted += 4 * e.elementCount();
            }
        }
        if (expected.size() != st.tensors().size()) {
            throw unexpected(st, st.tensors().keySet().stream().filter(n -> !expected.contains(n)).toList());
        }
        MemoryPlan.forConvertedWeights(converted).check();
        List<MemorySegment> views = new ArrayList<>();
        QuantizedMatrix[] matrices = new QuantizedMatrix[params.list().size()];
        for (Params.Param p : params.list()) {
            SafeTensors.Entry e = st.get(p.name());
            if (!params.isMatrix(p)) {
                views.add(st.toF32(e, arena));
                continue;
            }
            views.add(null);
            int rows = p.shape()[0], columns = p.shape()[1];
            if (q.dtype() == WeightDtype.BF16) {
                MemorySegment data = aligned(e.data(), 2, arena);
                checkBf16(st, p.name(), p.shape(), data);
                matrices[p.index()] = new QuantizedMatrix(q.dtype(), data, null, 0, rows, columns);
            } else {
                SafeTensors.Entry s = st.get(p.name() + SCALE);
                MemorySegment scales = st.toF32(s, arena);
                long i = Kernels.firstBeyond(scales, 0, s.elementCount(), MAX_WEIGHT);
                if (i >= 0) {
                    throw new LumensparkException(st.path() + ": tensor '" + s.name() + "' holds "
                            + scales.getAtIndex(ValueLayout.JAVA_FLOAT, i) + " at " + position(
                            new int[]{rows, (int) s.shape()[1]}, i) + "; scales must be finite and at most 2^64");
                }
                matrices[p.index()] = new QuantizedMatrix(q.dtype(), e.data(), scales, q.block(), rows, columns);
            }
        }
        checkValues(st, params, "", views, MAX_WEIGHT);
        params.useViews(arena, views);
        params.useQuantized(q.dtype(), matrices);
        return model;
    }

    /** data itself when its address is a multiple of align, else a copy in arena that is. */
    private static MemorySegment aligned(MemorySegment data, int align, Arena arena) {
        if (data.maxByteAlignment() >= align) return data;
        MemorySegment copy = arena.allocate(data.byteSize(), align);
        copy.copyFrom(data);
        return copy;
    }

    /** Refuses a bf16 tensor holding NaN, an infinity or a magnitude above {@link #MAX_WEIGHT}. */
    private static void checkBf16(TensorSource st, String name, int[] shape, MemorySegment data) {
        long n = data.byteSize() / 2;
        for (long i = 0; i < n; i++) {
            float v = QuantizedMatrix.fromBf16(data.getAtIndex(ValueLayout.JAVA_SHORT, i));
            if (!(Math.abs(v) <= MAX_WEIGHT)) {
                throw new LumensparkException(st.path() + ": tensor '" + name + "' holds " + v + " at "
                        + position(shape, i) + "; weights must be finite and at most 2^64 in magnitude");
            }
        }
    }

    /**
     * Loads a folder's weights into a new, trainable model: the config, checked against the weights file's tensors
     * before anything is allocated, then every parameter copied from the weights (F32, F16 or BF16; each finite and
     * within {@link #MAX_WEIGHT}).
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
        if (readQuantization(dir).dtype() == WeightDtype.INT8) {
            throw new LumensparkException(dir + " holds int8 weights (made by lumenspark quantize) for inference"
                    + " only; train from the float32 folder it was made from");
        }
        try (Arena arena = Arena.ofConfined()) {
            TensorSource st = openWeights(dir, arena);
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

    /**
     * A new, trainable sequence classifier (cfg) whose backbone is a pretrained model's from dir (causal or masked
     * LM, or another classifier): every backbone parameter copied from the folder's model.safetensors (checked as
     * {@link #load} does), the new head initialized from seed; the folder's own head (fc_out, lm_head.*, score) is
     * left out.
     *
     * @throws LumensparkException for a missing, malformed or mismatched file, or a model too large for memory
     */
    public static LanguageModel loadBackbone(Path dir, ModelConfig cfg, long seed) {
        if (!cfg.isClassifier()) throw new IllegalArgumentException("a classifier config is needed");
        try (Arena arena = Arena.ofConfined()) {
            TensorSource st = openWeights(dir, arena);
            checkDepth(cfg, st);
            LanguageModel model = new LanguageModel(cfg);
            try {
                model.initialize(seed);
                Params params = model.params();
                for (Params.Param p : params.list()) {
                    if (p.name().startsWith("score.")) continue; // the new head
                    SafeTensors.Entry e = st.get(p.name());
                    checkShape(st, e, p.shape());
                    MemorySegment values = st.toF32(e, arena);
                    long bad = Kernels.firstBeyond(values, 0, p.size(), MAX_WEIGHT);
                    if (bad >= 0) {
                        throw new LumensparkException(st.path() + ": tensor '" + p.name() + "' holds "
                                + values.getAtIndex(ValueLayout.JAVA_FLOAT, bad) + " at " + position(p.shape(), bad)
                                + "; weights must be finite and within 2^64");
                    }
                    MemorySegment.copy(values, 0, Floats.slice(params.values(), p.offset(), p.size()), 0,
                            p.size() * 4);
                }
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
     * is bounded by the file, whatever the config says), then that nothing else is there. Weights of published
     * lumenspark's later architecture are named as such.
     */
    static void checkTensors(ModelConfig cfg, TensorSource st) {
        Layout layout = Layout.of(cfg);
        if (st.tensors().containsKey(LATER_ARCHITECTURE)) {
            throw new LumensparkException(st.path() + " holds weights of published lumenspark's later architecture"
                    + " (0.1.4 and on: LayerNorm before full attention, LayerScale, a final norm), which Lumenspark"
                    + " does not run; it runs the Linformer of lumenspark 0.1.1 to 0.1.3 (lumenspark-v0.1)");
        }
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

    private static void checkDepth(ModelConfig cfg, TensorSource st) {
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

    private static void checkShape(TensorSource st, SafeTensors.Entry e, int[] shape) {
        long[] want = Arrays.stream(shape).asLongStream().toArray();
        if (!Arrays.equals(e.shape(), want)) {
            throw new LumensparkException(st.path() + ": tensor '" + e.name() + "' has shape "
                    + Arrays.toString(e.shape()) + ", the config needs " + Arrays.toString(want));
        }
    }

    /** Bytes that loading converts into float32 copies (tensors stored as F16, BF16, F64). */
    static long convertedBytes(TensorSource st) {
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
    static List<MemorySegment> tensorsFor(TensorSource st, Params params, String prefix, Arena arena) {
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
    static void checkValues(TensorSource st, Params params, String prefix, List<MemorySegment> tensors,
                            float bound) {
        for (Params.Param p : params.list()) {
            MemorySegment m = tensors.get(p.index());
            if (m == null) continue; // a quantized weight, checked as it was mapped
            long i = Kernels.firstBeyond(m, 0, p.size(), bound);
            if (i < 0) {
                Pages.releaseIfFileMapped(m); // read once here: resident again only as far as it is used
                continue;
            }
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

    private static void copyChecked(TensorSource st, Params params, String prefix,
                                    Function<Params.Param, MemorySegment> target, Arena arena, float bound) {
        List<MemorySegment> tensors = tensorsFor(st, params, prefix, arena);
        checkValues(st, params, prefix, tensors, bound);
        for (Params.Param p : params.list()) {
            MemorySegment.copy(tensors.get(p.index()), 0, target.apply(p), 0, p.size() * 4);
        }
    }

    /** Rejects tensors that no buffer claims: a sign of the wrong variant or config.json. */
    static void checkNoOthers(TensorSource st, Params params, Iterable<String> prefixes) {
        List<String> unexpected = new ArrayList<>(st.tensors().keySet());
        for (String prefix : prefixes) for (Params.Param p : params.list()) unexpected.remove(prefix + p.name());
        if (!unexpected.isEmpty()) throw unexpected(st, unexpected);
    }

    private static LumensparkException unexpected(TensorSource st, List<String> names) {
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

    /**
     * Writes the model's weights to the folder's model.safetensors, atomically: float32, or for a model whose
     * matrix weights are held in bf16 or int8 ({@link Params#dtype}) those as they are held (BF16 tensors; I8
     * tensors with their F32 scales under the name + {@link #SCALE}), the other weights float32. F32 tensors come
     * first, then BF16, then I8, so every tensor of the file starts aligned to its element size.
     */
    public static void writeWeights(LanguageModel model, Path dir) {
        Params params = model.params();
        if (params.dtype() == WeightDtype.F32) {
            writeBuffers(dir.resolve(WEIGHTS), params, Map.of("", params::segment));
            return;
        }
        List<SafeTensors.Entry> f32 = new ArrayList<>(), half = new ArrayList<>(), bytes = new ArrayList<>();
        for (Params.Param p : params.list()) {
            long[] shape = Arrays.stream(p.shape()).asLongStream().toArray();
            QuantizedMatrix q = params.quantized(p);
            if (q == null) {
                f32.add(SafeTensors.Entry.f32(p.name(), shape, params.segment(p)));
            } else if (q.dtype() == WeightDtype.BF16) {
                half.add(new SafeTensors.Entry(p.name(), SafeTensors.DType.BF16, shape, q.data()));
            } else {
                bytes.add(new SafeTensors.Entry(p.name(), SafeTensors.DType.I8, shape, q.data()));
                f32.add(SafeTensors.Entry.f32(p.name() + SCALE,
                        new long[]{q.rows(), QuantizedMatrix.blocks(q.columns(), q.block())}, q.scales()));
            }
        }
        List<SafeTensors.Entry> all = new ArrayList<>(f32);
        all.addAll(half);
        all.addAll(bytes);
        SafeTensors.write(dir.resolve(WEIGHTS), all, Map.of("format", "pt"));
    }

    /**
     * Writes the folder's config.json, atomically. A folder's save writes it last, so that an interrupted save
     * never pairs a new config with old weights of another shape.
     */
    public static void writeConfig(LanguageModel model, Path dir) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("architectures", List.of(model.config().objective().architecture()));
        config.putAll(model.config().toMap());
        config.put("torch_dtype", "float32");
        Params params = model.params();
        if (params.dtype() != WeightDtype.F32) {
            QuantizedMatrix any = params.list().stream().map(params::quantized).filter(Objects::nonNull)
                    .findFirst().orElseThrow();
            config.put(QUANTIZATION, new Quantization(params.dtype(), any.block()).toMap());
        }
        Json.write(dir.resolve(CONFIG), config);
    }
}
