/**
 * From text to training batches: the GPT-2 tokenizer, the token cache (tokenize once, memory-map on every later
 * run) and prepared token folders ({@code lumenspark data prepare}: text, JSON lines and CSV, streamed with
 * bounded memory and resumable), the per-file train/validation split, random training windows and sequential
 * evaluation windows. Training windows are a hash of the seed and the step, so a resumed run sees the same
 * batches. Also fetches the demo corpus with npm.
 */
package io.lumenspark.data;
