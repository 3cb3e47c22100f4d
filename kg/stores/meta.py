"""The one record a store keeps about each graph beside its nodes and edges: :class:`GraphMeta`.

Every backend stores it with the graph (the Cypher stores in a ``(:KgrecMeta)`` node, the rdf store
as triples of the graph resource) and gives it back typed through
:meth:`Store.graph_meta <kgrec.kg.stores.base.Store.graph_meta>`:

- ``schema``: the :class:`~kgrec.kg.schema.Schema` (so a read rebuilds the same typed graph);
- ``metadata``: the graph's free-form metadata;
- ``node_columns`` / ``edge_columns``: which declared property columns each table was written with
  (a read gives back those columns, not every declared one);
- ``state``: ``writing`` from the start of a write until it finished, ``complete`` after; a graph
  left ``writing`` (a killed ingest) is refused by ``read()`` with
  :class:`~kgrec.errors.IncompleteGraphError`;
- ``format`` and ``kgrec_version``: what wrote it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..graph import KnowledgeGraph
from ..schema import EdgeType, Schema

GraphState = Literal["writing", "complete"]
WRITING: GraphState = "writing"
COMPLETE: GraphState = "complete"
META_FORMAT = 1


def kgrec_version() -> str:
    """The installed kgrec version (``0+unknown`` in a source tree without an install)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kgrec")
    except PackageNotFoundError:
        return "0+unknown"


def edge_key(edge_type: EdgeType) -> str:
    """``"(User)-[LISTENED_TO]->(Artist)"``: how stats, reports and messages name an edge type."""
    return "({0})-[{1}]->({2})".format(*edge_type)


def table_properties(columns: Iterable[str], fixed: tuple[str, ...]) -> list[str]:
    """The property columns of a table: not the fixed ones (``id``/``name``/``text`` or
    ``src``/``dst``) and not bookkeeping columns (a leading ``_``)."""
    return [c for c in columns if c not in fixed and not str(c).startswith("_")]


@dataclass(frozen=True)
class GraphMeta:
    """What a store knows about one graph besides its nodes and edges (see the module docstring)."""

    name: str
    schema: Schema
    metadata: Mapping[str, Any] = field(default_factory=dict)
    node_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    edge_columns: Mapping[EdgeType, tuple[str, ...]] = field(default_factory=dict)
    state: GraphState = COMPLETE
    format: int = META_FORMAT
    kgrec_version: str = ""

    @property
    def complete(self) -> bool:
        """The last write finished."""
        return self.state == COMPLETE

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def of_graph(cls, kg: KnowledgeGraph, name: str, *, state: GraphState = WRITING) -> GraphMeta:
        """The record of ``kg`` as it is about to be written as graph ``name``."""
        nodes = {label: tuple(sorted(table_properties(df.columns, ("id", "name", "text"))))
                 for label, df in kg.nodes.items()}
        edges = {tuple(et): tuple(sorted(table_properties(df.columns, ("src", "dst")))) for et, df in kg.edges.items()}
        return cls(name, kg.schema, dict(kg.metadata), nodes, edges, state, META_FORMAT, kgrec_version())

    def merged_with(self, kg: KnowledgeGraph, *, state: GraphState = WRITING) -> GraphMeta:
        """This record with ``kg`` written over it: schemas merged (roles from ``kg``), columns
        joined, ``kg``'s metadata over the stored."""
        new = GraphMeta.of_graph(kg, self.name, state=state)
        schema = self.schema.merge(kg.schema).with_roles(user_label=kg.schema.user_label,
                                                         item_label=kg.schema.item_label,
                                                         interaction=kg.schema.interaction)
        meta = dataclasses.replace(self, schema=schema, metadata={**self.metadata, **kg.metadata}, state=state,
                                   kgrec_version=kgrec_version())
        for label, cols in new.node_columns.items():
            meta = meta.with_node_columns(label, cols)
        for et, cols in new.edge_columns.items():
            meta = meta.with_edge_columns(et, cols)
        return meta

    def with_node_columns(self, label: str, columns: Iterable[str]) -> GraphMeta:
        """This record with ``columns`` added to the ``label`` table's."""
        cols = tuple(sorted(set(self.node_columns.get(label, ())) | set(columns)))
        return dataclasses.replace(self, node_columns={**self.node_columns, label: cols})

    def with_edge_columns(self, edge_type: EdgeType, columns: Iterable[str]) -> GraphMeta:
        """This record with ``columns`` added to the ``edge_type`` table's."""
        et = tuple(edge_type)
        cols = tuple(sorted(set(self.edge_columns.get(et, ())) | set(columns)))
        return dataclasses.replace(self, edge_columns={**self.edge_columns, et: cols})

    def with_state(self, state: GraphState) -> GraphMeta:
        return dataclasses.replace(self, state=state)

    # -- the two stored forms of the columns ---------------------------------------------------
    def columns_by_key(self) -> dict[str, Any]:
        """The columns as the Cypher stores keep them: ``{"nodes": {label: [...]}, "edges":
        {"Src|REL|Dst": [...]}}``."""
        return {"nodes": {k: list(v) for k, v in self.node_columns.items()},
                "edges": {"|".join(et): list(v) for et, v in self.edge_columns.items()}}

    def columns_as_list(self) -> dict[str, Any]:
        """The columns as RDF files and the rdf store keep them: ``{"nodes": {label: [...]}, "edges":
        [[Src, REL, Dst, [...]], ...]}``."""
        return {"nodes": {k: list(v) for k, v in self.node_columns.items()},
                "edges": [[*et, list(v)] for et, v in self.edge_columns.items()]}

    @staticmethod
    def parse_columns(columns: Mapping[str, Any] | None) -> tuple[dict[str, tuple[str, ...]],
                                                                  dict[EdgeType, tuple[str, ...]]]:
        """``(node_columns, edge_columns)`` from either stored form (or none)."""
        columns = columns or {}
        nodes = {str(k): tuple(v) for k, v in (columns.get("nodes") or {}).items()}
        raw = columns.get("edges") or {}
        if isinstance(raw, Mapping):
            edges = {tuple(k.split("|")): tuple(v) for k, v in raw.items()}
        else:
            edges = {tuple(e[:3]): tuple(e[3]) for e in raw}
        return nodes, edges


__all__ = ["COMPLETE", "GraphMeta", "GraphState", "META_FORMAT", "WRITING", "edge_key", "kgrec_version",
           "table_properties"]
