"""Serving benchmarks: in-process latency, explanation coverage and validity, NDCG@20 with diversity.

    python benchmarks/serving_bench.py --run RUN_DIR [--store URL] [--validity-users 200]
    python benchmarks/serving_bench.py --train-epochs 30 --run runs/bench-lastfm   # train first if absent

Measures, over every user of the run's graph:
- latency of ``recommend(user, k=20, explain=True)`` and ``explain=False`` (p50, p95, p99, mean);
- explanation coverage: the share of recommended items with at least one path;
- validity: the share of explanations whose Cypher, run on the store, returns exactly its path
  (node ids in order and relation types), for a seeded sample of users;
- NDCG@20 / Recall@20 / intra-list diversity on the run's test split (train and validation items
  excluded, as in training's evaluation) for several MMR ``diversity`` weights.

Prints a markdown summary and writes the numbers as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np


def percentiles(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "n": len(xs)}


def ndcg_at(ranked: np.ndarray, relevant: set[int], k: int) -> float:
    gains = [1.0 / np.log2(i + 2) for i, r in enumerate(ranked[:k]) if int(r) in relevant]
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="run directory (trained when absent and --train-epochs)")
    ap.add_argument("--dataset", default="lastfm")
    ap.add_argument("--train-epochs", type=int, default=0, help="train a run first when --run does not exist")
    ap.add_argument("--store", default=None, help="store URL (default: KGREC_STORE, else embedded)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--users", type=int, default=0, help="latency over this many users (0 = all)")
    ap.add_argument("--validity-users", type=int, default=200)
    ap.add_argument("--diversity", default="0,0.1,0.25,0.5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from kgrec.gnn import Run, TrainConfig, train
    from kgrec.kg.sources import load_dataset
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender, intra_list_diversity

    out: dict = {"command": " ".join(["python", "benchmarks/serving_bench.py", *(argv or sys.argv[1:])])}
    t = time.perf_counter()
    kg = load_dataset(args.dataset)
    out["load_s"] = time.perf_counter() - t
    if not (args.run / "manifest.json").exists():
        if not args.train_epochs:
            ap.error(f"{args.run} is not a run directory; pass --train-epochs N to train one")
        from kgrec.text import embed_graph

        vectors = embed_graph(kg, progress=True)
        t = time.perf_counter()
        train(kg, TrainConfig(epochs=args.train_epochs), vectors=vectors, out=args.run, progress=True)
        out["train_s"] = time.perf_counter() - t
    run = Run.load(args.run)
    out["run"] = {"path": str(args.run), "model": run.config.model, "epochs": run.metrics.epochs,
                  "test": run.metrics.test.to_dict()}
    store = open_store(args.store)
    if kg.name not in store.graphs():
        store.write(kg, graph=kg.name, progress=True)
    t = time.perf_counter()
    rec = Recommender(run, kg, store=store, graph_name=kg.name)
    out["recommender_build_s"] = time.perf_counter() - t

    users = rec.users()
    rng = random.Random(args.seed)
    if args.users:
        users = rng.sample(users, min(args.users, len(users)))
    # warm-up
    for u in users[:20]:
        rec.recommend(u, args.k, explain=True)

    lat_exp, lat_plain, recs_by_user = [], [], {}
    for u in users:
        t = time.perf_counter()
        recs = rec.recommend(u, args.k, explain=True)
        lat_exp.append(time.perf_counter() - t)
        recs_by_user[u] = recs
    for u in users:
        t = time.perf_counter()
        rec.recommend(u, args.k, explain=False)
        lat_plain.append(time.perf_counter() - t)
    out["latency_explain"] = percentiles(lat_exp)
    out["latency_plain"] = percentiles(lat_plain)

    items = [r for recs in recs_by_user.values() for r in recs]
    explained = [r for r in items if r.explanations]
    hops = Counter(e.path.hops for r in items for e in r.explanations)
    patterns = Counter("/".join(f"{x.type}{'>' if x.direction == 'out' else '<'}" for x in e.path.relations)
                       for r in items for e in r.explanations)
    out["coverage"] = {"recommendations": len(items), "with_path": len(explained),
                       "share": len(explained) / max(len(items), 1),
                       "explanations_per_item": sum(len(r.explanations) for r in items) / max(len(items), 1),
                       "hops": dict(sorted(hops.items())), "top_patterns": patterns.most_common(8)}

    sample = rng.sample(list(recs_by_user), min(args.validity_users, len(recs_by_user)))
    total = valid = 0
    qtimes = []
    failures = []
    for u in sample:
        for r in recs_by_user[u]:
            for e in r.explanations:
                t = time.perf_counter()
                res = store.query(e.cypher, e.parameters, graph=kg.name)
                qtimes.append(time.perf_counter() - t)
                total += 1
                want = ([n.label for n in e.path.nodes], [n.id for n in e.path.nodes],
                        [x.type for x in e.path.relations])
                got = None if len(res.rows) != 1 else (list(res.rows[0][0]), list(res.rows[0][1]), list(res.rows[0][3]))
                if got == (want[0], want[1], want[2]):
                    valid += 1
                elif len(failures) < 5:
                    failures.append({"cypher": e.cypher, "parameters": dict(e.parameters), "rows": res.rows})
    out["validity"] = {"users": len(sample), "queries": total, "valid": valid, "share": valid / max(total, 1),
                       "query_latency": percentiles(qtimes) if qtimes else {}, "failures": failures}

    # NDCG@k on the run's test split, train + validation items excluded
    test = run.split.user_items("test")
    valid_items = run.split.user_items("valid")
    uid = run.id_maps[run.user_label]
    div_values = [float(x) for x in args.diversity.split(",")]
    quality = {d: {"ndcg": [], "recall": [], "ild": []} for d in div_values}
    t = time.perf_counter()
    for u_index in range(len(uid)):
        relevant_run = test[u_index]
        if not len(relevant_run):
            continue
        user = uid.id(u_index)
        scores = rec.scores(user, exclude_seen=False)
        seen = np.concatenate([run.train_items(u_index), valid_items[u_index]])
        rows = rec.run_item_rows(seen)
        scores[rows[rows >= 0]] = -np.inf
        relevant = {int(r) for r in rec.run_item_rows(relevant_run) if r >= 0}
        for d in div_values:
            top = rec.top(scores, args.k, diversity=d)
            quality[d]["ndcg"].append(ndcg_at(top, relevant, args.k))
            quality[d]["recall"].append(len(set(top.tolist()) & relevant) / min(len(relevant), args.k))
            quality[d]["ild"].append(intra_list_diversity(rec.item_unit_vectors(top)))
    out["quality_s"] = time.perf_counter() - t
    out["quality"] = {str(d): {f"ndcg@{args.k}": statistics.fmean(q["ndcg"]),
                               f"recall@{args.k}": statistics.fmean(q["recall"]),
                               f"ild@{args.k}": statistics.fmean(q["ild"]), "users": len(q["ndcg"])}
                      for d, q in quality.items()}

    print(f"\n## serving benchmark ({kg.name}, {run.config.model}, {len(users)} users, k={args.k})\n")
    le, lp = out["latency_explain"], out["latency_plain"]
    print(f"- recommend(k={args.k}, explain=True):  p50 {le['p50_ms']:.1f} ms, p95 {le['p95_ms']:.1f} ms, "
          f"p99 {le['p99_ms']:.1f} ms, mean {le['mean_ms']:.1f} ms")
    print(f"- recommend(k={args.k}, explain=False): p50 {lp['p50_ms']:.2f} ms, p95 {lp['p95_ms']:.2f} ms, "
          f"p99 {lp['p99_ms']:.2f} ms, mean {lp['mean_ms']:.2f} ms")
    c = out["coverage"]
    print(f"- coverage: {c['with_path']}/{c['recommendations']} = {c['share']:.4f} recommendations with >= 1 path "
          f"({c['explanations_per_item']:.2f} explanations each; hops {c['hops']})")
    v = out["validity"]
    print(f"- validity: {v['valid']}/{v['queries']} = {v['share']:.4f} Cypher queries return their path "
          f"({v['users']} users; query p50 {v.get('query_latency', {}).get('p50_ms', float('nan')):.1f} ms)")
    print(f"- test-split quality (run's own test ndcg@20: {run.metrics.test.get('ndcg@20', float('nan')):.4f}):")
    print(f"\n| diversity | NDCG@{args.k} | Recall@{args.k} | ILD@{args.k} |\n|---:|---:|---:|---:|")
    for d, q in out["quality"].items():
        print(f"| {d} | {q[f'ndcg@{args.k}']:.4f} | {q[f'recall@{args.k}']:.4f} | {q[f'ild@{args.k}']:.4f} |")
    print(f"\ntop patterns: {c['top_patterns']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0 if v["share"] == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
