"""
numpy/OpenBLAS float32 GEMM yardstick: what a good BLAS reaches on this machine
for the products a lumenspark-v0.1 training step is made of.

    python3 reference/bench_gemm.py [--threads 2] [--reps 3] [MxNxK[:tA|:tB] ...]

Run it with the pyenv `python3` (numpy 2.4 with its own recent OpenBLAS), not
/usr/bin/python3.  C[M,N] = A[M,K] @ B[K,N]; ":tA" stores A as [K,M] and ":tB"
stores B as [N,K] and multiplies by the transpose (BLAS handles that without a
copy), as the backward pass does.  Default shapes, batch 8 x 512 = 4096 tokens:
  4096x50257x512:tB   logits = X W^T            (fc_out forward, W [V,d])
  4096x512x50257      dX = dlogits W            (fc_out backward)
  50257x512x4096:tA   dW = dlogits^T X          (fc_out backward)
  512x50257x4096:tA   dW^T = X^T dlogits        (same product, transposed result)
  4096x256x32         low-rank V: [r] -> [d/2]
  4096x512x256        query_transform.1 / ffn
  4096x128x512        key_transform (one kv head)
Prints one JSON line per shape with the median GFLOP/s (2*M*N*K per product).
"""
import argparse
import json
import os
import statistics
import time

DEFAULT_SHAPES = ["4096x50257x512:tB", "4096x512x50257", "50257x512x4096:tA", "512x50257x4096:tA",
                  "4096x256x32", "4096x512x256", "4096x128x512"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shapes", nargs="*", default=DEFAULT_SHAPES)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OPENBLAS_NUM_THREADS", 2)))
    ap.add_argument("--reps", type=int, default=3, help="timed products per shape (after one warm-up)")
    args = ap.parse_args()
    # OpenBLAS reads its thread count once, when numpy loads it
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np

    rng = np.random.default_rng(0)
    for spec in args.shapes:
        dims, _, trans = spec.partition(":")
        m, n, k = (int(v) for v in dims.lower().split("x"))
        a = rng.standard_normal((k, m) if trans == "tA" else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if trans == "tB" else (k, n), dtype=np.float32)
        a_op = a.T if trans == "tA" else a
        b_op = b.T if trans == "tB" else b
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(a_op, b_op, out=c)  # warm-up: thread pool, page faults on c
        # small products are timed in batches so each sample is >= ~2 GFLOP
        inner = max(1, int(2e9 // (2 * m * n * k)))
        samples = []
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                np.matmul(a_op, b_op, out=c)
            samples.append((time.perf_counter() - t0) / inner)
        # CPU seconds per wall second per thread; well below 1: another process took the cores
        util = (time.process_time() - c0) / ((time.perf_counter() - w0) * args.threads)
        sec = statistics.median(samples)
        print(json.dumps({"impl": "numpy", "m": m, "n": n, "k": k, "trans": trans or "",
                          "threads": args.threads, "gflops": round(2 * m * n * k / sec / 1e9, 1),
                          "ms": round(sec * 1e3, 2),
                          "cpu_util": round(util, 2)}), flush=True)


if __name__ == "__main__":
    main()
