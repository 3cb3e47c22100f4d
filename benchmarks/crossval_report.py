"""The accuracy table: datasets × models, test NDCG@20 and Recall@20, mean ± std over seeds.

Usage::

    python benchmarks/crossval_report.py \\
        --dataset lastfm=benchmarks/results/gnn/lastfm:benchmarks/results/peers/lastfm \\
        --dataset movielens-small=benchmarks/results/gnn/movielens-small:benchmarks/results/peers/movielens-small

Each ``--dataset NAME=GNN[,GNN...]:PEERS`` names one or more ``kgrec benchmark`` outputs (their
``benchmark.json``; a later one's model replaces an earlier one's row of the same name) and a folder
of RecBole runs (``MODEL-sSEED.run.json`` from ``benchmarks/peers.py``). Prints the markdown table
and, for each dataset, kgrec's margin over its own LightGCN and over the best peer.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

KGREC_ROWS = ("kgrec", "lightgcn", "ease", "xsimgcl")
PEER_ROWS = ("LightGCN+learning_rate=0.005", "LightGCN", "KGIN", "CKE", "KGCN", "EASE")
METRICS = ("ndcg@20", "recall@20")


def gnn_rows(paths: list[Path]) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for path in paths:
        data = json.loads((path / "benchmark.json" if path.is_dir() else path).read_text())
        for r in data["results"]:
            rows[r["model"]] = r["test"]
    return rows


def peer_rows(folder: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*-s*.run.json")):
        name = re.sub(r"-s\d+\.run\.json$", "", path.name)
        rows.setdefault(name, []).append(json.loads(path.read_text())["run"]["test"])
    return rows


def cell(values: list[dict] | None, key: str) -> str:
    if not values:
        return "—"
    v = np.array([m[key] for m in values], dtype=float)
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v.mean():.4f} (1 seed)"


def mean(values: list[dict] | None, key: str = "ndcg@20") -> float:
    return float(np.mean([m[key] for m in values])) if values else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True, help="NAME=GNN[,GNN...]:PEERS")
    args = parser.parse_args(argv)
    data = {}
    for spec in args.dataset:
        name, _, rest = spec.partition("=")
        gnn, _, peers = rest.partition(":")
        data[name] = ({f"{m} (kgrec)": v for m, v in gnn_rows([Path(p) for p in gnn.split(",")]).items()},
                      {f"{m} (RecBole)": v for m, v in (peer_rows(Path(peers)) if peers else {}).items()})
    names = list(data)
    head = ["model", *[f"{d} {m.upper()}" for d in names for m in METRICS]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---|" * (len(head) - 1)]
    order = [f"{m} (kgrec)" for m in KGREC_ROWS] + [f"{m} (RecBole)" for m in PEER_ROWS]
    for row in order:
        if not any(row in g or row in p for g, p in data.values()):
            continue
        cells = []
        for d in names:
            values = data[d][0].get(row) or data[d][1].get(row)
            cells += [cell(values, m) for m in METRICS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    print("\n".join(lines) + "\n")
    for d in names:
        gnn, peers = data[d]
        k = mean(gnn.get("kgrec (kgrec)"))
        own = mean(gnn.get("lightgcn (kgrec)"))
        best_name, best = max(((n, mean(v)) for n, v in peers.items()), key=lambda t: t[1], default=("—", np.nan))
        print(f"- {d}: kgrec {k:.4f}; vs its LightGCN {own:.4f}: {100 * (k / own - 1):+.1f} %; "
              f"vs the best peer ({best_name}, {best:.4f}): {100 * (k / best - 1):+.1f} %")


if __name__ == "__main__":
    main()
