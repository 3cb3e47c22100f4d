"""`kgrec recommend`, `kgrec explain`, `kgrec serve` and `kgrec quickstart`: thin layers over
:mod:`kgrec.serving`. This is the edge: ids typed here are cleaned by the serving layer's one id
rule, and environment variables (the API token, the feedback durability) are read here only."""

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

QUICKSTART_EPOCHS = 5
"""Epochs of quickstart's training run (a full ``kgrec train`` runs up to 300 with early stopping)."""
QUICKSTART_MIN_INTERACTIONS = 5
"""Quickstart trains on the items with at least this many interactions (and the users, tags and KG
entities linked to them): on lastfm the 2,828 artists with 5 or more listeners, who get 77% of the
92,834 listening edges. The other 14,804 artists have 1 to 4 listeners each; leaving them out makes
the cold first run encode 6x fewer documents. ``kgrec train`` uses every item."""
QUICKSTART_DOCUMENTS = {"max_tags": 3, "max_facts": 1, "max_fact_relations": 1, "max_chars": 120}
"""Quickstart encodes short item documents (name, three tags, one fact) and only the items: encoding
every node's full document of lastfm takes over twenty minutes on 2 CPU cores (``kgrec embed`` does
it, cached); the model learns embeddings for the labels without text."""


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
    user: str = typer.Option(..., "--user", "-u", help="The user's id."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=1000, help="How many items."),
    explain: bool = typer.Option(False, "--explain", help="Explain each item with paths, their Cypher and the "
                                 "`kgrec query` line that runs it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    diversity: float = typer.Option(0.0, min=0.0, max=1.0, help="MMR re-ranking weight (0 = by score)."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Load the graph from its dataset, not the store."),
) -> None:
    """Top-k items for a user from a trained run."""
    from kgrec.serving.recommender import clean

    rec = _load_recommender(run_dir, store, graph, no_store)
    recs = rec.recommend(user, k, explain=explain, diversity=diversity)
    user = clean(user, "user")
    if as_json:
        typer.echo(json.dumps({"user": user, "recommendations": _jsonable(recs)}, ensure_ascii=False, indent=2))
    else:
        print_recommendations(recs, user=user, show_cypher=explain, query_lines=explain, graph=rec.graph_name,
                              store=None if no_store else store)


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
    run_dir: Path = typer.Argument(..., help="A run directory."),
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
    rec = _load_recommender(run_dir, store, graph, False, max_hops=config.max_hops, beam=config.beam)
    typer.echo(f"serving {rec.graph_name} on http://{host}:{port} (docs at /docs); feedback durability: "
               f"{config.feedback_fsync}", err=True)
    run_server(rec, config)


@app.command()
def quickstart(
    name: str = typer.Argument("lastfm", help="Dataset: lastfm, movielens-small, lastfm-kgcn or synthetic."),
    epochs: int = typer.Option(QUICKSTART_EPOCHS, min=1, help="Training epochs (small on purpose)."),
    min_interactions: int = typer.Option(QUICKSTART_MIN_INTERACTIONS, min=1,
                                         help="Train on the items with at least this many interactions "
                                              "(1 = every item)."),
    user: str | None = typer.Option(None, "--user", "-u", help="Whose recommendations to show (default: one picked)."),
    k: int = typer.Option(5, "-k", min=1, max=50, help="How many items."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    out: Path | None = typer.Option(None, help="Run directory (default: KGREC_HOME/runs/quickstart-NAME)."),
    download: bool = typer.Option(True, "--download/--no-download", help="Fetch a dataset that is not here."),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="torch CPU threads (default: the cores the load average leaves idle)."),
) -> None:
    """Ingest → embed → train → recommend with explanations, on one dataset, in a few minutes."""
    from kgrec.config import kgrec_home

    result = run_quickstart(name, epochs=epochs, min_interactions=min_interactions, user=user, k=k, store_url=store,
                            download=download, out=out or kgrec_home() / "runs" / f"quickstart-{name}",
                            threads=threads or idle_cores(), echo=typer.echo)
    if result.invalid:
        raise KgrecError(f"{result.invalid} printed Cypher queries did not return their path")


@dataclasses.dataclass(frozen=True)
class QuickstartResult:
    """What :func:`run_quickstart` did (the CLI prints it as it goes).

    Args:
        dataset: the graph's name.
        synthetic: whether it ran on generated data.
        run_dir: the run directory.
        user: whose recommendations were shown.
        recommendations: the explained recommendations (:class:`kgrec.serving.Recommendation`).
        checked: printed Cypher queries run on the store.
        invalid: how many of them did not return exactly their path.
        feedback_item: the item the demonstrated feedback was about (the first recommendation).
        after_feedback: the recommendations right after that feedback (no explanations).
        seconds: time per step, and ``total``.
    """

    dataset: str
    synthetic: bool
    run_dir: Path
    user: str
    recommendations: list
    checked: int
    invalid: int
    feedback_item: Any
    after_feedback: list
    seconds: dict[str, float]


def idle_cores() -> int:
    """CPU cores the 1-minute load average leaves idle (at least 1).

    On a busy machine torch's default (one thread per core) makes its threads wait on each other:
    on the shared 2-core VM at load 11-17, MiniLM encoded 13-14 texts/s with 2 threads and 21-25
    with 1 (benchmarks/notes/serving.md).
    """
    import os

    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return n
    return max(1, min(n, int(n - load + 0.5)))


def core_graph(kg, *, min_interactions: int):
    """The graph on the items with at least ``min_interactions`` interactions: those items, the users
    who interacted with them, the nodes one hop from either, and every edge among the kept nodes.

    Every edge of the result is an edge of ``kg``, so a path found in it is a path in ``kg`` (and its
    Cypher returns it from a store that holds ``kg``).
    """
    import pandas as pd

    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.graph import isin

    if min_interactions <= 1:
        return kg
    schema = kg.schema
    inter = kg.interactions
    counts = inter["dst"].value_counts()
    items = pd.Series(counts.index[counts >= min_interactions], dtype="string")
    users = pd.Series(inter.loc[isin(inter["dst"], items), "src"].unique(), dtype="string")
    core = {schema.item_label: items, schema.user_label: users}
    keep: dict[str, list[pd.Series]] = {label: [ids] for label, ids in core.items()}
    for (s, _, t), df in kg.edges.items():
        if s in core and t not in core:
            keep.setdefault(t, []).append(df.loc[isin(df["src"], core[s]), "dst"])
        if t in core and s not in core:
            keep.setdefault(s, []).append(df.loc[isin(df["dst"], core[t]), "src"])
    nodes = {}
    for label, df in kg.nodes.items():
        wanted = pd.Series(pd.concat(keep[label]).unique(), dtype="string") if label in keep else \
            pd.Series([], dtype="string")
        nodes[label] = df[isin(df["id"], wanted)].reset_index(drop=True)
    edges = {}
    for (s, r, t), df in kg.edges.items():
        mask = isin(df["src"], nodes[s]["id"]) & isin(df["dst"], nodes[t]["id"])
        edges[(s, r, t)] = df[mask].reset_index(drop=True)
    return KnowledgeGraph(schema, nodes, edges, name=kg.name,
                          metadata={**kg.metadata, "min_interactions": min_interactions}, sources=kg.sources)


def run_quickstart(name: str = "lastfm", *, epochs: int = QUICKSTART_EPOCHS,
                   min_interactions: int = QUICKSTART_MIN_INTERACTIONS, user: str | None = None, k: int = 5,
                   store_url: str | None = None, download: bool = True, out: Path, threads: int | None = None,
                   echo=print) -> QuickstartResult:
    """The steps of ``kgrec quickstart``; ``echo`` prints each line (the CLI passes typer.echo).

    The whole graph goes into the store; the model trains on :func:`core_graph` (the items with at
    least ``min_interactions`` interactions), which keeps the first run, with a cold text cache,
    within a few minutes on a 2-core CPU. Feedback is shown on the recommender in memory only: it does
    not write a made-up interaction into the store. ``threads`` sets torch's CPU threads while it
    runs (default: None = torch's own).
    """
    import torch

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _quickstart(name, epochs=epochs, min_interactions=min_interactions, user=user, k=k,
                           store_url=store_url, download=download, out=out, echo=echo, threads=threads)
    finally:
        torch.set_num_threads(previous_threads)


def _quickstart(name: str, *, epochs: int, min_interactions: int, user: str | None, k: int, store_url: str | None,
                download: bool, out: Path, echo, threads: int | None) -> QuickstartResult:
    from kgrec.gnn import TrainConfig, train
    from kgrec.kg.sources import load_dataset, synthetic
    from kgrec.serving import Recommender
    from kgrec.text import TextEncoder, embed_graph

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
    if threads is not None:
        echo(f"    torch CPU threads: {threads} (--threads N to change)")
    echo(f"1/5 loaded {kg.name}{tag}: {stats.num_nodes:,} nodes, {stats.num_edges:,} edges "
         f"({seconds['load']:.0f}s)")

    t = time.perf_counter()
    st = _open_store(store_url)
    if kg.name in st.graphs():
        echo(f"2/5 graph '{kg.name}' is already in the store ({st.url}); not written again")
    else:
        report = st.write(kg, graph=kg.name, progress=True)
        echo(f"2/5 wrote {report.num_nodes:,} nodes and {report.num_edges:,} edges to the store ({st.url})"
             f"{tag} ({report.seconds:.0f}s)")
    seconds["ingest"] = time.perf_counter() - t

    t = time.perf_counter()
    from kgrec.text.documents import DocumentTemplates

    item_label = kg.schema.item_label
    train_kg = core_graph(kg, min_interactions=min_interactions)
    n_items, n_all = train_kg.num_nodes(item_label), kg.num_nodes(item_label)
    if n_items < n_all:
        share = len(train_kg.interactions) / max(len(kg.interactions), 1)
        echo(f"    training on the {n_items:,} of {n_all:,} {item_label} nodes with at least {min_interactions} "
             f"interactions ({share:.0%} of the {len(kg.interactions):,} interactions; --min-interactions 1 "
             f"or `kgrec train` for all)")
    vectors = embed_graph(train_kg, labels=[item_label], templates=DocumentTemplates(**QUICKSTART_DOCUMENTS),
                          encoder=TextEncoder(progress=True, threads=threads), progress=True)
    seconds["embed"] = time.perf_counter() - t
    echo(f"3/5 text vectors of {n_items:,} {item_label} nodes from short documents (name, 3 tags, 1 fact) "
         f"with {vectors.model_id} ({vectors.report.num_encoded:,} encoded, {vectors.report.num_cached:,} from "
         f"the cache; {seconds['embed']:.0f}s)")

    t = time.perf_counter()
    config = TrainConfig(epochs=epochs)
    run = train(train_kg, config, vectors=vectors, out=out, progress=True)
    seconds["train"] = time.perf_counter() - t
    metric = run.config.monitor_metric
    echo(f"4/5 trained {run.config.model} for at most {epochs} epochs (a short quickstart budget; "
         f"`kgrec train` runs longer){tag}: test {metric} = {run.metrics.test.get(metric, float('nan')):.4f} "
         f"({seconds['train']:.0f}s); run directory {out}")

    t = time.perf_counter()
    # in memory: the demonstrated feedback below must not write a made-up interaction into the store
    rec = Recommender(run, train_kg, graph_name=kg.name)
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
    echo("")
    echo(f"Each Cypher query above was run on the store: {checked - invalid} of {checked} return exactly their path.")
    if recs and recs[0].explanations:
        echo("Run one yourself:  " + query_command(recs[0].explanations[0], graph=kg.name, store=store_url))

    feedback_item, after = None, []
    if recs:
        feedback_item = recs[0].item
        before = {r.item.id: r for r in recs}
        rec.feedback(user, feedback_item.id, "positive")
        after = rec.recommend(user, k, explain=False)
        echo("")
        echo(f"Feedback: user {user} listens to {feedback_item.name} (in memory; `Recommender.feedback` with a "
             f"store also writes it there). The user's vector is folded in again at once; next recommendations:")
        for r in after:
            was = before.get(r.item.id)
            change = "new" if was is None else f"was #{was.rank}, {was.score:.3f}"
            echo(f"  {r.rank:>2}. {r.item.name}  (score {r.score:.3f}; {change})")
    seconds["recommend"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    echo(f"5/5 done in {seconds['total']:.0f}s{tag}. Next: kgrec recommend {out} --user {user} --explain, "
         f"or kgrec serve {out}")
    return QuickstartResult(kg.name, is_synthetic, Path(out), user, recs, checked, invalid, feedback_item, after,
                            seconds)


def _pick_user(rec) -> str:
    """A user with a typical history: the median number of interactions among known users."""
    import numpy as np

    users = rec.users()
    counts = np.array([len(rec.seen(u)) for u in users])
    order = np.argsort(np.abs(counts - np.median(counts)), kind="stable")
    return users[int(order[0])]
