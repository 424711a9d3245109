/**
 * From text files to training batches: tokenizing corpora into token files, resumably and with bounded memory
 * ({@link io.lumenspark.tokens.TokenCorpus}: the token cache, tokenize once and memory-map on every later run,
 * and prepared token folders of {@code lumenspark data prepare}), the per-file train/validation split, random
 * training windows ({@link io.lumenspark.tokens.BatchSampler}, a hash of the seed and the step, so a resumed run
 * sees the same batches) and sequential evaluation windows.
 */
package io.lumenspark.tokens;
