"""`kgrec explain-report`: are a run's explanations why its items are recommended, and how good are
they? A thin layer over :func:`kgrec.serving.explain_report.explain_report`."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer

from kgrec.cli import app

logger = logging.getLogger(__name__)


def _graph_for_times(rec, store, no_store: bool):
    """The graph, when the recommender was served from a saved index and the schema has timestamps
    on a relation of the user (LIR reads them); else None."""
    from kgrec.serving.path_quality import TIMESTAMP

    schema = rec.schema
    if rec.kg is not None or not any(TIMESTAMP in r.properties and schema.user_label in (r.source, r.target)
                                     for r in schema.relations):
        return None
    if store is not None and not no_store and rec.graph_name in store.graphs():
        return store.read(graph=rec.graph_name)
    from kgrec.kg.sources import load_dataset

    return load_dataset(rec.graph_name)


@app.command("explain-report")
def explain_report_command(
    run_dir: Path = typer.Argument(..., help="A run directory (kgrec train ... --out RUN_DIR)."),
    users: int = typer.Option(200, "--users", min=1, help="How many users to draw."),
    seed: int = typer.Option(0, "--seed", help="Draws the users and the random control paths."),
    out: Path | None = typer.Option(None, "--out", help="Also write the report as JSON to this file."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=1000, help="Items per list."),
    max_paths: int = typer.Option(3, "--max-paths", min=1, max=20, help="Explanations per item."),
    users_from: str = typer.Option("test", "--from", help="Draw users with a test pair, a valid pair, or all."),
    scoring: str | None = typer.Option(None, "--scoring", help="Path scoring: geometric | weakest | anchored "
                                       "(default: the explainer's)."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Load the graph from its dataset, not the store."),
) -> None:
    """Fidelity (the path taken out vs a random path) and path quality (LIR, SEP, ETD) of a run's
    explanations, and a check of their sentences; prints a table, --out writes JSON."""
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender
    from kgrec.serving.explain_report import USER_POOLS, explain_report

    if users_from not in USER_POOLS:
        raise typer.BadParameter(f"--from {users_from!r} is not one of {', '.join(USER_POOLS)}")
    started = time.perf_counter()
    options = {"scoring": scoring} if scoring else {}
    rec = Recommender.load(run_dir, store=None if no_store else open_store(store), graph=graph, **options)
    kg = _graph_for_times(rec, rec.store, no_store)
    report = explain_report(rec, users=users, seed=seed, k=k, max_paths=max_paths,
                            users_from=users_from, kg=kg, run_name=Path(run_dir).name)  # type: ignore[arg-type]
    typer.echo(report.table())
    if out is not None:
        report.save(out)
        typer.echo(f"wrote {out}", err=True)
    logger.info("explain-report took %.1f s", time.perf_counter() - started)
