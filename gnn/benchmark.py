"""`benchmark`: every registered model, the same split, several seeds, one table.

The split is the same for every model and every seed (``split_seed``; KGCN's 555 for ``kgcn``);
the seeds vary the models' initialisation, batching and negatives. Each model trains with its own
defaults (``defaults`` on its class), overridden by the given config values. The result holds
every run's metrics and writes a markdown table (mean ± sample standard deviation over seeds, time
per epoch, time to the best epoch, peak memory) and a bar chart.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.kg import KnowledgeGraph

from .config import TrainConfig
from .registry import list_models, model_class
from .run import Run, package_versions, write_text

logger = logging.getLogger(__name__)

RANKING_COLUMNS = ("ndcg@20", "recall@20", "hit@20", "mrr@20", "ndcg@10", "recall@10", "coverage@20")
CLICK_COLUMNS = ("auc", "f1")


@dataclass(frozen=True)
class ModelResult:
    """One model's runs over the seeds."""

    model: str
    seeds: tuple[int, ...]
    test: tuple[dict[str, float], ...]
    valid: tuple[dict[str, float], ...]
    seconds_per_epoch: tuple[float, ...]
    seconds_to_best: tuple[float, ...]
    seconds: tuple[float, ...]
    best_epoch: tuple[int, ...]
    peak_memory_mb: tuple[float, ...]
    config: dict[str, Any] = field(default_factory=dict)
    epochs: tuple[int, ...] = ()
    stopped: tuple[str, ...] = ()

    def mean(self, key: str) -> float:
        return float(np.mean([m[key] for m in self.test]))

    def std(self, key: str) -> float:
        values = [m[key] for m in self.test]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "seeds": list(self.seeds), "test": list(self.test), "valid": list(self.valid),
                "seconds_per_epoch": list(self.seconds_per_epoch), "seconds_to_best": list(self.seconds_to_best),
                "seconds": list(self.seconds), "best_epoch": list(self.best_epoch),
                "peak_memory_mb": list(self.peak_memory_mb), "config": self.config, "epochs": list(self.epochs),
                "stopped": list(self.stopped)}

    def settings(self) -> str:
        """What this model trained with: the settings that decide its cost and convergence."""
        c = self.config
        if self.stopped and all(s == "fit" for s in self.stopped):
            return "closed form (no training epochs)"
        keys = ("lr", "batch_size", "loss", "negatives", "layers", "dim", "reg", "epochs", "patience", "eval_every")
        parts = [f"{k}={c[k]}" for k in keys if k in c]
        if c.get("max_minutes"):
            parts.append(f"max_minutes={c['max_minutes']:g}")
        if c.get("model") == "kgrec":
            options = c.get("model_options") or c  # run dirs before per-model options kept it at the top
            parts += [f"temperature={c.get('temperature')}", f"item_bias={options.get('item_bias')}"]
        stops = ", ".join(f"{s}" for s in self.stopped)
        ran = ", ".join(str(e) for e in self.epochs)
        return f"{' '.join(parts)}; epochs run {ran}; stopped by {stops}"


@dataclass(frozen=True)
class BenchmarkResult:
    """All models' results on one graph and split."""

    graph: str
    split: str
    split_seed: int
    results: tuple[ModelResult, ...]
    seconds: float
    date: str
    command: str = ""
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    load: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def columns(self) -> tuple[str, ...]:
        return CLICK_COLUMNS if self.split == "kgcn" else RANKING_COLUMNS

    def markdown(self) -> str:
        """The results table (mean ± std over seeds; best mean per metric in bold)."""
        cols = self.columns
        best = {c: max(r.mean(c) for r in self.results) for c in cols} if self.results else {}
        head = ["model", *cols, "s/epoch", "s to best", "best epoch", "epochs", "peak MB"]
        lines = [f"Graph `{self.graph}`, split `{self.split}` (split seed {self.split_seed}), "
                 f"seeds {', '.join(map(str, self.results[0].seeds)) if self.results else '-'}; "
                 f"test metrics at the best validation epoch, mean ± std over seeds; {self.device}.",
                 "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.results:
            cells = [r.model]
            for c in cols:
                text = f"{r.mean(c):.4f} ± {r.std(c):.4f}"
                cells.append(f"**{text}**" if abs(r.mean(c) - best[c]) < 1e-12 else text)
            cells += [f"{np.mean(r.seconds_per_epoch):.2f}", f"{np.mean(r.seconds_to_best):.1f}",
                      f"{np.mean(r.best_epoch):.0f}", f"{np.mean(r.epochs):.0f}" if r.epochs else "-",
                      f"{np.mean(r.peak_memory_mb):.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Settings (each model's own defaults unless set for all; early stopping on validation "
                      f"{'AUC' if self.split == 'kgcn' else 'NDCG@20'}; peak MB = on CPU, the peak resident set "
                      "during training and validation above its size at the start (kernel-kept, reset per run); "
                      "on CUDA, the peak allocation):", ""]
        lines += [f"- `{r.model}`: {r.settings()}" for r in self.results]
        lines += ["", f"Total {self.seconds / 60:.1f} min, {self.date}; 1-minute load average "
                      f"{self.load[0]:.1f} at the start, {self.load[1]:.1f} at the end."]
        if self.command:
            lines.append(f"Command: `{self.command}`")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"graph": self.graph, "split": self.split, "split_seed": self.split_seed, "seconds": self.seconds,
                "date": self.date, "command": self.command, "device": self.device, "versions": self.versions,
                "load": list(self.load),
                "results": [r.to_dict() for r in self.results]}

    def save(self, out: str | os.PathLike) -> Path:
        """Write ``benchmark.md``, ``benchmark.json`` and ``benchmark.png`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "benchmark.md", self.markdown())
        write_text(out / "benchmark.json", json.dumps(self.to_dict(), indent=2))
        try:
            self.plot(out / "benchmark.png")
        except Exception as e:  # a chart must never lose the numbers
            logger.warning("could not draw the benchmark chart: %s", e)
        return out

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        cols = ["auc", "f1"] if self.split == "kgcn" else ["ndcg@20", "recall@20"]
        names = [r.model for r in self.results]
        x = np.arange(len(names))
        width = 0.8 / len(cols)
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4), dpi=100)
        try:
            for j, c in enumerate(cols):
                ax.bar(x + (j - (len(cols) - 1) / 2) * width, [r.mean(c) for r in self.results], width,
                       yerr=[r.std(c) for r in self.results], capsize=3, label=c)
            ax.set_xticks(x, names)
            ax.set_ylabel("test metric (mean ± std over seeds)")
            ax.set_title(f"{self.graph} · {self.split} split")
            ax.legend()
            fig.tight_layout()
            tmp = path.with_name(path.name + ".tmp.png")
            fig.savefig(tmp)
            os.replace(tmp, path)
        finally:
            plt.close(fig)


def benchmark(kg: KnowledgeGraph, *, models: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
              config: TrainConfig | None = None, vectors: Any = None, out: str | os.PathLike | None = None,
              save_runs: bool = False, progress: bool = False, command: str = "") -> BenchmarkResult:
    """Train every model (default: all registered) on the same split for each seed.

    Args:
        kg: the graph.
        models: model names (default: every registered model).
        seeds: training seeds (default: ``(0, 1, 2)``).
        config: shared settings (split, epochs, ...); ``model`` and ``seed`` are set per run. Fields
            set here override every model's defaults (default: ``TrainConfig()``).
        vectors: text vectors (default: computed once with the text layer, cached).
        out: write ``benchmark.md/json/png`` here (and the run directories with ``save_runs``).
        save_runs: also save each run directory under ``out/runs`` (default: False).
        progress: progress bars (default: False).
        command: the command line, recorded in the table.
    """
    from .train import _vector_table, train

    base = config or TrainConfig()
    names = [model_class(m).name for m in (models or list_models())]
    needs_text = any(model_class(m).uses_text for m in names) and base.text
    table = _vector_table(kg, vectors, needed=needs_text, progress=progress) if needs_text else (vectors or None)
    t0 = time.perf_counter()
    load0 = _load()
    results = []
    device = ""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def result_so_far() -> BenchmarkResult:
        dev = f"{device} ({_cpu_name()})" if device.startswith("cpu") else device
        return BenchmarkResult(kg.name, base.split, base.effective_split_seed, tuple(results),
                               time.perf_counter() - t0, date, command, dev, package_versions(), (load0, _load()))

    for name in names:
        runs: list[Run] = []
        for seed in seeds:
            cfg = base.replace(model=name, seed=int(seed))
            run_out = Path(out) / "runs" / f"{name}-s{seed}" if (out is not None and save_runs) else None
            run = train(kg, cfg, vectors=table, out=run_out, save=save_runs and out is not None, progress=progress)
            logger.info("benchmark %s", run.summary())
            runs.append(run)
            device = run.metrics.device
        results.append(ModelResult(
            name, tuple(int(s) for s in seeds), tuple(r.metrics.test.to_dict() for r in runs),
            tuple(r.metrics.valid.to_dict() for r in runs), tuple(r.metrics.seconds_per_epoch for r in runs),
            tuple(r.metrics.seconds_to_best for r in runs), tuple(r.metrics.seconds for r in runs),
            tuple(r.metrics.best_epoch for r in runs), tuple(r.metrics.peak_memory_mb for r in runs),
            runs[0].config.model_dump(mode="json", exclude={"seed"}), tuple(r.metrics.epochs for r in runs),
            tuple(str(r.metrics.extra.get("stopped", "")) for r in runs)))
        if out is not None:  # the table so far, so a long benchmark that is stopped keeps what it measured
            result_so_far().save(out)
    result = result_so_far()
    if out is not None:
        result.save(out)
    return result


def _load() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def _cpu_name() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"
