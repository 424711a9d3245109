"""
Independent PyTorch reference of the Lumenspark model family (Linformer-style
language models), used to generate test fixtures and speed baselines for the
Java implementation.

One file, nanoGPT-style: config helpers, the modules, the loss, a minimal
safetensors reader/writer (the Python package is not available here) and a
self-test:

    /usr/bin/python3 reference/lumenspark_ref.py --self-test

The architecture follows published lumenspark 0.1.1 (post-norm blocks,
RMSNorm with eps added to the RMS, low-rank FFN and query transform, one
shared key/value head compressed along the sequence by a learned N x k matrix)
and adds the options the Java side supports: causal attention, per-head keys
and values, separate value transform and projection, projections shared across
layers, a convolutional compressor and a full-attention baseline; and for
masked-language-model encoders, key padding (lengths), RoBERTa's dense head
(lm_head "dense"), the masked-LM loss and the masks Java draws (mlm_mask).
"""
import json
import math
import os
import struct
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")  # Debian OpenBLAS 0.3.21 misdetects the CPU
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------
# configuration

DEFAULTS = {
    "model_type": "lumenspark",
    "vocab_size": 50257,
    "embed_dim": 512,
    "depth": 6,
    "heads": 4,
    "seq_length": 512,
    "dropout": 0.1,
    "k": 128,
    "rank": 32,
    "attention": "linformer",        # linformer | conv_linformer | full
    "causal": False,
    "kv_heads": 1,                   # 1 (shared key/value head, as published) or heads
    "shared_kv": True,               # values are the keys (as published)
    "separate_proj": False,          # own sequence projection F (or conv) for values
    "share_proj_across_layers": False,
    "norm_eps": 1e-6,
    "objective": "causal_lm",        # causal_lm | masked_lm (what fc_out predicts; the model is the same)
    "lm_head": "linear",             # linear (fc_out alone) | dense (lm_head.dense, GELU, lm_head.layer_norm, fc_out)
    "mask_token_id": None,
    "pad_token_id": None,
}


def make_config(config=None, **overrides):
    """A full config dict: DEFAULTS < config (e.g. a parsed config.json) < overrides."""
    cfg = {**DEFAULTS, **(config or {}), **overrides}
    d, H = cfg["embed_dim"], cfg["heads"]
    assert cfg["attention"] in ("linformer", "conv_linformer", "full"), cfg["attention"]
    assert cfg["lm_head"] in ("linear", "dense"), cfg["lm_head"]
    assert d % H == 0 and d % 2 == 0, "embed_dim must be even and divisible by heads"
    if cfg["attention"] != "full":
        assert cfg["kv_heads"] in (1, H), "kv_heads must be 1 or heads"
        assert cfg["seq_length"] % cfg["k"] == 0, "seq_length must be divisible by k"
    return cfg


def preset(name):
    presets = {
        "lumenspark-v0.1": {},
        "lumenspark": {"causal": True},
        "transformer": {"attention": "full", "causal": True},
        "conv-linformer": {"attention": "conv_linformer", "causal": True},
        "tiny": {"causal": True, "embed_dim": 256, "depth": 4, "heads": 4,
                 "seq_length": 256, "k": 64, "rank": 32},
        "encoder": {"depth": 8, "heads": 8, "kv_heads": 8, "shared_kv": False, "separate_proj": True},
    }
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return make_config(presets[name], dropout=0.1)


def load_config(path):
    with open(path) as f:
        return make_config(json.load(f))

# ----------------------------------------------------------------------------
# building blocks


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # eps is added to the RMS, not inside the sqrt (as published lumenspark)
        rms = x.pow(2).mean(-1, keepdim=True).sqrt()
        return self.scale * x / (rms + self.eps)


class LowRankLinear(nn.Module):
    """y = V(U(x)): a rank-r factorisation of an in x out linear map, no bias."""

    def __init__(self, n_in, n_out, rank):
        super().__init__()
        self.U = nn.Linear(n_in, rank, bias=False)
        self.V = nn.Linear(rank, n_out, bias=False)

    def forward(self, x):
        return self.V(self.U(x))


def proj_matrix(rows, cols):
    return nn.Parameter(nn.init.xavier_uniform_(torch.empty(rows, cols)))


def split_heads(t, n_heads):
    """[B, L, n_heads*hd] -> [B, n_heads, L, hd]"""
    B, L, C = t.shape
    return t.view(B, L, n_heads, C // n_heads).transpose(1, 2)


class LinformerAttention(nn.Module):
    """
    Keys/values are compressed along the sequence to a few slots, each slot
    summarising a block of c = N // k positions: by a learned E [N, k]
    (key_proj) or by a strided Conv1d (key_conv, conv layers).

    Bidirectional: every query attends to all slots.
    Causal: a query at position i (block b = i // c) attends, in one softmax,
    to the slots of the complete earlier blocks j < b and to the raw keys of
    its own block up to i.  The E slots are cumulative (slot j sums positions
    0 .. (j+1)c-1 with the weights E[t, j]); conv slots cover block j only.
    Either way slot j never sees a position >= b*c, so nothing after i leaks.
    """

    def __init__(self, cfg, conv):
        super().__init__()
        d, H, r = cfg["embed_dim"], cfg["heads"], cfg["rank"]
        self.H, self.hd, self.kvh = H, d // H, cfg["kv_heads"]
        self.c = cfg["seq_length"] // cfg["k"]
        self.causal, self.conv = cfg["causal"], conv
        kvdim = self.kvh * self.hd
        self.query_transform = nn.Sequential(LowRankLinear(d, d // 2, r), nn.Linear(d // 2, d))
        self.key_transform = nn.Linear(d, kvdim, bias=False)
        if not cfg["shared_kv"]:
            self.value_transform = nn.Linear(d, kvdim, bias=False)
        # own compressor unless the E/F matrices live at model level (shared across layers)
        if conv:
            self.key_conv = nn.Conv1d(kvdim, kvdim, self.c, stride=self.c, bias=False)
            if cfg["separate_proj"]:
                self.value_conv = nn.Conv1d(kvdim, kvdim, self.c, stride=self.c, bias=False)
        elif not cfg["share_proj_across_layers"]:
            self.key_proj = proj_matrix(cfg["seq_length"], cfg["k"])
            if cfg["separate_proj"]:
                self.value_proj = proj_matrix(cfg["seq_length"], cfg["k"])
        self.attn_drop = nn.Dropout(cfg["dropout"])
        self.output_transform = nn.Linear(d, d)

    def compress(self, t, which, shared, keep=None):
        """[B, n, kvdim] -> [B, S, kvdim] slots; which = 'key' | 'value'.  keep [B, n]
        (bidirectional key padding): positions whose keys count; the others are zeroed first."""
        n = t.shape[1]
        if keep is not None:
            t = t * keep[:, :, None].to(t.dtype)
        if self.conv:
            conv = getattr(self, which + "_conv", self.key_conv)
            pad = -n % self.c  # zero-pad on the right to whole blocks
            return conv(F.pad(t.transpose(1, 2), (0, pad))).transpose(1, 2)
        # values reuse the key projection unless separate_proj gave them their own
        if shared:  # share_proj_across_layers: E (and F) live on the model
            E = shared.get(which, shared["key"])[:n]
        else:
            E = getattr(self, which + "_proj", self.key_proj)[:n]
        if self.causal:
            # slot j only sums positions t <= (j+1)c-1, i.e. blocks 0..j
            blk = torch.arange(n, device=t.device) // self.c
            E = E * (blk[:, None] <= torch.arange(E.shape[1], device=t.device)[None, :])
        return torch.einsum("nk,bnd->bkd", E, t)

    def forward(self, x, shared=None, lengths=None):
        """lengths [B] (bidirectional): real tokens per row, padding after them; padded keys are
        zeroed before the compression, and conv slots of padding alone are masked."""
        shared = shared or {}
        B, n, d = x.shape
        keep = None if lengths is None or self.causal else \
            torch.arange(n, device=x.device)[None, :] < lengths[:, None]   # [B, n]
        q = split_heads(self.query_transform(x), self.H)               # [B,H,n,hd]
        kx = self.key_transform(x)
        vx = self.value_transform(x) if hasattr(self, "value_transform") else kx
        ks = split_heads(self.compress(kx, "key", shared, keep), self.kvh)   # [B,kvh,S,hd]
        vs = split_heads(self.compress(vx, "value", shared, keep), self.kvh)
        scale = self.hd ** -0.5
        # with kvh == 1 the key/value head broadcasts over the H query heads
        s_slot = (q @ ks.transpose(-1, -2)) * scale                     # [B,H,n,S]
        if keep is not None and self.conv:  # slot j covers positions jc .. jc+c-1: padding alone if jc >= length
            slot_ok = torch.arange(s_slot.shape[-1], device=x.device)[None, :] * self.c < lengths[:, None]
            s_slot = s_slot.masked_fill(~slot_ok[:, None, None, :], float("-inf"))
        if not self.causal:
            p = self.attn_drop(s_slot.softmax(-1))
            y = p @ vs
        else:
            y = self.causal_mix(q, s_slot, split_heads(kx, self.kvh), split_heads(vx, self.kvh), vs, scale)
        return self.output_transform(y.transpose(1, 2).reshape(B, n, d))

    def causal_mix(self, q, s_slot, k, v, vs, scale):
        B, H, n, hd = q.shape
        c, S = self.c, s_slot.shape[-1]
        nb = -(-n // c)
        pad = nb * c - n
        pos = torch.arange(n, device=q.device)
        slot_ok = torch.arange(S, device=q.device)[None, :] < (pos // c)[:, None]    # [n,S]
        s_slot = s_slot.masked_fill(~slot_ok, float("-inf"))
        # local part, computed block by block: queries of block b vs raw keys of block b
        def blocks(t):
            return F.pad(t, (0, 0, 0, pad)).view(t.shape[0], t.shape[1], nb, c, hd)
        qb, kb, vb = blocks(q), blocks(k), blocks(v)
        s_loc = (qb @ kb.transpose(-1, -2)) * scale                                  # [B,H,nb,c,c]
        tril = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
        s_loc = s_loc.masked_fill(~tril, float("-inf")).reshape(B, H, nb * c, c)[:, :, :n]
        # one softmax over [visible slots | own-block prefix]; the prefix always holds i itself
        p = self.attn_drop(torch.cat([s_slot, s_loc], -1).softmax(-1))
        p_slot, p_loc = p.split([S, c], -1)
        p_loc = F.pad(p_loc, (0, 0, 0, pad)).view(B, H, nb, c, c)
        y_loc = (p_loc @ vb).reshape(B, H, nb * c, hd)[:, :, :n]
        return p_slot @ vs + y_loc


class FullAttention(nn.Module):
    """Standard multi-head softmax attention: the Transformer baseline."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["embed_dim"]
        self.H, self.causal = cfg["heads"], cfg["causal"]
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_drop = nn.Dropout(cfg["dropout"])
        self.output_transform = nn.Linear(d, d)

    def forward(self, x, shared=None, lengths=None):
        """lengths [B] (bidirectional): real tokens per row; padded keys are left out of the softmax."""
        B, n, d = x.shape
        q, k, v = (split_heads(m(x), self.H) for m in (self.query, self.key, self.value))
        s = (q @ k.transpose(-1, -2)) * (d // self.H) ** -0.5
        if self.causal:
            s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=x.device).tril(), float("-inf"))
        elif lengths is not None:
            keep = torch.arange(n, device=x.device)[None, :] < lengths[:, None]     # [B, n] keys
            s = s.masked_fill(~keep[:, None, None, :], float("-inf"))
        y = self.attn_drop(s.softmax(-1)) @ v
        return self.output_transform(y.transpose(1, 2).reshape(B, n, d))


class Lumenspark(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        cfg = self.config = make_config(config)
        V, d, N, depth = cfg["vocab_size"], cfg["embed_dim"], cfg["seq_length"], cfg["depth"]
        self.token_embedding = nn.Embedding(V, d)
        self.position_embedding = nn.Embedding(N, d)
        self.drop = nn.Dropout(cfg["dropout"])
        # conv_linformer: the lower half of the stack keeps E, the upper half uses convs
        conv_from = depth // 2 if cfg["attention"] == "conv_linformer" else depth
        if cfg["attention"] != "full" and cfg["share_proj_across_layers"] and conv_from > 0:
            self.shared_key_proj = proj_matrix(N, cfg["k"])
            if cfg["separate_proj"]:
                self.shared_value_proj = proj_matrix(N, cfg["k"])

        def attention(i):
            if cfg["attention"] == "full":
                return FullAttention(cfg)
            return LinformerAttention(cfg, conv=i >= conv_from)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "attn": attention(i),
            "norm1": RMSNorm(d, cfg["norm_eps"]),
            "ffn": nn.Sequential(LowRankLinear(d, d // 2, cfg["rank"]), nn.GELU(),
                                 LowRankLinear(d // 2, d, cfg["rank"]), nn.Dropout(cfg["dropout"])),
            "norm2": RMSNorm(d, cfg["norm_eps"]),
        }) for i in range(depth))
        if cfg["lm_head"] == "dense":  # RoBERTa's masked-LM head before the output layer
            self.lm_head = nn.ModuleDict({"dense": nn.Linear(d, d), "layer_norm": RMSNorm(d, cfg["norm_eps"])})
        if cfg["objective"] == "sequence_classification":  # GPT2ForSequenceClassification's head, no fc_out
            self.score = nn.Linear(d, len(cfg["id2label"]), bias=False)
        else:
            self.fc_out = nn.Linear(d, V)  # untied, no final norm (as published)

    def shared_projections(self):
        return {w: getattr(self, f"shared_{w}_proj") for w in ("key", "value")
                if hasattr(self, f"shared_{w}_proj")}

    def hidden(self, ids, lengths=None, attn_fn=None):
        """ids [B, n] -> the last block's output [B, n, d].  lengths [B]: real tokens per
        row (padding after them; bidirectional attention leaves padded keys out).
        attn_fn(attn, x, shared) may replace the attention modules (the self-test plugs
        in a naive implementation)."""
        n = ids.shape[1]
        assert n <= self.config["seq_length"], "sequence longer than seq_length"
        x = self.token_embedding(ids) + self.position_embedding(torch.arange(n, device=ids.device))
        x = self.drop(x)
        shared = self.shared_projections()
        for layer in self.layers:  # post-norm blocks
            a = layer["attn"](x, shared, lengths) if attn_fn is None else attn_fn(layer["attn"], x, shared)
            x = layer["norm1"](x + a)
            x = layer["norm2"](x + layer["ffn"](x))
        return x

    def features(self, h):
        """What fc_out reads: the hidden states, or the dense head's transform of them."""
        if not hasattr(self, "lm_head"):
            return h
        return self.lm_head["layer_norm"](F.gelu(self.lm_head["dense"](h)))

    def forward(self, ids, attn_fn=None, lengths=None):
        """ids [B, n] -> logits [B, n, V] (see hidden)."""
        return self.fc_out(self.features(self.hidden(ids, lengths, attn_fn)))


def pool(h, lengths, pooling):
    """A sequence classifier's pooling of the hidden states h [B, n, d] over each row's
    lengths[b] real tokens: last (the last real token, as GPT2ForSequenceClassification),
    first, or mean."""
    B, n, _ = h.shape
    if lengths is None:
        lengths = torch.full((B,), n, dtype=torch.long)
    if pooling == "last":
        return h[torch.arange(B), lengths - 1]
    if pooling == "first":
        return h[:, 0]
    assert pooling == "mean", pooling
    keep = (torch.arange(n)[None, :] < lengths[:, None]).to(h.dtype)
    return (h * keep[..., None]).sum(1) / lengths[:, None].to(h.dtype)


def classify(model, ids, lengths=None):
    """A sequence classifier's logits [B, num_labels] (rows padded at their end: lengths)."""
    return model.score(pool(model.hidden(ids, lengths), lengths, model.config["pooling"]))


def lm_loss(logits, targets):
    """Mean next-token cross-entropy; targets[b, t] is the token that follows position t."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())


def loss_fn(model, ids, targets):
    return lm_loss(model(ids), targets)


def mlm_loss(logits, labels):
    """Masked-LM loss as Hugging Face computes it: mean cross-entropy over the positions
    whose label is not -100 (the selected ones)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(), ignore_index=-100)

# ----------------------------------------------------------------------------
# masks: the same as Java's training.MlmMasking, draw for draw

MLM_SELECT, MLM_MASK, MLM_RANDOM = 0.15, 0.8, 0.5
MLM_EVAL_SEED = 0x4D4C4D5F4556414C
_MLM_SALT = 0x6D61736B6564
_U64 = (1 << 64) - 1


def splitmix(x):
    """SplitMix64 (Java's BatchSampler.mix): x + golden ratio, then the finalizer, mod 2^64."""
    z = (x + 0x9E3779B97F4A7C15) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return z ^ (z >> 31)


def mlm_mask(tokens, lengths, special_ids, mask_id, pad_id, vocab, seed, step, micro=0):
    """Hugging Face's DataCollatorForLanguageModeling masking (15 % selected; of those 80 %
    mask, 10 % random, 10 % kept), each draw a hash of (seed, step, micro, row, position):
    tokens [B][n] (lists or a tensor), lengths [B] -> (inputs, labels) [B, n] int64 tensors,
    labels -100 where nothing is predicted, padding (positions >= length) set to pad_id."""
    special = set(int(i) for i in special_ids) | {mask_id, pad_id}
    rows = [[int(t) for t in row] for row in tokens]
    inputs, labels = [], []
    for r, row in enumerate(rows):
        key = splitmix(splitmix(splitmix(splitmix((seed ^ _MLM_SALT) & _U64) ^ step) ^ micro) ^ r)
        ins, lab = [], []
        for t, tok in enumerate(row):
            if t >= int(lengths[r]):
                ins.append(pad_id)
                lab.append(-100)
                continue
            ins.append(tok)
            lab.append(-100)
            if tok in special:
                continue
            h = splitmix(key ^ t)

            def u(j):
                return (splitmix(h ^ j) >> 11) * 2.0 ** -53
            if u(1) >= MLM_SELECT:
                continue
            lab[-1] = tok
            if u(2) < MLM_MASK:
                ins[-1] = mask_id
            elif u(3) < MLM_RANDOM:
                ins[-1] = (splitmix(h ^ 4) * vocab) >> 64
        inputs.append(ins)
        labels.append(lab)
    return torch.tensor(inputs, dtype=torch.long), torch.tensor(labels, dtype=torch.long)

# ----------------------------------------------------------------------------
# safetensors, written and read by hand

_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def save_safetensors(path, tensors, metadata=None):
    """tensors: {name: torch tensor or numpy array}, stored in the given order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        raw = a.tobytes()
        header[name] = {"dtype": _NAMES[np.dtype(a.dtype.type)], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)  # pad so the data section starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    """-> ({name: torch tensor}, metadata dict)"""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(a.astype(_DTYPES[info["dtype"]]).reshape(info["shape"]))
    return out, meta


def load_model(folder):
    """A model from a folder holding config.json and model.safetensors."""
    model = Lumenspark(load_config(os.path.join(folder, "config.json")))
    state, _ = load_safetensors(os.path.join(folder, "model.safetensors"))
    model.load_state_dict(state)
    return model

# ----------------------------------------------------------------------------
# self-test


def randomize_(model, gen, std=0.3):
    """Non-default random weights so that every parameter influences the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if name.endswith("embedding.weight"):
                p.copy_(z)
            elif name.endswith(".scale"):
                p.copy_(1 + 0.1 * z)
            elif name.endswith(".bias"):
                p.copy_(0.1 * z)
            else:
                p.copy_(std * z)
    return model


def naive_attention(attn, x, shared):
    """The attention definitions evaluated literally, one query position at a time."""
    B, n, d = x.shape
    if isinstance(attn, FullAttention):
        H = attn.H
        hd = d // H
        q, k, v = attn.query(x), attn.key(x), attn.value(x)
        y = torch.zeros_like(x)
        for b in range(B):
            for h in range(H):
                sl = slice(h * hd, (h + 1) * hd)
                for i in range(n):
                    last = i if attn.causal else n - 1
                    s = torch.stack([q[b, i, sl] @ k[b, t, sl] for t in range(last + 1)]) / math.sqrt(hd)
                    p = s.softmax(0)
                    y[b, i, sl] = sum(p[t] * v[b, t, sl] for t in range(last + 1))
        return attn.output_transform(y)

    H, hd, kvh, c = attn.H, attn.hd, attn.kvh, attn.c
    q = attn.query_transform(x)
    kx = attn.key_transform(x)
    vx = attn.value_transform(x) if hasattr(attn, "value_transform") else kx

    def slot(t, b, j, which):
        """Slot j of batch row b, all kv channels."""
        if attn.conv:
            W = getattr(attn, which + "_conv", attn.key_conv).weight  # [out, in, c]
            return sum(W[:, :, r] @ t[b, j * c + r] for r in range(c) if j * c + r < n)
        E = shared.get(which, shared["key"]) if shared else getattr(attn, which + "_proj", attn.key_proj)
        last = min((j + 1) * c - 1, n - 1) if attn.causal else n - 1
        return sum(E[t_, j] * t[b, t_] for t_ in range(last + 1))

    n_slots = -(-n // c) if attn.conv else attn.key_proj.shape[1] if hasattr(attn, "key_proj") \
        else shared["key"].shape[1]
    y = torch.zeros_like(x)
    for b in range(B):
        K = [slot(kx, b, j, "key") for j in range(n_slots)]
        Vs = [slot(vx, b, j, "value") for j in range(n_slots)]
        for h in range(H):
            g = h if kvh == H else 0
            qs, ks = slice(h * hd, (h + 1) * hd), slice(g * hd, (g + 1) * hd)
            for i in range(n):
                blk = i // c
                keys, vals = [], []
                for j in (range(blk) if attn.causal else range(n_slots)):
                    keys.append(K[j][ks]); vals.append(Vs[j][ks])
                if attn.causal:
                    for t in range(blk * c, i + 1):
                        keys.append(kx[b, t, ks]); vals.append(vx[b, t, ks])
                p = (torch.stack(keys) @ q[b, i, qs] / math.sqrt(hd)).softmax(0)
                y[b, i, qs] = p @ torch.stack(vals)
    return attn.output_transform(y)


SMALL = dict(vocab_size=97, embed_dim=32, depth=2, heads=4, seq_length=16, k=4, rank=8, dropout=0.0)
OPTIONS = dict(kv_heads=4, shared_kv=False, separate_proj=True, share_proj_across_layers=True)


def small_configs():
    """Every attention variant at fixture size, both directions, both option sets."""
    out = {}
    for attention in ("linformer", "conv_linformer", "full"):
        for causal in (True, False):
            for opt_name, opts in (("", {}), ("+options", OPTIONS)):
                if attention == "full" and opts:
                    continue
                name = f"{attention}{'-causal' if causal else '-bidir'}{opt_name}"
                out[name] = make_config(SMALL, attention=attention, causal=causal, **opts)
    # other block sizes: c = 1 (one slot per position) and c = 8
    out["linformer-causal-c1"] = make_config(SMALL, causal=True, k=16)
    out["conv_linformer-causal-c8+options"] = make_config(SMALL, attention="conv_linformer", causal=True, k=2, **OPTIONS)
    out["linformer-bidir-c8"] = make_config(SMALL, causal=False, k=2)
    return out


def self_test():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    failures = []

    def check(ok, msg):
        print(("ok   " if ok else "FAIL ") + msg)
        if not ok:
            failures.append(msg)

    # 1. parameter counts of the presets
    for name in ("lumenspark-v0.1", "lumenspark", "transformer", "conv-linformer", "tiny"):
        count = sum(p.numel() for p in Lumenspark(preset(name)).parameters())
        if name == "lumenspark-v0.1":
            check(count == 55_375_953, f"{name}: {count:,} parameters (published: 55,375,953)")
        else:
            print(f"info {name}: {count:,} parameters")

    gen = torch.Generator().manual_seed(1234)
    for name, cfg in small_configs().items():
        model = randomize_(Lumenspark(cfg), gen).double().eval()
        V, N = cfg["vocab_size"], cfg["seq_length"]
        with torch.no_grad():
            # 2. vectorised attention == literal per-position definition
            for n in (N, 11, 13, 1):
                ids = torch.randint(0, V, (2, n), generator=gen)
                err = (model(ids) - model(ids, attn_fn=naive_attention)).abs().max().item()
                check(err < 1e-9, f"{name} n={n}: matches naive loop (max |diff| {err:.1e})")
            # 3. causality: outputs at <= p ignore tokens > p; bidirectional models do not
            ids = torch.randint(0, V, (2, N), generator=gen)
            base = model(ids)
            leaks, sensitive = 0, 0
            for p in range(N - 1):
                alt = ids.clone()
                alt[:, p + 1:] = (alt[:, p + 1:] + torch.randint(1, V, alt[:, p + 1:].shape, generator=gen)) % V
                out = model(alt)
                leaks += not torch.equal(out[:, :p + 1], base[:, :p + 1])
                sensitive += not torch.equal(out[:, p + 1:], base[:, p + 1:])
            if cfg["causal"]:
                check(leaks == 0 and sensitive == N - 1,
                      f"{name}: causal (bit-identical prefix for all {N - 1} cut points)")
            else:
                check(leaks == N - 1, f"{name}: bidirectional (earlier outputs see later tokens)")
        # 4. the loss is differentiable in every parameter (fixtures store every gradient)
        ids = torch.randint(0, V, (2, N), generator=gen)
        tgt = torch.randint(0, V, (2, N), generator=gen)
        model.zero_grad()
        loss_fn(model, ids, tgt).backward()
        dead = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        check(not dead, f"{name}: every parameter gets a gradient {dead if dead else ''}")

    # 4b. key padding: a padded batch gives each sequence's outputs alone, whatever the padding holds
    for name, cfg in small_configs().items():
        if cfg["causal"]:
            continue
        model = randomize_(Lumenspark(cfg), gen).double().eval()
        V, N = cfg["vocab_size"], cfg["seq_length"]
        lengths = torch.tensor([N, 11, 6, 1])
        ids = torch.randint(0, V, (4, N), generator=gen)
        with torch.no_grad():
            padded = model(ids, lengths=lengths)
            alone = max((padded[b, :L] - model(ids[b:b + 1, :L])[0]).abs().max().item()
                        for b, L in enumerate(lengths.tolist()))
            other = ids.clone()
            for b, L in enumerate(lengths.tolist()):
                other[b, L:] = (other[b, L:] + 1) % V
            changed = model(other, lengths=lengths)
            same = all(torch.equal(changed[b, :L], padded[b, :L]) for b, L in enumerate(lengths.tolist()))
        check(alone < 1e-9 and same, f"{name}: key padding (padded = alone, max |diff| {alone:.1e}; padding ignored)")

    # 4c. masks: selection rate and the 80/10/10 split, never a special token or padding
    toks = torch.randint(0, 97, (64, 256), generator=gen)
    toks[:, ::17] = 96  # an end-of-text now and then
    lengths = torch.randint(200, 257, (64,), generator=gen)
    ins, labs = mlm_mask(toks, lengths, [96], 94, 95, 97, seed=7, step=3)
    sel = labs != -100
    real = (torch.arange(256)[None, :] < lengths[:, None]) & (toks != 96)
    rate = sel.sum().item() / real.sum().item()
    masked = (ins[sel] == 94).float().mean().item()
    kept = (ins[sel] == toks[sel]).float().mean().item()
    check(abs(rate - 0.15) < 0.01 and abs(masked - 0.8) < 0.03 and 0.08 < kept < 0.13 and not (sel & ~real).any(),
          f"mlm_mask: {rate:.3f} selected, {masked:.3f} masked, {kept:.3f} kept, none special or padding")

    # 5. causality of the full-size causal presets (default init, float32, two cut points)
    for name in ("lumenspark", "transformer", "conv-linformer", "tiny"):
        cfg = preset(name)
        model = Lumenspark(cfg).eval()
        N = cfg["seq_length"]
        ids = torch.randint(0, cfg["vocab_size"], (1, N), generator=gen)
        with torch.no_grad():
            base = model(ids)
            ok = True
            for p in (N // 3 + 1, N - 2):
                alt = ids.clone()
                alt[:, p + 1:] = (alt[:, p + 1:] + 1) % cfg["vocab_size"]
                out = model(alt)
                ok &= torch.equal(out[:, :p + 1], base[:, :p + 1]) and not torch.equal(out[:, p + 1:], base[:, p + 1:])
        check(ok, f"preset {name}: causal at full length n={N}")

    # 6. safetensors round trip
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        t = {"a": torch.randn(3, 5), "b": torch.arange(7, dtype=torch.int32), "c": torch.zeros(0, 2)}
        save_safetensors(os.path.join(tmp, "x.safetensors"), t, {"k": "v"})
        back, meta = load_safetensors(os.path.join(tmp, "x.safetensors"))
        check(all(torch.equal(t[k], back[k]) for k in t) and meta == {"k": "v"}, "safetensors round trip")

    print(f"\n{'SELF-TEST FAILED: ' + str(len(failures)) + ' failure(s)' if failures else 'SELF-TEST PASSED'}")
    return not failures


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.exit(0 if self_test() else 1)
    print(__doc__)
