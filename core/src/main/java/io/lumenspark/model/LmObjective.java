package io.lumenspark.model;

import com.fasterxml.jackson.annotation.JsonValue;
import io.lumenspark.Labeled;

/**
 * What a model's output layer predicts (config.json's "objective"; its "architectures" entry follows, as Hugging
 * Face names model classes). A folder without the key holds a causal language model.
 */
public enum LmObjective implements Labeled {
    /** The next token at every position (LumensparkForCausalLM). */
    CAUSAL_LM("LumensparkForCausalLM"),
    /** The original token at masked positions, seeing the whole sequence (LumensparkForMaskedLM). */
    MASKED_LM("LumensparkForMaskedLM"),
    /**
     * A label (or labels, or a number) per text from pooled hidden states (LumensparkForSequenceClassification):
     * the classification head {@code score} instead of fc_out; see {@link ProblemType} and {@link Pooling}.
     */
    SEQUENCE_CLASSIFICATION("LumensparkForSequenceClassification");

    private final String architecture;

    LmObjective(String architecture) {
        this.architecture = architecture;
    }

    /** Its label, also in JSON (trainer_state.json's options). */
    @JsonValue
    @Override
    public String label() {
        return Labeled.super.label();
    }

    /** The class name Hugging Face's config.json lists under "architectures". */
    public String architecture() {
        return architecture;
    }

    @Override
    public String toString() {
        return label();
    }
}
