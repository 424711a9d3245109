package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;
import io.lumenspark.generate.Generation;
import io.lumenspark.generate.GenerationConfig;
import io.lumenspark.generate.Generator;
import io.lumenspark.io.InputFiles;
import io.lumenspark.io.SafeTensors;
import io.lumenspark.tokenizer.Tokenizer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A Linformer-family language model: token + learned position embeddings, post-norm blocks, and an untied
 * output layer (fc_out). The variant (Linformer, causal Linformer, Conv-Linformer, full attention) comes from
 * the {@link ModelConfig}. Parameters live in one native buffer ({@link Params}), or are views of a
 * memory-mapped weights file ({@link #fromPretrained}); activations are allocated once per (batch, length)
 * shape and reused.
 *
 * <pre>{@code
 * try (LumensparkModel model = LumensparkModel.fromPretrained(Path.of("runs/demo"))) {
 *     System.out.println(model.generate("The state of the union", GenerationConfig.greedy(20)).text());
 * }
 * }</pre>
 *
 * <p>Thread-safe: whole-sequence passes (training steps, evaluation, {@link #logits}, prompt prefill) take turns
 * on the model's activation buffers, while any number of {@link Decoder}s and generations run concurrently,
 * each with its own state and the weights shared.
 */
public final class LumensparkModel implements AutoCloseable {
    private final ModelConfig config;
    private final Params params = new Params();
    private final Arena arena;
    private final Params.Param tokens, positions;
    private final List<Block> blocks = new ArrayList<>();
    private final LmHead head;
    private Ctx ctx;
    private MemorySegment embedded, dEmbedded;
    private volatile Tokenizer tokenizer;
    private volatile String noTokenizer; // why the folder's text cannot be encoded, when it cannot
    private volatile GenerationConfig generationConfig;

    /**
     * A new model with zero parameters; {@link #initialize} them or load them ({@link ModelFiles#load}).
     *
     * @throws LumensparkException for an invalid config, or parameters that do not fit in the memory available
     *                             (see {@link MemoryPlan#forParameters}), checked before anything is allocated
     */
    public LumensparkModel(ModelConfig config) {
        MemoryPlan.forParameters(config).check(); // a million layers are refused here, not after declaring them
        this(config, Arena.ofShared(), true);
    }

    /** The model's structure over arena; allocate makes its flat parameter buffer, else views come later. */
    private LumensparkModel(ModelConfig config, Arena arena, boolean allocate) {
        this.config = config.validate();
        this.arena = arena;
        Layout.Outer outer = Layout.Outer.declare(params, config);
        tokens = outer.tokens();
        positions = outer.positions();
        for (int i = 0; i < config.depth(); i++) {
            blocks.add(new Block(params, config, i, outer.sharedE(), outer.sharedF()));
        }
        head = new LmHead(params, config.embedDim(), config.vocabSize());
        if (allocate) params.allocate(arena);
    }

    /**
     * Opens a model folder (config.json, model.safetensors, tokenizer_config.json, generation_config.json) for
     * inference. Float32 weights are memory-mapped, not copied: processes serving the same folder share them.
     * Other dtypes are converted on load. The config is checked against the weights file's tensors before the
     * model is built, and every weight is checked to be finite and within {@link ModelFiles#MAX_WEIGHT}. The
     * weights are read-only; use {@link ModelFiles#load} to train.
     *
     * @throws LumensparkException if the folder, its config or its weights are missing, malformed or disagree
     */
    public static LumensparkModel fromPretrained(Path dir) {
        ModelConfig cfg = ModelFiles.readConfig(dir);
        Path file = ModelFiles.weightsFile(dir);
        Arena arena = Arena.ofShared(); // the mapping lives as long as the model
        LumensparkModel model = null;
        try {
            SafeTensors.File st = SafeTensors.open(file, arena);
            ModelFiles.checkTensors(cfg, st);
            MemoryPlan.forConvertedWeights(ModelFiles.convertedBytes(st)).check();
            model = new LumensparkModel(cfg, arena, false);
            List<MemorySegment> views = ModelFiles.tensorsFor(st, model.params, "", arena);
            ModelFiles.checkValues(st, model.params, "", views, ModelFiles.MAX_WEIGHT);
            model.params.useViews(arena, views);
            ModelFiles.attachFolderSettings(model, dir);
        } catch (RuntimeException e) {
            if (model != null) model.close();
            else arena.close();
            throw e;
        }
        return model;
    }

    /** Saves the model folder (see {@link ModelFiles#save}); the weights are written in float32. */
    public void save(Path dir) {
        ModelFiles.save(this, dir);
    }

    public ModelConfig config() {
        return config;
    }

    public Params params() {
        return params;
    }

    /**
     * The tokenizer the model was trained with: the folder's, or GPT-2 for a model made from a config.
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

    public void setTokenizer(Tokenizer tokenizer) {
        this.tokenizer = java.util.Objects.requireNonNull(tokenizer);
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
     * The default way to generate from this model: the folder's generation_config.json, or sampling at
     * temperature 0.8 with top-k 50 up to the full context, stopping at the tokenizer's end of text.
     */
    public GenerationConfig generationConfig() {
        GenerationConfig g = generationConfig;
        if (g != null) return g;
        return GenerationConfig.builder().maxLength(config.seqLength()).doSample(true).temperature(0.8).topK(50)
                .eosTokenId(tokenizer().eosId()).build();
    }

    /** Whether the generation defaults were set (or loaded) rather than derived. */
    boolean hasOwnGenerationConfig() {
        return generationConfig != null;
    }

    public void setGenerationConfig(GenerationConfig generationConfig) {
        this.generationConfig = java.util.Objects.requireNonNull(generationConfig);
    }

    /**
     * Fills the parameters: embeddings N(0, 0.02) as in GPT-2 (PyTorch's default N(0, 1), which published
     * lumenspark keeps, trains far slower: validation loss 6.55 instead of 5.12 after 300 steps on Tiny
     * Shakespeare), Linear and Conv1d weights and biases uniform in +-1/sqrt(fan_in) as PyTorch does, sequence
     * projections Xavier-uniform, norm scales 1.
     */
    public void initialize(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (Params.Param p : params.list()) {
            MemorySegment m = params.values().asSlice(p.offset() * 4, p.size() * 4);
            String name = p.name();
            int[] s = p.shape();
            if (name.endsWith(".scale")) {
                fill(m, p.size(), () -> 1f);
            } else if (name.endsWith("_embedding.weight")) {
                fill(m, p.size(), () -> (float) (0.02 * gaussian(random)));
            } else if (name.endsWith("_proj")) {
                double bound = Math.sqrt(6.0 / (s[0] + s[1]));
                fill(m, p.size(), () -> (float) ((random.nextDouble() * 2 - 1) * bound));
            } else {
                // Linear [out, in] / Conv1d [out, in, kernel] weight, or a bias whose fan-in is its layer's
                int fanIn = s.length >= 2 ? (int) (p.size() / s[0]) : params.get(name.replace(".bias", ".weight"))
                        .shape()[1];
                double bound = 1 / Math.sqrt(fanIn);
                fill(m, p.size(), () -> (float) ((random.nextDouble() * 2 - 1) * bound));
            }
        }
    }

    private static double gaussian(SplittableRandom r) {
        double u1 = 1 - r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static void fill(MemorySegment m, long n, java.util.function.Supplier<Float> f) {
        for (long i = 0; i < n; i++) m.setAtIndex(ValueLayout.JAVA_FLOAT, i, f.get());
    }

    /**
     * Makes the activation buffers for this shape (reused while the shape stays the same; a training context
     * serves forward-only passes too). Callers hold the model's lock.
     */
    private Ctx prepare(int batch, int n, boolean forwardOnly) {
        if (n < 1 || n > config.seqLength()) {
            throw new LumensparkException("sequence length " + n + " is outside 1.." + config.seqLength()
                    + " (the model's seq_length)");
        }
        if (ctx != null && ctx.batch == batch && ctx.n == n && ctx.blas == Blas.get()
                && (forwardOnly || !ctx.forwardOnly)) {
            return ctx;
        }
        if (ctx != null) ctx.close();
        ctx = null;
        // checked before anything is allocated; a first training pass brings the gradients too
        MemoryPlan.forPass(config, batch, n, forwardOnly, !forwardOnly && !params.hasGrads()).check();
        Ctx c = new Ctx(Blas.get(), params, batch, n, forwardOnly);
        try {
            embedded = c.floats((long) c.rows * config.embedDim());
            dEmbedded = forwardOnly ? null : c.floats((long) c.rows * config.embedDim());
            for (Block b : blocks) b.allocate(c);
            head.allocate(c);
        } catch (RuntimeException | OutOfMemoryError e) {
            c.close();
            throw e;
        }
        ctx = c;
        return ctx;
    }

    /** Bytes of the activation buffers of the current pass shape (0 before the first pass). */
    synchronized long activationBytes() {
        return ctx == null ? 0 : ctx.bytes();
    }

    /**
     * One forward and backward pass: adds the gradient of gradScale * (sum of token losses) to the parameter
     * gradients and returns the sum of token losses. Dropout follows (seed, step, micro).
     */
    public synchronized double trainStep(int[] inputs, int[] targets, int batch, int n, float gradScale, long seed,
                                         long step, int micro) {
        params.values(); // memory-mapped weights cannot be trained: fail before any work
        Ctx c = prepare(batch, n, false);
        c.setStep(true, seed, step, micro);
        MemorySegment x = forwardBlocks(c, inputs);
        checkTargets(targets);
        double loss = head.run(c, x, targets, null, gradScale, true);
        MemorySegment dy = head.dx();
        for (int i = blocks.size() - 1; i >= 0; i--) dy = blocks.get(i).backward(c, dy);
        embedBackward(c, inputs, dy);
        return loss;
    }

    /**
     * Token losses (negative log-probabilities of the targets) without dropout; returns their sum.
     *
     * @throws LumensparkException when the loss is not finite: with finite weights (checked at load) that means
     *                             the model's arithmetic overflows float32, and no loss it gives can be trusted
     */
    public synchronized double evaluate(int[] inputs, int[] targets, int batch, int n, float[] tokenLoss) {
        Ctx c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        checkTargets(targets);
        MemorySegment x = forwardBlocks(c, inputs);
        double loss = head.run(c, x, targets, tokenLoss, 0f, false);
        if (!Double.isFinite(loss)) {
            throw new LumensparkException("the model's loss is " + loss + ": its arithmetic overflows float32"
                    + " (weights too large to compute with?), so it gives no usable numbers");
        }
        return loss;
    }

    /**
     * The logits of every position of one sequence: row t scores the token after ids[0..t]. For a causal model
     * row t depends only on ids[0..t]; lumenspark-v0.1 lets every row see the whole sequence.
     */
    public float[][] logits(int... ids) {
        int v = config.vocabSize();
        float[] flat = logits(ids, 1, ids.length);
        float[][] rows = new float[ids.length][];
        for (int t = 0; t < ids.length; t++) rows[t] = Arrays.copyOfRange(flat, t * v, (t + 1) * v);
        return rows;
    }

    /** Logits [batch * n, vocab] for the given tokens (eval mode), as a new array; meant for small inputs. */
    public synchronized float[] logits(int[] inputs, int batch, int n) {
        if ((double) batch * n * config.vocabSize() > InputFiles.MAX_ARRAY_BYTES / 4) {
            throw new LumensparkException(String.format("the logits of %,d x %,d positions over %,d tokens are more"
                    + " than one array holds; ask for fewer positions", batch, n, config.vocabSize()));
        }
        Ctx c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = forwardBlocks(c, inputs);
        int v = config.vocabSize();
        try (Arena tmp = Arena.ofShared()) { // shared: kernels write it from pool threads
            MemorySegment out = tmp.allocate((long) c.rows * v * 4, 64);
            head.logits(c, x, 0, c.rows, out);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** The logits after the last of ids (one forward pass over all of them; only one row of logits). */
    public synchronized float[] lastLogits(int... ids) {
        Ctx c = prepare(1, ids.length, true);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = forwardBlocks(c, ids);
        try (Arena tmp = Arena.ofShared()) {
            MemorySegment out = tmp.allocate((long) config.vocabSize() * 4, 64);
            head.logits(c, x, ids.length - 1, 1, out);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * The embeddings and the block stack alone, without the output layer and loss, as the Linformer paper
     * measures attention variants (benchmarks). Inference: one forward pass in eval mode, whose activations are
     * one layer's worth. Training (backward = true): the forward pass with dropout, then the backward pass of a
     * fixed output gradient into the parameter gradients. Returns the bytes of the pass's activation buffers.
     */
    public synchronized long runStack(int[] ids, int batch, int n, boolean backward) {
        if (backward) params.values(); // memory-mapped weights cannot be trained
        Ctx c = prepare(batch, n, !backward);
        c.setStep(backward, 1, 0, 0);
        forwardBlocks(c, ids);
        if (backward) {
            MemorySegment dy = head.dx(); // unused by the stack: a stand-in output gradient
            dy.fill((byte) 0);
            Kernels.add(c.ones, 0, dy, 0, Math.min(c.rows, dy.byteSize() / 4)); // any fixed gradient will do
            for (int i = blocks.size() - 1; i >= 0; i--) dy = blocks.get(i).backward(c, dy);
            embedBackward(c, ids, dy);
        }
        return c.bytes();
    }

    /** Targets are token ids, or negative for positions whose loss is ignored (padding). */
    private void checkTargets(int[] targets) {
        for (int t : targets) {
            if (t >= config.vocabSize()) {
                throw new LumensparkException("target token id " + t + " is outside the vocabulary 0.."
                        + (config.vocabSize() - 1));
            }
        }
    }

    private MemorySegment forwardBlocks(Ctx c, int[] inputs) {
        return forwardBlocks(c, inputs, null);
    }

    /** The embeddings and every block; with states, each block's decoding state is set as soon as it has run. */
    private MemorySegment forwardBlocks(Ctx c, int[] inputs, List<Block.StepState> states) {
        if (inputs.length != c.rows) throw new IllegalArgumentException("expected " + c.rows + " token ids");
        int d = config.embedDim(), v = config.vocabSize();
        MemorySegment tok = c.value(tokens), pos = c.value(positions);
        for (int id : inputs) {
            if (id < 0 || id >= v) throw new LumensparkException("token id " + id + " is outside the vocabulary 0.." + (v - 1));
        }
        Parallel.rows(c.rows, d, (from, to) -> {
            for (int r = from; r < to; r++) {
                long o = (long) r * d;
                Kernels.sum(tok, (long) inputs[r] * d, pos, (long) (r % c.n) * d, embedded, o, d);
            }
        });
        if (c.training && config.dropout() > 0) {
            Dropout.apply(embedded, 0, embedded, 0, (long) c.rows * d, config.dropout(), c.dropoutKey(-1));
        }
        MemorySegment x = embedded;
        for (int i = 0; i < blocks.size(); i++) {
            x = blocks.get(i).forward(c, x);
            if (states != null) blocks.get(i).fillState(states.get(i), c.n); // before the next layer reuses buffers
        }
        return x;
    }

    private void embedBackward(Ctx c, int[] inputs, MemorySegment dy) {
        int d = config.embedDim();
        if (config.dropout() > 0) {
            Dropout.apply(dy, 0, dEmbedded, 0, (long) c.rows * d, config.dropout(), c.dropoutKey(-1));
            dy = dEmbedded;
        }
        MemorySegment gTok = c.grad(tokens), gPos = c.grad(positions);
        // rows in order: the same token's gradients always add up in the same order
        for (int r = 0; r < c.rows; r++) {
            long o = (long) r * d;
            Kernels.add(dy, o, gTok, (long) inputs[r] * d, d);
            Kernels.add(dy, o, gPos, (long) (r % c.n) * d, d);
        }
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
        return Generator.generate(this, tokenizer(), tokenizer().encode(prompt), cfg, listener);
    }

    /** Continues a prompt given as token ids. */
    public Generator.Result generate(int[] promptIds, GenerationConfig cfg) {
        return Generator.generate(this, tokenizer(), promptIds, cfg, null);
    }

    /** A batch: num_return_sequences results per prompt, prompt by prompt (see {@link Generator#generateAll}). */
    public List<Generator.Result> generate(List<String> prompts, GenerationConfig cfg) {
        return Generator.generateAll(this, tokenizer(), prompts.stream().map(tokenizer()::encode).toList(), cfg);
    }

    /** The generation as an iterator of tokens, for streaming; close it if you stop early. */
    public Generation stream(String prompt, GenerationConfig cfg) {
        return new Generation(this, tokenizer(), tokenizer().encode(prompt), cfg, null);
    }

    /**
     * Starts incremental decoding of one sequence: each {@link Decoder#next} feeds one token and returns the
     * logits of the token after it, in time and memory that do not grow with the context for the Linformer
     * variants. Needs a causal model.
     */
    public Decoder decoder() {
        if (!config.causal()) {
            throw new LumensparkException("incremental decoding needs a causal model; this one is bidirectional");
        }
        return new Decoder();
    }

    /**
     * The decoding state of one sequence; see {@link #decoder()}. Its memory is fixed when it is made (for the
     * Linformer variants about k x kv_dim floats per layer and one row of logits; a full-attention KV cache holds
     * seq_length positions). Not thread-safe: one decoder per sequence; close it when done.
     */
    public final class Decoder implements AutoCloseable {
        private final CountingArena decoderArena = new CountingArena(Arena.ofShared()); // shared: the pool writes it
        private final Ctx c = new Ctx(Blas.get(), params, 1, 1, true);
        private final List<Block.StepState> states = new ArrayList<>();
        private final MemorySegment x, logitsRow;
        private final long stateBytes;
        private int position;

        private Decoder() {
            for (Block b : blocks) states.add(b.new StepState(decoderArena, c));
            x = decoderArena.allocate(4L * config.embedDim(), 64);
            logitsRow = decoderArena.allocate(4L * config.vocabSize(), 64);
            stateBytes = decoderArena.bytes;
        }

        /** Positions fed so far. */
        public int position() {
            return position;
        }

        /** Native bytes this decoder holds (its state and buffers), whatever the position. */
        public long stateBytes() {
            return stateBytes;
        }

        /**
         * Feeds a whole prompt in one batched forward pass, from position 0, and returns the logits for the
         * position after it: the same state and logits as feeding the ids one by one with {@link #next}, at the
         * cost of one pass of matrix products instead of ids.length row-by-row ones.
         */
        public float[] prefill(int... ids) {
            if (position != 0) throw new IllegalStateException("prefill starts a sequence; call reset() first");
            if (ids.length == 0) throw new LumensparkException("the prompt is empty");
            if (ids.length > config.seqLength()) {
                throw new LumensparkException("the prompt has " + ids.length + " tokens; the context is "
                        + config.seqLength());
            }
            synchronized (LumensparkModel.this) {
                Ctx whole = prepare(1, ids.length, true);
                whole.setStep(false, 0, 0, 0);
                MemorySegment y = forwardBlocks(whole, ids, states);
                head.logits(whole, y, ids.length - 1, 1, logitsRow);
            }
            position = ids.length;
            return logitsRow.toArray(ValueLayout.JAVA_FLOAT);
        }

        /** Forgets the sequence: the next token goes to position 0. */
        public void reset() {
            position = 0;
        }

        /** Feeds the token at the next position; returns the logits for the position after it. */
        public float[] next(int token) {
            int d = config.embedDim();
            if (token < 0 || token >= config.vocabSize()) {
                throw new LumensparkException("token id " + token + " is outside the vocabulary 0.."
                        + (config.vocabSize() - 1));
            }
            if (position >= config.seqLength()) {
                throw new LumensparkException("the context is full: " + config.seqLength() + " positions");
            }
            Kernels.sum(c.value(tokens), (long) token * d, c.value(positions), (long) position * d, x, 0, d);
            MemorySegment row = x;
            for (int i = 0; i < blocks.size(); i++) row = blocks.get(i).step(c, row, states.get(i), position);
            head.fc.forwardInto(c, row, logitsRow, 1);
            position++;
            return logitsRow.toArray(ValueLayout.JAVA_FLOAT);
        }

        @Override
        public void close() {
            c.close();
            decoderArena.close();
        }
    }

    /** An arena that counts what it hands out (a decoder's memory, for benchmarks and capacity planning). */
    private static final class CountingArena implements Arena {
        private final Arena inner;
        private long bytes;

        CountingArena(Arena inner) {
            this.inner = inner;
        }

        @Override
        public MemorySegment allocate(long byteSize, long byteAlignment) {
            bytes += byteSize;
            return inner.allocate(byteSize, byteAlignment);
        }

        @Override
        public MemorySegment.Scope scope() {
            return inner.scope();
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    @Override
    public synchronized void close() {
        if (ctx != null) ctx.close();
        ctx = null;
        arena.close();
    }
}
