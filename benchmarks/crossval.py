"""Cross-dataset validation: the loop that chooses kgrec's defaults.

Usage::

    python benchmarks/crossval.py --candidate default= --candidate t02="temperature=0.2" \\
        --datasets all --seeds 0 --threads 1 --out benchmarks/results/crossval

Each ``--candidate NAME=OVERRIDES`` is a kgrec config (space-separated ``key=value`` on top of
kgrec's defaults and ``--set``). For every dataset and seed it trains the candidate and the
reference (``--reference``, default ``lightgcn`` at its own defaults) on the dataset's split and
records **validation** NDCG@20 only: the test part is never scored here, so nothing chosen with
this script has seen a test number. The table gives, per candidate, ``kgrec − reference`` per
dataset (mean over seeds) and the minimum over datasets, the figure a default must improve.

Datasets (``--datasets``; ``all`` = every one): the three loaders' graphs and variants built by
filtering them here (not new sources):

==========================  ===================================================================
``lastfm``                  hetrec listening, friends, tags, Satori and DBpedia KGs; random split
``movielens-small``         ml-latest-small ratings, genres, tags; random split
``lastfm-kgcn``             KGCN's Last.fm subset (listening + Satori KG, no names but artists');
                            random split
``lastfm-notags``           ``lastfm`` without tags (no ``HAS_TAG``, ``TAGGED``, no Tag nodes)
``lastfm-kgonly``           ``lastfm`` listening + Satori/DBpedia only (no tags, no friends)
``movielens-temporal``      ``movielens-small`` with a temporal split (latest ratings to test)
``movielens-opaque``        ``movielens-small`` whose genres and tags have Freebase-like ids for
                            names (``m.0abc12``): a proxy of a KG with unreadable entities
``movielens-kgonly``        ``movielens-small`` ratings + genres (no tags, no user tagging)
``movielens-dense``         the 450 movies of ``movielens-small`` with 50 ratings or more (15 %
                            dense, more users than items, like ML-1M) with opaque genre and tag
                            ids: a proxy of a dense movie dataset with a Freebase KG
==========================  ===================================================================

Every run is one JSON file in ``OUT/runs/DATASET/``, named by the model, a hash of its effective
config and the seed; a later invocation reads it back instead of training again, so the reference
(which does not change while kgrec is tuned) is trained once per dataset and seed, and a stopped
screening resumes. ``--only-finished`` trains nothing and writes the table of what exists.
Text vectors come from the text layer (cached in ``KGREC_HOME``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger("crossval")

METRIC = "ndcg@20"


# ------------------------------------------------------------------------------------------------
# Datasets: loaders' graphs and filtered variants
# ------------------------------------------------------------------------------------------------
def drop_relations(kg, relations=(), labels=(), *, name: str):
    """``kg`` without the named relations and labels (and every relation touching those labels)."""
    from kgrec.kg import KnowledgeGraph

    labels = set(labels)
    keep_rel = [r for r in kg.schema.relations
                if r.name not in relations and r.source not in labels and r.target not in labels]
    schema = dataclasses.replace(kg.schema, nodes=tuple(n for n in kg.schema.nodes if n.label not in labels),
                                 relations=tuple(keep_rel))
    nodes = {k: v for k, v in kg.nodes.items() if k not in labels}
    edges = {et: df for et, df in kg.edges.items() if et in set(schema.edge_types)}
    return KnowledgeGraph(schema, nodes, edges, name=name, metadata={**kg.metadata, "variant_of": kg.name})


def opaque_id(value: str) -> str:
    """A Freebase-like machine id (``m.0`` + 5 characters of [0-9a-z_]) derived from ``value``."""
    alphabet = "0123456789bcdfghjklmnpqrstvwxyz_"
    digest = hashlib.sha256(value.encode("utf-8")).digest()
    return "m.0" + "".join(alphabet[b % len(alphabet)] for b in digest[:5])


def make_opaque(kg, labels, *, name: str):
    """``kg`` whose nodes of ``labels`` have opaque ids as id and name, and no text."""
    from kgrec.kg import KnowledgeGraph

    nodes = dict(kg.nodes)
    maps = {}
    for label in labels:
        df = nodes[label].copy()
        mapping = {old: opaque_id(f"{label}:{old}") for old in df["id"].astype(str)}
        if len(set(mapping.values())) != len(mapping):
            raise ValueError(f"opaque ids collide in {label}")
        df["id"] = df["id"].astype(str).map(mapping).astype("string")
        df["name"] = df["id"]
        if "text" in df.columns:
            df["text"] = pd.NA
        nodes[label] = df
        maps[label] = mapping
    edges = {}
    for (s, r, t), df in kg.edges.items():
        df = df.copy()
        if s in maps:
            df["src"] = df["src"].astype(str).map(maps[s]).astype("string")
        if t in maps:
            df["dst"] = df["dst"].astype(str).map(maps[t]).astype("string")
        edges[(s, r, t)] = df
    return KnowledgeGraph(kg.schema, nodes, edges, name=name, metadata={**kg.metadata, "variant_of": kg.name})


def dense_core(kg, min_interactions: int, *, name: str):
    """``kg`` restricted to the items with at least ``min_interactions`` interactions (and the edges of
    those items)."""
    from kgrec.kg import KnowledgeGraph

    item = kg.schema.item_label
    counts = kg.interactions["dst"].value_counts()
    keep = set(counts[counts >= min_interactions].index.astype(str))
    nodes = dict(kg.nodes)
    nodes[item] = nodes[item][nodes[item]["id"].astype(str).isin(keep)].reset_index(drop=True)
    edges = {}
    for (s, r, t), df in kg.edges.items():
        mask = np.ones(len(df), dtype=bool)
        if s == item:
            mask &= df["src"].astype(str).isin(keep).to_numpy()
        if t == item:
            mask &= df["dst"].astype(str).isin(keep).to_numpy()
        edges[(s, r, t)] = df[mask].reset_index(drop=True)
    return KnowledgeGraph(kg.schema, nodes, edges, name=name, metadata={**kg.metadata, "variant_of": kg.name})


def _lastfm_kgonly(kg):
    tags = [r.name for r in kg.schema.relations if "Tag" in (r.source, r.target)]
    return drop_relations(kg, relations=["FRIEND_OF", *tags], labels=["Tag"], name="lastfm-kgonly")


# name → (loader dataset, split, transform)
DATASETS: dict[str, tuple[str, str, Callable | None]] = {
    "lastfm": ("lastfm", "random", None),
    "movielens-small": ("movielens-small", "random", None),
    "lastfm-kgcn": ("lastfm-kgcn", "random", None),
    "lastfm-notags": ("lastfm", "random", lambda kg: drop_relations(kg, labels=["Tag"], name="lastfm-notags")),
    "lastfm-kgonly": ("lastfm", "random", _lastfm_kgonly),
    "movielens-temporal": ("movielens-small", "temporal", None),
    "movielens-opaque": ("movielens-small", "random",
                         lambda kg: make_opaque(kg, ["Genre", "Tag"], name="movielens-opaque")),
    "movielens-kgonly": ("movielens-small", "random",
                         lambda kg: drop_relations(kg, labels=["Tag"], name="movielens-kgonly")),
    "movielens-dense": ("movielens-small", "random",
                        lambda kg: make_opaque(dense_core(kg, 50, name="movielens-dense"), ["Genre", "Tag"],
                                               name="movielens-dense")),
}


def build(name: str):
    """The graph and split kind of a crossval dataset."""
    from kgrec.kg.sources import load_dataset

    source, split, transform = DATASETS[name]
    kg = load_dataset(source)
    return (transform(kg) if transform else kg), split


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------
def config_key(config) -> str:
    """A hash of the effective config's values that differ from ``TrainConfig``'s own defaults (so a
    field added later, at its default, leaves the keys of earlier runs as they were)."""
    from kgrec.gnn import TrainConfig

    base = TrainConfig().model_dump(mode="json")
    data = {k: v for k, v in config.model_dump(mode="json").items()
            if k not in {"seed", "device", "checkpoint_every", "eval_batch_size"} and base.get(k, object()) != v}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def rekey(runs: Path) -> int:
    """Rename run files whose key was computed by an older :func:`config_key` (or before a field was
    added to ``TrainConfig``), when the run's stored config still equals what its overrides give
    today (a field it lacks counting as at its default). Returns the number renamed."""
    from kgrec.gnn import TrainConfig, load_config

    base = TrainConfig().model_dump(mode="json")
    moved = 0
    for path in sorted(runs.glob("*/*.json")):
        record = json.loads(path.read_text())
        split = DATASETS.get(path.parent.name, (None, record["config"].get("split", "random")))[1]
        config = load_config(None, [*record["overrides"], f"split={split}", f"seed={record['seed']}",
                                    "checkpoint_every=0"]).effective()
        now = config.model_dump(mode="json")
        if any(record["config"].get(k, base.get(k)) != v for k, v in now.items() if k not in {"device"}):
            continue
        target = path.parent / f"{config.model}-{config_key(config)}-s{record['seed']}.json"
        if target != path and not target.exists():
            record["config"] = now
            target.write_text(json.dumps(record, indent=1))
            path.unlink()
            moved += 1
    return moved


def run_one(kg, split: str, overrides: list[str], seed: int, vectors, out: Path, *, train: bool) -> dict | None:
    """Train one config (or read its finished run back) and return its validation record."""
    import torch

    from kgrec.gnn import load_config, model_class
    from kgrec.gnn.train import Trainer, evaluate_model, prepare

    config = load_config(None, [*overrides, f"split={split}", f"seed={seed}", "checkpoint_every=0"]).effective()
    path = out / f"{config.model}-{config_key(config)}-s{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if not train or kg is None:
        return None
    # kgrec.gnn.train() without its test scoring: prepare, fit, the model's own validation choices
    t0 = time.perf_counter()
    inputs, _ = prepare(kg, config, vectors=vectors)
    torch.manual_seed(config.seed)
    model = model_class(config.model)(inputs, config)
    trainer = Trainer(config)
    fit = trainer.fit(model, inputs)
    selection = model.after_fit()
    valid = fit.best_valid
    if selection or not valid.values:
        valid = evaluate_model(model, inputs.split, part="valid", config=config, device=trainer.device)
    record = {"model": config.model, "overrides": overrides, "seed": seed, "valid": valid.to_dict(),
              "fit_valid": fit.best_valid.to_dict(), "best_epoch": fit.best_epoch, "epochs": fit.epochs,
              "seconds": time.perf_counter() - t0, "seconds_to_best": fit.seconds_to_best, "stopped": fit.stopped,
              "selection": json.loads(json.dumps(selection, default=str)),
              "history": [{"epoch": r.epoch, "valid": r.valid.get(config.monitor_metric)} for r in fit.history
                          if r.valid],
              "config": config.model_dump(mode="json")}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    logger.info("%s %s seed %d: valid %s=%.4f (best epoch %d, %.0f s)", kg.name, config.model, seed, METRIC,
                record["valid"].get(METRIC, float("nan")), fit.best_epoch, record["seconds"])
    return record


def gnn_alone(results: dict, candidates: list[str]) -> list[str]:
    """For each candidate with a closed-form block, a row ``NAME (GNN alone)`` read from the blend's
    record (its validation score at weight 0: the same trained GNN without the block)."""
    added = []
    for (name, dataset), records in list(results.items()):
        if name not in candidates:
            continue
        alone = []
        for r in records:
            blend = (r.get("selection") or {}).get("closed_form", {}).get("blend")
            if not blend:
                break
            alone.append({**r, "valid": {METRIC: blend["valid"].get("0", blend["valid"].get("0.0"))}})
        if len(alone) == len(records):
            key = f"{name} (GNN alone)"
            results[(key, dataset)] = alone
            if key not in added:
                added.append(key)
    return [f"{c} (GNN alone)" for c in candidates if f"{c} (GNN alone)" in added]


def table(results: dict, datasets: list[str], candidates: list[str], reference: str) -> str:
    """Markdown: per candidate, mean valid NDCG@20 minus the reference's per dataset, and the minimum."""
    lines = [f"Validation {METRIC.upper()} of each candidate minus `{reference}` (mean over seeds; "
             "test never scored). Absolute values below.", "",
             "| candidate | " + " | ".join(datasets) + " | **min** |", "|---|" + "---|" * (len(datasets) + 1)]
    ref = {d: _mean(results.get((reference, d))) for d in datasets}
    for c in candidates:
        deltas = [(_mean(results.get((c, d))) - ref[d]) for d in datasets]
        cells = [f"{x:+.4f}" if np.isfinite(x) else "—" for x in deltas]
        finite = [x for x in deltas if np.isfinite(x)]
        low = f"**{min(finite):+.4f}**" if len(finite) == len(deltas) and finite else "—"
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {low} |")
    lines += ["", "| model | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for c in [reference, *candidates]:
        cells = []
        for d in datasets:
            recs = results.get((c, d)) or []
            if not recs:
                cells.append("—")
                continue
            v = np.array([r["valid"][METRIC] for r in recs])
            ep = np.mean([r["best_epoch"] for r in recs])
            cells.append(f"{v.mean():.4f}" + (f" ± {v.std(ddof=1):.4f}" if len(v) > 1 else "") + f" (ep {ep:.0f})")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _mean(records) -> float:
    if not records:
        return float("nan")
    return float(np.mean([r["valid"][METRIC] for r in records]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", action="append", default=[], help="NAME=key=value key=value ...")
    parser.add_argument("--reference", default="lightgcn", help="the reference model (its own defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="shared key=value (candidates)")
    parser.add_argument("--datasets", default="all", help=f"comma-separated, or all: {', '.join(DATASETS)}")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only-finished", action="store_true", help="train nothing; table the finished runs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from kgrec.gnn.train import _vector_table

    datasets = list(DATASETS) if args.datasets == "all" else [d.strip() for d in args.datasets.split(",")]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; datasets: {', '.join(DATASETS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    candidates = []
    for spec in args.candidate or ["default="]:
        name, _, rest = spec.partition("=")
        candidates.append((name, ["model=kgrec", *args.overrides, *shlex.split(rest)]))
    if (args.out / "runs").is_dir():
        moved = rekey(args.out / "runs")
        if moved:
            logger.info("%d run files renamed to today's config keys", moved)
    results: dict = {}
    for dataset in datasets:
        kg, split = build(dataset) if not args.only_finished else (None, DATASETS[dataset][1])
        vectors = None
        runs_dir = args.out / "runs" / dataset
        for name, overrides in [(args.reference, [f"model={args.reference}"]), *candidates]:
            for seed in seeds:
                if vectors is None and not args.only_finished:
                    vectors = _vector_table(kg, None, needed=True, progress=False)
                rec = run_one(kg, split, overrides, seed, vectors, runs_dir, train=not args.only_finished)
                if rec is not None:
                    results.setdefault((name, dataset), []).append(rec)
            write(args, results, datasets, [c for c, _ in candidates])
    text = write(args, results, datasets, [c for c, _ in candidates])
    print(text)


def write(args, results, datasets, candidates) -> str:
    candidates = [*candidates, *gnn_alone(results, candidates)]
    text = table(results, datasets, candidates, args.reference)
    specs = "\n".join(f"- `{c}`" for c in args.candidate) or "- `default=`"
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "crossval.md").write_text(f"{text}\nCandidates:\n{specs}\n\nCommand: `{command}`\n")
    return text


if __name__ == "__main__":
    main()
