"""The packaged text model, packed small enough to travel to a lent GPU machine, and unpacked there.

A device call carries at most 64 MiB; all-MiniLM-L6-v2's weights are 91 MB in float32. ``pack``
stores every matrix as int8 with one float32 scale per row (symmetric, ``max |row| / 127``) and
every vector (biases, LayerNorm) as float32: 23 MB. ``unpack`` writes a model folder of float32
weights (the int8 values times their scales) with the tokenizer and config files beside them, which
``transformers`` loads like the original.

These are not the original weights: each matrix entry moves by at most half its row's step. The GPU
checks compare a GPU run with a CPU run on the *same* unpacked weights, so the comparison is exact in
kind; figures that depend on the text vectors (the lastfm benchmark's quality) are for this copy of
the model, which ``pack`` measures against the original (cosine of the encodings of a few hundred
real item names, printed).

    python benchmarks/gpu/pack_model.py pack OUT_DIR        # here: from the installed wheel
    python benchmarks/gpu/pack_model.py unpack IN_DIR OUT_DIR   # there: a loadable model folder
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

SIDE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
WEIGHTS = "model.safetensors"
PACKED = "packed.safetensors"


def pack(source: Path, out: Path) -> None:
    weights = load_file(source / WEIGHTS)
    packed: dict[str, np.ndarray] = {}
    for name, w in weights.items():
        w = w.astype(np.float32)
        if w.ndim == 2:
            scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            packed[name + ".q"] = np.round(w / scale).astype(np.int8)
            packed[name + ".scale"] = scale.astype(np.float32)
        else:
            packed[name] = w
    out.mkdir(parents=True, exist_ok=True)
    save_file(packed, out / PACKED, metadata={"source": str(source), "scheme": "int8 per row, float32 vectors"})
    _copy_side_files(source, out)


def unpack(packed_dir: Path, out: Path) -> None:
    packed = load_file(packed_dir / PACKED)
    weights: dict[str, np.ndarray] = {}
    for name, value in packed.items():
        if name.endswith(".scale"):
            continue
        if name.endswith(".q"):
            base = name[:-2]
            weights[base] = value.astype(np.float32) * packed[base + ".scale"]
        else:
            weights[name] = value
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, out / WEIGHTS, metadata={"format": "pt"})
    _copy_side_files(packed_dir, out)


def _copy_side_files(source: Path, out: Path) -> None:
    """The tokenizer and config files travel as they are."""
    for name in SIDE_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, out / name)


def compare_encodings(original: Path, copy: Path, texts: list[str]) -> float:
    """The smallest cosine between the original model's and the copy's encodings of ``texts``."""
    from kgrec.text import TextEncoder

    a = TextEncoder(original, device="cpu", progress=False).encode(texts)
    b = TextEncoder(copy, device="cpu", progress=False).encode(texts)
    return float(((a * b).sum(1)).min())  # both L2-normalised


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("out", type=Path)
    p.add_argument("--check-texts", type=Path, help="a file of texts, one a line, to compare the encodings on")
    u = sub.add_parser("unpack")
    u.add_argument("packed", type=Path)
    u.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        from kgrec.text.encoder import default_model_path

        source = default_model_path()
        pack(source, args.out)
        size = sum(f.stat().st_size for f in args.out.iterdir())
        print(f"packed {source} into {args.out}: {size / 1e6:.1f} MB")
        if args.check_texts:
            texts = [t for t in args.check_texts.read_text(encoding="utf-8").splitlines() if t.strip()]
            with_copy = args.out.parent / (args.out.name + "-unpacked-check")
            unpack(args.out, with_copy)
            try:
                print(json.dumps({"texts": len(texts), "min_cosine_vs_original": round(compare_encodings(source, with_copy, texts), 6)}))
            finally:
                shutil.rmtree(with_copy)
    else:
        unpack(args.packed, args.out)
        print(f"unpacked {args.packed} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
