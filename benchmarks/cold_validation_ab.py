"""kgrec on lastfm's cold-items split, seed 0, with validation as it was before 3f15a86 (a per-user tenth of
the warm pairs, ranked over the whole catalogue; the same cold test items) — what the cold validation buys.

    KGREC_HOME=... python benchmarks/cold_validation_ab.py OUT

An emulation of the old rule (the same warm pairs, a per-user tenth to validation), not its identical
random draw. The lastfm graph must be in the default store (`kgrec ingest lastfm`)."""
import importlib
import logging
import sys

import numpy as np
import torch

import kgrec.gnn.data as data
from kgrec.kg.stores import open_store
from kgrec.gnn import TrainConfig
from kgrec.gnn.benchmark import benchmark

torch.set_num_threads(2)
new_split = data.split_interactions


def old_split(kg, kind="random", *, seed=0, valid=0.1, test=0.1):
    s = new_split(kg, kind, seed=seed, valid=valid, test=test)
    if s.kind != "cold-items":
        return s
    # the old rule: the same cold test items; validation = a per-user random tenth of the warm pairs
    warm = np.concatenate([s.train, s.valid], axis=1)
    rng = np.random.default_rng(seed + 1)
    is_valid = np.zeros(warm.shape[1], bool)
    order = np.lexsort((rng.random(warm.shape[1]), warm[0]))
    bounds = np.r_[0, np.flatnonzero(np.diff(warm[0, order])) + 1, len(order)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = int(round(valid * (b - a)))
        if b - a > 1 and n:
            is_valid[order[a:a + min(n, b - a - 1)]] = True
    return data.Split(s.kind, s.seed, s.num_users, s.num_items, warm[:, ~is_valid], warm[:, is_valid], s.test,
                      cold_items=s.cold_items, valid_cold_items=None)


train_mod = importlib.import_module("kgrec.gnn.train")  # the module (kgrec.gnn.train the attribute is train())
train_mod.split_interactions = old_split
logging.basicConfig(level=logging.INFO)
kg = open_store().read(graph="lastfm")
benchmark(kg, models=["kgrec"], seeds=[0], config=TrainConfig(split="cold-items"), out=sys.argv[1],
          command="python benchmarks/cold_validation_ab.py " + sys.argv[1])
