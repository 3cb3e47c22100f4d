"""Test NDCG@20 on the cross-validation datasets, after the defaults were chosen on validation.

    python benchmarks/heldout.py --datasets lastfm-kgcn,movielens-dense --models kgrec,lightgcn,ease \
        --seeds 0,1,2 --threads 1 --out benchmarks/results/heldout

:mod:`crossval` chooses kgrec's defaults on validation NDCG@20 only; this script is the other half:
for the same datasets (the loaders' graphs and the variants :mod:`crossval` builds, e.g.
``movielens-dense``, the stand-in for the dense hold-out with a Freebase KG) it runs
:func:`kgrec.gnn.benchmark` — every model at its own defaults, the same split for every model and
seed — and writes ``OUT/DATASET/benchmark.md/json/png``. Nothing here feeds back into a default.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crossval import DATASETS, build  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", required=True, help=f"comma-separated: {', '.join(DATASETS)}")
    parser.add_argument("--models", default="kgrec,lightgcn,ease", help="comma-separated registered models")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    from kgrec.gnn import TrainConfig
    from kgrec.gnn.benchmark import benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    datasets = [d.strip() for d in args.datasets.split(",")]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; datasets: {', '.join(DATASETS)}")
    command = "python benchmarks/heldout.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for dataset in datasets:
        kg, split = build(dataset)
        result = benchmark(kg, models=[m.strip() for m in args.models.split(",")],
                           seeds=[int(s) for s in args.seeds.split(",")], config=TrainConfig(split=split),
                           out=args.out / dataset, command=command)
        print(result.markdown())


if __name__ == "__main__":
    main()
