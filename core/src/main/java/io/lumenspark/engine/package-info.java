/**
 * The numeric core: float32 tensors in native memory, matrix products (OpenBLAS through the FFM API, or a pure-Java
 * Vector API fallback) and Vector API kernels, all split across one fixed set of threads. Native memory lets
 * OpenBLAS, the kernels and memory-mapped checkpoints share the same bytes without copies. Work is split by size
 * and thread count only, and sums run in fixed orders (the Vector API's own lane reductions and EXP can differ
 * between JIT tiers), so results repeat exactly for a given thread count.
 */
package io.lumenspark.engine;
