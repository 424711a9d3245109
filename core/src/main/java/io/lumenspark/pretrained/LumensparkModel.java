package io.lumenspark.pretrained;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.hub.Hub;
import io.lumenspark.model.Decoder;
import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.model.ModelWeights;
import io.lumenspark.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A model folder's model, ready for text: the {@link LanguageModel} (weights, forward and backward passes), the
 * folder's {@link Tokenizer} and its generation defaults ({@link GenerationConfig}), as Hugging Face's
 * {@code from_pretrained} gives them.
 *
 * <pre>{@code
 * try (LumensparkModel model = LumensparkModel.fromPretrained(Path.of("runs/demo"))) {
 *     System.out.println(model.generate("The state of the union", GenerationConfig.greedy(20)).text());
 * }
 * }</pre>
 *
 * <p>Thread-safe as its language model is: any number of generations run concurrently on one model, each with
 * its own decoder. Closing it closes the language model.
 */
public final class LumensparkModel implements AutoCloseable {
    private final LanguageModel model;
    private volatile Tokenizer tokenizer;
    private volatile String noTokenizer; // why the folder's text cannot be encoded, when it cannot
    private volatile GenerationConfig generationConfig;

    /**
     * A model with a tokenizer and no generation defaults of its own (Hugging Face's, until one is set): a new
     * model to train, for instance. It takes the language model over: closing this closes it.
     *
     * @param tokenizer its tokenizer, or null for GPT-2's
     */
    public LumensparkModel(LanguageModel model, Tokenizer tokenizer) {
        this.model = Objects.requireNonNull(model);
        this.tokenizer = tokenizer;
    }

    /**
     * Opens a model folder (config.json; model.safetensors, pytorch_model.bin or a sharded set of either; tokenizer
     * files; generation_config.json) for inference. Float32 weights are memory-mapped, not copied: processes serving
     * the same folder share them. A pytorch_model.bin is read without running its pickle.
     * Other dtypes are converted on load. The config is checked against the weights file's tensors before the
     * model is built, and every weight is checked to be finite and within {@link ModelWeights#MAX_WEIGHT}. The
     * weights are read-only; use {@link #load} to train.
     *
     * @throws LumensparkException if the folder, its config or its weights are missing, malformed or disagree
     */
    public static LumensparkModel fromPretrained(Path dir) {
        return ModelFolder.loadMapped(dir);
    }

    /**
     * {@link #fromPretrained(Path)} of a model folder or a Hugging Face Hub id, {@code owner/name} or
     * {@code owner/name@revision} (a branch, tag, commit or {@code refs/pr/N}), as Python's {@code from_pretrained}
     * takes them: an existing local folder of that name wins; a hub model is fetched into Hugging Face's cache (or
     * found there) as {@link Hub#modelFolder} does, with the settings of {@code HF_ENDPOINT}, {@code HF_TOKEN},
     * {@code HF_HUB_OFFLINE} and {@code HF_HOME} (or system properties of those names).
     *
     * @throws LumensparkException if the name is neither a folder nor a hub model, the model cannot be fetched, or
     *                             its files are missing, malformed or disagree
     */
    public static LumensparkModel fromPretrained(String idOrPath) {
        return fromPretrained(Hub.modelFolder(idOrPath));
    }

    /**
     * {@link #fromPretrained(Path)} with the weights of every matrix product (the output layer and the blocks'
     * Linear layers) held in dtype: {@link WeightDtype#INT8} (a quarter of the bytes, which decoding reads per token),
     * {@link WeightDtype#BF16} (half) or {@link WeightDtype#F32}; null for the folder's own (float32, or the dtype a
     * folder written by {@code lumenspark quantize} holds, which is mapped with no float32 copy).
     *
     * @throws LumensparkException as {@link #fromPretrained(Path)}, or for a quantized folder asked for another dtype
     */
    public static LumensparkModel fromPretrained(Path dir, WeightDtype dtype) {
        return ModelFolder.loadMapped(dir, dtype);
    }

    /**
     * Loads a model folder with its weights copied into a new buffer, for training or changing them (see
     * {@link ModelFolder#loadTrainable}).
     *
     * @throws LumensparkException for a missing, malformed or mismatched file, or a model too large for memory
     */
    public static LumensparkModel load(Path dir) {
        return ModelFolder.loadTrainable(dir);
    }

    /**
     * {@link #load(Path)} of a model folder or a Hugging Face Hub id (see {@link #fromPretrained(String)}).
     *
     * @throws LumensparkException as {@link #fromPretrained(String)}, or for a model too large for memory
     */
    public static LumensparkModel load(String idOrPath) {
        return load(Hub.modelFolder(idOrPath));
    }

    /**
     * Saves the model folder (see {@link ModelFolder#save}); the weights are written in float32, or as they are
     * held for a model loaded in bf16 or int8 (a quantized folder).
     */
    public void save(Path dir) {
        ModelFolder.save(this, dir);
    }

    /** The language model: its weights, forward and backward passes and decoders. */
    public LanguageModel languageModel() {
        return model;
    }

    /** The model's shape and variant (config.json). */
    public ModelConfig config() {
        return model.config();
    }

    /**
     * The tokenizer the model was trained with: the folder's, or GPT-2 for a model made without one.
     *
     * @throws LumensparkException for a folder whose tokenizer cannot encode text for this model (no tokenizer
     *                             files, and GPT-2's vocabulary does not fit its vocab_size; or a tokenizer larger
     *                             than vocab_size)
     */
    public Tokenizer tokenizer() {
        Tokenizer t = tokenizer;
        if (t != null) return t;
        if (noTokenizer != null) throw new LumensparkException(noTokenizer);
        return Tokenizer.byName("gpt2");
    }

    /** Sets the tokenizer the model's text goes through (and is saved with). */
    public void setTokenizer(Tokenizer tokenizer) {
        this.tokenizer = Objects.requireNonNull(tokenizer);
    }

    /** Whether {@link #tokenizer()} has one to give. */
    boolean hasTokenizer() {
        return tokenizer != null || noTokenizer == null;
    }

    /** Marks the model as having no usable tokenizer, for this reason (its ids still work: logits, evaluate). */
    void setNoTokenizer(String reason) {
        this.noTokenizer = reason;
    }

    /**
     * The default way to generate from this model: the folder's generation_config.json, else Hugging Face's
     * defaults ({@link GenerationConfig#builder()}: greedy, up to 20 tokens in all).
     */
    public GenerationConfig generationConfig() {
        GenerationConfig g = generationConfig;
        return g != null ? g : GenerationConfig.builder().build();
    }

    /** Whether the generation defaults were set (or loaded) rather than Hugging Face's. */
    boolean hasOwnGenerationConfig() {
        return generationConfig != null;
    }

    /** Sets the generation defaults (saved as generation_config.json). */
    public void setGenerationConfig(GenerationConfig generationConfig) {
        this.generationConfig = Objects.requireNonNull(generationConfig);
    }

    /** Continues a prompt with the model's {@link #generationConfig()}. */
    public Generator.Result generate(String prompt) {
        return generate(prompt, generationConfig(), null);
    }

    /** Continues a prompt, encoded with the model's {@link #tokenizer()}; returns the new ids and text. */
    public Generator.Result generate(String prompt, GenerationConfig cfg) {
        return generate(prompt, cfg, null);
    }

    /** As {@link #generate(String, GenerationConfig)}, passing each piece of text to listener as it comes. */
    public Generator.Result generate(String prompt, GenerationConfig cfg, Generator.Listener listener) {
        return Generator.generate(model, tokenizer(), tokenizer().encode(prompt), cfg, listener);
    }

    /** Continues a prompt given as token ids. */
    public Generator.Result generate(int[] promptIds, GenerationConfig cfg) {
        return Generator.generate(model, tokenizer(), promptIds, cfg, null);
    }

    /** A batch: num_return_sequences results per prompt, prompt by prompt (see {@link Generator#generateAll}). */
    public List<Generator.Result> generate(List<String> prompts, GenerationConfig cfg) {
        return Generator.generateAll(model, tokenizer(), prompts.stream().map(tokenizer()::encode).toList(), cfg);
    }

    /** The generation as an iterator of tokens, for streaming; close it if you stop early. */
    public Generation stream(String prompt, GenerationConfig cfg) {
        return new Generation(model, tokenizer(), tokenizer().encode(prompt), cfg, null);
    }

    /**
     * Hugging Face's fill-mask pipeline on a masked LM: the top-k candidates for every {@code <mask>} of the text
     * (see {@link FillMask}).
     *
     * @throws LumensparkException for a model that is not a masked LM, or a text without a mask or too long
     */
    public FillMask.Result fillMask(String text, int topK) {
        return FillMask.fill(this, List.of(text), topK).getFirst();
    }

    /** {@link #fillMask(String, int)} for several texts, run as one padded batch. */
    public List<FillMask.Result> fillMask(List<String> texts, int topK) {
        return FillMask.fill(this, texts, topK);
    }

    /** The logits of every position of one sequence (see {@link LanguageModel#logits(int...)}). */
    public float[][] logits(int... ids) {
        return model.logits(ids);
    }

    /** Starts incremental decoding of one sequence (see {@link LanguageModel#decoder()}). */
    public Decoder decoder() {
        return model.decoder();
    }

    @Override
    public void close() {
        model.close();
    }
}
