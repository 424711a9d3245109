package io.lumenspark.model;

import io.lumenspark.Labeled;

/**
 * How a sequence classifier turns a sequence's hidden states into one vector (config.json's "pooling"); padding
 * never takes part.
 */
public enum Pooling implements Labeled {
    /** The last real (non-pad) token, as Hugging Face's GPT2ForSequenceClassification: causal models. */
    LAST,
    /** The mean over the real tokens (sentence-transformers' default): bidirectional encoders. */
    MEAN,
    /** The first token, as BERT/RoBERTa read their CLS token: bidirectional encoders. */
    FIRST;

    /** The default for a model: the last token when causal (only it has seen the whole text), else the mean. */
    public static Pooling defaultFor(boolean causal) {
        return causal ? LAST : MEAN;
    }

    @Override
    public String toString() {
        return label();
    }
}
