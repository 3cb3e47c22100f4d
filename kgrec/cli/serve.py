"""`kgrec recommend`, `kgrec explain`, `kgrec serve` and `kgrec quickstart`: thin layers over
:mod:`kgrec.serving`."""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
import time
from pathlib import Path
from typing import Any

import typer

from kgrec.cli import app
from kgrec.errors import DatasetNotFoundError, KgrecError

logger = logging.getLogger(__name__)

QUICKSTART_EPOCHS = 20
"""Epochs of quickstart's training run: enough for sensible recommendations on lastfm within a few
minutes on a laptop CPU (a full run trains up to 300 with early stopping)."""
QUICKSTART_DOCUMENTS = {"max_tags": 3, "max_facts": 1, "max_fact_relations": 1, "max_chars": 120}
"""Quickstart encodes short item documents (name, three tags, one fact) and only the items: encoding
every node's full document of lastfm takes over half an hour on 2 CPU cores (``kgrec embed`` does it,
cached); the model learns embeddings for the labels without text."""


# -- shared helpers ----------------------------------------------------------------------------
def _open_store(url: str | None):
    from kgrec.kg.stores import open_store

    return open_store(url)


def _load_recommender(run_dir: Path, store_url: str | None, graph: str | None, no_store: bool):
    from kgrec.serving import Recommender

    store = None if no_store else _open_store(store_url)
    return Recommender.load(run_dir, store=store, graph=graph)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def query_command(explanation, *, graph: str | None = None, store: str | None = None) -> str:
    """The ``kgrec query`` command line that runs an explanation's Cypher with its parameters (ids
    as JSON strings, so that ``"2"`` stays a string)."""
    parts = ["kgrec", "query", shlex.quote(explanation.cypher)]
    for k, v in explanation.parameters.items():
        parts += ["--param", shlex.quote(f"{k}={json.dumps(v, ensure_ascii=False)}")]
    if graph:
        parts += ["--graph", shlex.quote(graph)]
    if store:
        parts += ["--store", shlex.quote(store)]
    return " ".join(parts)


def print_recommendations(recs, *, user: str, show_cypher: bool = True, label: str = "", echo=typer.echo) -> None:
    """Readable recommendations: rank, name, score, and each explanation's sentence and Cypher."""
    echo(f"Recommendations for user {user}{label}:")
    for r in recs:
        echo(f"  {r.rank:>2}. {r.item.name}  (id {r.item.id}, score {r.score:.3f})")
        for e in r.explanations:
            echo(f"      - {e.sentence}  [path score {e.score:.2f}]")
            if show_cypher:
                echo(f"        cypher: {e.cypher}")
                echo(f"        parameters: {json.dumps(dict(e.parameters), ensure_ascii=False)}")
        if not r.explanations and show_cypher:
            echo("      (no path of at most 3 hops in the graph)")


# -- commands ----------------------------------------------------------------------------------
@app.command()
def recommend(
    run_dir: Path = typer.Argument(..., help="A run directory (kgrec train ... --out RUN_DIR)."),
    user: str = typer.Option(..., "--user", "-u", help="The user's id."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=1000, help="How many items."),
    explain: bool = typer.Option(False, "--explain", help="Explain each item with paths and their Cypher."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    diversity: float = typer.Option(0.0, min=0.0, max=1.0, help="MMR re-ranking weight (0 = by score)."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Load the graph from its dataset, not the store."),
) -> None:
    """Top-k items for a user from a trained run."""
    rec = _load_recommender(run_dir, store, graph, no_store)
    recs = rec.recommend(user, k, explain=explain, diversity=diversity)
    if as_json:
        typer.echo(json.dumps({"user": user, "recommendations": _jsonable(recs)}, ensure_ascii=False, indent=2))
    else:
        print_recommendations(recs, user=user, show_cypher=explain)


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
    rec = _load_recommender(run_dir, store, graph, no_store)
    exps = rec.explain(user, item, max_paths=max_paths)
    if as_json:
        typer.echo(json.dumps({"user": user, "item": item, "explanations": _jsonable(exps)}, ensure_ascii=False,
                              indent=2))
        return
    ref = rec.item_ref(rec.index.row(rec.item_label, item))
    typer.echo(f"Why {ref.name} (id {ref.id}) for user {user}:")
    if not exps:
        typer.echo(f"  no path of at most {rec.max_hops} hops in the graph")
    for e in exps:
        typer.echo(f"  - {e.sentence}  [path score {e.score:.2f}]")
        typer.echo(f"    path: {e.path}")
        typer.echo(f"    cypher: {e.cypher}")
        typer.echo(f"    parameters: {json.dumps(dict(e.parameters), ensure_ascii=False)}")


@app.command()
def serve(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: loopback only)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
) -> None:
    """Serve recommendations over HTTP (docs at /docs); writes and queries need KGREC_API_TOKEN."""
    from kgrec.serving.http import serve as run_server

    rec = _load_recommender(run_dir, store, graph, False)
    typer.echo(f"serving {rec.graph_name} on http://{host}:{port} (docs at /docs)", err=True)
    run_server(rec, host=host, port=port)


@app.command()
def quickstart(
    name: str = typer.Argument("lastfm", help="Dataset: lastfm, movielens-small, lastfm-kgcn or synthetic."),
    epochs: int = typer.Option(QUICKSTART_EPOCHS, min=1, help="Training epochs (small on purpose)."),
    user: str | None = typer.Option(None, "--user", "-u", help="Whose recommendations to show (default: one picked)."),
    k: int = typer.Option(5, "-k", min=1, max=50, help="How many items."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    out: Path | None = typer.Option(None, help="Run directory (default: KGREC_HOME/runs/quickstart-NAME)."),
    download: bool = typer.Option(True, "--download/--no-download", help="Fetch a dataset that is not here."),
) -> None:
    """Ingest → embed → train → recommend with explanations, on one dataset, in a few minutes."""
    from kgrec.config import kgrec_home

    result = run_quickstart(name, epochs=epochs, user=user, k=k, store_url=store, download=download,
                            out=out or kgrec_home() / "runs" / f"quickstart-{name}", echo=typer.echo)
    if result.invalid:
        raise KgrecError(f"{result.invalid} printed Cypher queries did not return their path")


@dataclasses.dataclass(frozen=True)
class QuickstartResult:
    """What :func:`run_quickstart` did (the CLI prints it as it goes)."""

    dataset: str
    synthetic: bool
    run_dir: Path
    user: str
    recommendations: list
    checked: int
    invalid: int
    seconds: dict[str, float]


def run_quickstart(name: str = "lastfm", *, epochs: int = QUICKSTART_EPOCHS, user: str | None = None, k: int = 5,
                   store_url: str | None = None, download: bool = True, out: Path, echo=print) -> QuickstartResult:
    """The steps of ``kgrec quickstart``; ``echo`` prints each line (the CLI passes typer.echo)."""
    from kgrec.gnn import TrainConfig, train
    from kgrec.kg.sources import load_dataset, synthetic
    from kgrec.serving import Recommender
    from kgrec.text import embed_graph

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    is_synthetic = name == "synthetic"
    if is_synthetic:
        kg = synthetic()
    else:
        try:
            kg = load_dataset(name, download=download)
        except DatasetNotFoundError as e:
            echo(f"No local copy of '{name}' and it cannot be downloaded here ({e}).")
            echo("Running on a SYNTHETIC dataset that kgrec generates itself instead "
                 "(users with latent tastes, items whose text and KG facts follow them).")
            kg = synthetic()
            is_synthetic = True
    tag = " [SYNTHETIC data]" if is_synthetic else ""
    seconds["load"] = time.perf_counter() - t0
    stats = kg.stats(degrees=False)
    echo(f"1/4 loaded {kg.name}{tag}: {stats.num_nodes:,} nodes, {stats.num_edges:,} edges "
         f"({seconds['load']:.0f}s)")

    t = time.perf_counter()
    st = _open_store(store_url)
    if kg.name in st.graphs():
        echo(f"2/4 graph '{kg.name}' is already in the store ({st.url}); not written again")
    else:
        report = st.write(kg, graph=kg.name, progress=True)
        echo(f"2/4 wrote {report.num_nodes:,} nodes and {report.num_edges:,} edges to the store ({st.url})"
             f"{tag} ({report.seconds:.0f}s)")
    seconds["ingest"] = time.perf_counter() - t

    t = time.perf_counter()
    from kgrec.text.documents import DocumentTemplates

    item_label = kg.schema.item_label
    vectors = embed_graph(kg, labels=[item_label], templates=DocumentTemplates(**QUICKSTART_DOCUMENTS), progress=True)
    seconds["embed"] = time.perf_counter() - t
    echo(f"3/4 text vectors of the {kg.num_nodes(item_label):,} {item_label} nodes from short documents (name, "
         f"3 tags, 1 fact) with {vectors.model_id} ({vectors.report.num_encoded:,} encoded, "
         f"{vectors.report.num_cached:,} from the cache; {seconds['embed']:.0f}s)")

    t = time.perf_counter()
    config = TrainConfig(epochs=epochs)
    run = train(kg, config, vectors=vectors, out=out, progress=True)
    seconds["train"] = time.perf_counter() - t
    metric = run.config.monitor_metric
    echo(f"4/4 trained {run.config.model} for at most {epochs} epochs (a short quickstart budget; "
         f"`kgrec train` runs longer){tag}: test {metric} = {run.metrics.test.get(metric, float('nan')):.4f} "
         f"({seconds['train']:.0f}s); run directory {out}")

    rec = Recommender(run, kg, store=st, graph_name=kg.name)
    if user is None:
        user = _pick_user(rec)
    recs = rec.recommend(user, k, explain=True)
    echo("")
    print_recommendations(recs, user=user, label=tag, show_cypher=True, echo=echo)
    checked = invalid = 0
    for r in recs:
        for e in r.explanations:
            res = st.query(e.cypher, e.parameters, graph=kg.name)
            checked += 1
            ids = [n.id for n in e.path.nodes]
            if len(res.rows) != 1 or list(res.rows[0][1]) != ids:
                invalid += 1
    seconds["total"] = time.perf_counter() - t0
    echo("")
    echo(f"Each Cypher query above was run on the store: {checked - invalid} of {checked} return exactly their path.")
    if recs and recs[0].explanations:
        echo("Run one yourself:  " + query_command(recs[0].explanations[0], graph=kg.name, store=store_url))
    echo(f"Done in {seconds['total']:.0f}s{tag}. Next: kgrec recommend {out} --user {user} --explain, "
         f"or kgrec serve {out}")
    return QuickstartResult(kg.name, is_synthetic, Path(out), user, recs, checked, invalid, seconds)


def _pick_user(rec) -> str:
    """A user with a typical history: the median number of interactions among known users."""
    import numpy as np

    users = rec.users()
    counts = np.array([len(rec.seen(u)) for u in users])
    order = np.argsort(np.abs(counts - np.median(counts)), kind="stable")
    return users[int(order[0])]
