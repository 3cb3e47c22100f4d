"""RecBole's side of the metric cross-check; runs in RecBole's virtualenv, not kgrec's.

Usage: ``RECBOLE_VENV/bin/python benchmarks/peers_recbole_metrics.py EXPORT.npz OUT.json``

Reads what ``peers_crosscheck.py`` exported (user and item vectors, kgrec's train/valid/test pairs
and kgrec's top-K lists) and computes Recall, NDCG, MRR and Hit at 10 and 20 with RecBole 1.2.1's own
code, twice:

- ``lists``: from kgrec's exported top-K lists (the same ranked lists): the ``rec.topk`` structure
  that RecBole's ``Collector`` builds (hit flags of the top K + the user's number of test items),
  evaluated by ``recbole.evaluator.Evaluator``;
- ``scores``: from the scores ``user · item``, ranked the way RecBole's trainer and collector rank
  (history items — training and validation — set to -inf, then ``torch.topk``), then the same.

It also reports how many users' top-K lists differ between kgrec's export and RecBole's own ranking.
"""

import json
import sys

import numpy as np
import torch
from recbole.evaluator import Evaluator
from recbole.evaluator.collector import DataStruct

np.float = np.float64  # RecBole's metrics use np.float; its Config sets this alias the same way (np.float_)
data = np.load(sys.argv[1])
k = int(data["k"])
users, items = torch.from_numpy(data["user_vectors"]), torch.from_numpy(data["item_vectors"])
test_users = data["test_users"]                # users with at least one test item, ascending
lists = torch.from_numpy(data["top_lists"])    # [len(test_users), k] kgrec's ranked lists
n_items = items.shape[0]


def dense(pairs, rows):
    """[len(rows), n_items] int matrix of the pairs of these users (row = position in rows)."""
    pos = {int(u): r for r, u in enumerate(rows)}
    out = torch.zeros(len(rows), n_items, dtype=torch.int)
    keep = np.isin(pairs[0], rows)
    out[[pos[int(u)] for u in pairs[0][keep]], torch.from_numpy(pairs[1][keep])] = 1
    return out


test = dense(data["test"], test_users)
history = dense(data["train"], test_users) + dense(data["valid"], test_users)
pos_len = test.sum(dim=1, keepdim=True)
config = {"metrics": ["Recall", "NDCG", "MRR", "Hit"], "topk": [10, 20], "metric_decimal_place": 12}
evaluator = Evaluator(config)


def evaluate(top):
    struct = DataStruct()
    struct.update_tensor("rec.topk", torch.cat((torch.gather(test, 1, top), pos_len), dim=1))
    return {key: float(v) for key, v in evaluator.evaluate(struct).items()}


scores = users[torch.from_numpy(test_users)] @ items.T
scores[history > 0] = -np.inf                  # as Trainer._full_sort_batch_eval does
_, own = torch.topk(scores, k, dim=-1)         # as Collector.eval_batch_collect does
differ = int((own != lists).any(dim=1).sum())
with open(sys.argv[2], "w") as fh:
    json.dump({"lists": evaluate(lists), "scores": evaluate(own), "users": len(test_users),
               "users_whose_lists_differ": differ}, fh, indent=2)
