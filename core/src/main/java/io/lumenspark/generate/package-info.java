/**
 * Text generation: {@link io.lumenspark.generate.GenerationConfig} (Hugging Face's settings and
 * generation_config.json), {@link io.lumenspark.generate.Sampling} (the logits processors and the draw),
 * {@link io.lumenspark.generate.Generation} (one sequence as an iterator of tokens) and
 * {@link io.lumenspark.generate.Generator} (whole generations and batches).
 */
package io.lumenspark.generate;
