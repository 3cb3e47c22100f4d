"""Quality by training time of one sampler on the 100 k-user synthetic graph (kgrec, text off).

    python benchmarks/sampler_curve.py history --epochs 4 --seed 0 --threads 1
    python benchmarks/sampler_curve.py neighbor --epochs 3 --seed 0 --threads 1

Trains ``synthetic(100_000, 10_000, 20)`` for ``--epochs`` epochs with early stopping off and
prints one JSON line: each epoch's seconds, its steps' seconds and the validation sample's NDCG@20,
then the saved run's full validation and test NDCG@20 (the best epoch, finished with the
closed-form block). The numbers behind "``neighbor`` where ``auto`` samples" in
benchmarks/notes/scale.md.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from kgrec.gnn import TrainConfig, train
from kgrec.kg.sources.synthetic import synthetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sampler", choices=("full", "neighbor", "history"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kg = synthetic(num_users=args.users, num_items=args.items, interactions_per_user=20, name=f"scale-{args.users // 1000}k")
    t0 = time.perf_counter()
    run = train(kg, TrainConfig(model="kgrec", epochs=args.epochs, text=False, device="cpu", checkpoint_every=0,
                                seed=args.seed, sampler=args.sampler, patience=args.epochs + 1), save=False)
    print(json.dumps({"sampler": run.metrics.extra["sampler"], "seed": args.seed, "valid": run.metrics.valid["ndcg@20"],
                      "test": run.metrics.test["ndcg@20"], "seconds": round(time.perf_counter() - t0, 1),
                      "epochs": [(h.epoch, round(h.seconds, 1), h.train_seconds, h.valid.get("ndcg@20"))
                                 for h in run.history]}))


if __name__ == "__main__":
    main()
