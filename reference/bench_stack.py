"""
PyTorch speed of the block stack alone, per sequence length, the yardstick for
comparing attention variants as the Linformer paper does (no output layer, no loss).

    /usr/bin/python3 reference/bench_stack.py --preset transformer --ns 512,1024,2048,4096 \
        [--k 128] [--runs 3] [--threads 2] [--set key=value ...] [--json] [--no-train] \
        [--attention-only] [--memory-budget-gib 12]

For each n: the preset with seq_length = n (and k = --k when given), random
init and random ids (seeded), batch 1.  The model's fc_out is replaced by an
identity, so the model's own forward runs token + position embeddings,
dropout and all layers and returns the hidden states [1, n, d].
  forward_ms: eval mode, no_grad forward.
  train_ms:   train mode (dropout active), forward, backward of a fixed random
              output gradient, zero_grad (skipped with --no-train).
Each is the median of --runs after one untimed warm-up.  One JSON line per n:
{"impl":"pytorch","part":"stack","preset":...,"n":...,"k":...,"forward_ms":...,"train_ms":...,"peak_rss_mib":...,"threads":...}
k is null for full attention, where it plays no part.  peak_rss_mib is the
process's peak so far (monotone over the list of n).
--attention-only times layer 0's attention module alone on a random [1, n, d]
input (for the transformer: the standard QK^T, mask, softmax, PV with its four
linear maps), the backward also computing the input's gradient.
An n whose attention matrices (heads x n x width floats, width n for full
attention, k (+ c = n/k when causal) for Linformer; training keeps three per
layer) would need more than --memory-budget-gib is refused before anything
runs (the estimate, attention_gib, is fitted to measured peaks).
Environment (threads, OPENBLAS_CORETYPE, OMP_WAIT_POLICY=PASSIVE, glibc keeping
freed memory unless --system-malloc) as set by bench_env.py.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402  (the environment torch starts in)


def fail(msg):
    sys.exit(f"bench_stack.py: error: {msg}")


def attention_gib(cfg, n, layers, train, keep_freed):
    """Rough peak memory (GiB) of the attention score/probability tensors of one pass."""
    width = n if cfg["attention"] == "full" else cfg["k"] + (n // cfg["k"] if cfg["causal"] else 0)
    one = cfg["heads"] * n * width * 4 / 2 ** 30  # one [1, H, n, width] float32 tensor
    # training: autograd keeps 3 per layer (softmax output, dropout's float mask, dropout
    # output), and the backward adds a few; inference holds ~3 at once.  The heap that
    # keeps freed memory fragments to ~1.7x that.  Fitted to the peak RSS of the
    # transformer at n = 2048, 4096 (stack and attention alone, both mallocs).
    return one * (4 * layers + 1 if train else 3) * (1.7 if keep_freed else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="transformer")
    ap.add_argument("--ns", default="512,1024,2048,4096", help="comma-separated sequence lengths")
    ap.add_argument("--k", type=int, default=None, help="Linformer slots (default: the preset's)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per measurement, after one warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    ap.add_argument("--json", action="store_true", help="print only the JSON lines")
    ap.add_argument("--no-train", action="store_true", help="time the inference forward only")
    ap.add_argument("--attention-only", action="store_true", help="time layer 0's attention module alone")
    ap.add_argument("--memory-budget-gib", type=float, default=12.0)
    ap.add_argument("--system-malloc", action="store_true", help="keep glibc's default malloc settings")
    args = ap.parse_args()

    torch = bench_env.prepare_torch(args.threads, args.system_malloc)
    from lumenspark_ref import Lumenspark, make_config, preset

    overrides = bench_env.overrides(args.set)
    if args.k is not None:
        overrides["k"] = args.k
    try:
        ns = [int(n) for n in args.ns.split(",")]
        assert min(ns) > 0
    except (ValueError, AssertionError):
        fail(f"--ns {args.ns!r} is not a comma-separated list of positive integers")
    cfgs = {}
    for n in ns:
        try:
            cfgs[n] = make_config(preset(args.preset), **{**overrides, "seq_length": n})
        except ValueError as e:  # unknown preset
            fail(str(e))
        except AssertionError as e:  # make_config's checks, e.g. seq_length divisible by k
            fail(f"n={n}: invalid config: {e}")
    if args.runs < 1:
        fail("--runs must be at least 1")
    for n, cfg in cfgs.items():
        gib = attention_gib(cfg, n, 1 if args.attention_only else cfg["depth"], not args.no_train,
                            not args.system_malloc)
        if gib > args.memory_budget_gib:
            fail(f"n={n}: the attention matrices alone would need ~{gib:.1f} GiB > --memory-budget-gib "
                 f"{args.memory_budget_gib:g}" + ("" if args.no_train else " (try --no-train)"))

    def log(*a):
        if not args.json:
            print(*a, flush=True)

    def timed(fn):
        """-> (median ms, median cpu util) of args.runs calls after one warm-up."""
        fn()
        times, utils = [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), bench_env.cpu_seconds()
            fn()
            dt = time.perf_counter() - t0
            times.append(dt)
            utils.append((bench_env.cpu_seconds() - c0) / (dt * args.threads))
        log("  runs (ms): " + " ".join(f"{1000 * t:.1f}" for t in times))
        return round(1000 * statistics.median(times), 2), round(statistics.median(utils), 3)

    part = "attention" if args.attention_only else "stack"
    for n, cfg in cfgs.items():
        torch.manual_seed(args.seed)
        model = Lumenspark(cfg)
        model.fc_out = torch.nn.Identity()  # the model's forward without the output layer
        gen = torch.Generator().manual_seed(args.seed)
        d = cfg["embed_dim"]
        if args.attention_only:
            attn, shared = model.layers[0]["attn"], model.shared_projections()
            x = torch.randn(1, n, d, generator=gen).requires_grad_()  # its gradient is computed too
            params, run, inputs = [*attn.parameters(), *shared.values()], lambda: attn(x, shared), [x]
        else:
            ids = torch.randint(0, cfg["vocab_size"], (1, n), generator=gen)
            params, run, inputs = list(model.parameters()), lambda: model(ids), []
        grad_out = torch.randn(1, n, d, generator=gen)  # fixed output gradient for the backward
        n_params = sum(p.numel() for p in params)
        log(f"{args.preset} {part} n={n} {overrides or ''}: {n_params:,} parameters, {args.threads} threads")

        def forward():
            with torch.no_grad():
                run()

        def train_step():
            run().backward(grad_out)
            for t in params + inputs:  # zero_grad(set_to_none=True)
                t.grad = None

        model.eval()
        forward_ms, util = timed(forward)
        train_ms = train_util = None
        if not args.no_train:
            model.train()
            train_ms, train_util = timed(train_step)
        result = {
            "impl": "pytorch",
            "part": part,
            "preset": args.preset,
            "overrides": overrides,
            "n": n,
            "k": None if cfg["attention"] == "full" else cfg["k"],
            "forward_ms": forward_ms,
            "train_ms": train_ms,
            "peak_rss_mib": bench_env.peak_rss_mib(),
            "threads": args.threads,
            "runs": args.runs,
            "params": n_params,
            "torch": torch.__version__,
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "cpu_util_median": util,
            "train_cpu_util_median": train_util,
            "load_avg_1m": os.getloadavg()[0],
        }
        print(json.dumps(result), flush=True)
        del model, params, run, inputs


if __name__ == "__main__":
    main()
