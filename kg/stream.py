"""A graph too large to hold at once: :class:`GraphStream`, its schema and chunks of rows.

A source that can produce a graph piece by piece (the generic loader reading a large interactions
file in chunks, the synthetic generator drawing users block by block) gives a :class:`GraphStream`;
:meth:`Store.write_stream <kgrec.kg.stores.base.Store.write_stream>` writes it chunk by chunk, so
the client holds one chunk at a time, never the whole graph::

    stream = stream_generic("interactions.csv", items="items.csv", chunk_rows=100_000)
    report = store.write_stream(stream)          # the same stored graph as store.write(load_generic(...))

The schema is known before the first row: every chunk's tables must fit it (labels, relation
types, property types), as the tables of a :class:`~kgrec.kg.graph.KnowledgeGraph` must. Within a
chunk the node tables are written before the edge tables; an edge's endpoints must be in the store
by then (written by this chunk or an earlier one). A node or edge that comes again in a later chunk
is upserted (the store's MERGE): the later row's values win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .schema import EdgeType, Schema


@dataclass(frozen=True)
class GraphChunk:
    """Rows to write together: node tables (label → ``id`` [, ``name``, ``text``, properties]) and
    edge tables (edge type → ``src``, ``dst`` [, properties]), as in a
    :class:`~kgrec.kg.graph.KnowledgeGraph`; a ``_line`` column names each row's line in its file."""

    nodes: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    edges: Mapping[EdgeType, pd.DataFrame] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return sum(len(df) for df in self.nodes.values()) + sum(len(df) for df in self.edges.values())


@dataclass(frozen=True)
class GraphStream:
    """A graph as a schema and a sequence of chunks.

    Args:
        schema: the graph's schema; every chunk fits it.
        chunks: a function that returns a fresh iterator over the chunks each time it is called
            (so that a stream can be written again: writes are idempotent, and a second write
            completes one that was cut off).
        name: the graph's name (a store's graph key).
        metadata: free JSON-ready facts about the graph, stored with it.
        sources: label or edge type → the file its rows come from (for error messages).
        num_rows: rows in all chunks together, when known (a progress bar's total) (default: None).
    """

    schema: Schema
    chunks: Callable[[], Iterator[GraphChunk]]
    name: str = "graph"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str | EdgeType, str] = field(default_factory=dict)
    num_rows: int | None = None

    def __iter__(self) -> Iterator[GraphChunk]:
        return iter(self.chunks())

    def __repr__(self) -> str:
        return (f"GraphStream(name={self.name!r}, {len(self.schema.labels)} labels, "
                f"{len(self.schema.edge_types)} relation types)")


__all__ = ["GraphChunk", "GraphStream"]
