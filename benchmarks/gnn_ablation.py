"""What each part of the kgrec model is worth: train variants of one config on one split and seed.

Usage::

    python benchmarks/gnn_ablation.py lastfm --variant base= --variant no-kg="relations=[]" \\
        --variant bpr="loss=bpr negatives=1" --seeds 0 --out /tmp/ablation

Each ``--variant NAME=OVERRIDES`` is a name and space-separated ``key=value`` config overrides
(applied on top of ``--set`` overrides shared by all variants). Prints a markdown table (test
metrics at the best validation epoch, mean ± std over seeds) and writes it, with the raw numbers,
to ``--out`` after every variant. The graph comes from ``crossval.build`` (a loader's dataset or a
variant built from one, e.g. ``movielens-dense``, with its split kind) and its text vectors from the
text layer (cached). The split's seed stays 0 for every variant and seed, as in ``heldout.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--variant", action="append", default=[], help="NAME=key=value key=value ...")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="shared key=value")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from kgrec.gnn import load_config, train
    from kgrec.gnn.train import _vector_table
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from crossval import DATASETS, build  # the loaders' graphs and the variants crossval builds

    if args.dataset not in DATASETS:
        parser.error(f"unknown dataset {args.dataset!r}; datasets: {', '.join(DATASETS)}")
    kg, split = build(args.dataset)
    args.overrides = [f"split={split}", *args.overrides]
    vectors = _vector_table(kg, None, needed=True, progress=False)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = []
    for spec in args.variant or ["kgrec="]:
        name, _, rest = spec.partition("=")
        variants.append((name, shlex.split(rest)))
    rows = []
    for name, extra in variants:
        metrics, times = [], []
        for seed in seeds:
            config = load_config(None, [*args.overrides, *extra, f"seed={seed}"])
            t0 = time.perf_counter()
            run = train(kg, config, vectors=vectors, save=False)
            times.append(time.perf_counter() - t0)
            metrics.append({**run.metrics.test.to_dict(), "best_epoch": run.metrics.best_epoch,
                            "valid_ndcg@20": run.metrics.valid.get("ndcg@20", float("nan")),
                            "selection": run.metrics.extra.get("selection")})
            logging.info("%s seed %d: %s", name, seed, run.summary())
        rows.append({"variant": name, "overrides": extra, "seeds": seeds, "metrics": metrics, "seconds": times})
        write(args, seeds, rows)  # after every variant, so a stopped run keeps what it finished


def write(args, seeds: list[int], rows: list[dict]) -> None:
    """Print the table of the variants finished so far and write it, with the raw numbers, to --out."""
    keys = ["ndcg@20", "recall@20", "valid_ndcg@20", "best_epoch"]
    lines = [f"`{args.dataset}`, seeds {seeds}, shared overrides: {' '.join(args.overrides) or 'none'}", "",
             "| variant | overrides | " + " | ".join(keys) + " | minutes |", "|---|---|" + "---|" * (len(keys) + 1)]
    for row in rows:
        cells = []
        for k in keys:
            values = np.array([m[k] for m in row["metrics"]], dtype=float)
            cells.append(f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0:.4f}"
                         if k != "best_epoch" else f"{values.mean():.0f}")
        lines.append(f"| {row['variant']} | `{' '.join(row['overrides']) or '-'}` | " + " | ".join(cells)
                     + f" | {np.mean(row['seconds']) / 60:.1f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ablation.md").write_text(table + "\nCommand: `python " + " ".join(map(shlex.quote, sys.argv)) + "`\n")
        (args.out / "ablation.json").write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
