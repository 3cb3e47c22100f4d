"""RecBole's LightGCN / KGIN / KGCN / CKE / EASE beside kgrec and its baselines, on kgrec's exact split, in one run.

Usage::

    python benchmarks/peers.py lastfm --models LightGCN,KGIN,KGCN,CKE,EASE --seeds 0 --out /tmp/peers/lastfm

RecBole's EASE is closed-form (one "epoch", no early stopping; ``reg_weight`` 250 by default) and
deterministic: one seed tells all, though the matrix runs every seed asked for.

Steps, all in this one command:

1. ``load_dataset(DATASET)`` (kgrec's loader, ``KGREC_DATA_HOME``), or a variant that
   ``crossval.py`` builds from one (``movielens-dense``: random splits only).
2. kgrec's split, made by kgrec's own :func:`kgrec.gnn.split_interactions` with the arguments that
   :func:`kgrec.gnn.train` uses (``random``, split seed ``--split-seed``, 10 % validation, 10 % test
   per user). As in ``kgrec benchmark``, the split is the same for every model and every seed; the
   seeds vary initialisation, batches and negatives.
3. Export to RecBole atomic files in ``OUT/data/kgrec-DATASET/`` (:func:`export_recbole`, over
   kgrec's writer :func:`kgrec.kg.sources.recbole.write_recbole`):
   ``.inter`` (every interaction), ``.train.inter`` / ``.valid.inter`` / ``.test.inter`` (exactly
   kgrec's three parts; users and items keep kgrec's external ids), ``.kg`` and ``.link``.
4. Each RecBole model, for each seed, through ``../shared/peers/recbole/run.py --split-files`` in
   RecBole's own virtualenv (``--venv``; made by ``../shared/peers/recbole/setup.sh``), under
   ``/usr/bin/time`` for its peak memory; its log gives the epochs, time per epoch and time to the
   best validation epoch. ``--models LightGCN+learning_rate=0.005`` gives one peer a RecBole setting
   of its own (a row and run files of its own); what run.py fixes for every peer is refused.
5. kgrec's models (``--kgrec-models``) through :func:`kgrec.gnn.benchmark` on the same graph and split.
   Or ``--kgrec-from DIR``: kgrec's rows from a ``kgrec benchmark`` of the same graph, split and
   split seed (its ``benchmark.json``), run beside the peers, instead of training them twice.
6. One markdown table (``OUT/peers.md``) and the raw numbers (``OUT/peers.json``), rewritten after
   every finished run.

``--jobs N`` runs N RecBole runs at a time (with ``--threads 1``, one per core). A run that an
earlier invocation finished (``MODEL-sSEED.run.json`` in ``OUT/logs`` or in ``--results DIR``, made
on an export with the same row counts) is read back, not trained again, so the same command resumes
a matrix that a stop interrupted; ``--only-finished`` trains nothing and writes the table of the runs
finished so far. ``benchmarks/results/peers/DATASET`` holds them.

Which relations become ``.kg`` triples (:func:`kg_edge_types`): every edge type of the graph whose two
ends are not users. RecBole's KG models take a KG over items and entities only; user-side
relations have no place in them. For ``lastfm`` that is the 15,518 Satori triples, the DBpedia
triples (``DBO_*``) and ``HAS_TAG`` (artist → tag); for ``movielens-small`` ``HAS_GENRE`` and
``HAS_TAG`` (movie → tag). ``LISTENED_TO`` / ``RATED`` are the interactions; ``FRIEND_OF`` (user →
user) and ``TAGGED`` (user → tag) stay out: kgrec's own model trains on them, the peers cannot.
Entities are named ``<Label>:<row>`` (kgrec's row in that label's node table; a KG id such as a
DBpedia URI may hold characters that RecBole's tab-separated reader mishandles); ``OUT/data/.../
entities.tsv`` maps them back to kgrec's ids. Every item is linked to its own entity.

RecBole drops every interaction whose item has no entity that occurs in a ``.kg`` triple
(``KnowledgeBasedDataset._filter_link``); with fixed split files that would also shift rows between
the parts. So an interacted item with no KG fact gets one triple ``(item, NO_KG_FACT, item)`` (a
self-loop: it carries no information and keeps every row of kgrec's split).

Early stopping: run.py asks RecBole for validation every epoch, NDCG@20 as the valid metric,
``stopping_step`` 10, test at the best validation epoch; kgrec's trainer does the same with
``patience`` 10. (RecBole stops after 11 evaluations without improvement, kgrec after 10; RecBole
counts a tie as an improvement. The best epoch is chosen the same way.) ``metric_decimal_place`` is
raised to 8 so RecBole's early stopping and its reported metrics are not rounded to 4 places.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.kg.sources.recbole import NO_KG_RELATION, kg_edge_types, write_recbole  # noqa: F401 (re-exported)
from kgrec.kg.sources.recbole import RecboleExport as ExportReport

logger = logging.getLogger("peers")

REPO = Path(__file__).resolve().parents[1]
RECBOLE_DIR = REPO.parent / "shared" / "peers" / "recbole"
DEFAULT_VENV = Path("/tmp/peers/recbole-venv")
PEER_MODELS = ("LightGCN", "KGIN", "KGCN", "CKE", "EASE")
KGREC_MODELS = ("kgrec", "lightgcn", "bprmf", "itemknn", "textknn", "pop", "ease", "xsimgcl")
COLUMNS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "mrr@10")


# ------------------------------------------------------------------------------------------------
# Export: kgrec's RecBole writer (kgrec.kg.sources.recbole, beside its reader) on kgrec's split
# ------------------------------------------------------------------------------------------------
def export_recbole(kg, split, folder: str | os.PathLike, *, name: str) -> ExportReport:
    """Write kgrec's split of ``kg`` as RecBole atomic files in ``folder/name/``
    (:func:`kgrec.kg.sources.recbole.write_recbole` with the split's train, valid and test parts).

    Args:
        kg: the knowledge graph.
        split: a ranking :class:`kgrec.gnn.Split` of ``kg`` (``random``, ``temporal``, ``cold-items``).
        folder: RecBole's ``data_path``.
        name: the RecBole dataset name (never ``ml-100k``: RecBole reads its bundled copy for it).
    """
    if split.labelled:
        raise ValueError("the kgcn click protocol has labelled negatives; RecBole's ranking runs need a ranking split")
    parts = {p: split.positives(p) for p in ("train", "valid", "test")}
    return write_recbole(kg, folder, name=name, parts=parts)


def load_graph(dataset: str):
    """A loader's dataset, or a variant ``crossval.py`` builds from one (its random split only)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from crossval import DATASETS, build

    if dataset not in DATASETS:
        from kgrec.kg.sources import load_dataset

        return load_dataset(dataset)
    kg, kind = build(dataset)
    if kind != "random":
        raise SystemExit(f"peers.py: {dataset!r} is validated on a {kind!r} split; peers run on kgrec's random split only")
    return kg


def make_split(kg, *, split_seed: int = 0):
    """kgrec's split exactly as :func:`kgrec.gnn.train` makes it with these settings."""
    from kgrec.gnn import TrainConfig, split_interactions

    cfg = TrainConfig(split="random", split_seed=split_seed)
    return split_interactions(kg, cfg.split, seed=cfg.effective_split_seed, valid=cfg.valid_fraction,
                              test=cfg.test_fraction)


# ------------------------------------------------------------------------------------------------
# RecBole runs
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeerRun:
    """One RecBole model, one seed."""

    model: str
    seed: int
    test: dict[str, float]
    valid: dict[str, float]
    wall_s: float
    train_s: float
    epochs: int
    best_epoch: int
    seconds_per_epoch: float
    seconds_to_best: float
    peak_rss_mb: float
    load: tuple[float, float]
    log: str
    settings: dict[str, str] = field(default_factory=dict)  # RecBole settings beyond run.py's (MODEL+KEY=VALUE)

    @property
    def name(self) -> str:
        return run_name(self.model, self.settings)


# run.py sets these in RecBole's config_dict, which outranks a config file: a MODEL+KEY=VALUE could not change them.
FIXED_BY_RUN_PY = frozenset({"data_path", "checkpoint_dir", "log_wandb", "show_progress", "epochs", "eval_step",
                             "stopping_step", "seed", "reproducibility", "use_gpu", "metrics", "topk",
                             "valid_metric", "eval_args", "load_col", "benchmark_filename"})


def parse_model(spec: str) -> tuple[str, dict[str, str]]:
    """``LightGCN`` or ``LightGCN+learning_rate=0.005+train_batch_size=4096``: a RecBole model and settings
    of its own (each VALUE as RecBole's YAML reads it), refusing what run.py fixes for every peer."""
    model, *pairs = [part.strip() for part in spec.split("+")]
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SystemExit(f"--models {spec!r}: {pair!r} is not KEY=VALUE (e.g. LightGCN+learning_rate=0.005)")
        if key in FIXED_BY_RUN_PY:
            raise SystemExit(f"--models {spec!r}: run.py fixes {key!r} for every peer (the shared protocol); "
                             f"RecBole would ignore it")
        settings[key] = value
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", model):
        raise SystemExit(f"--models {spec!r}: {model!r} is not a RecBole model name")
    return model, settings


def run_name(model: str, settings: dict[str, str]) -> str:
    """``LightGCN`` or, with settings, ``LightGCN+learning_rate=0.005``: the run's file names and table row."""
    return "+".join([model, *(f"{k}={v}" for k, v in sorted(settings.items()))])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TRAIN = re.compile(r"epoch (\d+) training \[time: ([0-9.]+)s")
_EVAL = re.compile(r"epoch (\d+) evaluating \[time: ([0-9.]+)s, valid_score: ([0-9.eE+-]+|nan)\]")


def parse_recbole_log(text: str) -> dict[str, Any]:
    """Epochs, per-epoch seconds (training + validation) and the best epoch from RecBole's log.

    The best epoch follows RecBole's rule (``early_stopping``: a validation score ``>=`` the best so
    far becomes the best), so it is right also when the epoch cap ends a run before early stopping
    (RecBole then prints no "best eval result" line). RecBole counts epochs from 0; the numbers
    returned count from 1, as kgrec's do.
    """
    text = _ANSI.sub("", text)
    seconds: dict[int, float] = {}
    for m in _TRAIN.finditer(text):
        seconds[int(m.group(1))] = seconds.get(int(m.group(1)), 0.0) + float(m.group(2))
    best_epoch, best_score = 0, -np.inf
    for m in _EVAL.finditer(text):
        epoch = int(m.group(1))
        seconds[epoch] = seconds.get(epoch, 0.0) + float(m.group(2))
        if float(m.group(3)) >= best_score:
            best_epoch, best_score = epoch + 1, float(m.group(3))
    epochs = max(seconds) + 1 if seconds else 0
    total = sum(seconds.values())
    to_best = sum(s for e, s in seconds.items() if e < best_epoch)
    return {"epochs": epochs, "best_epoch": best_epoch, "train_s": total,
            "seconds_per_epoch": total / max(epochs, 1), "seconds_to_best": to_best}


def run_peer(model: str, data: Path, name: str, *, seed: int, epochs: int, venv: Path, logs: Path,
             nice: int = 0, threads: int | None = None, settings: dict[str, str] | None = None) -> PeerRun:
    """Train one RecBole model through ``run.py --split-files`` in its virtualenv."""
    settings = dict(settings or {})
    logs.mkdir(parents=True, exist_ok=True)
    stem = logs / f"{run_name(model, settings)}-s{seed}"
    extra = Path(f"{stem}.yaml")
    extra.write_text("".join(f"{k}: {v}\n" for k, v in {"metric_decimal_place": "8", **settings}.items()),
                     encoding="utf-8")
    cmd = ["/usr/bin/time", "-f", "peak_rss_kb=%M", "-o", f"{stem}.time",
           str(venv / "bin" / "python"), str(RECBOLE_DIR / "run.py"), model, name, str(data), "--split-files",
           "--epochs", str(epochs), "--seed", str(seed), "--config", str(extra)]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    work = logs / f"work-{stem.name}"  # RecBole writes ./log and ./saved here; one folder per run,
    work.mkdir(exist_ok=True)              # as runs in parallel (--jobs) would share time-stamped names
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    load0 = os.getloadavg()[0]
    logger.info("RecBole %s seed %d: %s", stem.name, seed, " ".join(shlex.quote(c) for c in cmd))
    t0 = time.perf_counter()
    with open(f"{stem}.log", "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, check=False, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    text = Path(f"{stem}.log").read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"RecBole {model} failed (exit {proc.returncode}); log: {stem}.log\n{text[-3000:]}")
    result = next(json.loads(line) for line in reversed(text.splitlines()) if line.startswith('{"model"'))
    parsed = parse_recbole_log(text)
    rss = re.search(r"peak_rss_kb=(\d+)", Path(f"{stem}.time").read_text())
    return PeerRun(model, seed, result["test"], result["best_valid"], wall, parsed["train_s"], parsed["epochs"],
                   parsed["best_epoch"], parsed["seconds_per_epoch"], parsed["seconds_to_best"],
                   int(rss.group(1)) / 1024 if rss else float("nan"), (load0, os.getloadavg()[0]), f"{stem}.log",
                   settings)


def save_run(run: PeerRun, folder: Path, rows: dict[str, int]) -> Path:
    """``folder/MODEL-sSEED.run.json``: a finished run, tagged with the export's row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.name}-s{run.seed}.run.json"
    path.write_text(json.dumps({"export_rows": rows, "run": asdict(run)}, indent=2), encoding="utf-8")
    return path


def finished_run(folders: Sequence[Path], model: str, seed: int, rows: dict[str, int],
                 settings: dict[str, str] | None = None) -> PeerRun | None:
    """The run of ``model`` and ``seed`` that an earlier invocation finished (a ``.run.json`` in one
    of ``folders``, written only once RecBole reported its test metrics), so a stopped matrix resumes
    where it was. A run of another export (other row counts: another split) is ignored."""
    for folder in folders:
        path = folder / f"{run_name(model, settings or {})}-s{seed}.run.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("export_rows") != rows:
            logger.warning("%s: made on another export (%s, not %s); not used", path, data.get("export_rows"), rows)
            continue
        return PeerRun(**{**data["run"], "load": tuple(data["run"]["load"])})
    return None


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    model: str
    source: str
    seeds: tuple[int, ...]
    test: tuple[dict[str, float], ...]
    train_s: tuple[float, ...]
    seconds_per_epoch: tuple[float, ...]
    seconds_to_best: tuple[float, ...]
    best_epoch: tuple[int, ...]
    peak_mb: tuple[float, ...]
    memory: str
    extra: dict[str, Any] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        return float(np.mean([m[key] for m in self.test]))

    def std(self, key: str) -> float:
        v = [m[key] for m in self.test]
        return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def markdown(rows: Sequence[Row], *, header: str) -> str:
    best = {c: max(r.mean(c) for r in rows) for c in COLUMNS} if rows else {}
    head = ["model", "library", "seeds", *COLUMNS, "train s", "s/epoch", "s to best", "best epoch", "peak MB"]
    lines = [header, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.model, r.source, str(len(r.seeds))]
        for c in COLUMNS:
            text = f"{r.mean(c):.4f}" + (f" ± {r.std(c):.4f}" if len(r.seeds) > 1 else "")
            cells.append(f"**{text}**" if abs(r.mean(c) - best[c]) < 1e-12 else text)
        cells += [f"{np.mean(r.train_s):.0f}", f"{np.mean(r.seconds_per_epoch):.2f}",
                  f"{np.mean(r.seconds_to_best):.0f}", f"{np.mean(r.best_epoch):.0f}",
                  f"{np.mean(r.peak_mb):.0f} ({r.memory})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], check=False, cwd=REPO, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    dirty = git("status", "--porcelain", "--", "gnn").rstrip()
    if not dirty:
        return f"commit {head} (gnn/ clean)"
    import hashlib

    digest = hashlib.sha256(git("diff", "--", "gnn").encode()).hexdigest()[:10]
    return f"commit {head} + uncommitted gnn/ changes (git diff -- gnn sha256 {digest}; files: " \
           f"{', '.join(line[3:] for line in dirty.splitlines())})"


def _write(out: Path, rows: list[Row], raw: dict[str, Any], report: ExportReport, args: argparse.Namespace,
           seeds: list[int], state: str, started: datetime, command: str) -> str:
    """Write ``peers.md`` and ``peers.json`` with the rows so far (a partial table survives a stop)."""
    loads = [x for r in rows for pair in r.extra.get("load", []) for x in pair] or [os.getloadavg()[0]]
    header = (f"`{args.dataset}`, kgrec's `random` split (split seed {args.split_seed}; train/valid/test "
              f"{report.rows['train']:,}/{report.rows['valid']:,}/{report.rows['test']:,}); test at the best "
              f"validation NDCG@20, mean ± std over the seeds of a row where it has more than one (its `seeds` "
              f"column); CPU, {os.cpu_count()} cores, 1-min load "
              f"{min(loads):.1f}–{max(loads):.1f} at the starts and ends of the runs; kgrec at {state}; "
              f"started {started:%Y-%m-%d %H:%M} UTC.")
    table = markdown(rows, header=header) + f"\nCommand: `{command}`\n"
    raw["table"] = table
    raw["git"] = state
    raw["started"] = started.isoformat()
    raw["command"] = command
    (out / "peers.md").write_text(table, encoding="utf-8")
    (out / "peers.json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return table


def _peer_rows(runs: list[PeerRun]) -> list[Row]:
    rows = []
    for name in dict.fromkeys(r.name for r in runs):
        mine = [r for r in runs if r.name == name]
        rows.append(Row(name, "RecBole 1.2.1", tuple(r.seed for r in mine), tuple(r.test for r in mine),
                        tuple(r.train_s for r in mine), tuple(r.seconds_per_epoch for r in mine),
                        tuple(r.seconds_to_best for r in mine), tuple(r.best_epoch for r in mine),
                        tuple(r.peak_rss_mb for r in mine), "process peak RSS",
                        {"load": [r.load for r in mine], "wall_s": [r.wall_s for r in mine]}))
    return rows


def _kgrec_rows(result: dict[str, Any], load: list[float]) -> list[Row]:
    return [Row(r["model"], "kgrec", tuple(r["seeds"]), tuple(r["test"]), tuple(r["seconds"]),
                tuple(r["seconds_per_epoch"]), tuple(r["seconds_to_best"]), tuple(r["best_epoch"]),
                tuple(r["peak_memory_mb"]), "training's peak above the loaded graph", {"load": [load]})
            for r in result["results"]]


def kgrec_rows_from(path: Path, *, dataset: str, split_seed: int) -> dict[str, Any]:
    """A ``kgrec benchmark`` result (``benchmark.json``, or its folder) to stand as kgrec's rows.

    The split is a pure function of the graph and the split seed, so a benchmark of the same graph
    with the same split and split seed trained on exactly the pairs exported here. Anything else
    is refused rather than compared.
    """
    file = path / "benchmark.json" if path.is_dir() else path
    result = json.loads(file.read_text(encoding="utf-8"))
    found = (result.get("graph"), result.get("split"), result.get("split_seed"))
    if found != (dataset, "random", split_seed):
        raise SystemExit(f"{file}: graph/split/split seed {found} is not {(dataset, 'random', split_seed)}")
    return result


def retable(args: argparse.Namespace) -> str:
    """The table again from ``peers.json``, RecBole's epochs and best epoch parsed anew from its logs."""
    out = args.out or Path("/tmp/peers") / args.dataset
    raw = json.loads((out / "peers.json").read_text(encoding="utf-8"))
    entries = list(raw["recbole"])
    for other in args.merge:
        more = json.loads((other / "peers.json").read_text(encoding="utf-8"))
        if more["export"]["rows"] != raw["export"]["rows"]:
            raise SystemExit(f"{other}: another split ({more['export']['rows']} != {raw['export']['rows']})")
        entries += [e for e in more["recbole"] if e["log"] not in {x["log"] for x in entries}]
    runs = []
    for entry in entries:
        parsed = parse_recbole_log(Path(entry["log"]).read_text(encoding="utf-8", errors="replace"))
        runs.append(PeerRun(**{**entry, **{k: v for k, v in parsed.items() if k in entry},
                               "load": tuple(entry["load"])}))
    raw["recbole"] = [asdict(r) for r in runs]
    rows = _kgrec_rows(raw["kgrec"], raw.get("kgrec_load", [])) if raw.get("kgrec") else []
    rows += _peer_rows(runs)
    e = raw["export"]
    report = ExportReport(e["name"], Path(e["folder"]), e["rows"], tuple(e["relations"]), e["triples"],
                          e["self_loops"], e["linked_items"])
    seeds = sorted({s for r in rows for s in r.seeds})
    started = datetime.fromisoformat(raw["started"]) if "started" in raw else datetime.now(UTC)
    command = raw.get("command") or raw["table"].rsplit("Command: `", 1)[-1].rstrip("`\n")
    return _write(out, rows, raw, report, args, seeds, raw["git"], started, command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="kgrec dataset name: lastfm, movielens-small, ...")
    parser.add_argument("--models", default=",".join(PEER_MODELS),
                        help="RecBole models, comma-separated ('' = none); MODEL+KEY=VALUE gives one its own "
                             "RecBole setting, e.g. LightGCN+learning_rate=0.005 (a row of its own)")
    parser.add_argument("--kgrec-models", default=",".join(KGREC_MODELS), help="kgrec models ('' = none)")
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (default: 0)")
    parser.add_argument("--split-seed", type=int, default=0, help="kgrec's split seed (default: 0, kgrec's)")
    parser.add_argument("--epochs", type=int, default=300, help="epoch cap for RecBole (kgrec's default cap: 300)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="RecBole's virtualenv (setup.sh)")
    parser.add_argument("--nice", type=int, default=0, help="run RecBole under nice -n N (default: 0)")
    parser.add_argument("--results", type=Path, default=None,
                        help="also keep each finished run's .run.json here and resume from it (e.g. the "
                             "committed benchmarks/results/peers/DATASET, so a later session resumes)")
    parser.add_argument("--only-finished", action="store_true",
                        help="train nothing: the table of the runs finished so far (in OUT/logs or --results)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="RecBole runs at a time (default: 1); with --threads 1, one per core")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for kgrec (torch) and RecBole (OMP/MKL_NUM_THREADS) (default: torch's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: /tmp/peers/DATASET)")
    parser.add_argument("--kgrec-from", type=Path, default=None,
                        help="take kgrec's rows from this `kgrec benchmark` output (its benchmark.json) instead of "
                             "training them again; it must be the same graph, split and split seed")
    parser.add_argument("--export-only", action="store_true", help="write the atomic files and stop")
    parser.add_argument("--retable", action="store_true",
                        help="rebuild OUT/peers.md from OUT/peers.json and the RecBole logs (no training)")
    parser.add_argument("--merge", type=Path, nargs="*", default=[],
                        help="with --retable: add the RecBole runs of these output folders (same dataset and "
                             "split, run at the same time as OUT's)")
    args = parser.parse_args(argv)
    if args.retable:
        print(retable(args))
        return 0

    from kgrec.gnn import TrainConfig, benchmark
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    out = args.out or Path("/tmp/peers") / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    peers = [parse_model(m) for m in args.models.split(",") if m.strip()]
    ours = [m.strip() for m in args.kgrec_models.split(",") if m.strip()]
    command = "python benchmarks/peers.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started = datetime.now(UTC)
    state = _git_state()
    kg = load_graph(args.dataset)
    split = make_split(kg, split_seed=args.split_seed)
    name = f"kgrec-{args.dataset}"
    report = export_recbole(kg, split, out / "data", name=name)
    logger.info("exported %s: %s (%d KG triples, %d no-KG self-loops)", report.folder, report.rows, report.triples,
                report.self_loops)
    if args.export_only:
        return 0

    rows: list[Row] = []
    raw: dict[str, Any] = {"export": report.to_dict(), "recbole": [], "kgrec": None}
    if args.kgrec_from:
        raw["kgrec"] = kgrec_rows_from(args.kgrec_from, dataset=args.dataset, split_seed=args.split_seed)
        raw["kgrec_load"] = raw["kgrec"].get("load", [])
        made = raw["kgrec"]
        state = (f"{state}; kgrec's rows from `{made.get('command', args.kgrec_from)}` "
                 f"({made.get('date', 'date not recorded')}), kgrec {made.get('versions', {}).get('kgrec', '?')}")
        rows += _kgrec_rows(raw["kgrec"], raw["kgrec_load"])
        _write(out, rows, raw, report, args, seeds, state, started, command)
    elif ours:
        load0 = os.getloadavg()[0]
        result = benchmark(kg, models=ours, seeds=seeds, config=TrainConfig(split="random", split_seed=args.split_seed),
                           out=out / "kgrec", command=command)
        raw["kgrec"] = result.to_dict()
        raw["kgrec_load"] = [load0, os.getloadavg()[0]]
        rows += _kgrec_rows(raw["kgrec"], raw["kgrec_load"])
        _write(out, rows, raw, report, args, seeds, state, started, command)
    kgrec_rows = list(rows)
    peers_by_name = {run_name(model, settings): (model, settings) for model, settings in peers}
    pairs = [(peer, seed) for peer in peers_by_name for seed in seeds]
    keep = [out / "logs", *([args.results] if args.results else [])]
    done: dict[tuple[str, int], PeerRun | None] = {}
    for peer, seed in pairs:
        model, settings = peers_by_name[peer]
        done[(peer, seed)] = finished_run(keep, model, seed, report.rows, settings)
    for (model, seed), run in done.items():
        if run:
            logger.info("RecBole %s seed %d: finished by an earlier run of this command (%s), not run again",
                        model, seed, run.log)
    lock = threading.Lock()

    def write_table() -> str:
        runs = [done[pair] for pair in pairs if done[pair]]  # the table's order does not depend on timing
        raw["recbole"] = [asdict(r) for r in runs]
        return _write(out, kgrec_rows + _peer_rows(runs), raw, report, args, seeds, state, started, command)

    def train_one(pair: tuple[str, int]) -> None:
        model, settings = peers_by_name[pair[0]]
        seed = pair[1]
        run = run_peer(model, out / "data", name, seed=seed, epochs=args.epochs, venv=args.venv,
                       logs=out / "logs", nice=args.nice, threads=args.threads, settings=settings)
        logger.info("RecBole %s seed %d: test %s, %.0f s", run.name, seed, run.test, run.train_s)
        with lock:
            done[pair] = run
            for folder in keep:
                save_run(run, folder, report.rows)
            write_table()

    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # threads only wait on subprocesses
        todo = [] if args.only_finished else [pair for pair in pairs if done[pair] is None]
        futures = {pool.submit(train_one, pair): pair for pair in todo}
        for future, pair in futures.items():
            try:
                future.result()
            except RuntimeError as e:  # one failed run does not stop the others
                logger.error("%s", e)
                failed.append(pair)
    table = write_table()
    print(table)
    if failed:
        which = ", ".join(f"{m} seed {s}" for m, s in failed)
        raise SystemExit(f"RecBole runs failed: {which} (logs in {out / 'logs'})")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kgrec.gnn.train").setLevel(logging.DEBUG)  # one line per epoch: the curve stays in the log
    sys.exit(main())
