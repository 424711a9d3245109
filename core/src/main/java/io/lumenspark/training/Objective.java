package io.lumenspark.training;

/**
 * What the {@link Trainer} optimizes: a head and its loss on the model, how the micro-batches of a step are drawn
 * (a function of seed, step and micro-batch, so a resumed run sees the same ones), and how validation is measured.
 * The trainer's loop (AdamW, the schedule, clipping, accumulation, checkpoints, metrics, resuming) is the same
 * whatever the objective; trainer_state.json records its {@link #name}.
 */
public interface Objective {
    /** Its name in trainer_state.json, e.g. "causal_lm". */
    String name();

    /** The units (predicted tokens, sequences) of one micro-batch: a step's loss is the mean over its units. */
    long unitsPerMicroBatch();

    /**
     * One micro-batch of a step: draws it, runs the forward and backward passes, adds the gradient of gradScale
     * times its summed loss to the parameter gradients, and returns the summed loss.
     */
    double trainMicroBatch(long step, int micro, float gradScale);

    /** The validation loss: the mean over {@link #validationUnits} units, the same ones every time. */
    Evaluator.Result validate();

    /** The units each validation covers. */
    long validationUnits();

    /** The units of the validation split that could be predicted (all of them: {@link #validationUnits}). */
    long validationTotal();

    /** What a validation covers, for the log, e.g. "all 36,059 tokens" or "256 of 1,947 tokens (...)". */
    String validationPlan();
}
