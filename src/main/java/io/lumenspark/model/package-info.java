/**
 * The models: {@link io.lumenspark.model.LumensparkModel} (embeddings, post-norm blocks, output layer) with every
 * attention variant (Linformer, causal Linformer, Conv-Linformer, full) in one computation, each layer's forward
 * and backward side by side, an incremental {@link io.lumenspark.model.LumensparkModel.Decoder} for generation,
 * and {@link io.lumenspark.model.ModelFiles}, the Hugging Face-style folders PyTorch reads and writes.
 */
package io.lumenspark.model;
