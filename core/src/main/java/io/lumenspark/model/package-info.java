/**
 * The models, on token ids (no text): {@link io.lumenspark.model.LanguageModel} is the
 * {@link io.lumenspark.model.Backbone} (embeddings and post-norm blocks, shared by every head) under the causal-LM
 * head (fc_out with its fused cross-entropy); every attention variant (Linformer, causal Linformer,
 * Conv-Linformer, full) is one computation, each layer's forward and backward side by side, over the buffers of a
 * {@link io.lumenspark.model.Pass}; {@link io.lumenspark.model.Decoder} decodes one sequence incrementally, and
 * {@link io.lumenspark.model.ModelWeights} reads and writes config.json and model.safetensors, which PyTorch reads
 * and writes too.
 */
package io.lumenspark.model;
