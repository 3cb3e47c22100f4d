"""Serving at catalogue scale (issue 17, item 4): top-k over 100k items without explanations, and the
memory of a loaded run.

    python benchmarks/serving_scale.py prepare --out DIR [--users 20000] [--items 100000] [--model kgrec]
    python benchmarks/serving_scale.py measure --out DIR [--queries 2000] [--k 10] [--json FILE]

``prepare`` generates the synthetic graph (``kgrec.synthetic``, ~20 interactions per user), trains
one epoch with text off, saves the run and its serving index (``graph_index.*``) into ``DIR``.
``measure`` runs in a fresh process: it loads the run and the index (memory-mapped) the way
``Recommender.load`` does, then times ``recommend(user, k, explain=False)`` for random known users
and reports p50/p95/p99, and the process's resident memory next to the bytes of the run's vectors
and of the index's arrays.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def prepare(args: argparse.Namespace) -> None:
    from kgrec.gnn import TrainConfig, train
    from kgrec.gnn.run import attach_files
    from kgrec.kg.sources import synthetic
    from kgrec.serving.index import GraphIndex
    from kgrec.serving.vectors import UnitVectors

    t = time.perf_counter()
    kg = synthetic(num_users=args.users, num_items=args.items, num_tags=max(60, args.items // 200),
                   num_genres=24, interactions_per_user=20.0, seed=0)
    print(f"graph: {kg.num_nodes(kg.schema.user_label):,} users, {kg.num_nodes(kg.schema.item_label):,} items, "
          f"{kg.num_edges():,} edges ({time.perf_counter() - t:.0f}s)", flush=True)
    t = time.perf_counter()
    config = TrainConfig(model=args.model, epochs=1, text=False, device="cpu", checkpoint_every=0, seed=0)
    run = train(kg, config, out=args.out)
    print(f"trained {args.model} 1 epoch, text off ({time.perf_counter() - t:.0f}s): {run.summary()}", flush=True)
    index = GraphIndex.from_graph(kg, order={label: m.ids for label, m in run.id_maps.items()},
                                  source={"from": "benchmark"})
    index.weigh(UnitVectors(index, run.node_vectors))
    attach_files(args.out, index.save(args.out))
    print(f"saved the serving index in {args.out}")


def measure(args: argparse.Namespace) -> dict:
    from kgrec.gnn.run import Run
    from kgrec.serving import Recommender
    from kgrec.serving.index import GraphIndex

    before = _rss_mb()
    t = time.perf_counter()
    run = Run.load(args.out)
    index = GraphIndex.load(args.out)
    rec = Recommender(run, index=index)
    load_s = time.perf_counter() - t
    loaded = _rss_mb()
    users = rec.users()
    rng = np.random.default_rng(0)
    picks = [users[i] for i in rng.integers(0, len(users), size=args.queries + 50)]
    for u in picks[:50]:  # warm
        rec.recommend(u, args.k, explain=False)
    times = []
    cpu = time.process_time()
    for u in picks[50:]:
        t = time.perf_counter()
        recs = rec.recommend(u, args.k, explain=False)
        times.append(time.perf_counter() - t)
        assert len(recs) == args.k
    cpu_ms = (time.process_time() - cpu) / len(times) * 1e3
    a = np.asarray(times) * 1e3
    vector_mb = sum(np.asarray(v).nbytes for v in run.node_vectors.values()) / 2**20
    index_mb = sum(p.stat().st_size for p in Path(args.out).glob("graph_index.*")) / 2**20
    out = {
        "command": " ".join(["python", "benchmarks/serving_scale.py", *sys.argv[1:]]),
        "items": rec.num_items, "users": rec.num_users, "dim": int(run.item_vectors.shape[1]), "k": args.k,
        "queries": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "cpu_ms_per_call": cpu_ms,
        "load_s": load_s, "load_average": os.getloadavg()[0],
        "rss_before_mb": before, "rss_loaded_mb": loaded, "rss_after_mb": _rss_mb(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "run_vectors_mb": vector_mb, "index_files_mb": index_mb,
    }
    print(f"recommend(k={args.k}, explain=False) over {out['items']:,} items, d={out['dim']}: "
          f"p50 {out['p50_ms']:.2f} ms, p95 {out['p95_ms']:.2f} ms, p99 {out['p99_ms']:.2f} ms, CPU "
          f"{cpu_ms:.2f} ms a call ({out['queries']} queries, load average {out['load_average']:.1f}); load {load_s:.1f}s; RSS {before:.0f} -> {loaded:.0f} MB "
          f"(run vectors {vector_mb:.0f} MB, index files {index_mb:.0f} MB, memory-mapped)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("prepare", "measure"))
    ap.add_argument("--out", type=Path, required=True, help="the run directory")
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--model", default="kgrec")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default: 1)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.step == "prepare":
        import torch

        torch.set_num_threads(args.threads)
        prepare(args)
    else:
        measure(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
