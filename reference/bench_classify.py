"""
PyTorch sequence-classification throughput, the yardstick for `lumenspark bench classify`.

    /usr/bin/python3 reference/bench_classify.py --model DIR --length 128 --batch 16 \
        --texts 64 --runs 3 --threads 1

Loads a classifier folder (config.json, model.safetensors) into the reference model
and classifies random texts of `length` token ids (seeded), each run once one text
at a time (batch 1) and once in batches of `batch`, in eval mode without gradients.
Prints one JSON line: {"impl":"pytorch","batch1_texts_per_s":...,"batched_texts_per_s":...,
"batch":B,"length":n,"peak_rss_mib":...,"threads":...}, the medians over the runs.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch = bench_env.prepare_torch(args.threads)
    from lumenspark_ref import Lumenspark, classify, load_config, load_safetensors

    cfg = load_config(os.path.join(args.model, "config.json"))
    model = Lumenspark(cfg).eval()
    model.load_state_dict(load_safetensors(os.path.join(args.model, "model.safetensors"))[0])
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, cfg["vocab_size"], (args.texts, args.length), generator=gen)
    lengths = torch.full((args.texts,), args.length, dtype=torch.long)

    def rate(batch):
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, args.texts, batch):
                classify(model, ids[i:i + batch], lengths[i:i + batch])
        return args.texts / (time.perf_counter() - start)

    rate(args.batch)  # warm-up
    one = [rate(1) for _ in range(args.runs)]
    many = [rate(args.batch) for _ in range(args.runs)]
    print(json.dumps({"impl": "pytorch", "batch1_texts_per_s": statistics.median(one),
                      "batched_texts_per_s": statistics.median(many), "batch": args.batch, "length": args.length,
                      "peak_rss_mib": round(bench_env.peak_rss_mib()), "threads": args.threads}))


if __name__ == "__main__":
    main()
