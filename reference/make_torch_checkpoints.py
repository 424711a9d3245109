"""
Writes the PyTorch checkpoint fixtures of TorchCheckpointTest to core/src/test/resources/torch/ :

    /usr/bin/python3 reference/make_torch_checkpoints.py [--out DIR]

Readable checkpoints (written by torch.save, so they are what PyTorch itself produces):
  fp32.bin, fp16.bin, bf16.bin  a small OrderedDict state dict (with a Parameter, a scalar, an empty tensor and
                                the _metadata attribute nn.Module.state_dict() sets) in one float dtype
  dtypes.bin                    one tensor per other storage type: F64, I64, I32, I16, I8, U8, BOOL
  views.bin                     non-contiguous views (transposed, a slice with a storage offset, a column, a
                                stride-0 expand), a contiguous row at an offset, and shared storages: two names for
                                one tensor (tied weights) and two different views of one storage
  proto4.bin                    fp32.bin's dict saved with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, ...)
  nested.bin                    {"epoch", "lr", "note", "state_dict": <plain dict>}, as training scripts save
  deflated.bin                  fp32.bin re-zipped with every entry DEFLATED
  sharded/                      pytorch_model-0000{1,2}-of-00002.bin and pytorch_model.bin.index.json
  expected.safetensors          every tensor above, contiguous, named "<file stem>/<tensor name>"
                                ("sharded/<name>" for the sharded pair)

Hostile files, each of which must be refused without running or writing anything:
  hostile-os-system.bin         a state dict whose second value is GLOBAL os.system + REDUCE ("touch <marker>")
  hostile-eval.bin              a value whose __reduce__ is builtins.eval (protocol 4, STACK_GLOBAL)
  hostile-huge-storage.bin      a storage declaring 2^40 float elements over a 16-byte data entry
  hostile-truncated.bin         fp32.bin cut short (no end-of-central-directory record)
  hostile-zip-slip.bin          a valid checkpoint plus an entry named "archive/../../lumenspark-zip-slip.txt"
  hostile-deep-lists.bin        200000 nested lists (data.pkl deflated)
The marker files the payloads would create are named in MARKERS; the test checks that they do not appear.

Deterministic: fixed seeds, and zip timestamps do not depend on the clock (torch writes none; zipfile gets a fixed
date_time).
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")  # Debian's OpenBLAS 0.3.21 misdetects this CPU
sys.dont_write_bytecode = True
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "core", "src", "test", "resources", "torch")
MARKERS = ["lumenspark-pickle-ran", "lumenspark-zip-slip.txt"]
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

ST_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}


def raw_bytes(t):
    """A tensor's values, contiguous, little-endian (bf16 through an int16 view: numpy has no bfloat16)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = raw_bytes(t)
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def state_dict(dtype, seed):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    sd["embed.weight"] = torch.randn(5, 4, generator=g).to(dtype)
    sd["layer.0.weight"] = torch.randn(3, 4, generator=g).to(dtype)
    sd["layer.0.bias"] = torch.nn.Parameter(torch.randn(3, generator=g).to(dtype), requires_grad=False)
    sd["norm.scale"] = torch.tensor(1.5, dtype=dtype)  # a scalar: shape ()
    sd["empty"] = torch.zeros(0, 4, dtype=dtype)
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("layer.0", {"version": 1})])
    return sd


def dtypes_dict():
    g = torch.Generator().manual_seed(7)
    return collections.OrderedDict([
        ("f64", torch.randn(2, 3, generator=g, dtype=torch.float64)),
        ("i64", torch.tensor([0, -1, 2**40, -(2**62)], dtype=torch.int64)),
        ("i32", torch.tensor([[7, -8], [2**31 - 1, -(2**31)]], dtype=torch.int32)),
        ("i16", torch.tensor([1, -2, 32767], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 0, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
        ("mask", torch.tensor([True, False, True, True])),
    ])


def views_dict():
    g = torch.Generator().manual_seed(11)
    a = torch.randn(4, 6, generator=g)
    emb = torch.randn(3, 2, generator=g)
    vec = torch.randn(10, generator=g)
    sd = collections.OrderedDict()
    sd["a"] = a
    sd["a.t"] = a.t()                        # transposed: strides (1, 6)
    sd["a.slice"] = a[1:3, 2:5]              # storage offset 8, strides (6, 1)
    sd["a.row"] = a[2]                       # contiguous at storage offset 12
    sd["a.col"] = a[:, 4]                    # offset 4, stride 6
    sd["a.every_other"] = a[::2, ::3]        # strides (12, 3)
    sd["bias.expand"] = vec[:3].expand(2, 3)  # stride 0
    sd["tok.weight"] = emb                   # tied: the same tensor under two names
    sd["head.weight"] = emb
    sd["vec.head"] = vec[:4]                 # two views of one storage
    sd["vec.tail"] = vec[6:]
    return sd


def nested_dict():
    g = torch.Generator().manual_seed(13)
    return {"epoch": 3, "lr": 0.125, "note": "trained", "state_dict": {
        "w": torch.randn(2, 2, generator=g), "steps": 1000, "b": torch.randn(2, generator=g)}}


def torch_save(obj, path, **kw):
    torch.save(obj, path, **kw)
    assert zipfile.is_zipfile(path), path


def rezip(src, dst, compression):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, FIXED_TIME)
            out.compress_type = compression
            zout.writestr(out, zin.read(info.filename))


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    """entries: [(name, bytes)], in this order."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = compression
            z.writestr(info, data)


def pickled(obj, protocol=2):
    """torch's pickling (persistent ids for storages) of obj, without the zip."""
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    return entries  # names start with "archive/"


class OsSystem:
    def __reduce__(self):
        return os.system, ("touch " + MARKERS[0],)


class Eval:
    def __reduce__(self):
        return eval, ("__import__('os').system('touch %s')" % MARKERS[0],)


class FakeStorage:
    def __init__(self, numel):
        self.numel = numel


class FakeTensor:
    """Pickles like a float tensor of 4 elements over a storage that declares storage.numel elements."""

    def __init__(self, storage):
        self.storage = storage

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (4,), (1,), False, collections.OrderedDict())


class FakeStoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return "storage", torch.FloatStorage, "0", "cpu", obj.numel
        return None


def hostile(out, fp32_bin):
    g = torch.Generator().manual_seed(17)
    w = torch.randn(2, 2, generator=g)

    # GLOBAL os system: torch pickles os.system as posix.system on Linux; name it as the attack usually does
    entries = pickled(collections.OrderedDict([("w", w), ("evil", OsSystem())]))
    entries = [(n, d.replace(b"cposix\nsystem\n", b"cos\nsystem\n") if n.endswith("data.pkl") else d)
               for n, d in entries]
    assert any(b"cos\nsystem\n" in d for _, d in entries)
    write_zip(os.path.join(out, "hostile-os-system.bin"), entries)

    write_zip(os.path.join(out, "hostile-eval.bin"),
              pickled(collections.OrderedDict([("w", w), ("evil", Eval())]), protocol=4))

    buf = io.BytesIO()
    FakeStoragePickler(buf, protocol=2).dump(collections.OrderedDict([("w", FakeTensor(FakeStorage(1 << 40)))]))
    write_zip(os.path.join(out, "hostile-huge-storage.bin"),
              [("archive/data.pkl", buf.getvalue()), ("archive/data/0", struct.pack("<4f", 1, 2, 3, 4)),
               ("archive/version", b"3\n")])

    with open(fp32_bin, "rb") as f:
        data = f.read()
    with open(os.path.join(out, "hostile-truncated.bin"), "wb") as f:
        f.write(data[:len(data) * 2 // 3])

    entries = pickled(collections.OrderedDict([("w", w)]))
    entries.append(("archive/../../" + MARKERS[1], b"written by a zip slip\n"))
    write_zip(os.path.join(out, "hostile-zip-slip.bin"), entries)

    depth = 200_000
    write_zip(os.path.join(out, "hostile-deep-lists.bin"),
              [("archive/data.pkl", b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."),
               ("archive/version", b"3\n")], zipfile.ZIP_DEFLATED)  # 400 KB of pickle, 1 KB deflated


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    out = args.out
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)
    expected = collections.OrderedDict()

    def save(stem, sd, flat=None, **kw):
        torch_save(sd, os.path.join(out, stem + ".bin"), **kw)
        for name, t in (flat if flat is not None else sd).items():
            expected[stem + "/" + name] = t

    for stem, dtype, seed in [("fp32", torch.float32, 1), ("fp16", torch.float16, 2), ("bf16", torch.bfloat16, 3)]:
        save(stem, state_dict(dtype, seed))
    save("dtypes", dtypes_dict())
    save("views", views_dict())
    save("proto4", state_dict(torch.float32, 1), pickle_protocol=4)
    nested = nested_dict()
    save("nested", nested, flat={k: v for k, v in nested["state_dict"].items() if torch.is_tensor(v)})
    rezip(os.path.join(out, "fp32.bin"), os.path.join(out, "deflated.bin"), zipfile.ZIP_DEFLATED)
    for name, t in state_dict(torch.float32, 1).items():
        expected["deflated/" + name] = t

    g = torch.Generator().manual_seed(5)
    shards = [collections.OrderedDict([("embed.weight", torch.randn(4, 3, generator=g)),
                                       ("layer.0.weight", torch.randn(3, 3, generator=g))]),
              collections.OrderedDict([("layer.0.bias", torch.randn(3, generator=g)),
                                       ("head.weight", torch.randn(2, 3, generator=g))])]
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(shards))
        torch_save(shard, os.path.join(out, "sharded", file))
        for name, t in shard.items():
            weight_map[name] = file
            total += t.numel() * t.element_size()
            expected["sharded/" + name] = t
    with open(os.path.join(out, "sharded", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")

    save_safetensors(os.path.join(out, "expected.safetensors"), expected)
    hostile(out, os.path.join(out, "fp32.bin"))

    # what torch itself makes of the readable files must match what is expected of them
    for stem in ["fp32", "fp16", "bf16", "dtypes", "views", "proto4", "deflated"]:
        loaded = torch.load(os.path.join(out, stem + ".bin"))
        for name, t in loaded.items():
            assert torch.equal(t, expected[stem + "/" + name]), (stem, name)
    total_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print("wrote %d expected tensors; fixtures total %d bytes in %s" % (len(expected), total_bytes, out))


if __name__ == "__main__":
    main()
