"""`kgrec train | evaluate | benchmark`: thin layers over :mod:`kgrec.gnn`.

NAME is a graph in the store. When the store does not have it yet, NAME is loaded with
``load_dataset`` (a dataset name or a path that ``kgrec ingest`` accepts) and written first; the
graph is then read back from the store, so feedback written there is part of the next training run.

Options come from the one :class:`kgrec.KgrecConfig`: defaults < environment < ``--config`` YAML
(sections ``store:``, ``text:``, ``train:``, or train keys alone) < ``--set`` (``lr=1e-3`` and
``model.item_bias=false`` are train keys; ``text.documents=short`` sets the text section) < the
explicit options (``--model``, ``--split``, ``--device``, ``--seed``, ``--store``).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path

import typer

from kgrec.cli import app

logger = logging.getLogger(__name__)

STORE_HELP = "Store URL (default: KGREC_STORE, else embedded)."
SPLIT_HELP = "random | temporal | cold-items | kgcn (default: the config's, random)."
SET_HELP = ("Override a config key, e.g. --set lr=1e-3 --set model.item_bias=false --set text.documents=short "
            "(repeatable).")


def _graph_from_store(name: str, store: str | None):
    """The graph NAME read from the store; ingested from ``load_dataset(NAME)`` first when absent."""
    from kgrec.kg.sources import load_dataset
    from kgrec.kg.stores import open_store

    with open_store(store) as s:
        graph = Path(name).name if Path(name).exists() else name
        graphs = s.graphs()
        if graph not in graphs:
            kg = load_dataset(name)
            graph = kg.name
            if graph not in graphs:
                typer.echo(f"graph {graph!r} is not in the store: ingesting it", err=True)
                s.write(kg, graph=graph)
        return s.read(graph=graph)


def _config(model: str | None, split: str | None, config: Path | None, overrides: list[str], device: str | None,
            seed: int | None, store: str | None = None):
    """The resolved :class:`kgrec.KgrecConfig` of a command (see the module docstring)."""
    import json as _json

    from kgrec.settings import KgrecConfig

    explicit = [f"train.{k}={v if isinstance(v, str) else _json.dumps(v)}"
                for k, v in {"model": model, "split": split, "device": device, "seed": seed}.items() if v is not None]
    if store is not None:
        explicit.append(f"store.url={store}")
    return KgrecConfig.resolve(config, [*overrides, *explicit], default_section="train")


@app.command("train")
def train_command(
    name: str = typer.Argument(..., help="A graph in the store, or a dataset name/path to ingest first."),
    model: str | None = typer.Option(None, "--model", help="kgrec | pop | itemknn | bprmf | lightgcn | textknn."),
    split: str | None = typer.Option(None, "--split", help=SPLIT_HELP),
    config: Path | None = typer.Option(None, "--config", help="A YAML config file (keys at the top or under train:)."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: KGREC_HOME/runs/<graph>-<model>-...)."),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda."),
    seed: int | None = typer.Option(None, "--seed", help="Training seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bars (default: on in a terminal)."),
    warm_start: Path | None = typer.Option(None, "--warm-start", help="Continue from this run's weights with the "
                                           "graph as it is now: interactions that came through the event stream "
                                           "are added to training, new users and items get rows (docs/events.md)."),
    warm_epochs: int | None = typer.Option(None, "--warm-epochs", min=1, help="Epochs of a --warm-start "
                                           "(default: a fifth of the run's, at least 5)."),
) -> None:
    """Train one model on a graph and write its run directory."""
    from kgrec.gnn import train

    _threads(threads)
    cfg = _config(model, split, config, overrides, device, seed, store)
    kg = _graph_from_store(name, cfg.store.url)
    if warm_start is not None:
        from kgrec.gnn import Run
        from kgrec.gnn.warmstart import warm_start as continue_run

        run = continue_run(Run.load(warm_start), kg, epochs=warm_epochs, text=cfg.text, out=out, progress=progress)
        typer.echo(run.summary())
        typer.echo(f"run directory: {run.path} (warm start of {warm_start})")
        return
    run = train(kg, cfg.train, text=cfg.text, out=out, progress=progress, resume=resume)
    typer.echo(run.summary())
    typer.echo(f"run directory: {run.path}")


@app.command("evaluate")
def evaluate_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kgrec train`."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Verify a run directory and recompute its test metrics from the saved vectors."""
    from kgrec.gnn import Run
    from kgrec.gnn.evaluate import evaluate_vectors

    run = Run.load(run_dir.absolute())
    metrics = evaluate_vectors(run)
    saved = run.metrics.test.to_dict()
    if as_json:
        typer.echo(json.dumps({"run": str(run_dir), "model": run.model, "graph": run.graph,
                               "test": metrics.to_dict(), "saved_test": saved}, indent=2))
        return
    typer.echo(f"{run.graph} · {run.model} · split {run.config.split} · seed {run.config.seed} "
               f"({metrics.count} test {'pairs' if run.split.labelled else 'users'})")
    for key, value in metrics.values.items():
        if key == "threshold":
            continue
        typer.echo(f"  {key:<12} {value:.4f}   (saved {saved.get(key, float('nan')):.4f})")


@app.command("benchmark")
def benchmark_command(
    name: str = typer.Argument(..., help="A graph in the store, or a dataset name/path to ingest first."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Number of training seeds (0..N-1)."),
    models: str | None = typer.Option(None, "--models", help="Comma-separated models (default: all registered)."),
    split: str | None = typer.Option(None, "--split", help=SPLIT_HELP),
    config: Path | None = typer.Option(None, "--config", help="A YAML config file shared by every model."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP + " Applies to every model."),
    out: Path | None = typer.Option(None, "--out", help="Where benchmark.md/json/png go (default: "
                                                         "KGREC_HOME/benchmarks/<graph>-<split>)."),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda."),
    save_runs: bool = typer.Option(False, "--save-runs", help="Also keep every run directory under OUT/runs."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress bars (default: on in a terminal)."),
) -> None:
    """Train every registered model on the same split over several seeds; write a markdown table and a chart."""
    from kgrec.config import kgrec_home
    from kgrec.gnn.benchmark import benchmark

    _threads(threads)
    cfg = _config(None, split, config, overrides, device, None, store).train
    kg = _graph_from_store(name, store)
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    out = out or kgrec_home() / "benchmarks" / f"{kg.name}-{cfg.split}"
    command = "kgrec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = benchmark(kg, models=chosen, seeds=range(seeds), config=cfg, out=out, save_runs=save_runs,
                       progress=progress, command=command)
    typer.echo(result.markdown())
    typer.echo(f"written: {out / 'benchmark.md'}, {out / 'benchmark.png'}")


def _threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
