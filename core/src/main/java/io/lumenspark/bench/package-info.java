/**
 * Every benchmark as library code, which the {@code lumenspark bench} commands run: training and generation
 * speed per preset ({@link io.lumenspark.bench.TrainBench}, {@link io.lumenspark.bench.GenerateBench}; each preset
 * in a fresh process, optionally against the PyTorch reference), matrix products
 * ({@link io.lumenspark.bench.GemmBench}), the Linformer paper's ablation ({@link io.lumenspark.bench.Ablation})
 * and tokenizer throughput ({@link io.lumenspark.bench.TokenizerBench}). Figures are medians
 * ({@link io.lumenspark.bench.Stats}).
 */
package io.lumenspark.bench;
