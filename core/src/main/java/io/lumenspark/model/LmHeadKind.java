package io.lumenspark.model;

import io.lumenspark.Labeled;

/** What sits between the last block and fc_out (config.json's "lm_head"). */
public enum LmHeadKind implements Labeled {
    /** fc_out alone, as published lumenspark has it. */
    LINEAR,
    /**
     * RoBERTa's masked-LM head: {@code lm_head.dense} (Linear d -> d), exact GELU, {@code lm_head.layer_norm}
     * (the model's RMSNorm, parameter {@code scale}), then fc_out. Bidirectional (masked-LM) models only.
     */
    DENSE;

    @Override
    public String toString() {
        return label();
    }
}
