package io.lumenspark.model;

import io.lumenspark.Labeled;

/** How a model's attention mixes positions (config.json's "attention"). */
public enum AttentionKind implements Labeled {
    /** Keys and values compressed along the sequence into k slots by a learned projection E (Linformer). */
    LINFORMER,
    /** As LINFORMER in the lower half of the layers; a strided convolution compresses in the upper half. */
    CONV_LINFORMER,
    /** Standard multi-head attention over every position (the Transformer baseline). */
    FULL;

    @Override
    public String toString() {
        return label();
    }
}
