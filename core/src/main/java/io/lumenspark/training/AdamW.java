package io.lumenspark.training;

import io.lumenspark.engine.Kernels;
import io.lumenspark.engine.Parallel;
import io.lumenspark.model.Params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter) over the model's flat parameter buffer. Weight decay
 * applies to matrices only; biases, norm scales and vectors are not decayed.
 */
public final class AdamW {
    private final Params params;
    private final MemorySegment m, v;
    private final float beta1, beta2, eps, weightDecay;

    /**
     * Allocates zeroed moment buffers, one float per element of the flat parameter buffer, from {@code arena}.
     * The hyperparameters are used as floats; weightDecay is per unit of learning rate (w -= lr * wd * w).
     */
    public AdamW(Params params, Arena arena, double beta1, double beta2, double eps, double weightDecay) {
        this.params = params;
        this.m = arena.allocate(params.flatSize() * 4, 64);
        this.v = arena.allocate(params.flatSize() * 4, 64);
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
    }

    /** The first-moment buffer, laid out like the parameters (saved in checkpoints). */
    public MemorySegment firstMoment() {
        return m;
    }

    /** The second-moment buffer, laid out like the parameters (saved in checkpoints). */
    public MemorySegment secondMoment() {
        return v;
    }

    /**
     * Update number t (1-based, for bias correction) with learning rate lr, the gradients taken times gradScale
     * (clipping). Updates the parameters and moments in place, in parallel over parameters.
     */
    public void step(long t, double lr, double gradScale) {
        float b1c = (float) (1 - Math.pow(beta1, t)), b2c = (float) (1 - Math.pow(beta2, t));
        MemorySegment w = params.values(), g = params.grads();
        var list = params.list();
        Parallel.rows(list.size(), 1 << 16, (from, to) -> {
            for (int i = from; i < to; i++) {
                Params.Param p = list.get(i);
                Kernels.adamw(w, g, m, v, p.offset(), p.offset() + p.size(), (float) lr, beta1, beta2, eps,
                        p.decays() ? weightDecay : 0f, b1c, b2c, (float) gradScale);
            }
        });
        params.markChanged(); // written: a decoding copy taken during the update is not kept
    }

    /** The global L2 norm of all gradients (per-parameter sums in parallel, added in a fixed order). */
    public static double gradNorm(Params params) {
        var list = params.list();
        double[] sums = new double[list.size()];
        Parallel.rows(list.size(), 1 << 16, (from, to) -> {
            for (int i = from; i < to; i++) {
                sums[i] = Kernels.sumOfSquares(params.grads(), list.get(i).offset(), list.get(i).size());
            }
        });
        double sum = 0;
        for (double x : sums) sum += x;
        return Math.sqrt(sum);
    }

    /** The factor that clips a gradient of this norm to at most maxNorm: maxNorm / norm, or 1 if already within. */
    public static double clipFactor(double norm, double maxNorm) {
        return norm > maxNorm ? maxNorm / norm : 1;
    }
}
