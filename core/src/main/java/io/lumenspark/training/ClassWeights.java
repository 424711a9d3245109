package io.lumenspark.training;

import io.lumenspark.Labeled;

/** How single-label training weighs each class's texts in the cross-entropy (--class-weights). */
public enum ClassWeights implements Labeled {
    /** Every text counts the same. */
    NONE,
    /**
     * Each class weighs total / (classes x its count), as scikit-learn's class_weight="balanced": rare classes
     * count as much in all as frequent ones.
     */
    BALANCED;

    @Override
    public String toString() {
        return label();
    }
}
