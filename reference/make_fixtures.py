"""
Regenerates every fixture under core/src/test/resources/fixtures/ :

    /usr/bin/python3 reference/make_fixtures.py [--out DIR] [--check]

Each fixture folder holds
  config.json        every config key, written explicitly
  model.safetensors  every parameter, F32, PyTorch layout ([out, in], conv [out, in, kernel])
  io.safetensors     input_ids I32 [B,n], targets I32 [B,n], logits F32 [B,n,V], loss F32 [1],
                     grad.<param> F32 = d(mean cross-entropy)/d(param)

The sequence-classification fixtures (cls-*, rows padded to n, num_labels 3) hold
  tokens I32 [B,n] (padding: id 96), lengths I32 [B], labels I32 [B], logits F32 [B,3],
  loss F32 [1] (mean cross-entropy over the rows) and grad.<param>; pooling last for the
  causal ones, mean and first for the bidirectional ones.

The masked-LM fixtures (mlm-*, bidirectional, rows padded to n) hold instead of targets
  tokens I32 [B,n] (the text, padding = pad id), lengths I32 [B], mask_key I32 [3]
  (seed, step, micro of mlm_mask, which Java's MlmMasking must reproduce), input_ids
  I32 [B,n] (masked), labels I32 [B,n] (-100: no loss), and the loss is the mean over
  the labelled positions (Hugging Face's masked-LM loss).

Weights are random (not the init defaults) so every parameter matters.  They
are rounded to float32 and stored as such; logits, loss and gradients are then
computed in float64 from exactly those float32 weights and rounded once, so
the stored values are the float32-rounded exact answer.  Dropout is 0.
--check reloads every fixture and recomputes it from the stored files.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep reference/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lumenspark_ref import (OPTIONS, SMALL, Lumenspark, classify, load_safetensors, loss_fn,  # noqa: E402
                            make_config, mlm_loss, mlm_mask, randomize_, save_safetensors)
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "core", "src", "test", "resources", "fixtures")

# name: (config overrides on SMALL, weight seed, batch, length)
# fixtures that share a seed and config share their weights (v01 / v01-short, causal / causal-short)
FIXTURES = {
    "v01":           (dict(causal=False), 1, 2, 16),
    "v01-short":     (dict(causal=False), 1, 2, 11),
    "causal":        (dict(causal=True), 2, 2, 16),
    "causal-short":  (dict(causal=True), 2, 2, 11),
    "transformer":   (dict(attention="full", causal=True), 3, 2, 16),
    "conv":          (dict(attention="conv_linformer", causal=True), 4, 2, 16),
    "conv-bidir":    (dict(attention="conv_linformer", causal=False), 5, 2, 13),
    "options":       (dict(causal=True, **OPTIONS), 6, 2, 16),
    "options-bidir": (dict(causal=False, **OPTIONS), 7, 2, 16),
}

# masked-LM fixtures: every bidirectional variant, rows padded (lengths), the dense head once
MLM = dict(causal=False, objective="masked_lm", mask_token_id=95, pad_token_id=96)  # end of text: 94
MLM_LENGTHS = [16, 15, 13, 11, 8, 5]
MLM_FIXTURES = {
    "mlm-v01":     (dict(MLM), 11),
    "mlm-full":    (dict(MLM, attention="full"), 12),
    "mlm-conv":    (dict(MLM, attention="conv_linformer"), 13),
    "mlm-options": (dict(MLM, **OPTIONS), 14),
    "mlm-dense":   (dict(MLM, lm_head="dense"), 18),
}


# sequence-classification fixtures: pooling over padded rows, causal and bidirectional
CLS = dict(objective="sequence_classification", id2label={"0": "a", "1": "b", "2": "c"},
           label2id={"a": 0, "b": 1, "c": 2}, num_labels=3, problem_type="single_label_classification")
CLS_LENGTHS = [16, 12, 7, 3]
CLS_FIXTURES = {
    "cls-causal":      (dict(CLS, causal=True, pooling="last"), 21),
    "cls-transformer": (dict(CLS, attention="full", causal=True, pooling="last"), 22),
    "cls-mean":        (dict(CLS, causal=False, pooling="mean"), 23),
    "cls-first":       (dict(CLS, causal=False, pooling="first", **OPTIONS), 24),
    "cls-conv-mean":   (dict(CLS, attention="conv_linformer", causal=False, pooling="mean"), 25),
}


def build(overrides, seed):
    cfg = make_config(SMALL, **overrides)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    return cfg, randomize_(Lumenspark(cfg), gen).eval()  # float32 weights


def compute(model32, ids, targets):
    """logits, loss and gradients in float64 from the float32 weights."""
    model = Lumenspark(model32.config).double().eval()
    model.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})
    logits = model(ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())
    loss.backward()
    grads = {k: p.grad.float() for k, p in model.named_parameters()}
    return logits.detach().float(), loss.detach().float().reshape(1), grads


def compute_mlm(model32, ids, lengths, labels):
    """Masked-LM logits, loss and gradients in float64 from the float32 weights."""
    model = Lumenspark(model32.config).double().eval()
    model.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})
    logits = model(ids, lengths=lengths)
    loss = mlm_loss(logits, labels)
    loss.backward()
    grads = {k: p.grad.float() for k, p in model.named_parameters()}
    return logits.detach().float(), loss.detach().float().reshape(1), grads


def compute_cls(model32, ids, lengths, labels):
    """Classifier logits, mean cross-entropy and gradients in float64 from the float32 weights."""
    model = Lumenspark(model32.config).double().eval()
    model.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})
    logits = classify(model, ids, lengths)
    loss = torch.nn.functional.cross_entropy(logits, labels.long())
    loss.backward()
    grads = {k: p.grad.float() for k, p in model.named_parameters()}
    return logits.detach().float(), loss.detach().float().reshape(1), grads


def cls_inputs(cfg, seed):
    gen = torch.Generator().manual_seed(1000 * seed)
    B, n = len(CLS_LENGTHS), cfg["seq_length"]
    tokens = torch.randint(0, 94, (B, n), generator=gen)
    for b, L in enumerate(CLS_LENGTHS):
        tokens[b, L:] = 96
    labels = torch.randint(0, 3, (B,), generator=gen)
    return tokens, torch.tensor(CLS_LENGTHS), labels


def make_cls(name, out_dir):
    overrides, seed = CLS_FIXTURES[name]
    cfg, model = build(overrides, seed)
    tokens, lengths, labels = cls_inputs(cfg, seed)
    logits, loss, grads = compute_cls(model, tokens, lengths, labels)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    meta = {"format": "pt", "fixture": name, "generator": "reference/make_fixtures.py"}
    save_safetensors(os.path.join(folder, "model.safetensors"), model.state_dict(), meta)
    io = {"tokens": tokens.int(), "lengths": lengths.int(), "labels": labels.int(), "logits": logits, "loss": loss}
    io.update({"grad." + k: g for k, g in grads.items()})
    save_safetensors(os.path.join(folder, "io.safetensors"), io, meta)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name:15s} {cfg['attention']:14s} causal={str(cfg['causal']):5s} pooling={cfg['pooling']:5s} "
          f"lengths={CLS_LENGTHS} loss={loss.item():.6f} {size / 1024:.0f} KiB")
    return size


def check_cls(name, out_dir):
    folder = os.path.join(out_dir, name)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = make_config(json.load(f))
    model = Lumenspark(cfg)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors"))[0])
    io, _ = load_safetensors(os.path.join(folder, "io.safetensors"))
    logits, loss, grads = compute_cls(model, io["tokens"].long(), io["lengths"].long(), io["labels"])
    ok = torch.equal(logits, io["logits"]) and torch.equal(loss, io["loss"]) and \
        all(torch.equal(g, io["grad." + k]) for k, g in grads.items())
    print(f"check {name:15s} {'ok' if ok else 'MISMATCH'}")
    return ok


def make_mlm(name, out_dir):
    overrides, seed = MLM_FIXTURES[name]
    cfg, model = build(overrides, seed)
    V, n, B = cfg["vocab_size"], cfg["seq_length"], len(MLM_LENGTHS)
    gen = torch.Generator().manual_seed(1000 * seed)
    tokens = torch.randint(0, 94, (B, n), generator=gen)
    tokens[:, 5] = 94  # an end of text in every row: never masked
    lengths = torch.tensor(MLM_LENGTHS)
    for b, L in enumerate(MLM_LENGTHS):
        tokens[b, L:] = cfg["pad_token_id"]
    key = [seed, 3, 1]  # seed, step, micro
    ids, labels = mlm_mask(tokens, lengths, [94], cfg["mask_token_id"], cfg["pad_token_id"], V, *key)
    logits, loss, grads = compute_mlm(model, ids, lengths, labels)

    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    meta = {"format": "pt", "fixture": name, "generator": "reference/make_fixtures.py"}
    save_safetensors(os.path.join(folder, "model.safetensors"), model.state_dict(), meta)
    io = {"tokens": tokens.int(), "lengths": lengths.int(), "mask_key": torch.tensor(key, dtype=torch.int32),
          "input_ids": ids.int(), "labels": labels.int(), "logits": logits, "loss": loss}
    io.update({"grad." + k: g for k, g in grads.items()})
    save_safetensors(os.path.join(folder, "io.safetensors"), io, meta)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name:14s} {cfg['attention']:14s} lm_head={cfg['lm_head']:6s} B={B} n={n} lengths={MLM_LENGTHS} "
          f"selected={(labels != -100).sum().item()} loss={loss.item():.6f} {size / 1024:.0f} KiB")
    return size


def check_mlm(name, out_dir):
    folder = os.path.join(out_dir, name)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = make_config(json.load(f))
    model = Lumenspark(cfg)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors"))[0])
    io, _ = load_safetensors(os.path.join(folder, "io.safetensors"))
    ids, labels = mlm_mask(io["tokens"], io["lengths"], [94], cfg["mask_token_id"], cfg["pad_token_id"],
                           cfg["vocab_size"], *io["mask_key"].tolist())
    logits, loss, grads = compute_mlm(model, ids, io["lengths"].long(), labels)
    ok = torch.equal(ids.int(), io["input_ids"]) and torch.equal(labels.int(), io["labels"]) and \
        torch.equal(logits, io["logits"]) and torch.equal(loss, io["loss"]) and \
        all(torch.equal(g, io["grad." + k]) for k, g in grads.items())
    print(f"check {name:14s} {'ok' if ok else 'MISMATCH'}")
    return ok


def make(name, out_dir):
    overrides, seed, B, n = FIXTURES[name]
    cfg, model = build(overrides, seed)
    # token stream of n+1 per row: targets are the inputs shifted by one (seed differs per length)
    gen = torch.Generator().manual_seed(1000 * seed + n)
    seq = torch.randint(0, cfg["vocab_size"], (B, n + 1), generator=gen)
    ids, targets = seq[:, :-1].int(), seq[:, 1:].int()
    logits, loss, grads = compute(model, ids.long(), targets)

    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    meta = {"format": "pt", "fixture": name, "generator": "reference/make_fixtures.py"}
    save_safetensors(os.path.join(folder, "model.safetensors"), model.state_dict(), meta)
    io = {"input_ids": ids, "targets": targets, "logits": logits, "loss": loss}
    io.update({"grad." + k: g for k, g in grads.items()})
    save_safetensors(os.path.join(folder, "io.safetensors"), io, meta)

    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name:14s} {cfg['attention']:14s} causal={str(cfg['causal']):5s} B={B} n={n:2d} "
          f"params={n_params:6d} loss={loss.item():.6f} |grad|max={max(g.abs().max().item() for g in grads.values()):.3f} "
          f"{size / 1024:.0f} KiB")
    return size


def check(name, out_dir):
    """Recompute a stored fixture from its files alone (config.json + model + inputs)."""
    folder = os.path.join(out_dir, name)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = make_config(json.load(f))
    model = Lumenspark(cfg)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors"))[0])
    io, _ = load_safetensors(os.path.join(folder, "io.safetensors"))
    logits, loss, grads = compute(model, io["input_ids"].long(), io["targets"])
    ok = torch.equal(logits, io["logits"]) and torch.equal(loss, io["loss"]) and \
        all(torch.equal(g, io["grad." + k]) for k, g in grads.items()) and \
        set(io) == {"input_ids", "targets", "logits", "loss"} | {"grad." + k for k in grads}
    # float32 forward as a sanity check of the tolerance the Java side can expect
    with torch.no_grad():
        err32 = (model(io["input_ids"].long()) - io["logits"]).abs().max().item()
    loss32 = loss_fn(model, io["input_ids"].long(), io["targets"]).item()
    print(f"check {name:14s} {'ok' if ok else 'MISMATCH'}  float32 forward: max|dlogit| {err32:.1e}, "
          f"dloss {abs(loss32 - io['loss'].item()):.1e}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="verify the stored fixtures instead of writing")
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    if args.check:
        sys.exit(0 if all([check(name, args.out) for name in FIXTURES]
                          + [check_mlm(name, args.out) for name in MLM_FIXTURES]
                          + [check_cls(name, args.out) for name in CLS_FIXTURES]) else 1)
    total = sum(make(name, args.out) for name in FIXTURES) + sum(make_mlm(name, args.out) for name in MLM_FIXTURES) \
        + sum(make_cls(name, args.out) for name in CLS_FIXTURES)
    print(f"{len(FIXTURES) + len(MLM_FIXTURES) + len(CLS_FIXTURES)} fixtures, {total / 1024:.0f} KiB in {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
