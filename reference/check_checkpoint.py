"""
Reads a model folder written by Lumenspark (Java) with the PyTorch reference and prints, as one JSON line,
the per-token cross-entropy of the given token ids; the Java test compares them with its own. This checks the
direction fixtures do not: PyTorch's strict load_state_dict accepts what Java writes.

    /usr/bin/python3 reference/check_checkpoint.py MODEL_DIR --ids 5,9,13,2
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from lumenspark_ref import load_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--ids", required=True, help="comma-separated token ids (at least 2)")
    args = ap.parse_args()
    ids = torch.tensor([[int(t) for t in args.ids.split(",")]])
    model = load_model(args.folder).eval()
    with torch.no_grad():
        logits = model(ids[:, :-1])
        losses = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:], reduction="none")
    print(json.dumps({"token_losses": losses.tolist(),
                      "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
