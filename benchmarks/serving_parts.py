"""Where ``recommend(k=20, explain=True)`` spends its time, for some users of a run.

    python benchmarks/serving_parts.py --run RUN_DIR [--users 200] [--k 20] [--per-relation N]

Loads the run's dataset (not the store), builds a :class:`Recommender` and, per user, times the
parts one request goes through: scores (one matrix-vector product), top-k, the path search (and
the user-side beam expansion inside it), and building the explanations (choice, sentence, Cypher);
then the whole call (explain on and off). Prints mean / p50 / p99 per part.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--users", type=int, default=200, help="the first N users of the run's graph")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--per-relation", type=int, default=None,
                    help="search_paths' per_relation (default: its own); 0 = the search before it existed")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from kgrec.gnn import Run
    from kgrec.kg.sources import load_dataset
    from kgrec.serving import Recommender
    from kgrec.serving import search as ex

    if args.per_relation is not None:
        import functools

        ex_search = functools.partial(ex.search_paths, per_relation=args.per_relation)
    else:
        ex_search = ex.search_paths
    run = Run.load(args.run)
    rec = Recommender(run, load_dataset(run.graph))
    users = rec.users()[:args.users]
    times: dict[str, list[float]] = {k: [] for k in ("scores", "top", "search", "expand", "explanations",
                                                     "recommend explain=True", "recommend explain=False")}
    expand = ex._expand

    def timed_expand(*a, **kw):
        t = time.perf_counter()
        out = expand(*a, **kw)
        times["expand"].append(time.perf_counter() - t)
        return out

    ex._expand = timed_expand
    for u in users[:10]:
        rec.recommend(u, args.k)
    times["expand"].clear()
    index, scorer, explainer = rec.index, rec.scorer, rec.explainer
    step = index.step_index(rec.interaction, "out")
    for u in users:
        row = index.row(rec.user_label, u)
        t = time.perf_counter()
        s = scorer.scores(row, exclude=index.neighbours(rec.user_label, row, step))
        times["scores"].append(time.perf_counter() - t)
        t = time.perf_counter()
        top = scorer.top(s, args.k)
        times["top"].append(time.perf_counter() - t)
        t = time.perf_counter()
        found = ex_search(index, row, top, max_hops=rec.max_hops, beam=rec.beam)
        times["search"].append(time.perf_counter() - t)
        t = time.perf_counter()
        for item in top.tolist():
            explainer.explanations(found.get(item, []), 3)
        times["explanations"].append(time.perf_counter() - t)
    for explain in (True, False):
        for u in users:
            t = time.perf_counter()
            rec.recommend(u, args.k, explain=explain)
            times[f"recommend explain={explain}"].append(time.perf_counter() - t)
    recs = [r for u in users for r in rec.recommend(u, args.k)]
    patterns = {tuple(x.type for x in e.path.relations) for r in recs for e in r.explanations}
    kinds = sum(len({e.path.relations[-1].type for e in r.explanations}) for r in recs) / max(len(recs), 1)
    print(f"explained {sum(bool(r.explanations) for r in recs)}/{len(recs)} recommendations; {len(patterns)} "
          f"relation patterns shown; {kinds:.2f} kinds of last hop per recommendation")
    for name, xs in times.items():
        a = np.asarray(xs) * 1e3
        print(f"{name:>24}: mean {a.mean():6.2f} ms, p50 {np.median(a):6.2f} ms, p99 {np.percentile(a, 99):6.2f} ms "
              f"({len(a)} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
