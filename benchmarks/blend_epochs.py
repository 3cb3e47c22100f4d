"""Per validation epoch of one kgrec run: validation NDCG@20 of the GNN alone and of its best blend
with the closed-form block (chosen once, before training). Shows whether the blend's best epoch is
the GNN's own (it is not: benchmarks/notes/accuracy.md, "The epoch the blend needs").

    python benchmarks/blend_epochs.py lastfm-kgcn --epochs 80 --patience 100 --threads 1

Trains with ``best_epoch_by=gnn`` (so early stopping follows the GNN alone) and prints one line per
epoch and, at the end, both best epochs. Validation only: the test part is never scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crossval import DATASETS, build  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", choices=list(DATASETS))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    from kgrec.gnn import load_config, model_class
    from kgrec.gnn.models.cfblend import Validator, choose_blend, select
    from kgrec.gnn.train import Trainer, _vector_table, prepare

    if args.threads:
        torch.set_num_threads(args.threads)
    kg, split = build(args.dataset)
    config = load_config(None, ["model=kgrec", "model.best_epoch_by=gnn", f"split={split}", f"seed={args.seed}",
                                "checkpoint_every=0", f"epochs={args.epochs}", f"patience={args.patience}"]).effective()
    inputs, _ = prepare(kg, config, vectors=_vector_table(kg, None, needed=True, progress=False))
    torch.manual_seed(args.seed)
    model = model_class("kgrec")(inputs, config)
    validator = Validator.build(inputs.split, seed=args.seed)
    block, _ = select(inputs, config, validator)
    trainer = Trainer(config)
    validate = trainer.validate
    rows = []

    def validate_and_blend(m, inp, users=None):
        metrics = validate(m, inp, users)
        with torch.no_grad():
            g = {k: v.float().cpu() for k, v in m.gnn_embeddings().items()}
            blend = choose_blend((g[m.user_type], g[m.item_type]), block, validator, log=False)
        rows.append({"epoch": len(rows) + 1, "gnn": round(metrics.to_dict()["ndcg@20"], 4),
                     "blend": blend["valid"][f"{blend['weight']:.4g}"], "weight": blend["weight"]})
        print(json.dumps(rows[-1]), flush=True)
        return metrics

    trainer.validate = validate_and_blend  # eval_every is 1 for kgrec: one row per epoch
    trainer.fit(model, inputs)
    print(json.dumps({"dataset": args.dataset, "gnn_best": max(rows, key=lambda r: r["gnn"]),
                      "blend_best": max(rows, key=lambda r: r["blend"])}))


if __name__ == "__main__":
    main()
