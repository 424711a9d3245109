package io.lumenspark.model;

import io.lumenspark.LumensparkException;
import io.lumenspark.engine.Blas;
import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A Linformer-family language model: token + learned position embeddings, post-norm blocks, and an untied
 * output layer (fc_out). The variant (Linformer, causal Linformer, Conv-Linformer, full attention) comes from
 * the {@link ModelConfig}. Parameters live in one native buffer ({@link Params}); activations are allocated once
 * per (batch, length) shape and reused.
 *
 * <p>Not thread-safe: one training or scoring pass at a time.
 */
public final class LumensparkModel implements AutoCloseable {
    private final ModelConfig config;
    private final Params params = new Params();
    private final Arena arena = Arena.ofShared();
    private final Params.Param tokens, positions;
    private final List<Block> blocks = new ArrayList<>();
    private final LmHead head;
    private Ctx ctx;
    private MemorySegment embedded, dEmbedded;

    public LumensparkModel(ModelConfig config) {
        this.config = config.validate();
        int d = config.embedDim();
        tokens = params.declare("token_embedding.weight", config.vocabSize(), d);
        positions = params.declare("position_embedding.weight", config.seqLength(), d);
        Params.Param sharedE = null, sharedF = null;
        if (config.shareProjAcrossLayers() && !config.isFull() && !config.usesConv(0)) {
            sharedE = params.declare("shared_key_proj", config.seqLength(), config.k());
            if (config.separateProj()) sharedF = params.declare("shared_value_proj", config.seqLength(), config.k());
        }
        for (int i = 0; i < config.depth(); i++) blocks.add(new Block(params, config, i, sharedE, sharedF));
        head = new LmHead(params, d, config.vocabSize());
        params.allocate(arena);
    }

    public ModelConfig config() {
        return config;
    }

    public Params params() {
        return params;
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

    /** Makes the activation buffers for this shape (reused while the shape stays the same). */
    private Ctx prepare(int batch, int n) {
        if (n < 1 || n > config.seqLength()) {
            throw new LumensparkException("sequence length " + n + " is outside 1.." + config.seqLength()
                    + " (the model's seq_length)");
        }
        if (ctx != null && ctx.batch == batch && ctx.n == n && ctx.blas == Blas.get()) return ctx;
        if (ctx != null) ctx.close();
        ctx = null;
        if ((long) batch * n > Integer.MAX_VALUE / 4) throw new LumensparkException("batch x length is too large");
        Ctx c = new Ctx(Blas.get(), params, batch, n);
        try {
            embedded = c.floats((long) c.rows * config.embedDim());
            dEmbedded = c.floats((long) c.rows * config.embedDim());
            for (Block b : blocks) b.allocate(c);
            head.allocate(c);
        } catch (RuntimeException | OutOfMemoryError e) {
            c.close();
            throw e;
        }
        ctx = c;
        return ctx;
    }

    /**
     * One forward and backward pass: adds the gradient of gradScale * (sum of token losses) to the parameter
     * gradients and returns the sum of token losses. Dropout follows (seed, step, micro).
     */
    public double trainStep(int[] inputs, int[] targets, int batch, int n, float gradScale, long seed, long step,
                            int micro) {
        Ctx c = prepare(batch, n);
        c.setStep(true, seed, step, micro);
        MemorySegment x = forwardBlocks(c, inputs);
        checkTargets(targets);
        double loss = head.run(c, x, targets, null, gradScale, true);
        MemorySegment dy = head.dx();
        for (int i = blocks.size() - 1; i >= 0; i--) dy = blocks.get(i).backward(c, dy);
        embedBackward(c, inputs, dy);
        return loss;
    }

    /** Token losses (negative log-probabilities of the targets) without dropout; returns their sum. */
    public double evaluate(int[] inputs, int[] targets, int batch, int n, float[] tokenLoss) {
        Ctx c = prepare(batch, n);
        c.setStep(false, 0, 0, 0);
        checkTargets(targets);
        MemorySegment x = forwardBlocks(c, inputs);
        return head.run(c, x, targets, tokenLoss, 0f, false);
    }

    /** Logits [batch * n, vocab] for the given tokens (eval mode), as a new array; meant for small inputs. */
    public float[] logits(int[] inputs, int batch, int n) {
        Ctx c = prepare(batch, n);
        c.setStep(false, 0, 0, 0);
        MemorySegment x = forwardBlocks(c, inputs);
        int v = config.vocabSize();
        try (Arena tmp = Arena.ofShared()) { // shared: kernels write it from pool threads
            MemorySegment out = tmp.allocate((long) c.rows * v * 4, 64);
            head.logits(c, x, 0, c.rows, out);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
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
        for (Block b : blocks) x = b.forward(c, x);
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

    /** The decoding state of one sequence; see {@link #decoder()}. Not thread-safe; close it when done. */
    public final class Decoder implements AutoCloseable {
        private final Arena decoderArena = Arena.ofShared(); // shared: products may run on the worker threads
        private final Ctx c = new Ctx(Blas.get(), params, 1, 1);
        private final List<Block.StepState> states = new ArrayList<>();
        private final MemorySegment x, logitsRow;
        private int position;

        private Decoder() {
            for (Block b : blocks) states.add(b.new StepState(decoderArena, c, config));
            x = decoderArena.allocate(4L * config.embedDim(), 64);
            logitsRow = decoderArena.allocate(4L * config.vocabSize(), 64);
        }

        /** Positions fed so far. */
        public int position() {
            return position;
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

    @Override
    public void close() {
        if (ctx != null) ctx.close();
        ctx = null;
        arena.close();
    }
}
