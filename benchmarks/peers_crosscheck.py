"""Metric cross-check: kgrec's evaluator and RecBole's metric code on the same ranked lists.

Usage::

    python benchmarks/peers_crosscheck.py movielens-small --model bprmf --set epochs=10 --out /tmp/peers/crosscheck

Trains one kgrec model (``--model``, with ``--set`` overrides) on kgrec's split, then:

1. kgrec's evaluator (:func:`kgrec.gnn.rank_metrics`) on the run's scores ``user · item``, the way a
   run is tested (training and validation items excluded), gives the reference metrics;
2. the top-K lists of the same masked scores are exported (``crosscheck.npz``) with the vectors and
   the split, and kgrec's evaluator is run again on exactly those lists (a scorer that gives the
   K listed items the scores K..1 and every other item a large negative score);
3. ``peers_recbole_metrics.py`` runs in RecBole's virtualenv (``--venv``) on the export: RecBole's
   ``Evaluator`` on the same lists, and on its own ranking of the same scores.

Prints and writes ``crosscheck.md`` / ``crosscheck.json``: each metric from each path and the
largest absolute difference (the bar: 1e-4).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
KEYS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "mrr@10", "mrr@20", "hit@10", "hit@20")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--model", default="bprmf")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key=value config override")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/peers/recbole-venv"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/peers/crosscheck"))
    parser.add_argument("--from-export", action="store_true",
                        help="reuse OUT/crosscheck.npz and OUT/kgrec.json from an earlier run (no training)")
    args = parser.parse_args(argv)
    if args.from_export:
        side = json.loads((args.out / "kgrec.json").read_text(encoding="utf-8"))
        data = np.load(args.out / "crosscheck.npz")
        return recbole_side(args, argv, side, len(data["test_users"]), int(data["k"]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from kgrec.gnn import load_config, rank_metrics, train
    from kgrec.kg.sources import load_dataset

    args.out.mkdir(parents=True, exist_ok=True)
    kg = load_dataset(args.dataset)
    run = train(kg, load_config(None, [f"model={args.model}", *args.overrides]), save=False)
    split = run.split
    k = max(run.config.ks)
    users = torch.from_numpy(np.ascontiguousarray(run.user_vectors, dtype=np.float32))
    items = torch.from_numpy(np.ascontiguousarray(run.item_vectors, dtype=np.float32))
    train_ui, valid_ui, test_ui = (split.user_items(p) for p in ("train", "valid", "test"))
    exclude = [train_ui, valid_ui]

    def scores(u: torch.Tensor) -> torch.Tensor:
        return users[u] @ items.T

    reference = rank_metrics(scores, test_ui, exclude=exclude, ks=run.config.ks).to_dict()
    test_users = np.flatnonzero(test_ui.counts() > 0)
    s = scores(torch.from_numpy(test_users))
    for ex in exclude:
        s[ex.dense(test_users)] = -torch.inf
    top = torch.topk(s, k, dim=1).indices.numpy()
    row_of = np.full(split.num_users, -1)
    row_of[test_users] = np.arange(len(test_users))

    def listed(u: torch.Tensor) -> torch.Tensor:
        out = torch.full((len(u), split.num_items), -1e9)
        rows = torch.from_numpy(top[row_of[u.numpy()]])
        out.scatter_(1, rows, torch.arange(k, 0, -1, dtype=torch.float32).expand(len(u), k).contiguous())
        return out

    from_lists = rank_metrics(listed, test_ui, exclude=exclude, ks=run.config.ks).to_dict()
    npz = args.out / "crosscheck.npz"
    np.savez(npz, user_vectors=users.numpy(), item_vectors=items.numpy(), train=split.positives("train"),
             valid=split.positives("valid"), test=split.positives("test"), test_users=test_users,
             top_lists=top.astype(np.int64), k=k)
    kgrec_side = {"reference": reference, "from_lists": from_lists, "model": run.config.model,
                  "num_items": split.num_items}
    (args.out / "kgrec.json").write_text(json.dumps(kgrec_side), encoding="utf-8")
    return recbole_side(args, argv, kgrec_side, len(test_users), k)


def recbole_side(args: argparse.Namespace, argv: list[str] | None, kgrec_side: dict, n_users: int, k: int) -> int:
    reference, from_lists = kgrec_side["reference"], kgrec_side["from_lists"]
    npz = args.out / "crosscheck.npz"
    recbole_json = args.out / "recbole.json"
    subprocess.run([str(args.venv / "bin" / "python"), str(HERE / "peers_recbole_metrics.py"), str(npz),
                    str(recbole_json)], check=True)
    rb = json.loads(recbole_json.read_text())
    paths = {"kgrec, its own ranking": reference, "kgrec, exported lists": from_lists,
             "RecBole, exported lists": rb["lists"], "RecBole, its own ranking": rb["scores"]}
    diff = {key: max(abs(p[key] - reference[key]) for p in paths.values()) for key in KEYS}
    intro = (f"`{args.dataset}`, kgrec model `{kgrec_side['model']}` ({' '.join(args.overrides) or 'defaults'}), "
             f"{n_users:,} test users, {kgrec_side['num_items']:,} items; RecBole 1.2.1's Evaluator; "
             f"{rb['users_whose_lists_differ']} users' top-{k} lists differ between kgrec's ranking and RecBole's.")
    lines = [intro, "",
             "| metric | " + " | ".join(paths) + " | max abs difference |", "|---" * (len(paths) + 2) + "|"]
    for key in KEYS:
        lines.append(f"| {key} | " + " | ".join(f"{p[key]:.6f}" for p in paths.values()) + f" | {diff[key]:.1e} |")
    cmd = "python benchmarks/peers_crosscheck.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines += ["", f"Command: `{cmd}`"]
    table = "\n".join(lines) + "\n"
    (args.out / "crosscheck.md").write_text(table, encoding="utf-8")
    (args.out / "crosscheck.json").write_text(json.dumps({"paths": paths, "max_abs_difference": diff,
                                                          "recbole": rb}, indent=2), encoding="utf-8")
    print(table)
    return 0 if max(diff.values()) <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
