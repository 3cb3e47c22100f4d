"""Fold-in only vs warm-start retrain, after the stream delivers the validation interactions of 20%
of the users (lastfm).

1. The graph is written fresh to the store as ``lastfm-refresh``; the run (trained on the random
   split) serves it.
2. 20% of the users with validation pairs are drawn (seeded); their validation interactions are
   published as events and consumed (store + the serving state's fold-in).
3. NDCG@20 and recall@20 of those users on their test items (all items ranked, train and
   validation items left out) with: the run as it was (no update), the folded-in vectors, and a
   warm-start retrain (:func:`kgrec.gnn.warmstart.warm_start`) on the graph read back from the store.

    python benchmarks/live_refresh.py RUN_DIR [--share 0.2] [--epochs 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

GRAPH = "lastfm-refresh"


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def pairs_of(run, part: str) -> dict[str, set[str]]:
    users, items = run.id_maps[run.user_label].ids, run.id_maps[run.item_label].ids
    pairs = np.asarray(getattr(run.split, part))
    out: dict[str, set[str]] = {}
    for u, i in zip(pairs[0].tolist(), pairs[1].tolist()):
        out.setdefault(users[u], set()).add(items[i])
    return out


def evaluate(user_vectors: dict[str, np.ndarray], item_ids, item_vectors, known, test, k: int = 20) -> dict:
    index = {i: n for n, i in enumerate(item_ids)}
    ndcg, recall = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for user, vector in user_vectors.items():
        relevant = {index[i] for i in test.get(user, ()) if i in index}
        if not relevant:
            continue
        scores = item_vectors @ vector
        scores[[index[i] for i in known.get(user, ()) if i in index]] = -np.inf
        top = np.argpartition(-scores, k)[:k]
        top = top[np.argsort(-scores[top])]
        hits = np.array([t in relevant for t in top], dtype=float)
        ndcg.append(float((hits * discounts).sum() / discounts[:min(len(relevant), k)].sum()))
        recall.append(float(hits.sum() / len(relevant)))
    return {"users": len(ndcg), "ndcg@20": round(float(np.mean(ndcg)), 4), "recall@20": round(float(np.mean(recall)), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--share", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import torch

    from kgrec.gnn import Run
    from kgrec.gnn.warmstart import warm_start
    from kgrec.kg.sources import load_dataset
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender
    from kgrec.serving.events import Consumer, ConsumerConfig, EventApplier, InteractionEvent, open_transport

    torch.set_num_threads(1)
    run = Run.load(args.run_dir)
    store = open_store()
    if GRAPH in store.graphs():
        store.drop(GRAPH)
    t = time.perf_counter()
    store.write(load_dataset("lastfm"), graph=GRAPH)
    emit(step="write", seconds=round(time.perf_counter() - t, 1))
    rec = Recommender.load(args.run_dir, store=store, graph=GRAPH)
    train, valid, test = pairs_of(run, "train"), pairs_of(run, "valid"), pairs_of(run, "test")
    rng = np.random.default_rng(args.seed)
    candidates = sorted(u for u in valid if u in test)
    chosen = sorted(rng.choice(candidates, size=int(round(args.share * len(candidates))), replace=False).tolist())
    known = {u: train.get(u, set()) | valid.get(u, set()) for u in chosen}
    item_ids = list(run.id_maps[run.item_label].ids)
    users = run.id_maps[run.user_label]
    before = evaluate({u: run.user_vectors[users.index(u)] for u in chosen}, item_ids, run.item_vectors, known, test)
    emit(step="no update", **before)

    events = [InteractionEvent(user=u, item=i) for u in chosen for i in sorted(valid[u])]
    transport = open_transport(store, graph=GRAPH)
    transport.delete()
    transport.publish(events)
    t = time.perf_counter()
    Consumer(transport, EventApplier(rec), config=ConsumerConfig(group="refresh"), name="refresh").run(until_idle=True)
    emit(step="stream", users=len(chosen), events=len(events), seconds=round(time.perf_counter() - t, 1))
    folded = evaluate({u: rec.user_vector(u) for u in chosen}, item_ids, run.item_vectors, known, test)
    emit(step="fold-in", **folded)

    t = time.perf_counter()
    kg = store.read(graph=GRAPH)
    warm = warm_start(run, kg, epochs=args.epochs, out=args.out, save=args.out is not None)
    users2 = warm.id_maps[warm.user_label]
    retrained = evaluate({u: warm.user_vectors[users2.index(u)] for u in chosen},
                         list(warm.id_maps[warm.item_label].ids), warm.item_vectors, known, test)
    emit(step="warm start", epochs=args.epochs, seconds=round(time.perf_counter() - t, 1),
         best_epoch=warm.metrics.best_epoch, **retrained)
    transport.delete()
    store.drop(GRAPH)


if __name__ == "__main__":
    main()
