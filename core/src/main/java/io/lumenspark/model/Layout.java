package io.lumenspark.model;

import io.lumenspark.LumensparkException;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * A config's parameters and activation buffers, known without building its model. All layers of a model are
 * alike except that conv-linformer's upper half compresses with a convolution, so one layer of each kind, declared
 * here with the model's own code, stands for every layer of that kind (its names with the layer number changed).
 * Building a model costs objects per layer and memory per parameter; a layout costs neither, so a config can be
 * checked against a weights file and against the machine's memory before a model of a million layers is begun.
 */
final class Layout {
    /**
     * Layers first .. first + count - 1, all like block (whose parameters are params). A layer's buffers can
     * depend on its parity (consecutive blocks alternate two gradient buffers), so the next layer stands by too.
     */
    private record Kind(int first, int count, Block block, List<Params.Param> params, Block next) {
    }

    private final ModelConfig config;
    private final List<Params.Param> before, after;
    private final List<Kind> kinds = new ArrayList<>();
    private final LmHead head;                   // null for a sequence classifier
    private final ClassificationHead classifier; // a sequence classifier's head, else null
    private final Params params = new Params();

    private Layout(ModelConfig config) {
        this.config = config.validate();
        Backbone.Shared shared = Backbone.Shared.declare(params, config);
        before = List.copyOf(params.list());
        int depth = config.depth();
        int firstConv = config.attention() == AttentionKind.CONV_LINFORMER ? depth / 2 : depth;
        int[][] ranges = {{0, firstConv}, {firstConv, depth}};
        for (int[] r : ranges) {
            if (r[1] == r[0]) continue;
            int from = params.list().size();
            Block block = new Block(params, config, r[0], shared.sharedE(), shared.sharedF());
            List<Params.Param> own = List.copyOf(params.list().subList(from, params.list().size()));
            Block next = r[1] - r[0] < 2 ? null : new Block(new Params(), config, r[0] + 1, shared.sharedE(),
                    shared.sharedF()); // its parameters are the first's, under other names
            kinds.add(new Kind(r[0], r[1] - r[0], block, own, next));
        }
        int from = params.list().size();
        head = config.isClassifier() ? null : new LmHead(params, config);
        classifier = config.isClassifier() ? new ClassificationHead(params, config) : null;
        after = List.copyOf(params.list().subList(from, params.list().size()));
    }

    /**
     * The layout of a config (validated).
     *
     * @throws LumensparkException for an invalid config or a parameter too large to hold
     */
    static Layout of(ModelConfig config) {
        return new Layout(config);
    }

    /**
     * Floats in the model's flat parameter buffer (each parameter padded to a multiple of 16); Long.MAX_VALUE for
     * more than a long holds (such a model fits nowhere).
     */
    long flatSize() {
        try {
            long total = 0;
            for (Params.Param p : before) total = Math.addExact(total, padded(p));
            for (Params.Param p : after) total = Math.addExact(total, padded(p));
            for (Kind k : kinds) {
                for (Params.Param p : k.params()) total = Math.addExact(total, Math.multiplyExact(padded(p), k.count()));
            }
            return total;
        } catch (ArithmeticException overflow) {
            return Long.MAX_VALUE;
        }
    }

    private static long padded(Params.Param p) {
        return (p.size() + 15) / 16 * 16; // as Params lays them out
    }

    /** Every parameter's name and shape, in the model's order, made one at a time (no list of them all). */
    void forEach(BiConsumer<String, int[]> action) {
        for (Params.Param p : before) action.accept(p.name(), p.shape());
        for (Kind k : kinds) {
            String prefix = "layers." + k.first() + ".";
            for (int layer = k.first(); layer < k.first() + k.count(); layer++) {
                for (Params.Param p : k.params()) {
                    action.accept("layers." + layer + "." + p.name().substring(prefix.length()), p.shape());
                }
            }
        }
        for (Params.Param p : after) action.accept(p.name(), p.shape());
    }

    /**
     * Bytes of the activation buffers of a pass over batch x n tokens (see LanguageModel.prepare, which this
     * follows step for step): the layers allocate into a counting context, the first two layers of each kind,
     * and the buffers a layer keeps for itself count once per layer of its kind. Includes the output layer's chunk of
     * logits and gathered rows, which the first loss computation adds. Callers keep batch x n within an int.
     */
    long activationBytes(int batch, int n, boolean forwardOnly) {
        Pass c = Pass.counting(params, batch, n, forwardOnly);
        long rowsTimesD = (long) c.rows * config.embedDim();
        c.floats(rowsTimesD); // the embedded input of the first block
        if (!forwardOnly) c.floats(rowsTimesD); // and its gradient
        long moreLayers = 0;
        try {
            for (Kind k : kinds) {
                long own = c.bytes() - c.sharedBytes();
                k.block().allocate(c);
                long perLayer = c.bytes() - c.sharedBytes() - own;
                if (k.next() != null) k.next().allocate(c); // the same own buffers, and the other parity's shared ones
                moreLayers = Math.addExact(moreLayers, Math.multiplyExact(perLayer, k.count() - (k.next() != null ? 2 : 1)));
            }
            if (head != null) {
                head.allocate(c);
                head.reserveLoss(c);
            } else {
                classifier.allocate(c);
            }
            return Math.addExact(c.bytes(), moreLayers);
        } catch (ArithmeticException overflow) {
            throw new LumensparkException("the buffers of a pass of " + batch + " x " + n + " tokens through "
                    + config.depth() + " layers are too large to hold");
        }
    }
}
