package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Bf16Gemm;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Floats;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.QuantizedMatrix;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.io.InputFiles;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A Linformer-family language model: the {@link Backbone} (token + learned position embeddings, post-norm blocks)
 * under an untied output layer with its cross-entropy ({@link LmHead}, fc_out); or, with objective
 * sequence_classification, a sequence classifier: the same backbone under {@link ClassificationHead} (pooling and
 * score) instead ({@link #classify}, {@link #trainClassifier}; the token methods then refuse). The variant (Linformer, causal
 * Linformer, Conv-Linformer, full attention) and what it predicts (the next token, or masked tokens: config
 * objective) come from the {@link ModelConfig}. Targets name the token each position predicts, negative where
 * none is (a masked LM's unmasked positions, padding): the output layer runs only on the rows with one. Inputs may
 * be padded at the end of each batch row ({@code lengths}): padding changes no real position's output. Parameters live in one native
 * buffer ({@link Params}), or are views of a memory-mapped weights file ({@link ModelWeights#loadMapped});
 * activations are allocated once per (batch, length) shape and reused. It knows token ids, not text: a model
 * folder's tokenizer and generation defaults come with {@code io.lumenspark.pretrained.LumensparkModel}.
 *
 * <p>Thread-safe: whole-sequence passes (training steps, evaluation, {@link #logits}, prompt prefill) take turns
 * on the model's activation buffers, while any number of {@link Decoder}s run concurrently, each with its own
 * state and the weights shared.
 */
public final class LanguageModel implements AutoCloseable {
    private final ModelConfig config;
    private final Params params = new Params();
    private final Arena arena;
    private final Backbone backbone;
    private final LmHead head;                   // null in a sequence classifier
    private final ClassificationHead classifier; // a sequence classifier's head, else null
    private Pass pass; // the activation buffers of the current whole-sequence shape
    private Bf16Gemm bf16; // the training steps' bf16 products, or null: fp32

    /**
     * A new model with zero parameters; {@link #initialize} them or load them ({@link ModelWeights#load}).
     *
     * @throws LumensparkException for an invalid config, or parameters that do not fit in the memory available
     *                             (see {@link MemoryPlan#forParameters}), checked before anything is allocated
     */
    public LanguageModel(ModelConfig config) {
        MemoryPlan.forParameters(config).check(); // a million layers are refused here, not after declaring them
        this(config, Arena.ofShared(), true);
    }

    /** The model's structure over arena; allocate makes its flat parameter buffer, else views come later. */
    LanguageModel(ModelConfig config, Arena arena, boolean allocate) {
        this.config = config.validate();
        this.arena = arena;
        backbone = new Backbone(params, config);
        head = config.isClassifier() ? null : new LmHead(params, config);
        classifier = config.isClassifier() ? new ClassificationHead(params, config) : null;
        if (allocate) params.allocate(arena);
    }

    /** The model's shape and variant. */
    public ModelConfig config() {
        return config;
    }

    /** Every parameter (the backbone's and the head's), with their gradients. */
    public Params params() {
        return params;
    }

    /**
     * Fills the parameters as a new model's (see {@link Params#initialize}): embeddings N(0, 0.02), Linear and
     * Conv1d layers as PyTorch initializes them, sequence projections Xavier-uniform, norm scales 1.
     */
    public void initialize(long seed) {
        params.initialize(seed);
    }

    /**
     * Holds the weights of every matrix product (the output layer and the blocks' Linear layers) in dtype from now
     * on, for inference: each is quantized once into new memory (bf16 rounded to nearest even, int8 with a scale
     * per {@link QuantizedMatrix#BLOCK} weights) and every forward pass and decoding step reads that. Other weights
     * (embeddings, norms, biases, sequence projections) stay float32. F32 does nothing. A quantized model cannot be
     * trained.
     *
     * @throws IllegalStateException when the model is already held in another dtype
     */
    public void quantize(WeightDtype dtype) {
        quantize(dtype, QuantizedMatrix.BLOCK);
    }

    /**
     * {@link #quantize(WeightDtype)} with int8 scales per block of block weights of a row ({@link Integer#MAX_VALUE}:
     * one per row), to compare granularities.
     */
    public synchronized void quantize(WeightDtype dtype, int block) {
        if (dtype == params.dtype()) return;
        if (params.dtype() != WeightDtype.F32) {
            throw new IllegalStateException("the weights are already held in " + params.dtype().label());
        }
        QuantizedMatrix[] q = new QuantizedMatrix[params.list().size()];
        for (Params.Param p : params.list()) {
            if (params.isMatrix(p)) {
                q[p.index()] = QuantizedMatrix.quantize(dtype, params.segment(p), p.shape()[0], p.shape()[1], block,
                        arena);
            }
        }
        params.useQuantized(dtype, q);
    }

    /**
     * Lets decoding steps run an int8 output layer in integers, its input rounded to int8 too, where oneDNN 2 has
     * AVX512 VNNI ({@link QuantizedMatrix#integerDecodeMatrix}): faster on batches of sequences (a server's steps)
     * and, once the JIT has compiled everything, for one; logits about 0.5 % (RMS) from the float path's. Off by
     * default: a process that has just started reaches speed later with it (the blocks' int8 kernels, which the
     * output layer's float path makes hot in the first step, took some 25 steps of 20-35 ms before C2 compiled
     * them), which short generations would pay. {@link QuantizedMatrix#INTEGER_PRODUCTS_PROPERTY} overrides either
     * way. A change makes every decoding copy again at the next step.
     */
    public void useIntegerProducts(boolean on) {
        params.useIntegerProducts(on);
    }

    /**
     * Runs the matrix products of training steps ({@link #trainStep}) in bf16 with float32 accumulation from now
     * on: the output layer's three (logits, and their gradient's products with the weights and the inputs) and
     * every Linear layer's three; null returns them to float32. Weights, gradients, other products and every
     * other pass (evaluation, logits, generation) stay float32.
     */
    public synchronized void useBf16Products(Bf16Gemm gemm) {
        bf16 = gemm;
    }

    /**
     * Makes the activation buffers for this shape (reused while the shape stays the same; a training pass serves
     * forward-only passes too). Callers hold the model's lock.
     */
    private Pass prepare(int batch, int n, boolean forwardOnly) {
        if (n < 1 || n > config.seqLength()) {
            throw new LumensparkException("sequence length " + n + " is outside 1.." + config.seqLength()
                    + " (the model's seq_length)");
        }
        if (pass != null && pass.batch == batch && pass.n == n && pass.blas == Blas.get()
                && (forwardOnly || !pass.forwardOnly)) {
            return pass;
        }
        if (pass != null) pass.close();
        pass = null;
        // checked before anything is allocated; a first training pass brings the gradients too
        MemoryPlan.forPass(config, batch, n, forwardOnly, !forwardOnly && !params.hasGrads()).check();
        Pass c = new Pass(Blas.get(), params, batch, n, forwardOnly);
        try {
            backbone.allocate(c);
            if (head != null) head.allocate(c);
            else classifier.allocate(c);
        } catch (RuntimeException | OutOfMemoryError e) {
            c.close();
            throw e;
        }
        pass = c;
        return pass;
    }

    /** Bytes of the activation buffers of the current pass shape (0 before the first pass). */
    synchronized long activationBytes() {
        return pass == null ? 0 : pass.bytes();
    }

    /**
     * One forward and backward pass: adds the gradient of gradScale * (sum of token losses) to the parameter
     * gradients and returns the sum of token losses. Dropout follows (seed, step, micro).
     */
    public double trainStep(int[] inputs, int[] targets, int batch, int n, float gradScale, long seed, long step,
                            int micro) {
        return trainStep(inputs, targets, null, batch, n, gradScale, seed, step, micro);
    }

    /**
     * {@link #trainStep(int[], int[], int, int, float, long, long, int)} over rows padded at their end: row b holds
     * lengths[b] real tokens (null: all n), and its padded positions need negative targets.
     */
    public synchronized double trainStep(int[] inputs, int[] targets, int[] lengths, int batch, int n,
                                         float gradScale, long seed, long step, int micro) {
        params.values(); // memory-mapped weights cannot be trained: fail before any work
        if (params.dtype() != WeightDtype.F32) {
            throw new LumensparkException("a model held in " + params.dtype().label() + " is for inference only");
        }
        Pass c = prepare(batch, n, false);
        c.setStep(true, seed, step, micro);
        checkTargets(targets, lengths, n);
        c.bf16 = bf16;
        try {
            MemorySegment x = backbone.forward(c, inputs, lengths);
            double loss = lmHead().run(c, x, targets, null, gradScale, true);
            backbone.backward(c, inputs, lmHead().dx());
            return loss;
        } finally {
            c.bf16 = null;
        }
    }

    /**
     * Token losses (negative log-probabilities of the targets) without dropout; returns their sum.
     *
     * @throws LumensparkException when the loss is not finite: with finite weights (checked at load) that means
     *                             the model's arithmetic overflows float32, and no loss it gives can be trusted
     */
    public double evaluate(int[] inputs, int[] targets, int batch, int n, float[] tokenLoss) {
        return evaluate(inputs, targets, null, batch, n, tokenLoss);
    }

    /**
     * {@link #evaluate(int[], int[], int, int, float[])} over rows padded at their end: row b holds lengths[b] real
     * tokens (null: all n), and its padded positions need negative targets.
     *
     * @throws LumensparkException when the loss is not finite (see the other form)
     */
    public synchronized double evaluate(int[] inputs, int[] targets, int[] lengths, int batch, int n,
                                        float[] tokenLoss) {
        Pass c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        checkTargets(targets, lengths, n);
        MemorySegment x = backbone.forward(c, inputs, lengths);
        double loss = lmHead().run(c, x, targets, tokenLoss, 0f, false);
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
        Pass c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = lmHead().features(c, backbone.forward(c, inputs));
        int v = config.vocabSize();
        try (Arena tmp = Arena.ofShared()) { // shared: kernels write it from pool threads
            MemorySegment out = Floats.allocate(tmp, (long) c.rows * v);
            lmHead().logits(c, x, 0, c.rows, out);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * The logits of some positions only ([rows.length, vocab], eval mode): rows[i] is a position b * n + t of the
     * batch, whose rows are padded at their end (row b holds lengths[b] real tokens; null: all n). The output layer
     * runs on those rows alone, e.g. a masked LM's mask positions.
     */
    public synchronized float[][] logitsAt(int[] inputs, int[] lengths, int batch, int n, int[] rows) {
        if ((double) rows.length * config.vocabSize() > InputFiles.MAX_ARRAY_BYTES / 4) {
            throw new LumensparkException(String.format("the logits of %,d positions over %,d tokens are more than"
                    + " one array holds; ask for fewer positions", rows.length, config.vocabSize()));
        }
        Pass c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = lmHead().features(c, backbone.forward(c, inputs, lengths));
        int v = config.vocabSize();
        float[][] out = new float[rows.length][];
        try (Arena tmp = Arena.ofShared()) {
            MemorySegment row = Floats.allocate(tmp, v);
            for (int i = 0; i < rows.length; i++) {
                if (rows[i] < 0 || rows[i] >= c.rows) {
                    throw new IllegalArgumentException("position " + rows[i] + " is outside 0.." + (c.rows - 1));
                }
                lmHead().logits(c, x, rows[i], 1, row);
                out[i] = row.toArray(ValueLayout.JAVA_FLOAT);
            }
        }
        return out;
    }

    /** The logits after the last of ids (one forward pass over all of them; only one row of logits). */
    public synchronized float[] lastLogits(int... ids) {
        Pass c = prepare(1, ids.length, true);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = lmHead().features(c, backbone.forward(c, ids));
        try (Arena tmp = Arena.ofShared()) {
            MemorySegment out = Floats.allocate(tmp, config.vocabSize());
            lmHead().logits(c, x, ids.length - 1, 1, out);
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
        Pass c = prepare(batch, n, !backward);
        c.setStep(backward, 1, 0, 0);
        backbone.forward(c, ids);
        if (backward) {
            MemorySegment dy = lmHead().dx(); // unused by the stack: a stand-in output gradient
            dy.fill((byte) 0);
            Kernels.add(c.ones, 0, dy, 0, Math.min(c.rows, dy.byteSize() / 4)); // any fixed gradient will do
            backbone.backward(c, ids, dy);
        }
        return c.bytes();
    }

    /**
     * Targets are token ids, or negative for positions whose loss is ignored (a masked LM's unmasked positions,
     * padding); padded positions (lengths) must be ignored.
     */
    private void checkTargets(int[] targets, int[] lengths, int n) {
        for (int i = 0; i < targets.length; i++) {
            int t = targets[i];
            if (t >= config.vocabSize()) {
                throw new LumensparkException("target token id " + t + " is outside the vocabulary 0.."
                        + (config.vocabSize() - 1));
            }
            if (t >= 0 && lengths != null && i / n < lengths.length && i % n >= lengths[i / n]) {
                throw new LumensparkException("position " + i % n + " of sequence " + i / n + " is padding (its"
                        + " length is " + lengths[i / n] + ") but has a target");
            }
        }
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
        return new Decoder(this, backbone, lmHead());
    }

    /**
     * Decoding steps over up to capacity sequences at once, each with its own {@link Decoder} (continuous
     * batching): every weight is read once per step for all of them, and each sequence's logits are the same as
     * when it is decoded alone. Needs a causal model.
     */
    public DecodeBatch decodeBatch(int capacity) {
        if (!config.causal()) {
            throw new LumensparkException("incremental decoding needs a causal model; this one is bidirectional");
        }
        return new DecodeBatch(this, backbone, head, capacity);
    }

    /**
     * A prompt's whole forward pass for a decoder: fills its state, and logitsRow (unless null) with the last
     * row's logits.
     */
    synchronized void prefill(int[] ids, Backbone.DecodeState state, MemorySegment logitsRow) {
        Pass whole = prepare(1, ids.length, true);
        whole.setStep(false, 0, 0, 0);
        whole.prefill = true;
        MemorySegment y;
        try {
            y = backbone.forward(whole, ids, state);
        } finally {
            whole.prefill = false;
        }
        if (logitsRow != null) lmHead().decodingLogits(whole, y, ids.length - 1, 1, logitsRow);
    }

    /** The language-model head, which a sequence classifier lacks. */
    private LmHead lmHead() {
        if (head == null) {
            throw new LumensparkException("this model is a sequence classifier: it has no language-model head to"
                    + " predict tokens with");
        }
        return head;
    }

    /** The classification head, which a language model lacks. */
    private ClassificationHead classifier() {
        if (classifier == null) {
            throw new LumensparkException("this model is a language model, not a sequence classifier (its objective"
                    + " is " + config.objective() + ")");
        }
        return classifier;
    }

    /**
     * A sequence classifier's logits [batch, num_labels] (eval mode, row-major) for rows padded at their end: row b
     * holds lengths[b] real tokens (null: all n); padding changes no logit.
     */
    public synchronized float[] classify(int[] inputs, int[] lengths, int batch, int n) {
        ClassificationHead h = classifier();
        Pass c = prepare(batch, n, true);
        c.setStep(false, 0, 0, 0);
        return h.forward(c, backbone.forward(c, inputs, lengths));
    }

    /**
     * One forward and backward pass of a sequence classifier: the loss of its logits (rows padded at their end as
     * in {@link #classify}), whose gradient it adds to the parameter gradients; returns the loss. Dropout follows
     * (seed, step, micro).
     */
    public synchronized double trainClassifier(int[] inputs, int[] lengths, int batch, int n, ClassifierLoss loss,
                                               long seed, long step, int micro) {
        ClassificationHead h = classifier();
        params.values(); // memory-mapped weights cannot be trained: fail before any work
        Pass c = prepare(batch, n, false);
        c.setStep(true, seed, step, micro);
        float[] logits = h.forward(c, backbone.forward(c, inputs, lengths));
        float[] dLogits = new float[logits.length];
        double value = loss.lossAndGradient(logits, dLogits);
        backbone.backward(c, inputs, h.backward(c, dLogits));
        return value;
    }

    @Override
    public synchronized void close() {
        if (pass != null) pass.close();
        pass = null;
        params.closeDecoding();
        arena.close();
    }
}
