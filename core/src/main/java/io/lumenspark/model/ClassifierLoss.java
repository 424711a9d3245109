package io.lumenspark.model;

/**
 * A sequence classifier's loss over one batch's logits, given by its trainer (cross-entropy, binary
 * cross-entropy, squared error: {@link ProblemType}): the model runs the head, the loss says what it costs.
 */
@FunctionalInterface
public interface ClassifierLoss {
    /**
     * The loss of logits [batch, num_labels] (row-major), to be minimized; fills dLogits (same shape) with its
     * gradient.
     */
    double lossAndGradient(float[] logits, float[] dLogits);
}
