"""
Writes a model folder's model.safetensors as pytorch_model.bin, the way published lumenspark's train.py saved its
weights (torch.save of the state dict), for `lumenspark bench load`:

    /usr/bin/python3 reference/save_pytorch_model.py MODEL.safetensors OUT/pytorch_model.bin [--dtype float16]
"""
import argparse
import collections
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lumenspark_ref import load_safetensors  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("safetensors")
    ap.add_argument("out")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = ap.parse_args()
    tensors, _ = load_safetensors(args.safetensors)
    dtype = getattr(torch, args.dtype)
    torch.save(collections.OrderedDict((k, v.to(dtype)) for k, v in tensors.items()), args.out)


if __name__ == "__main__":
    main()
