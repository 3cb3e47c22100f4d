"""`kgrec recommend`, `kgrec explain` and `kgrec serve`: thin layers over :mod:`kgrec.serving`
(`kgrec quickstart` is in :mod:`kgrec.cli.quickstart`). This is the edge: ids typed here are cleaned
by the serving layer's one id rule, and environment variables (the API token, the feedback
durability) are read here only."""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from pathlib import Path
from typing import Any

import typer

from kgrec.cli import app

logger = logging.getLogger(__name__)


# -- shared helpers ----------------------------------------------------------------------------
def _open_store(url: str | None):
    from kgrec.kg.stores import open_store

    return open_store(url)


def _load_recommender(run_dir: Path, store_url: str | None, graph: str | None, no_store: bool, **options: Any):
    from kgrec.serving import Recommender

    store = None if no_store else _open_store(store_url)
    return Recommender.load(run_dir, store=store, graph=graph, **options)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def query_command(explanation, *, graph: str | None = None, store: str | None = None, params: str = "pairs") -> str:
    """The ``kgrec query`` command line that runs an explanation's Cypher with its parameters (ids
    as JSON strings, so that ``"2"`` stays a string): ``params="json"`` gives them as one
    ``--params '{...}'`` object, ``"pairs"`` as ``--param KEY=VALUE`` options."""
    parts = ["kgrec", "query", shlex.quote(explanation.cypher)]
    if params == "json":
        parts += ["--params", shlex.quote(json.dumps(dict(explanation.parameters), ensure_ascii=False))]
    else:
        for k, v in explanation.parameters.items():
            parts += ["--param", shlex.quote(f"{k}={json.dumps(v, ensure_ascii=False)}")]
    if graph:
        parts += ["--graph", shlex.quote(graph)]
    if store:
        parts += ["--store", shlex.quote(store)]
    return " ".join(parts)


def print_recommendations(recs, *, user: str, show_cypher: bool = True, label: str = "", echo=typer.echo,
                          query_lines: bool = False, graph: str | None = None, store: str | None = None) -> None:
    """Readable recommendations: rank, name, score, and each explanation's sentence and Cypher;
    with ``query_lines``, also the ``kgrec query --params '{...}'`` line that runs it."""
    echo(f"Recommendations for user {user}{label}:")
    for r in recs:
        echo(f"  {r.rank:>2}. {r.item.name}  (id {r.item.id}, score {r.score:.3f})")
        for e in r.explanations:
            echo(f"      - {e.sentence}  [path score {e.score:.2f}]")
            if show_cypher:
                echo(f"        cypher: {e.cypher}")
                echo(f"        parameters: {json.dumps(dict(e.parameters), ensure_ascii=False)}")
            if query_lines:
                echo(f"        run it: {query_command(e, graph=graph, store=store, params='json')}")
        if not r.explanations and show_cypher:
            echo("      (no path of at most 3 hops in the graph)")


# -- commands ----------------------------------------------------------------------------------
@app.command()
def recommend(
    run_dir: Path = typer.Argument(..., help="A run directory (kgrec train ... --out RUN_DIR)."),
    user: str | None = typer.Option(None, "--user", "-u", help="The user's id (leave it out for an anonymous "
                                    "visitor with --query or --session)."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=1000, help="How many items."),
    query: str | None = typer.Option(None, "--query", "-q", help="Free text the list should follow, e.g. 'dark synth'."),
    session: str | None = typer.Option(None, "--session", help="Comma-separated item ids of the current visit "
                                       "(folded in, not stored)."),
    fusion: str | None = typer.Option(None, "--fusion", help="weighted, rerank or union (default: weighted)."),
    fusion_weight: float | None = typer.Option(None, "--fusion-weight", min=0.0, max=1.0,
                                               help="The collaborative share of 'weighted'."),
    explain: bool = typer.Option(False, "--explain", help="Explain each item with paths, their Cypher and the "
                                 "`kgrec query` line that runs it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    diversity: float = typer.Option(0.0, min=0.0, max=1.0, help="MMR re-ranking weight (0 = by score)."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Load the graph from its dataset, not the store."),
) -> None:
    """Top-k items for a user, a query or a session from a trained run."""
    from kgrec.serving.recommender import clean

    rec = _load_recommender(run_dir, store, graph, no_store)
    recs = rec.recommend(user, k, explain=explain, diversity=diversity, query=query, fusion=fusion,
                         session=session.split(",") if session is not None else None, fusion_weight=fusion_weight)
    user = clean(user, "user") if user is not None else None
    matches = rec.intent.match(query)[2] if query is not None else []
    if as_json:
        typer.echo(json.dumps({"user": user, "query": query, "matches": _jsonable(matches),
                               "recommendations": _jsonable(recs)}, ensure_ascii=False, indent=2))
        return
    if matches:
        typer.echo(f"'{query}' matches: " + ", ".join(f"{m.name} ({m.label}, {m.similarity:.2f})" for m in matches))
    print_recommendations(recs, user=user if user is not None else "(anonymous)", show_cypher=explain,
                          query_lines=explain, graph=rec.graph_name, store=None if no_store else store)


@app.command("explain")
def explain_command(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    user: str = typer.Option(..., "--user", "-u", help="The user's id."),
    item: str = typer.Option(..., "--item", "-i", help="The item's id."),
    max_paths: int = typer.Option(3, min=1, max=20, help="How many paths."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Load the graph from its dataset, not the store."),
) -> None:
    """Paths in the graph from a user to an item, with the Cypher that returns each."""
    from kgrec.serving.recommender import clean

    rec = _load_recommender(run_dir, store, graph, no_store)
    exps = rec.explain(user, item, max_paths=max_paths)
    user = clean(user, "user")
    if as_json:
        typer.echo(json.dumps({"user": user, "item": clean(item, "item"), "explanations": _jsonable(exps)},
                              ensure_ascii=False, indent=2))
        return
    ref = rec.item(item)
    typer.echo(f"Why {ref.name} (id {ref.id}) for user {user}:")
    if not exps:
        typer.echo(f"  no path of at most {rec.max_hops} hops in the graph")
    for e in exps:
        typer.echo(f"  - {e.sentence}  [path score {e.score:.2f}]")
        typer.echo(f"    path: {e.path}")
        typer.echo(f"    cypher: {e.cypher}")
        typer.echo(f"    parameters: {json.dumps(dict(e.parameters), ensure_ascii=False)}")
        typer.echo(f"    run it: {query_command(e, graph=rec.graph_name, store=None if no_store else store, params='json')}")


FSYNC_CHOICES = ("always", "everysec", "no", "store")


@app.command()
def serve(
    run_dir: Path | None = typer.Argument(None, help="A run directory (with --experiment: the arms' runs instead)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: loopback only)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    feedback_fsync: str | None = typer.Option(
        None, "--feedback-fsync", help="The embedded store's appendfsync while serving: always (acknowledged "
        "feedback survives kill -9; applies to every process using that store until it restarts, and is logged "
        "as a warning when it changes the store's setting), everysec, no, or store (leave the store's own "
        "setting). Default: KGREC_FEEDBACK_FSYNC, else always."),
    query_timeout: float = typer.Option(10.0, "--query-timeout", min=0.001,
                                        help="Time limit of an analyst query (POST /v1/query), seconds."),
    consume: bool = typer.Option(False, "--consume", help="Apply the event stream in this process, so answers "
                                 "reflect it (see kgrec events)."),
    group: str = typer.Option("kgrec", "--group", help="The consumer group of --consume."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Consumer threads of --consume."),
    stream: str | None = typer.Option(None, "--stream", help="The event stream (default: the store's own "
                                      "redis-server): redis://host:port/db, unix:///path or kafka://host:port."),
    experiment: str | None = typer.Option(None, "--experiment", help="Run an A/B experiment of this name "
                                          "(with --arm); every response says its arm (X-Kgrec-Arm)."),
    arm: list[str] = typer.Option([], "--arm", help="NAME=RUN_DIR of an arm, the control first (repeat)."),
    split: str | None = typer.Option(None, "--split", help="The arms' shares, e.g. 50/50 (default: equal)."),
) -> None:
    """Serve recommendations over HTTP (docs at /docs); writes and queries need KGREC_API_TOKEN."""
    import os

    from kgrec.serving import ServeConfig
    from kgrec.serving.config import FSYNC_ENV, TOKEN_ENV
    from kgrec.serving.http import serve as run_server

    # the edge: environment variables are read here, and only here
    config = ServeConfig(host=host, port=port, token=os.environ.get(TOKEN_ENV) or None,
                         feedback_fsync=feedback_fsync or os.environ.get(FSYNC_ENV) or "always",
                         query_timeout_s=query_timeout, query_timeout_max_s=max(60.0, query_timeout))
    from kgrec.serving.experiments import parse_arms

    from .live import live_parts

    arms = parse_arms(arm)
    if experiment is None and arms:
        raise typer.BadParameter("--arm needs --experiment NAME")
    if experiment is not None and len(arms) < 2:
        raise typer.BadParameter("--experiment needs at least two --arm NAME=RUN_DIR")
    if experiment is None and run_dir is None:
        raise typer.BadParameter("give a RUN_DIR (or --experiment NAME with --arm NAME=RUN_DIR)")
    the_store = _open_store(store)
    runs = {name: Path(path) for name, path in arms.items()} if experiment else {"": run_dir}
    recs = {name: _load_recommender_on(the_store, path, graph, max_hops=config.max_hops, beam=config.beam)
            for name, path in runs.items()}
    rec = next(iter(recs.values()))
    live, exp = live_parts(recs, the_store, stream=stream, consume=consume, group=group, workers=workers,
                           experiment=experiment, split=split)
    typer.echo(f"serving {rec.graph_name} on http://{host}:{port} (docs at /docs); feedback durability: "
               f"{config.feedback_fsync}" + (f"; consuming {live.transport.name}" if consume and live else "")
               + (f"; experiment {exp.name}: arms {', '.join(exp.assignment.arms)}" if exp else ""), err=True)
    run_server(rec, config, live=live, experiment=exp)


def _load_recommender_on(store, run_dir: Path, graph: str | None, **options: Any):
    from kgrec.serving import Recommender

    return Recommender.load(run_dir, store=store, graph=graph, **options)

