"""Quality by training time of one sampler on a synthetic graph (kgrec, text off; 100 k users by default).

    python benchmarks/sampler_curve.py history --epochs 4 --seed 0 --threads 1
    python benchmarks/sampler_curve.py neighbor --epochs 3 --seed 0 --threads 1
    python benchmarks/sampler_curve.py history --epochs 2 --users 1000000 --items 100000 --no-finish

Trains ``synthetic(users, items, 20)`` for ``--epochs`` epochs with early stopping off and prints one
JSON line: each epoch's seconds, its steps' seconds and the validation sample's NDCG@20, then the
saved run's full validation and test NDCG@20 (the best epoch, finished with the closed-form block).
``--no-finish`` stops after the epochs (the finish takes most of an hour at 1 M users); each epoch is
also logged as it ends, so a run cut short still leaves its curve. The numbers behind "``neighbor``
where ``auto`` samples" in benchmarks/notes/scale.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import torch

from kgrec.gnn import TrainConfig, train
from kgrec.gnn.registry import model_class
from kgrec.gnn.train import Trainer, prepare
from kgrec.kg.sources.synthetic import synthetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sampler", choices=("full", "neighbor", "history"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-finish", action="store_true", help="report the epochs' validation samples only")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kgrec.gnn.train").setLevel(logging.DEBUG)  # its line per epoch, as the epoch ends
    torch.set_num_threads(args.threads)
    kg = synthetic(num_users=args.users, num_items=args.items, interactions_per_user=20, name=f"scale-{args.users // 1000}k")
    config = TrainConfig(model="kgrec", epochs=args.epochs, text=False, device="cpu", checkpoint_every=0,
                         seed=args.seed, sampler=args.sampler, patience=args.epochs + 1)
    t0 = time.perf_counter()
    if args.no_finish:  # the trainer alone, as benchmarks/scale.py runs it
        config = config.effective()
        inputs, _ = prepare(kg, config)
        torch.manual_seed(config.seed)
        fit = Trainer(config).fit(model_class(config.model)(inputs, config), inputs)
        sampler, history, valid, test = fit.sampler, fit.history, None, None
    else:
        run = train(kg, config, save=False)
        sampler, history = run.metrics.extra["sampler"], run.history
        valid, test = run.metrics.valid["ndcg@20"], run.metrics.test["ndcg@20"]
    print(json.dumps({"sampler": sampler, "seed": args.seed, "users": args.users, "valid": valid, "test": test,
                      "seconds": round(time.perf_counter() - t0, 1),
                      "epochs": [(h.epoch, round(h.seconds, 1), h.train_seconds, h.valid.get("ndcg@20"))
                                 for h in history]}), flush=True)


if __name__ == "__main__":
    main()
