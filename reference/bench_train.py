"""
PyTorch training-step throughput, the yardstick for the Java trainer.

    /usr/bin/python3 reference/bench_train.py --preset lumenspark-v0.1 --batch 8 --seq 512 \
        --steps 6 --warmup 2 --threads 2 [--set key=value ...] [--json]

Times full steps (forward, loss, backward, clip_grad_norm 1.0, AdamW step,
zero_grad) on random token batches and prints one JSON line:
{"impl":"pytorch","preset":...,"tokens_per_s":...,"peak_rss_mib":...,"step_s_median":...}
tokens_per_s = batch*seq / median step time over the timed (post-warmup) steps.
The model is in train mode, so the preset's dropout is active as in real training.
--objective mlm trains the preset (bidirectional) as a masked LM over GPT-2's
vocabulary with <mask> and <pad> added (vocab_size + 2 unless --set), with the
masks Java's bench draws (mlm_mask: the same hash of seed 1, step, row, position):
as Hugging Face runs it, logits of every row and cross-entropy with ignore_index
-100; --selected-rows computes fc_out on the selected rows only, as Lumenspark.
By default the script re-executes itself with glibc told to keep freed memory
(MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ huge); --system-malloc turns that off.
--autocast-bf16 runs the forward pass and loss under
torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's own mixed precision:
bf16 matrix products through oneDNN, fp32 weights and optimizer state).
Before torch loads, OPENBLAS_CORETYPE defaults to SkylakeX and OMP_WAIT_POLICY to
PASSIVE (see bench_env.py); both can be overridden from the environment and
are reported in the JSON line.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="lumenspark-v0.1")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=None, help="sequence length (default: the config's seq_length)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--system-malloc", action="store_true",
                    help="keep glibc's default malloc settings (see below)")
    ap.add_argument("--objective", choices=("causal", "mlm"), default="causal")
    ap.add_argument("--selected-rows", action="store_true",
                    help="mlm: the output layer on the selected rows only (Hugging Face: all rows)")
    ap.add_argument("--autocast-bf16", action="store_true",
                    help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    args = ap.parse_args()

    torch = bench_env.prepare_torch(args.threads, args.system_malloc)
    from lumenspark_ref import Lumenspark, loss_fn, make_config, mlm_loss, mlm_mask, preset

    overrides = bench_env.overrides(args.set)
    cfg = make_config(preset(args.preset), **overrides)
    mlm = args.objective == "mlm"
    if mlm:
        assert not cfg["causal"], "--objective mlm needs a bidirectional preset"
        V = cfg["vocab_size"] if "vocab_size" in overrides else cfg["vocab_size"] + 2
        cfg = make_config(cfg, vocab_size=V, objective="masked_lm", mask_token_id=V - 2, pad_token_id=V - 1)
    seq = args.seq or cfg["seq_length"]
    assert seq <= cfg["seq_length"], f"--seq {seq} exceeds seq_length {cfg['seq_length']}"

    def log(*a):
        if not args.json:
            print(*a, flush=True)

    torch.manual_seed(args.seed)
    model = Lumenspark(cfg).train()
    n_params = sum(p.numel() for p in model.parameters())
    # weight decay on matrices (and embeddings / E / conv kernels) only, not on biases and norm scales
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=3e-4, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    log(f"{args.preset} {overrides or ''}: {n_params:,} parameters, batch {args.batch}x{seq}, "
        f"{args.threads} threads, torch {torch.__version__}{', bf16 autocast' if args.autocast_bf16 else ''}")

    def mlm_step_loss(ids, labels):
        if not args.selected_rows:  # as Hugging Face: logits of every row, ignore_index -100
            return mlm_loss(model(ids), labels)
        h = model.features(model.hidden(ids))
        sel = labels.reshape(-1) != -100
        return torch.nn.functional.cross_entropy(model.fc_out(h.reshape(-1, h.shape[-1])[sel]),
                                                 labels.reshape(-1)[sel])

    times, utils, cpus, selected = [], [], [], 0
    for step in range(args.warmup + args.steps):
        if mlm:  # the text draws no special token; the masks are Java's (seed 1, this step, micro 0)
            V = cfg["vocab_size"]
            text = torch.randint(0, V - 3, (args.batch, seq), generator=gen)
            ids, labels = mlm_mask(text, [seq] * args.batch, [V - 3], V - 2, V - 1, V, 1, step)
            if step >= args.warmup:
                selected += (labels != -100).sum().item()
        else:
            tokens = torch.randint(0, cfg["vocab_size"], (args.batch, seq + 1), generator=gen)
            ids, targets = tokens[:, :-1], tokens[:, 1:]
        t0, c0 = time.perf_counter(), bench_env.cpu_seconds()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast_bf16):
            loss = mlm_step_loss(ids, labels) if mlm else loss_fn(model, ids, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        # CPU seconds per wall second per thread: well below 1 means another process
        # took the cores (or the step waited on page faults), i.e. a noisy sample
        cpu = bench_env.cpu_seconds() - c0
        util = cpu / (dt * args.threads)
        if step >= args.warmup:
            times.append(dt)
            utils.append(util)
            cpus.append(cpu)
        log(f"step {step:3d} {'warmup' if step < args.warmup else 'timed '} loss {loss.item():.4f} "
            f"{dt:.3f} s  {args.batch * seq / dt:,.0f} tok/s  cpu util {util:.2f}")

    med = statistics.median(times)
    result = {
        "impl": "pytorch",
        "preset": args.preset,
        "overrides": overrides,
        "batch": args.batch,
        "seq": seq,
        "threads": args.threads,
        "params": n_params,
        "steps": args.steps,
        "tokens_per_s": round(args.batch * seq / med, 1),
        "step_s_median": round(med, 4),
        "peak_rss_mib": bench_env.peak_rss_mib(),
        "objective": args.objective,
        "selected_rows": args.selected_rows,
        "precision": "bf16 autocast" if args.autocast_bf16 else "fp32",
        "malloc": "default" if args.system_malloc else "keep",
        "torch": torch.__version__,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "openblas_coretype": os.environ["OPENBLAS_CORETYPE"],
        "cpu_util_median": round(statistics.median(utils), 3),
        "cpu_s_median": round(statistics.median(cpus), 4),  # CPU seconds of a step, all threads
        "load_avg_1m": os.getloadavg()[0],  # > threads: something else competed for the CPU
    }
    if mlm:
        result["selected_fraction"] = round(selected / (args.steps * args.batch * seq), 4)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
