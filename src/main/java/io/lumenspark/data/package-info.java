/**
 * From text to training batches: byte-level BPE tokenizers (GPT-2's, Hugging Face's files, and training new ones),
 * the token cache (tokenize once, memory-map on every later
 * run), the per-file train/validation split, random training windows and sequential evaluation windows. Training
 * windows are a hash of the seed and the step, so a resumed run sees the same batches. Also fetches the demo
 * corpus with npm.
 */
package io.lumenspark.data;
