package io.lumenspark.model;

import io.lumenspark.Labeled;

/**
 * What a sequence classifier's outputs mean (config.json's "problem_type", as Hugging Face names them), and so
 * which loss trains them.
 */
public enum ProblemType implements Labeled {
    /** One label per text: softmax over the labels, cross-entropy. */
    SINGLE_LABEL_CLASSIFICATION,
    /** Any number of labels per text: a sigmoid per label, binary cross-entropy. */
    MULTI_LABEL_CLASSIFICATION,
    /** A number per text: one output, mean squared error. */
    REGRESSION;

    @Override
    public String toString() {
        return label();
    }
}
