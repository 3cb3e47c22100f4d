"""`kgrec quickstart`: :func:`kgrec.pipeline` on one dataset with a small budget, printed step by step,
then explained recommendations for one user (every Cypher query checked on the store) and one
feedback that changes the next list."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import typer

from kgrec.cli import app
from kgrec.errors import KgrecError

QUICKSTART_EPOCHS = 5
"""Epochs of quickstart's training run (a full ``kgrec train`` runs up to 300 with early stopping)."""
QUICKSTART_MIN_INTERACTIONS = 5
"""Quickstart trains on the items with at least this many interactions (and the users, tags and KG
entities linked to them): on lastfm the 2,828 artists with 5 or more listeners, who get 77% of the
92,834 listening edges. The other 14,804 artists have 1 to 4 listeners each; leaving them out makes
the cold first run encode 6x fewer documents. ``kgrec train`` uses every item."""
QUICKSTART_TEXT = {"documents": "short", "labels": "items"}
"""Quickstart encodes short item documents (name, three tags, one fact) and only the items: encoding
every node's full document of lastfm takes over twenty minutes on 2 CPU cores (``kgrec embed`` does
it, cached); the model learns embeddings for the labels without text. The public form of this
choice is ``TextConfig(documents="short", labels="items")``."""


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
                            download=download, out=(out or kgrec_home() / "runs" / f"quickstart-{name}").absolute(),
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
        pipeline: the :class:`kgrec.PipelineResult` underneath.
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
    pipeline: Any = None


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


def quickstart_config(*, epochs: int = QUICKSTART_EPOCHS, min_interactions: int = QUICKSTART_MIN_INTERACTIONS,
                      store_url: str | None = None):
    """The :class:`kgrec.KgrecConfig` of a quickstart: short item documents, a few epochs on the core
    graph, the store from ``store_url`` (default: ``KGREC_STORE``, else embedded)."""
    from kgrec.config import default_store_url
    from kgrec.gnn import TrainConfig
    from kgrec.kg.stores.config import StoreConfig
    from kgrec.settings import KgrecConfig
    from kgrec.text import TextConfig

    return KgrecConfig(store=StoreConfig(url=store_url or default_store_url()), text=TextConfig(**QUICKSTART_TEXT),
                       train=TrainConfig(epochs=epochs, min_interactions=min_interactions))


def run_quickstart(name: str = "lastfm", *, epochs: int = QUICKSTART_EPOCHS,
                   min_interactions: int = QUICKSTART_MIN_INTERACTIONS, user: str | None = None, k: int = 5,
                   store_url: str | None = None, download: bool = True, out: Path, threads: int | None = None,
                   echo=print) -> QuickstartResult:
    """The steps of ``kgrec quickstart``: :func:`kgrec.pipeline` with :func:`quickstart_config`, then
    the recommendations; ``echo`` prints each line (the CLI passes typer.echo).

    The whole graph goes into the store; the model trains on its core (the items with at least
    ``min_interactions`` interactions), which keeps the first run, with a cold text cache, within a
    few minutes on a 2-core CPU. Feedback is shown on a recommender in memory only: it does not
    write a made-up interaction into the store. ``threads`` sets torch's CPU threads while it runs
    (default: None = torch's own).
    """
    import torch

    from kgrec.api import pipeline

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        config = quickstart_config(epochs=epochs, min_interactions=min_interactions, store_url=store_url)
        result = pipeline(name, config=config, out=out, download=download, synthetic_fallback=True, progress=True,
                          on_step=_Printer(name, epochs, out, threads, echo))
        return _recommend(result, user=user, k=k, store_url=store_url, out=out, echo=echo)
    finally:
        torch.set_num_threads(previous_threads)


class _Printer:
    """Prints each pipeline step as quickstart always has (``1/5 loaded ...`` to ``4/5 trained ...``)."""

    def __init__(self, name: str, epochs: int, out: Path, threads: int | None, echo):
        self.name, self.epochs, self.out, self.threads, self.echo = name, epochs, out, threads, echo

    def __call__(self, step: str, r) -> None:
        echo, kg, s = self.echo, r.graph, r.seconds
        tag = " [SYNTHETIC data]" if r.synthetic else ""
        if step == "load":
            if r.fallback is not None:
                echo(f"No local copy of '{self.name}' and it cannot be downloaded here ({r.fallback}).")
                echo("Running on a SYNTHETIC dataset that kgrec generates itself instead "
                     "(users with latent tastes, items whose text and KG facts follow them).")
            if self.threads is not None:
                echo(f"    torch CPU threads: {self.threads} (--threads N to change)")
            stats = kg.stats(degrees=False)
            echo(f"1/5 loaded {kg.name}{tag}: {stats.num_nodes:,} nodes, {stats.num_edges:,} edges ({s['load']:.0f}s)")
        elif step == "write":
            report = r.write_report
            if report is None:
                echo(f"2/5 graph '{r.graph_name}' is already in the store ({r.store.url}); not written again")
            else:
                echo(f"2/5 wrote {report.num_nodes:,} nodes and {report.num_edges:,} edges to the store ({r.store.url})"
                     f"{tag} ({report.seconds:.0f}s)")
        elif step == "select":
            item = kg.schema.item_label
            n_items, n_all = r.training_graph.num_nodes(item), kg.num_nodes(item)
            if n_items < n_all:
                share = len(r.training_graph.interactions) / max(len(kg.interactions), 1)
                echo(f"    training on the {n_items:,} of {n_all:,} {item} nodes with at least "
                     f"{r.config.train.min_interactions} interactions ({share:.0%} of the {len(kg.interactions):,} "
                     f"interactions; --min-interactions 1 or `kgrec train` for all)")
        elif step == "embed":
            item, v = kg.schema.item_label, r.vectors
            seconds = s["select"] + s["embed"]
            echo(f"3/5 text vectors of {r.training_graph.num_nodes(item):,} {item} nodes from short documents (name, "
                 f"3 tags, 1 fact) with {v.model_id} ({v.report.num_encoded:,} encoded, {v.report.num_cached:,} from "
                 f"the cache; {seconds:.0f}s)")
        elif step == "train":
            run = r.run
            metric = run.config.monitor_metric
            echo(f"4/5 trained {run.config.model} for at most {self.epochs} epochs (a short quickstart budget; "
                 f"`kgrec train` runs longer){tag}: test {metric} = {run.metrics.test.get(metric, float('nan')):.4f} "
                 f"({s['train']:.0f}s); run directory {self.out}")


def _recommend(result, *, user: str | None, k: int, store_url: str | None, out: Path, echo) -> QuickstartResult:
    """Step 5: explained recommendations for one user, each Cypher query run on the store, and one
    feedback (in memory) that changes the next list."""
    from kgrec.cli.serve import print_recommendations, query_command
    from kgrec.serving import Recommender

    t = time.perf_counter()
    kg, st, tag = result.graph, result.store, " [SYNTHETIC data]" if result.synthetic else ""
    # in memory: the demonstrated feedback below must not write a made-up interaction into the store
    rec = Recommender(result.run, result.training_graph, graph_name=result.graph_name)
    if user is None:
        user = _pick_user(rec)
    recs = rec.recommend(user, k, explain=True)
    echo("")
    print_recommendations(recs, user=user, label=tag, show_cypher=True, echo=echo)
    checked = invalid = 0
    for r in recs:
        for e in r.explanations:
            res = st.query(e.cypher, e.parameters, graph=result.graph_name)
            checked += 1
            ids = [n.id for n in e.path.nodes]
            if len(res.rows) != 1 or list(res.rows[0][1]) != ids:
                invalid += 1
    echo("")
    echo(f"Each Cypher query above was run on the store: {checked - invalid} of {checked} return exactly their path.")
    if recs and recs[0].explanations:
        echo("Run one yourself:  " + query_command(recs[0].explanations[0], graph=result.graph_name, store=store_url))

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
    seconds = {**{k_: v for k_, v in result.seconds.items() if k_ != "total"}, "recommend": time.perf_counter() - t}
    seconds["total"] = result.seconds["total"] + seconds["recommend"]
    echo(f"5/5 done in {seconds['total']:.0f}s{tag}. Next: kgrec recommend {out} --user {user} --explain, "
         f"or kgrec serve {out}")
    return QuickstartResult(kg.name, result.synthetic, Path(out), user, recs, checked, invalid, feedback_item, after,
                            seconds, result)


def _pick_user(rec) -> str:
    """A user with a typical history: the median number of interactions among known users."""
    import numpy as np

    users = rec.users()
    counts = np.array([len(rec.seen(u)) for u in users])
    order = np.argsort(np.abs(counts - np.median(counts)), kind="stable")
    return users[int(order[0])]
