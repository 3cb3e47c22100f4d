"""Intent on real data (issue 19): query-conditioned ranking, anonymous sessions, text feedback, latency.

    python benchmarks/intent.py train lastfm --seeds 0,1,2 --out DIR [--threads 1]
    python benchmarks/intent.py measure lastfm --seeds 0,1,2 --out DIR [--cases 1500] [--json FILE]
        [--parts queries,sessions,feedback] [--split test|valid] [--preference-share 0.1,0.2,...]
    python benchmarks/intent.py latency lastfm --seed 0 --out DIR [--queries 200] [--repeats 5]

``train`` builds the leakage-free graph of the dataset (:mod:`intent_graphs`: the query cases'
user→tag edges removed, the users' own tags of their held-out items subtracted) and trains the
kgrec model on it once per seed (random split, split seed 0; text on the quick path: short item
documents), saving ``DIR/<dataset>-s<seed>``. ``measure`` serves each run over the serving graph
(training interactions only) and measures, with the public API (``Recommender.recommend``,
``Recommender.feedback(text=)``):

1. **query-conditioned ranking**: NDCG@20 / Recall@20 of the no-intent list, text-only retrieval
   (``fusion_weight=0``) and every fusion mode (``weighted`` over a grid of weights, ``rerank``,
   ``union``) on the validation cases, the best chosen there, and all of them on the test cases;
2. **anonymous sessions**: test users as unknown visitors with 1, 3 and 5 of their training items as
   the session, against popularity and the known user's own list, NDCG@20 / Recall@20 on their
   test items (every list leaves out the user's training items);
3. **text feedback**: for test users whose list has a dominant tag (at least 5 of the top 20),
   "less <tag>" and, for a tag of their history the list under-represents, "more <tag>": the
   tag's share of the top 20 before and after, and NDCG@20 on the user's test items that do not
   carry the tag, before and after.

``--parts`` measures only some of the three; ``--split valid`` draws the users of sessions and
text feedback from those with validation items and scores their validation items instead (for
choosing a setting; the query cases always report both parts); ``--preference-share`` measures
text feedback once per value of ``IntentConfig.preference_share`` (a grid, JSON key
``feedback_grid``) instead of once with the default.

``latency`` times ``recommend(user, query=..., explain=False)`` after the first call of each query.
Set ``OPENBLAS_NUM_THREADS=1`` on a shared CPU (a matrix–vector product on 2 busy cores is ~30×
slower with 2 BLAS threads than with 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intent_graphs import Case, prepare, sample  # noqa: E402

K = 20
WEIGHTS = (0.2, 0.35, 0.5, 0.65, 0.8)
SESSION_SIZES = (1, 3, 5)
PARTS = ("queries", "sessions", "feedback")


def _data_home() -> Path:
    from kgrec.config import data_home

    home = data_home()
    if home is None:
        raise SystemExit("set KGREC_DATA_HOME to the folder of the real datasets")
    return home


def _load(dataset: str, protocol: str = "tags"):
    from kgrec.kg.sources import load_dataset

    kg = load_dataset(dataset, download=False)
    return kg, prepare(kg, dataset, _data_home(), protocol=protocol)


# -- training ------------------------------------------------------------------------------------
def train(args: argparse.Namespace) -> None:
    import torch

    from kgrec.gnn import TrainConfig
    from kgrec.gnn import train as train_run
    from kgrec.text import TextConfig

    torch.set_num_threads(args.threads)
    _, prep = _load(args.dataset)
    print(f"{args.dataset}: {len(prep.cases)} query cases; removed {prep.removed_tagged} user→tag edges, "
          f"subtracted {prep.subtracted} tag assignments", flush=True)
    text = TextConfig(documents="short", labels="items", threads=args.threads)
    for seed in args.seeds:
        out = Path(args.out) / f"{args.dataset}-s{seed}"
        if (out / "manifest.json").is_file():
            print(f"{out}: already trained", flush=True)
            continue
        t = time.perf_counter()
        config = TrainConfig(model=args.model, seed=seed, device="cpu", checkpoint_every=0, **args.set)
        run = train_run(prep.train_graph, config, text=text, out=out, progress=False)
        print(f"seed {seed}: {run.summary()} ({time.perf_counter() - t:.0f}s)", flush=True)


# -- metrics -------------------------------------------------------------------------------------
def ndcg_recall(ranked: list[str], relevant: set[str] | frozenset[str], k: int = K) -> tuple[float, float]:
    """NDCG@k (binary gains, ideal over min(|relevant|, k)) and Recall@k (hits / |relevant|)."""
    if not relevant:
        return float("nan"), float("nan")
    hits = [1.0 if i in relevant else 0.0 for i in ranked[:k]]
    dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg / ideal, sum(hits) / len(relevant)


def _mean(values) -> float:
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float("nan")


def _recommender(args: argparse.Namespace, seed: int, prep, **intent):
    from kgrec.serving import Recommender

    run_dir = Path(args.out) / f"{args.dataset}-s{seed}"
    if not intent:  # the default settings (also on a checkout whose IntentConfig lacks a later field)
        return Recommender.load(run_dir, graph=prep.serving_graph, max_hops=2)
    from kgrec.serving.intent import IntentConfig

    return Recommender.load(run_dir, graph=prep.serving_graph, max_hops=2, intent=IntentConfig(**intent))


def _ids(recs) -> list[str]:
    return [r.item.id for r in recs]


# -- 1. query-conditioned ranking ---------------------------------------------------------------
def variants() -> list[tuple[str, dict]]:
    out = [("no intent", {}), ("text only", {"fusion": "weighted", "fusion_weight": 0.0})]
    out += [(f"weighted w={w}", {"fusion": "weighted", "fusion_weight": w}) for w in WEIGHTS]
    out += [("rerank", {"fusion": "rerank"}), ("union", {"fusion": "union"})]
    return out


def query_ranking(rec, cases: list[Case]) -> dict[str, dict[str, float]]:
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants()}
    base: dict[str, list[str]] = {}
    for case in cases:
        for name, options in variants():
            if name == "no intent":
                if case.user not in base:
                    base[case.user] = _ids(rec.recommend(case.user, k=K, explain=False))
                ranked = base[case.user]
            else:
                ranked = _ids(rec.recommend(case.user, k=K, query=case.query, explain=False, **options))
            scores[name].append(ndcg_recall(ranked, case.relevant))
    return {name: {"ndcg@20": _mean(v[0] for v in vals), "recall@20": _mean(v[1] for v in vals),
                   "cases": len(vals)} for name, vals in scores.items()}


# -- 2. anonymous sessions ----------------------------------------------------------------------
def sessions(rec, prep, *, users: int, seed: int, held: dict[str, set[str]]) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    pool = sorted(u for u, items in held.items() if items and len(prep.train.get(u, ())) >= max(SESSION_SIZES))
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), min(users, len(pool)), replace=False).tolist())]
    popularity = rec.intent.popularity()
    item_label = rec.item_label
    pop_order = [rec.index.node_id(item_label, int(r)) for r in np.argsort(-popularity, kind="stable")
                 if rec.scorer.recommendable(int(r))]
    out: dict[str, list[tuple[float, float]]] = {"popularity": [], "known user": []}
    for n in SESSION_SIZES:
        out[f"session of {n}"] = []
    for u in chosen:
        train = prep.train[u]
        relevant = held[u]
        out["popularity"].append(ndcg_recall([i for i in pop_order if i not in train][:K], relevant))
        out["known user"].append(ndcg_recall(_ids(rec.recommend(u, k=K, explain=False)), relevant))
        history = sorted(train)
        for n in SESSION_SIZES:
            session = [history[i] for i in rng.choice(len(history), n, replace=False).tolist()]
            ranked = _ids(rec.recommend(session=session, k=K + len(train), explain=False))
            out[f"session of {n}"].append(ndcg_recall([i for i in ranked if i not in train][:K], relevant))
    return {name: {"ndcg@20": _mean(v[0] for v in vals), "recall@20": _mean(v[1] for v in vals), "users": len(vals)}
            for name, vals in out.items()}


# -- 3. text feedback ---------------------------------------------------------------------------
def _tag_items(rec, label: str) -> dict[str, set[str]]:
    """Tag id → item ids carrying it, from the serving index."""
    index, item_label = rec.index, rec.item_label
    out: dict[str, set[str]] = {}
    for row in range(index.num_nodes(label)):
        items = rec.intent.preferences.linked_items(label, index.node_id(label, row))
        if len(items):
            out[index.node_id(label, row)] = {index.node_id(item_label, int(r)) for r in items}
    return out


def text_feedback(rec, prep, *, label: str, users: int, seed: int, held: dict[str, set[str]]
                  ) -> dict[str, dict[str, float]]:
    from kgrec.errors import InputError

    rng = np.random.default_rng(seed)
    carrying = _tag_items(rec, label)
    names = {rec.index.node_id(label, r): rec.index.name(label, r) for r in range(rec.index.num_nodes(label))}
    pool = sorted(u for u, items in held.items() if items)
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), min(users, len(pool)), replace=False).tolist())]
    rows: dict[str, list[dict[str, float]]] = {"less": [], "more": []}
    skipped: dict[str, list[str]] = {"less": [], "more": []}  # tag names the feedback parser reads as no cue
    for u in chosen:
        base = _ids(rec.recommend(u, k=K, explain=False))
        shares = {t: sum(i in items for i in base) / K for t, items in carrying.items()}
        history = prep.train.get(u, set())
        counts = {t: len(items & history) for t, items in carrying.items()}
        dominant = max(shares, key=lambda t: (shares[t], counts[t], t))
        if shares[dominant] >= 0.25:
            try:
                rows["less"].append(_one_feedback(rec, u, f"less {names[dominant]}", dominant, carrying, base, held))
            except InputError:
                skipped["less"].append(names[dominant])
        under = [t for t in counts if counts[t] >= 3 and shares[t] <= 0.1]
        if under:
            more = max(under, key=lambda t: (counts[t], t))
            try:
                rows["more"].append(_one_feedback(rec, u, f"more {names[more]}", more, carrying, base, held))
            except InputError:
                skipped["more"].append(names[more])
    return {kind: {**_feedback_summary(vals), "skipped": skipped[kind]} for kind, vals in rows.items()}


def _one_feedback(rec, user: str, sentence: str, tag: str, carrying, base: list[str], held: dict[str, set[str]]
                  ) -> dict[str, float]:
    items = carrying[tag]
    others = {i for i in held[user] if i not in items}
    rec.feedback(user, text=sentence)
    after = _ids(rec.recommend(user, k=K, explain=False))
    rec.feedback(user, text=f"forget {sentence.split(' ', 1)[1]}")
    before_ndcg = ndcg_recall(base, others)[0] if others else float("nan")
    after_ndcg = ndcg_recall(after, others)[0] if others else float("nan")
    return {"share_before": sum(i in items for i in base) / K, "share_after": sum(i in items for i in after) / K,
            "ndcg_before": before_ndcg, "ndcg_after": after_ndcg}


def _feedback_summary(vals: list[dict[str, float]]) -> dict[str, float]:
    if not vals:
        return {"users": 0}
    before = _mean(v["share_before"] for v in vals)
    after = _mean(v["share_after"] for v in vals)
    nb, na = _mean(v["ndcg_before"] for v in vals), _mean(v["ndcg_after"] for v in vals)
    halved = _mean(float(v["share_after"] <= v["share_before"] / 2) for v in vals)
    return {"users": len(vals), "share_before": before, "share_after": after, "share_ratio": after / before,
            "halved_or_better": halved, "ndcg_others_before": nb, "ndcg_others_after": na,
            "ndcg_others_change": na / nb - 1 if nb > 0 else float("nan")}


# -- the commands ---------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict:
    kg, prep = _load(args.dataset, args.protocol)
    valid = sample([c for c in prep.cases if c.part == "valid"], args.cases, seed=0)
    test = sample([c for c in prep.cases if c.part == "test"], args.cases, seed=1)
    label = next(et[2] for et in kg.edges if et[0] == kg.schema.item_label and et[1] == "HAS_TAG")
    parts = set(args.parts)
    held = getattr(prep, args.split)
    results: dict = {"dataset": args.dataset, "protocol": args.protocol, "parts": sorted(parts),
                     "split": args.split, "cases": {"valid": len(valid),
                     "test": len(test), "all_valid": sum(c.part == "valid" for c in prep.cases),
                     "all_test": sum(c.part == "test" for c in prep.cases)},
                     "removed_tagged": prep.removed_tagged, "subtracted": prep.subtracted, "seeds": {}}
    for seed in args.seeds:
        t = time.perf_counter()
        rec = _recommender(args, seed, prep)
        entry: dict = {}
        if "queries" in parts:
            entry.update(valid=query_ranking(rec, valid), test=query_ranking(rec, test))
            print(f"seed {seed}: query ranking ({time.perf_counter() - t:.0f}s)", flush=True)
        if "sessions" in parts:
            entry["sessions"] = sessions(rec, prep, users=args.users, seed=seed, held=held)
            print(f"seed {seed}: sessions ({time.perf_counter() - t:.0f}s)", flush=True)
        if "feedback" in parts and not args.preference_share:
            entry["feedback"] = text_feedback(rec, prep, label=label, users=args.users, seed=seed, held=held)
            print(f"seed {seed}: feedback ({time.perf_counter() - t:.0f}s)", flush=True)
        elif "feedback" in parts:
            entry["feedback_grid"] = {}
            for share in args.preference_share:
                graded = _recommender(args, seed, prep, preference_share=share)
                entry["feedback_grid"][str(share)] = text_feedback(graded, prep, label=label, users=args.users,
                                                                   seed=seed, held=held)
                print(f"seed {seed}: feedback, preference_share={share} ({time.perf_counter() - t:.0f}s)",
                      flush=True)
        results["seeds"][str(seed)] = entry
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return results


def latency(args: argparse.Namespace) -> dict:
    _, prep = _load(args.dataset)
    rec = _recommender(args, args.seed, prep)
    rng = np.random.default_rng(0)
    queries = sorted({c.query for c in prep.cases})
    queries = [queries[i] for i in rng.choice(len(queries), min(args.queries, len(queries)), replace=False)]
    users = rec.users()
    t = time.perf_counter()
    rec.intent.ready()
    ready_s = time.perf_counter() - t
    first, later, cpu = [], [], []
    for q in queries:
        u = users[int(rng.integers(len(users)))]
        t = time.perf_counter()
        rec.recommend(u, k=10, query=q, explain=False)
        first.append(time.perf_counter() - t)
        for _ in range(args.repeats):
            u = users[int(rng.integers(len(users)))]
            t, c = time.perf_counter(), time.process_time()
            rec.recommend(u, k=10, query=q, explain=False)
            later.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    ms = np.asarray(later) * 1000
    out = {"dataset": args.dataset, "queries": len(queries), "calls": len(later), "intent_ready_s": ready_s,
           "first_call_ms_p50": float(np.median(first) * 1000), "p50_ms": float(np.percentile(ms, 50)),
           "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
           "cpu_ms_mean": float(np.mean(cpu) * 1000), "encoder_calls": rec.intent.queries.encoder_calls,
           "load_average": os.getloadavg()[0], "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


def _sets(values: list[str]) -> dict:
    out = {}
    for v in values:
        key, _, value = v.partition("=")
        out[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return out


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "measure", "latency"):
        p = sub.add_parser(name)
        p.add_argument("dataset", choices=("lastfm", "movielens-small"))
        p.add_argument("--out", required=True)
        p.add_argument("--json")
    t = sub.choices["train"]
    t.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--model", default="kgrec")
    t.add_argument("--set", action="append", default=[], help="a TrainConfig field, key=value (repeatable)")
    m = sub.choices["measure"]
    m.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    m.add_argument("--cases", type=int, default=1500)
    m.add_argument("--users", type=int, default=300)
    m.add_argument("--protocol", choices=("tags", "genres"), default="tags")
    m.add_argument("--parts", type=lambda s: s.split(","), default=list(PARTS),
                   help=f"what to measure, comma-separated: {','.join(PARTS)} (default: all)")
    m.add_argument("--queries-only", action="store_true", help="the same as --parts queries")
    m.add_argument("--split", choices=("test", "valid"), default="test",
                   help="the held-out items of sessions and text feedback (default: test)")
    m.add_argument("--preference-share", type=lambda s: [float(x) for x in s.split(",")], default=[],
                   help="measure text feedback once per IntentConfig.preference_share value (a grid)")
    la = sub.choices["latency"]
    la.add_argument("--seed", type=int, default=0)
    la.add_argument("--queries", type=int, default=200)
    la.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "train":
        args.set = _sets(args.set)
        train(args)
    elif args.command == "measure":
        if args.queries_only:
            args.parts = ["queries"]
        unknown = sorted(set(args.parts) - set(PARTS))
        if unknown:
            parser.error(f"--parts: unknown {unknown}; choose from {', '.join(PARTS)}")
        measure(args)
    else:
        latency(args)


if __name__ == "__main__":
    main()
