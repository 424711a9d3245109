"""
PyTorch batch-1 generation speed, the yardstick for the Java generator.

    /usr/bin/python3 reference/bench_generate.py --preset lumenspark --contexts 128,256,512 \
        --tokens 16 --warmup 1 --threads 2 [--set key=value ...] [--mode recompute|cached] [--json]

For each context C: from a random prompt of C - tokens ids, generates `tokens`
greedy (argmax) tokens one at a time, so the last one makes the sequence C
long, timing every step, and prints one JSON line per context:
{"impl":"pytorch","preset":...,"mode":...,"context":C,"tokens_per_s":...,"ms_per_token_median":...,"peak_rss_mib":...,"threads":...}
tokens_per_s = 1 / median step time.  Before the timed run, `warmup` untimed
generations of a few tokens at the same context.  Weights are random (seeded):
speed does not depend on them.  peak_rss_mib is the process's peak so far.

--mode recompute (any preset, as the published lumenspark generates): every
step runs the whole model over the whole current sequence (logits for every
position) and takes the last position's logits.
--mode cached (full causal attention only, the transformer preset): a KV-cache
decoder built here from the model's own modules: one prefill forward over the
prompt (timed apart, prefill_ms) keeps every layer's K and V, then each step
runs the one new position against the cached K/V and computes only its logits.
Checked once against the full forward (rtol 1e-4) before timing.
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
    sys.exit(f"bench_generate.py: error: {msg}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="lumenspark")
    ap.add_argument("--contexts", default=None,
                    help="comma-separated final sequence lengths (default 128,256,512 up to seq_length)")
    ap.add_argument("--tokens", type=int, default=16, help="generated (timed) tokens per context")
    ap.add_argument("--warmup", type=int, default=1, help="untimed short generations first, per context")
    ap.add_argument("--mode", choices=("recompute", "cached"), default="recompute")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    ap.add_argument("--json", action="store_true", help="print only the JSON lines")
    ap.add_argument("--system-malloc", action="store_true", help="keep glibc's default malloc settings")
    args = ap.parse_args()

    torch = bench_env.prepare_torch(args.threads, args.system_malloc)
    from lumenspark_ref import Lumenspark, make_config, preset, split_heads

    overrides = bench_env.overrides(args.set)
    try:
        cfg = make_config(preset(args.preset), **overrides)
    except ValueError as e:  # unknown preset
        fail(str(e))
    except AssertionError as e:  # make_config's checks
        fail(f"invalid config: {e}")
    N = cfg["seq_length"]
    if args.contexts is None:
        contexts = [c for c in (128, 256, 512) if c <= N] or [N]
    else:
        try:
            contexts = [int(c) for c in args.contexts.split(",")]
        except ValueError:
            fail(f"--contexts {args.contexts!r} is not a comma-separated list of integers")
    if args.tokens < 1:
        fail("--tokens must be at least 1")
    for C in contexts:
        if not args.tokens < C <= N:
            fail(f"context {C} must be > --tokens {args.tokens} and <= seq_length {N}")
    if args.mode == "cached" and not (cfg["attention"] == "full" and cfg["causal"]):
        fail(f"--mode cached needs full causal attention (the transformer preset); {args.preset} "
             f"has attention={cfg['attention']}, causal={cfg['causal']}")
    if args.mode == "cached" and args.tokens < 2:
        fail("--mode cached needs --tokens >= 2 (the first token comes from the prefill, timed apart)")

    def log(*a):
        if not args.json:
            print(*a, flush=True)

    torch.manual_seed(args.seed)
    model = Lumenspark(cfg).eval()
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(args.seed)
    log(f"{args.preset} {overrides or ''}: {n_params:,} parameters, mode {args.mode}, "
        f"{args.threads} threads, torch {torch.__version__}")

    d, H = cfg["embed_dim"], cfg["heads"]

    def new_cache():
        """Per layer, K and V buffers [1, H, N, hd] for every position up to seq_length."""
        return [(torch.empty(1, H, N, d // H), torch.empty(1, H, N, d // H)) for _ in model.layers]

    def forward_cached(ids, cache, past):
        """The new tokens ids [1, m] at positions past .. past+m-1, after `past` cached ones:
        stores their K/V in cache and returns the last new position's logits [1, V]."""
        m = ids.shape[1]
        x = model.token_embedding(ids) + model.position_embedding(torch.arange(past, past + m))
        mask = torch.ones(m, past + m, dtype=torch.bool).tril(past)  # query past+i sees keys <= past+i
        for layer, (K, V) in zip(model.layers, cache):
            a = layer["attn"]
            q, k, v = (split_heads(lin(x), H) for lin in (a.query, a.key, a.value))
            K[:, :, past:past + m], V[:, :, past:past + m] = k, v
            s = (q @ K[:, :, :past + m].transpose(-1, -2)) * (d // H) ** -0.5
            y = s.masked_fill(~mask, float("-inf")).softmax(-1) @ V[:, :, :past + m]
            x = layer["norm1"](x + a.output_transform(y.transpose(1, 2).reshape(1, m, d)))
            x = layer["norm2"](x + layer["ffn"](x))
        return model.fc_out(x[:, -1])

    def generate(prompt, n_new):
        """Greedy generation of n_new tokens; -> (step seconds, cpu utils, prefill seconds or None)."""
        ids, times, utils, prefill = prompt, [], [], None
        if args.mode == "cached":
            cache = new_cache()
            t0 = time.perf_counter()
            logits = forward_cached(ids, cache, 0)
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
            prefill = time.perf_counter() - t0
        while ids.shape[1] < prompt.shape[1] + n_new:
            t0, c0 = time.perf_counter(), bench_env.cpu_seconds()
            if args.mode == "cached":
                logits = forward_cached(ids[:, -1:], cache, ids.shape[1] - 1)
            else:
                logits = model(ids)[:, -1]
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
            dt = time.perf_counter() - t0
            times.append(dt)
            utils.append((bench_env.cpu_seconds() - c0) / (dt * args.threads))
        return times, utils, prefill

    with torch.no_grad():
        if args.mode == "cached":  # the decoder must reproduce the full forward, step by step
            ids = torch.randint(0, cfg["vocab_size"], (1, min(12, N)), generator=gen)
            cache, p = new_cache(), min(8, N - 1)
            for n in range(p, ids.shape[1] + 1):
                got = forward_cached(ids[:, :n] if n == p else ids[:, n - 1:n], cache, 0 if n == p else n - 1)
                want = model(ids[:, :n])[:, -1]
                err = (got - want).abs().max().item()  # ~1e-6 here, against logits of size ~2
                assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), f"cached != full at n={n}: max |diff| {err:.1e}"
            log(f"cached decoder matches the full forward's last-position logits (n = {p}..{ids.shape[1]})")

        for C in contexts:
            ids = torch.randint(0, cfg["vocab_size"], (1, C), generator=gen)
            prompt, w = ids[:, :C - args.tokens], min(4, args.tokens)
            for _ in range(args.warmup):  # w tokens that also end at length C
                generate(ids[:, :C - w], w)
            times, utils, prefill = generate(prompt, args.tokens)
            med = statistics.median(times)
            result = {
                "impl": "pytorch",
                "preset": args.preset,
                "overrides": overrides,
                "mode": args.mode,
                "context": C,
                "tokens": args.tokens,
                "tokens_per_s": round(1 / med, 2),
                "ms_per_token_median": round(1000 * med, 2),
                "ms_per_token_min": round(1000 * min(times), 2),
                "peak_rss_mib": bench_env.peak_rss_mib(),
                "threads": args.threads,
                "params": n_params,
                "torch": torch.__version__,
                "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
                "cpu_util_median": round(statistics.median(utils), 3),
                "load_avg_1m": os.getloadavg()[0],
            }
            if prefill is not None:
                result["prefill_ms"] = round(1000 * prefill, 2)
            log(f"context {C}: steps (ms) " + " ".join(f"{1000 * t:.1f}" for t in times))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
