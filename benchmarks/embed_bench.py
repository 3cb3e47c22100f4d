"""Text-layer benchmarks: encoder throughput knobs, and cold vs cached `embed_graph` per dataset.

Usage::

    python benchmarks/embed_bench.py knobs --dataset lastfm --sample 300 --rounds 3
    python benchmarks/embed_bench.py embed lastfm movielens-small
    python benchmarks/embed_bench.py embed movielens-small --device cuda      # on a GPU machine

``knobs`` encodes a fixed random sample of the dataset's node documents under several settings
(torch threads, batch size, length-sorted batches or not, max_length) and reports texts/s and the
largest difference from the reference vectors (threads=default, batch 64, sorted, max_length 128).

``embed`` runs ``embed_graph`` twice per dataset on an empty cache folder: cold (every text encoded)
and cached (a fresh encoder and a fresh cache object on the same folder, as a second process would
be), and reports both times and their ratio. Dataset loading is timed separately.

Results print as text and, with ``--json PATH``, are written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def knobs(args) -> dict:
    import numpy as np
    import torch

    from kgrec.kg.sources import load_dataset
    from kgrec.text import TextEncoder
    from kgrec.text.documents import node_documents

    kg = load_dataset(args.dataset, download=False)
    docs = [t for texts in node_documents(kg).values() for t in texts]
    random.Random(0).shuffle(docs)
    sample = docs[: args.sample]
    default_threads = torch.get_num_threads()
    encoder = TextEncoder(device=args.device).load()
    lengths = [len(x) for x in encoder._tokenizer(sample, truncation=True, max_length=512)["input_ids"]]
    out = {"dataset": args.dataset, "sample": len(sample), "tokens_mean": float(np.mean(lengths)),
           "tokens_p90": float(np.percentile(lengths, 90)), "over_128": float(np.mean(np.array(lengths) > 128)),
           "machine": _machine(), "runs": []}
    encoder.encode(sample[:64])  # warm-up
    configs = [("reference (bs 64, sorted)", {}), ("unsorted batches", {"sorted_": False}),
               *((f"batch size {bs}", {"batch_size": bs}) for bs in (16, 32, 128)),
               *((f"threads {t}", {"threads": t}) for t in sorted({1, 2} - {default_threads})),
               ("max_length 256", {"max_length": 256}), ("max_length 64", {"max_length": 64})]
    rates: dict[str, list[float]] = {name: [] for name, _ in configs}
    diffs: dict[str, float] = {}
    reference = None

    def run(name, *, threads=default_threads, batch_size=64, sorted_=True, max_length=128):
        nonlocal reference
        torch.set_num_threads(threads)
        enc = TextEncoder(device=args.device, batch_size=batch_size, max_length=max_length)
        enc._tokenizer, enc._model, enc._torch_device = encoder._tokenizer, encoder._model, encoder._torch_device
        t0 = time.perf_counter()
        if sorted_:
            v = enc.encode(sample)
        else:  # the input order, one call per batch: each batch pads to its own longest text
            v = np.concatenate([enc.encode(sample[i:i + batch_size]) for i in range(0, len(sample), batch_size)])
        rates[name].append(len(sample) / (time.perf_counter() - t0))
        if reference is None:
            reference = v
        diffs[name] = float(np.abs(v - reference).max())

    print(f"{args.dataset}: {len(sample)} documents, {out['tokens_mean']:.1f} tokens on average "
          f"(p90 {out['tokens_p90']:.0f}, {100 * out['over_128']:.1f}% over 128); {args.rounds} interleaved rounds")
    for r in range(args.rounds):  # round-robin, so a change in the machine's load hits every setting alike
        for name, options in configs:
            run(name, **options)
        print(f"  round {r + 1} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    torch.set_num_threads(default_threads)
    for name, options in configs:
        row = {"name": name, **options, "texts_per_second_median": round(float(np.median(rates[name])), 1),
               "texts_per_second_all": [round(x, 1) for x in rates[name]], "max_abs_diff": diffs[name]}
        out["runs"].append(row)
        print(f"  {name:<28} {row['texts_per_second_median']:>8.1f} texts/s (median)  "
              f"max |diff| {row['max_abs_diff']:.1e}")
    return out


def embed(args) -> dict:
    from kgrec.kg.sources import load_dataset
    from kgrec.text import TextEncoder, VectorCache, embed_graph

    out = {"machine": _machine(), "datasets": []}
    for name in args.datasets:
        t0 = time.perf_counter()
        kg = load_dataset(name, download=False)
        load_seconds = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="embed-bench-") as scratch:
            folder = Path(args.cache_dir) / name if args.cache_dir else Path(scratch)
            if folder.exists() and any(folder.iterdir()):
                raise SystemExit(f"{folder} is not empty: a cold run needs an empty cache folder")
            cold_encoder = TextEncoder(device=args.device, batch_size=args.batch_size, progress=args.progress,
                                       threads=args.threads)
            cold = embed_graph(kg, encoder=cold_encoder, cache=VectorCache(folder), progress=args.progress)
            warm_encoder = TextEncoder(device=args.device, batch_size=args.batch_size)
            t1 = time.perf_counter()
            warm = embed_graph(kg, encoder=warm_encoder, cache=VectorCache(folder))
            warm_seconds = time.perf_counter() - t1
            assert not warm_encoder.is_loaded and warm.report.num_encoded == 0
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        row = {"dataset": name, "nodes": kg.num_nodes(), "distinct_texts": cold.report.unique_encoded,
               "load_seconds": round(load_seconds, 2),
               "cold_seconds": round(cold.report.seconds, 2), "encode_seconds": round(cold.report.encode_seconds, 2),
               "encoded_per_second": round(cold.report.encoded_per_second, 1),
               "cached_seconds": round(warm_seconds, 2), "speedup": round(cold.report.seconds / warm_seconds, 1),
               "cache_bytes": size, "per_label": {k: len(v) for k, v in cold.vectors.items()}}
        out["datasets"].append(row)
        print(f"{name}: {row['nodes']:,} nodes, {row['distinct_texts']:,} distinct texts; load {load_seconds:.1f}s; "
              f"cold {row['cold_seconds']:.1f}s ({row['encoded_per_second']:.1f} texts/s encoding); "
              f"cached {row['cached_seconds']:.2f}s; {row['speedup']:.0f}x; cache {size / 1e6:.1f} MB", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("knobs", help="encoder throughput under several settings")
    k.add_argument("--dataset", default="lastfm")
    k.add_argument("--sample", type=int, default=300)
    k.add_argument("--rounds", type=int, default=3)
    e = sub.add_parser("embed", help="cold vs cached embed_graph per dataset")
    e.add_argument("datasets", nargs="+")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--progress", action="store_true")
    e.add_argument("--threads", type=int, default=None, help="torch CPU threads while encoding")
    e.add_argument("--cache-dir", default=None, help="keep each dataset's cache in CACHE_DIR/NAME (must be "
                                                      "empty; default: a temporary folder)")
    for p in (k, e):
        p.add_argument("--device", default="auto")
        p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    result = knobs(args) if args.command == "knobs" else embed(args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
