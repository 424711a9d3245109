"""
Writes a small model in the shape published lumenspark saved it to core/src/test/resources/published/, for
PublishedCheckpointTest and the command-line tests of PyTorch checkpoints:

    /usr/bin/python3 reference/make_published_checkpoints.py [--out DIR]

  config.json           as published lumenspark's train.py saved it (LinformerConfig through Hugging Face's
                        PretrainedConfig.to_dict): model_type "linformer", the keys vocab_size, embed_dim, depth,
                        heads, seq_length, dropout and k, no rank (fixed at 32 there), and the standard keys
                        transformers adds (architectures, torch_dtype, transformers_version, id2label, ...)
  model.safetensors     the weights, F32: the safetensors route the .bin files are compared with
  fp32.bin              torch.save(state_dict()), as train.py's save_pretrained wrote pytorch_model.bin
  fp16.bin, bf16.bin    the same state dict in float16 and bfloat16
  views.bin             the fp32 values as non-contiguous views and shared storages: every 1-D parameter a slice of
                        one flat storage, matrices stored transposed (strides (1, rows)), a key_proj that is a
                        column slice of a wider tensor (a storage offset and a row stride)
  sharded/              pytorch_model-0000{1,2}-of-00002.bin and pytorch_model.bin.index.json
  expected.safetensors  input_ids I32 [4] and the logits F32 [4, V] of the reference model at float64 from the fp32
                        weights (logits.fp32) and from the weights rounded to float16 and bfloat16 (logits.fp16,
                        logits.bf16)

The parameter names are checked against the module tree of published lumenspark 0.1.1-0.1.3
(github.com/anto18671/lumenspark, lumenspark/lumenspark.py: LumensparkModel with token_embedding,
position_embedding, layers[i] = {attn: query_transform (LowRankLinear, Linear), key_transform, key_proj,
output_transform; norm1; ffn (LowRankLinear, GELU, LowRankLinear, Dropout); norm2}, fc_out), rebuilt below as a
skeleton without its code: its state dict has no prefix and no buffers. The vocabulary is 257 ids, so a byte-level
tokenizer without merges (256 bytes and <|endoftext|>) fits; the tests write one. Deterministic (fixed seeds; torch
writes no timestamps). About 200 KB in all.
"""
import argparse
import collections
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lumenspark_ref import Lumenspark, make_config, randomize_, save_safetensors  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "core", "src", "test", "resources", "published")

# what LinformerConfig (train.py) holds; rank is not among them (LowRankLinear's rank is 32 in the code)
SHAPE = {"vocab_size": 257, "embed_dim": 8, "depth": 2, "heads": 2, "seq_length": 8, "dropout": 0.1, "k": 4}
# what PretrainedConfig.to_dict (transformers 4.45) adds around them
HF_KEYS = {
    "return_dict": True, "output_hidden_states": False, "output_attentions": False, "torchscript": False,
    "torch_dtype": "float32", "use_bfloat16": False, "tf_legacy_loss": False, "pruned_heads": {},
    "tie_word_embeddings": True, "chunk_size_feed_forward": 0, "is_encoder_decoder": False, "is_decoder": False,
    "cross_attention_hidden_size": None, "add_cross_attention": False, "tie_encoder_decoder": False,
    "max_length": 20, "min_length": 0, "do_sample": False, "early_stopping": False, "num_beams": 1,
    "num_beam_groups": 1, "diversity_penalty": 0.0, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
    "typical_p": 1.0, "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "num_return_sequences": 1, "output_scores": False,
    "return_dict_in_generate": False, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "remove_invalid_values": False, "exponential_decay_length_penalty": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "architectures": ["LinformerModel"], "finetuning_task": None,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "tokenizer_class": None, "prefix": None, "bos_token_id": None, "pad_token_id": None, "eos_token_id": None,
    "sep_token_id": None, "decoder_start_token_id": None, "task_specific_params": None, "problem_type": None,
    "_name_or_path": "", "transformers_version": "4.45.1", "model_type": "linformer",
}
PUBLISHED_RANK = 32
IDS = [256, 72, 105, 33]  # <|endoftext|>, then the bytes of "Hi!"


class _LowRank(nn.Module):
    def __init__(self, n_in, n_out, rank):
        super().__init__()
        self.U, self.V = nn.Linear(n_in, rank, bias=False), nn.Linear(rank, n_out, bias=False)


class _Attention(nn.Module):
    def __init__(self, d, heads, n, k):
        super().__init__()
        self.query_transform = nn.Sequential(_LowRank(d, d // 2, PUBLISHED_RANK), nn.Linear(d // 2, d))
        self.key_transform = nn.Linear(d, d // heads, bias=False)  # one key/value head, values are the keys
        self.key_proj = nn.Parameter(torch.zeros(n, k))
        self.output_transform = nn.Linear(d, d)


class _Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))


class PublishedSkeleton(nn.Module):
    """The module tree (names and shapes only) of published lumenspark 0.1.1's LumensparkModel."""

    def __init__(self, c):
        super().__init__()
        d = c["embed_dim"]
        self.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.position_embedding = nn.Embedding(c["seq_length"], d)
        self.layers = nn.ModuleList(nn.ModuleDict({
            "attn": _Attention(d, c["heads"], c["seq_length"], c["k"]),
            "norm1": _Norm(d),
            "ffn": nn.Sequential(_LowRank(d, d // 2, PUBLISHED_RANK), nn.GELU(), _LowRank(d // 2, d, PUBLISHED_RANK),
                                 nn.Dropout(c["dropout"])),
            "norm2": _Norm(d),
        }) for _ in range(c["depth"]))
        self.fc_out = nn.Linear(d, c["vocab_size"])
        self.dropout = nn.Dropout(c["dropout"])


def logits64(cfg, state):
    """The reference model's logits of IDS at float64 from these weights (any float dtype, widened exactly)."""
    model = Lumenspark(cfg).double().eval()
    model.load_state_dict({k: v.double() for k, v in state.items()})
    with torch.no_grad():
        return model(torch.tensor([IDS]))[0].float()


def views(state):
    """The same values, as views: 1-D tensors slices of one storage, matrices transposed, key_proj a column slice."""
    flat_names = [n for n, t in state.items() if t.dim() == 1]
    flat = torch.cat([state[n] for n in flat_names])
    out, at = collections.OrderedDict(), {}
    offset = 0
    for n in flat_names:
        at[n] = flat[offset:offset + state[n].numel()]
        offset += state[n].numel()
    for i, (name, t) in enumerate(state.items()):
        if t.dim() == 1:
            out[name] = at[name]
        elif name.endswith("key_proj"):
            wide = torch.zeros(t.shape[0], t.shape[1] + 3)
            wide[:, 2:2 + t.shape[1]] = t
            out[name] = wide[:, 2:2 + t.shape[1]]  # storage offset 2, row stride k + 3
        elif i % 2 == 0:
            out[name] = t.t().contiguous().t()  # strides (1, rows)
        else:
            out[name] = t.clone()
    for name, t in out.items():
        assert torch.equal(t, state[name]), name
    assert sum(not t.is_contiguous() for t in out.values()) >= 5
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    out = ap.parse_args().out
    torch.set_num_threads(1)
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)

    cfg = make_config(SHAPE)  # the reference's defaults for the rest: rank 32, bidirectional, as published
    torch.manual_seed(0)
    model = randomize_(Lumenspark(cfg), torch.Generator().manual_seed(21)).eval()
    state = collections.OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    skeleton = PublishedSkeleton(SHAPE).state_dict()
    assert list(skeleton) == list(state), (set(skeleton) ^ set(state))
    assert all(skeleton[k].shape == state[k].shape for k in state)

    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({**HF_KEYS, **SHAPE}, f, indent=2)
        f.write("\n")
    save_safetensors(os.path.join(out, "model.safetensors"), state, {"format": "pt"})
    torch.save(state, os.path.join(out, "fp32.bin"))
    rounded = {}
    for name, dtype in [("fp16", torch.float16), ("bf16", torch.bfloat16)]:
        rounded[name] = collections.OrderedDict((k, v.to(dtype)) for k, v in state.items())
        torch.save(rounded[name], os.path.join(out, name + ".bin"))
    torch.save(views(state), os.path.join(out, "views.bin"))

    names = list(state)
    half = names.index("layers.1.attn.query_transform.0.U.weight")
    weight_map, total = {}, 0
    for i, part in enumerate([names[:half], names[half:]]):
        file = "pytorch_model-%05d-of-00002.bin" % (i + 1)
        torch.save(collections.OrderedDict((k, state[k]) for k in part), os.path.join(out, "sharded", file))
        for k in part:
            weight_map[k] = file
            total += state[k].numel() * 4
    with open(os.path.join(out, "sharded", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")

    expected = collections.OrderedDict(input_ids=torch.tensor(IDS, dtype=torch.int32))
    expected["logits.fp32"] = logits64(cfg, state)
    for name, sd in rounded.items():
        expected["logits." + name] = logits64(cfg, sd)
    save_safetensors(os.path.join(out, "expected.safetensors"), expected, {"generator": os.path.basename(__file__)})

    # what torch makes of the files it wrote is what they should hold
    for name in ["fp32", "views"]:
        loaded = torch.load(os.path.join(out, name + ".bin"))
        assert all(torch.equal(loaded[k], state[k]) for k in state), name
    total_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print("%d parameters; fixtures total %d bytes in %s" % (sum(t.numel() for t in state.values()), total_bytes, out))


if __name__ == "__main__":
    main()
