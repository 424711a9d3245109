/**
 * Model folders as a whole, as Hugging Face's {@code from_pretrained} gives them:
 * {@link io.lumenspark.pretrained.LumensparkModel} ties a {@link io.lumenspark.model.LanguageModel} to the folder's
 * tokenizer and generation defaults, with the text API ({@code generate}, {@code stream}); and
 * {@link io.lumenspark.pretrained.ModelFolder} reads and writes the folder's files. It sits above
 * {@code model} and {@code generate}, so that neither needs the other.
 */
package io.lumenspark.pretrained;
