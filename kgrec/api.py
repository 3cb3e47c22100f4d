"""`kgrec.pipeline()`: the one entry point, dataset → store → text vectors → trained run → recommender.

::

    import kgrec
    result = kgrec.pipeline("lastfm", config=kgrec.KgrecConfig(
        text=kgrec.TextConfig(documents="short", labels="items"),   # the quick path
        train=kgrec.TrainConfig(epochs=20, min_interactions=5)))
    result.run.metrics.test["ndcg@20"]
    result.recommender.recommend("2", k=10)                     # explained, feedback goes to the store
    result.save("runs/lastfm-pipeline")
    again = kgrec.load_pipeline("runs/lastfm-pipeline")         # the inverse

It reads as its steps (each a function here that composes on its own): :func:`load_graph` →
:func:`write_graph` (into the store, once) → ``KnowledgeGraph.core`` (the training graph) →
:func:`embed_graph_for` (text vectors, cached) → :func:`kgrec.gnn.train` (the run) → the
:class:`~kgrec.serving.Recommender`. In the spirit of PyKEEN's ``pipeline()`` /
``save_to_directory`` and RecBole's ``run_recbole`` / ``load_data_and_model``; every option is in
the one :class:`~kgrec.settings.KgrecConfig`, not in keyword arguments.

This module sits on top of every layer (the ``kgrec`` package re-exports its names); nothing
inside a layer imports it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from kgrec.errors import DatasetNotFoundError, InputError, RunDirError
from kgrec.settings import KgrecConfig

logger = logging.getLogger(__name__)

FORMAT = 1
CONFIG_FILE = "config.yaml"
META_FILE = "pipeline.json"
RUN_DIR = "run"
TEXT_DIR = "text"
STEPS = ("load", "write", "select", "embed", "train")
"""The steps of :func:`pipeline`, in order; ``on_step`` is called after each with its name."""


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`pipeline` made (fields fill in step by step; ``on_step`` sees partial results).

    Args:
        config: the config it ran with (its ``train`` section with the model's defaults applied
            once the run exists).
        dataset: the dataset name or path it was given (None for a ready graph).
        graph: the whole graph (what the store holds).
        training_graph: the graph the model trained on (:meth:`KnowledgeGraph.core` of ``graph``
            with ``config.train.min_interactions``; ``graph`` itself at 1).
        graph_name: the graph's name in the store.
        store: the store (None: run without one).
        write_report: what writing the graph did (None: it was in the store already, or no store).
        vectors: the text vectors trained on (:class:`kgrec.text.NodeVectors`; None for models
            without text).
        run: the trained :class:`kgrec.gnn.Run`.
        fallback: why generated data replaced the dataset (``synthetic_fallback=True`` and no
            copy of it), else None.
        seconds: seconds per step, and ``total``.
        path: the directory :meth:`save` wrote or :meth:`load` read (None before).
    """

    config: KgrecConfig
    dataset: str | None = None
    graph: Any = None
    training_graph: Any = None
    graph_name: str | None = None
    store: Any = None
    write_report: Any = None
    vectors: Any = None
    run: Any = None
    fallback: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    @property
    def synthetic(self) -> bool:
        """Whether it ran on generated data."""
        return bool(self.graph is not None and self.graph.metadata.get("synthetic"))

    @cached_property
    def recommender(self):
        """The :class:`~kgrec.serving.Recommender` over the run and the training graph, with the store
        (feedback is written there), made on first use."""
        from kgrec.serving import Recommender

        if self.run is None or self.training_graph is None:
            raise RunDirError("the pipeline has not trained a run yet")
        return Recommender(self.run, self.training_graph, store=self.store, graph_name=self.graph_name)

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> PipelineResult:
        """Write ``config.yaml``, ``pipeline.json`` (dataset, graph name, store, timings, versions),
        the run (``run/``) and the text vectors (``text/``); the graph stays in the store (dataset
        licenses forbid copies). Returns the result with ``path``."""
        from kgrec.gnn.run import package_versions

        directory = Path(directory)
        if self.run is None:
            raise RunDirError(f"{directory.absolute()}: nothing to save, the pipeline has not trained a run")
        directory.mkdir(parents=True, exist_ok=True)
        run_dir = directory / RUN_DIR
        run = self.run if self.run.path is not None and _same(self.run.path, run_dir) else self.run.save(run_dir)
        if self.vectors is not None:
            self.vectors.save(directory / TEXT_DIR)
        self.config.save(directory / CONFIG_FILE)
        report = self.write_report
        meta = {"format": FORMAT, "dataset": self.dataset, "graph": self.graph_name, "synthetic": self.synthetic,
                "fallback": self.fallback, "store": self.config.store.redacted().url,
                "seconds": self.seconds, "versions": package_versions(),
                "write": None if report is None else {"graph": report.graph, "nodes": report.nodes,
                                                      "edges": report.edges, "seconds": report.seconds}}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return replace(self, run=run, path=directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, store: Any = None, graph: Any = None) -> PipelineResult:
        """Read what :meth:`save` wrote: the config, the run (verified against its manifest), the
        text vectors, and the graph (from the store when it holds it, else from the dataset).

        Args:
            directory: a directory written by :meth:`save`.
            store: an open store, a store URL, None (the saved config's store) or False (none).
            graph: the graph itself (default: read from the store, else loaded by dataset name).
        """
        from kgrec.gnn import Run
        from kgrec.text import NodeVectors

        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise RunDirError(f"{directory.absolute()}: not a pipeline directory (no {META_FILE}; "
                              f"PipelineResult.save writes one)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            raise RunDirError(f"{meta_path.absolute()}: unreadable: {e}") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise RunDirError(f"{meta_path.absolute()}: pipeline format {meta.get('format') if isinstance(meta, dict) else meta!r}; "
                              f"this kgrec reads format {FORMAT}")
        config = KgrecConfig.load(directory / CONFIG_FILE)
        run = Run.load(directory / RUN_DIR)
        vectors = NodeVectors.load(directory / TEXT_DIR) if (directory / TEXT_DIR).is_dir() else None
        st = open_pipeline_store(store, config)
        name = meta.get("graph") or run.graph
        if graph is None:
            graph = _saved_graph(st, name, meta.get("dataset"), directory)
        training = graph.core(min_interactions=config.train.min_interactions)
        return cls(config=config.model_copy(update={"train": run.config}), dataset=meta.get("dataset"), graph=graph,
                   training_graph=training, graph_name=name, store=st, vectors=vectors, run=run,
                   fallback=meta.get("fallback"), seconds=dict(meta.get("seconds") or {}), path=directory)


def load_pipeline(directory: str | os.PathLike, *, store: Any = None, graph: Any = None) -> PipelineResult:
    """:meth:`PipelineResult.load`: what :func:`pipeline` saved, ready to recommend."""
    return PipelineResult.load(directory, store=store, graph=graph)


# -- the steps ---------------------------------------------------------------------------------------
def load_graph(dataset: Any, *, download: bool = True, synthetic_fallback: bool = False) -> tuple[Any, str | None]:
    """The graph of ``dataset`` (a name or path for :func:`kgrec.load_dataset`, or a ready
    ``KnowledgeGraph``), and why generated data replaced it (None when it did not).

    With ``synthetic_fallback``, a dataset that is neither here nor downloadable gives
    :func:`kgrec.synthetic` data instead of an error.
    """
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.sources import load_dataset, synthetic

    if isinstance(dataset, KnowledgeGraph):
        return dataset.validate(), None
    if str(dataset) == "synthetic":
        return synthetic(), None
    try:
        return load_dataset(dataset, download=download), None
    except DatasetNotFoundError as e:
        if not synthetic_fallback:
            raise
        logger.warning("no copy of %r (%s): running on synthetic data", dataset, e)
        return synthetic(), str(e)


def open_pipeline_store(store: Any, config: KgrecConfig) -> Any:
    """The store a pipeline uses: ``store`` itself when it is one, a URL opened, None = the
    config's store section opened, False = none."""
    if store is False:
        return None
    if store is None:
        return config.store.open()
    if isinstance(store, str):
        from kgrec.kg.stores import open_store

        return open_store(store, graph=config.store.graph, **config.store.options)
    return store


def write_graph(store: Any, kg: Any, *, graph: str, progress: bool | None = None) -> Any:
    """Write ``kg`` into ``store`` as ``graph`` unless it is there already; the write report, or
    None when nothing was written (no store, or the graph was there)."""
    if store is None or graph in store.graphs():
        return None
    from kgrec.config import show_progress

    return store.write(kg, graph=graph, progress=show_progress(progress))


def embed_graph_for(kg: Any, config: KgrecConfig, *, progress: bool | None = None) -> Any:
    """The text vectors ``config.train``'s model trains on (None when it uses no text): the labels,
    documents and encoder of ``config.text``, every vector through the cache."""
    from kgrec.gnn import model_class
    from kgrec.text import embed_features

    if not (model_class(config.train.model).uses_text and config.train.text):
        return None
    return embed_features(kg, config.text, progress=progress)


def pipeline(dataset: Any, *, config: KgrecConfig | None = None, store: Any = None,
             out: str | os.PathLike | None = None, download: bool = True, synthetic_fallback: bool = False,
             progress: bool | None = None, on_step: Callable[[str, PipelineResult], None] | None = None
             ) -> PipelineResult:
    """Dataset → store → training graph → text vectors → trained run → recommender, in one call.

    Args:
        dataset: a dataset name or path (:func:`kgrec.load_dataset`), or a ``KnowledgeGraph``.
        config: every option (:class:`~kgrec.settings.KgrecConfig`; default: its defaults).
        store: an open store (the caller closes it), a store URL, None (open ``config.store``) or
            False (no store: nothing is written, the recommender keeps feedback in memory).
        out: the run directory (default: ``KGREC_HOME/runs/<graph>-<model>-...``).
        download: fetch a dataset that is not here (default: True).
        synthetic_fallback: run on :func:`kgrec.synthetic` data when the dataset is neither here nor
            downloadable, instead of raising (``PipelineResult.fallback`` says why) (default: False).
        progress: progress bars; None = auto, on in a terminal or a notebook (default: None).
        on_step: called after each step (:data:`STEPS`) with its name and the result so far.

    Returns:
        :class:`PipelineResult`: ``graph``, ``write_report``, ``vectors``, ``run``, ``recommender``;
        ``save(directory)`` and :func:`load_pipeline` to read it back.
    """
    from kgrec.gnn import train

    config = config or KgrecConfig()
    result = PipelineResult(config=config, dataset=None if dataset is None or not isinstance(dataset, (str, os.PathLike))
                            else os.fspath(dataset))
    t0 = time.perf_counter()

    def done(step: str, started: float, **found: Any) -> None:
        nonlocal result
        result = replace(result, **found, seconds={**result.seconds, step: time.perf_counter() - started})
        if on_step is not None:
            on_step(step, result)

    t = time.perf_counter()
    kg, fallback = load_graph(dataset, download=download, synthetic_fallback=synthetic_fallback)
    done("load", t, graph=kg, fallback=fallback, graph_name=config.store.graph or kg.name)

    t = time.perf_counter()
    st = open_pipeline_store(store, config)
    if st is not None and st.url != config.store.url:  # a store given by the caller: saved configs name it
        config = config.model_copy(update={"store": config.store.model_copy(update={"url": st.url})})
        result = replace(result, config=config)
    done("write", t, store=st, write_report=write_graph(st, kg, graph=result.graph_name, progress=progress))

    t = time.perf_counter()
    done("select", t, training_graph=kg.core(min_interactions=config.train.min_interactions))

    t = time.perf_counter()
    done("embed", t, vectors=embed_graph_for(result.training_graph, config, progress=progress))

    t = time.perf_counter()
    run = train(result.training_graph, config.train, vectors=result.vectors, text=config.text, out=out,
                progress=progress)
    result = replace(result, config=config.model_copy(update={"train": run.config}))
    done("train", t, run=run)
    return replace(result, seconds={**result.seconds, "total": time.perf_counter() - t0})


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _saved_graph(store: Any, name: str | None, dataset: str | None, directory: Path) -> Any:
    """The graph a saved pipeline trained on: from the store when it holds it, else its dataset."""
    if store is not None and name is not None and name in store.graphs():
        return store.read(graph=name)
    if dataset is None:
        raise InputError(f"{directory.absolute()}: the graph {name!r} is not in the store and the pipeline was given a "
                         f"ready graph, not a dataset name; pass graph=...")
    graph, _ = load_graph(dataset)
    return graph


__all__ = ["PipelineResult", "STEPS", "embed_graph_for", "load_graph", "load_pipeline", "open_pipeline_store",
           "pipeline", "write_graph"]
