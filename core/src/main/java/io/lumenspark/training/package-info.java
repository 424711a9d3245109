/**
 * The training loop and its parts: AdamW, the warm-up and cosine learning-rate schedule, validation loss,
 * resumable checkpoints and the rules of a run folder ({@link io.lumenspark.training.RunFolder}). A run is fixed by
 * its {@link io.lumenspark.training.TrainOptions}, seed and thread count, so {@code --resume} reproduces the
 * uninterrupted run's losses.
 */
package io.lumenspark.training;
