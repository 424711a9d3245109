/**
 * Text to token ids and back: the {@link io.lumenspark.tokenizer.Tokenizer} interface, our byte-level BPE
 * ({@link io.lumenspark.tokenizer.BpeTokenizer}; GPT-2's runs on it), Hugging Face's tokenizer files
 * (tokenizer.json, vocab.json, merges.txt), training new BPE tokenizers ({@link io.lumenspark.tokenizer.BpeTrainer})
 * and the places where a GPT-2-style pre-tokenizer lets a text be cut for parallel encoding (TextPieces).
 */
package io.lumenspark.tokenizer;
