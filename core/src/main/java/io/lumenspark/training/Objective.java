package io.lumenspark.training;

/**
 * What the {@link Trainer} optimizes: a head and its loss on the model, how the micro-batches of a step are drawn
 * (a function of seed, step and micro-batch, so a resumed run sees the same ones), and how validation is measured.
 * The trainer's loop (AdamW, the schedule, clipping, accumulation, checkpoints, metrics, resuming) is the same
 * whatever the objective; trainer_state.json records its {@link #name}.
 */
public interface Objective {
    /** Its name in trainer_state.json, e.g. "causal_lm" or "masked_lm". */
    String name();

    /** The input tokens of one micro-batch (what tokens/s counts). */
    long tokensPerMicroBatch();

    /**
     * The units (predicted tokens, masked tokens, sequences) of a step of the given number of micro-batches: its
     * loss is the mean over them. It may draw the step's micro-batches to count them (a masked LM's masks).
     */
    long lossUnits(long step, int micros);

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
