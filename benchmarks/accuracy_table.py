"""The accuracy section's opening table, from the committed result files (trains nothing).

    python benchmarks/accuracy_table.py            # prints the markdown table

Test NDCG@20 and Recall@20, mean ± std over the seeds found, for every dataset × model that has
results: kgrec's own models from ``benchmarks/results/heldout/DATASET/benchmark.json`` (written by
``heldout.py``; ``heldout-xsimgcl/`` for XSimGCL) and RecBole's from
``benchmarks/results/peers/DATASET/*.run.json`` (written by ``peers.py``; a ``.stopped.json`` is a
run stopped by hand and tested at its best checkpoint, marked so). A missing cell is a run not made.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ["lastfm", "movielens-small", "lastfm-kgcn", "movielens-dense"]
KGREC_MODELS = [("kgrec", "kgrec"), ("lightgcn", "its LightGCN"), ("ease", "its EASE"), ("xsimgcl", "its XSimGCL")]
PEERS = [("LightGCN", "RecBole LightGCN"), ("KGIN", "RecBole KGIN"), ("CKE", "RecBole CKE"),
         ("KGCN", "RecBole KGCN"), ("EASE", "RecBole EASE")]
METRICS = ["ndcg@20", "recall@20"]


def kgrec_runs(dataset: str) -> dict[str, list[dict]]:
    """model → the test metrics of each seed, from heldout.py's files."""
    runs: dict[str, list[dict]] = {}
    for folder in ["heldout", "heldout-xsimgcl"]:
        path = RESULTS / folder / dataset / "benchmark.json"
        if path.exists():
            for row in json.loads(path.read_text())["results"]:
                runs.setdefault(row["model"], row["test"])
    return runs


def peer_runs(dataset: str) -> dict[str, tuple[list[dict], bool]]:
    """RecBole model → (the test metrics of each seed, stopped by hand), from peers.py's files. Where a
    model ran at RecBole's default and with a setting of its own (``LightGCN+learning_rate=0.005``),
    the better mean NDCG@20 is shown (both rows are in the peers section)."""
    found: dict[str, dict[str, list[dict]]] = {}
    stopped: set[str] = set()
    for path in sorted((RESULTS / "peers" / dataset).glob("*.json")):
        match = re.fullmatch(r"(\w+)(\+[^-]*)?-s\d+\.(run|stopped)\.json", path.name)
        if not match:
            continue
        data = json.loads(path.read_text())
        test = data["run"]["test"] if match[3] == "run" else data["checkpoint"]["test"]
        found.setdefault(match[1], {}).setdefault(match[1] + (match[2] or ""), []).append(test)
        if match[3] == "stopped":
            stopped.add(match[1])
    best = {}
    for model, variants in found.items():
        runs = max(variants.values(), key=lambda r: np.mean([t["ndcg@20"] for t in r]))
        best[model] = (runs, model in stopped)
    return best


def cell(runs: list[dict], metric: str, mark: str = "") -> str:
    values = np.array([r[metric] for r in runs], dtype=float)
    spread = f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else f" ({len(values)} seed{mark})"
    return f"{values.mean():.4f}{spread}"


def table() -> str:
    columns = [name for _, name in KGREC_MODELS] + [name for _, name in PEERS]
    lines = ["| dataset | metric | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for dataset in DATASETS:
        own, peers = kgrec_runs(dataset), peer_runs(dataset)
        for metric in METRICS:
            cells = [cell(own[m], metric) if m in own else "—" for m, _ in KGREC_MODELS]
            cells += [cell(peers[m][0], metric, ", stopped" if peers[m][1] else "") if m in peers else "—"
                      for m, _ in PEERS]
            lines.append(f"| {dataset} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table())
