package io.lumenspark.generate;

import io.lumenspark.Labeled;

/** How the repetition penalty treats a logit (generation_config.json's "repetition_penalty_mode"). */
public enum RepetitionPenaltyMode implements Labeled {
    /** Hugging Face's: positive logits are divided by the penalty, negative ones multiplied. */
    HF,
    /** Published lumenspark's: every logit is divided, whatever its sign. */
    LUMENSPARK;

    @Override
    public String toString() {
        return label();
    }
}
