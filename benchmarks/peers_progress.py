"""Where unfinished peers runs stand: validation NDCG@20 so far, from their logs.

Usage: ``python benchmarks/peers_progress.py LOG ...``

Each LOG is a RecBole log (``OUT/logs/MODEL-sSEED.log`` of ``peers.py``) or the log of a
``peers.py`` run that trained kgrec models (its stderr; ``peers.py`` logs one line per kgrec epoch).
For each run: epochs done, seconds spent, the best validation NDCG@20 so far with its epoch and the
seconds to reach it. Validation is the same set with the same masking (training items) in kgrec
and RecBole, so these values compare across libraries; test metrics exist only once a run ends.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from datetime import datetime
from pathlib import Path

_spec = importlib.util.spec_from_file_location("kgrec_bench_peers", Path(__file__).with_name("peers.py"))
peers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = peers  # dataclasses look their module up there
_spec.loader.exec_module(peers)

_KGREC = re.compile(r"^(\S+ \S+) kgrec\.gnn\.train: (\S+) epoch (\d+) loss \S+ (\{.*\})$")
_START = re.compile(r"^(\S+ \S+) kgrec\.text\.embed: ")
_BENCH = re.compile(r"^(\S+ \S+) kgrec\.gnn\.benchmark: benchmark ")


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")


def kgrec_runs(text: str) -> list[dict]:
    """One entry per kgrec model in a peers.py log (epoch lines with validation metrics)."""
    runs: dict[str, dict] = {}
    last = None
    for line in text.splitlines():
        if m := (_START.match(line) or _BENCH.match(line)):
            last = _time(m.group(1))
        elif m := _KGREC.match(line):
            t, model, epoch, valid = _time(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            run = runs.setdefault(model, {"model": model, "epochs": 0, "seconds": 0.0, "best": -1.0,
                                          "best_epoch": 0, "to_best": 0.0, "start": last or t})
            score = ast.literal_eval(valid).get("ndcg@20") if valid != "{}" else None
            run["epochs"], run["seconds"] = epoch, (t - run["start"]).total_seconds()
            if score is not None and score > run["best"]:
                run["best"], run["best_epoch"], run["to_best"] = score, epoch, run["seconds"]
    return list(runs.values())


def main(paths: list[str]) -> None:
    print("| run | library | epochs done | seconds | best valid NDCG@20 so far | at epoch | s to it |")
    print("|---|---|---|---|---|---|---|")
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "epoch 0 training" in peers._ANSI.sub("", text):
            p = peers.parse_recbole_log(text)
            scores = [float(m.group(3)) for m in peers._EVAL.finditer(peers._ANSI.sub("", text))]
            print(f"| {path.stem} | RecBole | {p['epochs']} | {p['train_s']:.0f} | {max(scores):.4f} | "
                  f"{p['best_epoch']} | {p['seconds_to_best']:.0f} |")
        for r in kgrec_runs(text):
            print(f"| {r['model']} | kgrec | {r['epochs']} | {r['seconds']:.0f} | {r['best']:.4f} | "
                  f"{r['best_epoch']} | {r['to_best']:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
