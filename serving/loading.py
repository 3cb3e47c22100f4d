"""The serving index of a run directory: reused from the run directory while the graph is unchanged,
else built once from the graph and saved there (``graph_index.*``, listed in the run's manifest).

A one-off ``kgrec recommend`` then reads the run's files and the index (memory-mapped), asks the
store one question (its counts per label and relation: is the graph still the one indexed?), and
neither reads the whole graph from the store nor parses the dataset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgrec.errors import InputError, KgrecError, UnknownGraphError

from .index import GraphIndex

if TYPE_CHECKING:
    from kgrec.gnn import Run
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.stores import Store

logger = logging.getLogger(__name__)


def graph_counts(store: Store, graph: str) -> dict[str, Any]:
    """What identifies a stored graph's version for the index: nodes per label and edges per
    relation (one constant-time count each on a Cypher store; the store's statistics otherwise)."""
    if store.capabilities.cypher:
        from kgrec.kg import cypher

        schema = store.schema(graph=graph)
        nodes = {label: int(store.query(cypher.count_nodes(label), graph=graph).scalar()) for label in schema.labels}
        edges = {rel: int(store.query(cypher.count_relation(rel), graph=graph).scalar())
                 for rel in schema.relation_names()}
    else:
        stats = store.stats(graph=graph)
        nodes, edges = stats.nodes, stats.relations
    return {"nodes": dict(sorted(nodes.items())), "edges": dict(sorted(edges.items()))}


def cached_index(run_dir: Path) -> GraphIndex | None:
    """The index saved in a run directory, if its manifest lists it (verified when the run was
    loaded), else None."""
    from kgrec.gnn.run import ATTACHABLE, read_manifest

    if not all(name in read_manifest(run_dir) for name in ATTACHABLE):
        return None
    try:
        return GraphIndex.load(run_dir)
    except KgrecError as e:
        logger.warning("the saved graph index is not usable (%s); it is rebuilt", e)
        return None


def save_index(index: GraphIndex, run_dir: Path) -> None:
    """Save the index into the run directory and list it in the manifest (best effort: a run
    directory that cannot be written to is served without a saved index)."""
    from kgrec.gnn.run import ATTACHABLE, attach_files, detach_files

    try:
        # the manifest never lists a file while it is being replaced: a crash in between leaves an
        # unlisted index (ignored, rebuilt), never a run that fails its verification
        detach_files(run_dir, ATTACHABLE)
        attach_files(run_dir, index.save(run_dir))
        logger.info("saved the graph index in %s", run_dir)
    except (OSError, KgrecError) as e:
        logger.warning("could not save the graph index in %s (%s); the next load reads the graph again", run_dir, e)


def serving_index(run: Run, run_dir: Path, *, store: Store | None, graph: str | None
                  ) -> tuple[GraphIndex, KnowledgeGraph | None]:
    """The index to serve ``run`` over, and the graph when it had to be read (else None).

    Args:
        run: the loaded run.
        run_dir: its directory (where the index is kept).
        store: the store holding the graph (default: the dataset is loaded instead).
        graph: the graph's name (default: the run's).
    """
    name = graph or run.graph
    order = {label: m.ids for label, m in run.id_maps.items()}
    cached = cached_index(run_dir)
    if store is not None and (graph is not None or name in store.graphs()):
        if name not in store.graphs():
            raise UnknownGraphError(f"graph {name!r} is not in {store.url}; graphs there: "
                                    f"{', '.join(store.graphs()) or 'none'}")
        counts = graph_counts(store, name)
        source = {"graph": name, "from": "store", "counts": counts}
        if cached is not None and cached.source == source:
            return cached, None
        logger.info("reading graph %r from %s to index it (once: the index is saved with the run)", name, store.url)
        kg = store.read(graph=name)
    else:
        if not name:
            raise InputError(f"{run_dir}: the run does not name its dataset; pass graph=...")
        source = {"graph": name, "from": "dataset"}
        if cached is not None and cached.source == source:
            return cached, None
        from kgrec.kg.sources import load_dataset

        logger.info("loading dataset %r to index it (once: the index is saved with the run)", name)
        kg = load_dataset(name)
    index = GraphIndex.from_graph(kg, order=order, source=source)
    _weigh_for_saving(index, run)
    save_index(index, run_dir)
    return index, kg


def _weigh_for_saving(index: GraphIndex, run: Run) -> None:
    """Compute the hop supports now, so that they are saved with the index."""
    from .vectors import UnitVectors

    index.weigh(UnitVectors(index, run.node_vectors))


def sparql_of(store: Store | None) -> tuple[bool, str | None]:
    """Whether explanations also carry SPARQL (an RDF store), and that store's base IRI."""
    if store is None or not store.capabilities.sparql:
        return False, None
    from kgrec.kg.stores.rdf import RdfStore

    return True, store.base_iri if isinstance(store, RdfStore) else None


__all__ = ["cached_index", "graph_counts", "save_index", "serving_index", "sparql_of"]
