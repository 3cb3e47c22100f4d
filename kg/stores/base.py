"""The one interface every store backend implements, and the results it returns.

A backend declares what it can do as :class:`StoreCapabilities` flags; the contract test
(``tests/integration/test_store_contract.py``) runs the same cases over every backend available.

Lifecycle: constructing a store does no I/O; :meth:`Store.open` connects (and, for the embedded
store, starts the server); :meth:`Store.close` disconnects. Stores are context managers.

What every backend shares is written once here, as template methods over primitives a backend
supplies: ``write`` → ``_write_graph``; ``read`` → ``_read_graph``; ``upsert_nodes`` /
``upsert_edges`` → ``_write_node_rows`` / ``_write_edge_rows`` (row checks and schema extension in
:mod:`kgrec.kg.stores.rows`); ``query`` → ``_run_analyst`` (guard and limits in
:mod:`kgrec.kg.stores.guard`); the graph's record is a :class:`~kgrec.kg.stores.meta.GraphMeta`
(``_read_meta`` / ``_write_meta``). To add a backend: subclass :class:`Store` (or
:class:`~kgrec.kg.stores.cypherbase.CypherStore` for a Cypher database), implement those, set its
:class:`StoreCapabilities` truthfully, and register its URL scheme in ``kgrec.kg.stores.BACKENDS``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kgrec.errors import IncompleteGraphError, InputError, StoreError, UnknownGraphError

from ..graph import GraphStats, KnowledgeGraph
from ..schema import EdgeType, Schema
from ..stream import GraphChunk, GraphStream
from . import guard
from .meta import COMPLETE, GraphMeta, edge_key, table_properties
from .rows import check_reserved_label, edge_rows, extend_for_edges, extend_for_nodes, node_rows

logger = logging.getLogger(__name__)


GRAPH_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_graph_name(name: str) -> str:
    """Return ``name`` if it is a safe graph name (letters, digits, ``_.-``; at most 64), else raise."""
    if not isinstance(name, str) or not GRAPH_NAME_RE.match(name):
        raise UnknownGraphError(f"graph name {name!r} is not allowed (pattern {GRAPH_NAME_RE.pattern})")
    return name


def choose_graph(requested: str | None, default: str | None, available: Sequence[str], *, where: str) -> str:
    """The graph a call works on: ``requested``, else ``default``, else ``KGREC_GRAPH``, else the only
    graph in ``available``. Raises :class:`UnknownGraphError` listing the graphs when it is not there
    or when the choice is ambiguous."""
    name = requested or default or os.environ.get("KGREC_GRAPH") or None
    listing = ", ".join(sorted(available)) or "none"
    if name is not None:
        check_graph_name(name)
        if name not in available:
            raise UnknownGraphError(f"graph {name!r} is not in {where}; graphs there: {listing}")
        return name
    if len(available) == 1:
        return available[0]
    if not available:
        raise UnknownGraphError(f"{where} holds no graph yet; write one first (kgrec ingest NAME)")
    raise UnknownGraphError(f"{where} holds several graphs ({listing}); choose one with graph=... "
                            "(--graph NAME, or KGREC_GRAPH)")


@dataclass(frozen=True)
class StoreCapabilities:
    """What a backend can do."""

    cypher: bool = True  # query() takes Cypher
    sparql: bool = False  # sparql() works
    vectors: bool = False  # vector properties and a vector index
    persistent: bool = True  # data survives close()/reopen
    named_graphs: bool = True  # more than one graph per store
    restartable: bool = False  # kgrec owns the server process: ensure_running() restarts it
    fsync: bool = False  # require_appendfsync(mode) sets the server's write durability
    compactable: bool = False  # compact() rewrites the persistence files (forget leaves no trace on disk)


# Analyst queries (``Store.query``): a time limit and a row cap on every backend. The default and
# the hard maximum are settings of the caller (HTTP/CLI config); these are their defaults.
DEFAULT_QUERY_TIMEOUT_S = 10.0
MAX_QUERY_TIMEOUT_S = 300.0
DEFAULT_MAX_ROWS = 100_000


@dataclass(frozen=True)
class QueryResult:
    """Rows of a read-only query: ``columns`` names, ``rows`` tuples of plain Python values."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # the query had more rows than ``max_rows``; ``rows`` holds the first ones

    def __len__(self) -> int:
        return len(self.rows)

    def scalar(self) -> Any:
        """The single value of a one-row, one-column result."""
        if len(self.rows) != 1 or len(self.columns) != 1:
            raise StoreError(f"expected one value, got {len(self.rows)} rows x {len(self.columns)} columns")
        return self.rows[0][0]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass(frozen=True)
class WriteReport:
    """What a write did: rows sent per label / relation, and the time it took."""

    graph: str
    nodes: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def num_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def num_edges(self) -> int:
        return sum(self.edges.values())


class Store(ABC):
    """A place a :class:`KnowledgeGraph` lives: embedded FalkorDB, FalkorDB, Neo4j or RDF.

    Every method that takes ``graph`` uses the store's default graph when it is None (the one
    given at construction, else ``KGREC_GRAPH``, else the only graph in the store).

    The contracts that every backend shares are written here once, as template methods over a few
    primitives each backend supplies: :meth:`write` (validate, then ``_write_graph``), :meth:`read`
    (refuse an unfinished graph, then ``_read_graph``), :meth:`upsert_nodes` / :meth:`upsert_edges`
    (check the rows, extend the stored schema, then ``_write_node_rows`` / ``_write_edge_rows``)
    and :meth:`query` (guard, limits, then ``_run_analyst``).

    Args:
        url: where the store is (kept for messages).
        graph: the default graph (default: ``KGREC_GRAPH``, else the only graph in the store).
        batch_size: rows per write batch.
        query_timeout: seconds an analyst query may run when the call names no ``timeout``
            (default: :data:`DEFAULT_QUERY_TIMEOUT_S`).
        max_query_timeout: the hard maximum a call may ask for (default: :data:`MAX_QUERY_TIMEOUT_S`).
        max_rows: rows an analyst query returns at most when the call names no ``max_rows``
            (default: :data:`DEFAULT_MAX_ROWS`).
    """

    capabilities: StoreCapabilities = StoreCapabilities()

    def __init__(self, url: str, *, graph: str | None = None, batch_size: int = 5000,
                 query_timeout: float = DEFAULT_QUERY_TIMEOUT_S, max_query_timeout: float = MAX_QUERY_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS):
        if graph is not None:
            check_graph_name(graph)
        guard.resolve_limits(query_timeout, max_rows, default_timeout=query_timeout, max_timeout=max_query_timeout,
                             default_rows=max_rows)
        self.url = url
        self.default_graph = graph
        self.batch_size = batch_size
        self.query_timeout = float(query_timeout)
        self.max_query_timeout = float(max_query_timeout)
        self.max_rows = int(max_rows)

    # -- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> Store:
        """Connect (start the embedded server if needed). Returns self."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect; the data stays (except on a non-persistent backend)."""

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def reader(self) -> Store:
        """A second store on the same data with connections of its own, opened: for analyst
        queries that must not wait behind (or hold up) this store's writes and reads. The caller
        closes it. (The serving layer runs ``/v1/query`` on one.)"""
        raise StoreError(f"{type(self).__name__} cannot open a second connection")

    def ensure_running(self) -> int | None:
        """Start the store's server again if it is down (``capabilities.restartable`` only)."""
        raise StoreError(f"{type(self).__name__} does not run its own server (capabilities.restartable is False)")

    def require_appendfsync(self, mode: str) -> str:
        """Make the server sync writes to disk at least as often as ``mode`` (``capabilities.fsync`` only)."""
        raise StoreError(f"{type(self).__name__} does not set its server's durability (capabilities.fsync is False)")

    def compact(self, *, graph: str | None = None) -> None:
        """Rewrite the store's persistence files so that deleted data is gone from disk, and wait
        until that is done (after ``forget``; ``capabilities.compactable`` only). ``graph``: only that
        graph where the backend keeps graphs in separate files (default: all)."""
        raise StoreError(f"{type(self).__name__} cannot compact its persistence files (capabilities.compactable "
                         "is False); see its documentation for what removes deleted data from its disk")

    # -- graphs --------------------------------------------------------------------------------
    @abstractmethod
    def _graph_names(self) -> list[str]:
        """The kgrec graphs in the store."""

    def graphs(self) -> list[str]:
        """Names of the graphs in this store."""
        return sorted(self._graph_names())

    def _graph(self, graph: str | None) -> str:
        return choose_graph(graph, self.default_graph, self._graph_names(), where=self.url)

    @abstractmethod
    def drop(self, graph: str) -> None:
        """Delete one graph and everything in it."""

    # -- the graph's record --------------------------------------------------------------------
    @abstractmethod
    def _read_meta(self, name: str) -> GraphMeta | None:
        """The record of graph ``name``, None when it has none; raises StoreError when it is damaged."""

    @abstractmethod
    def _write_meta(self, name: str, meta: GraphMeta) -> None:
        """Replace the record of graph ``name``."""

    def _require_meta(self, name: str) -> GraphMeta:
        meta = self._read_meta(name)
        if meta is None:
            raise UnknownGraphError(f"graph {name!r} in {self.url} has no kgrec record; it was not written by kgrec")
        return meta

    def graph_meta(self, *, graph: str | None = None) -> GraphMeta:
        """The typed record stored with the graph: schema, metadata, columns, write state, versions."""
        return self._require_meta(self._graph(graph))

    def schema(self, *, graph: str | None = None) -> Schema:
        """The :class:`~kgrec.kg.schema.Schema` stored with the graph."""
        return self.graph_meta(graph=graph).schema

    def state(self, *, graph: str | None = None) -> str:
        """``"complete"`` once a write finished; ``"writing"`` while one runs or after one was cut off."""
        return self.graph_meta(graph=graph).state

    # -- bulk ----------------------------------------------------------------------------------
    def write(self, kg: KnowledgeGraph, *, graph: str | None = None, progress: bool = False) -> WriteReport:
        """Validate ``kg`` whole, then upsert it in batches (idempotent: twice gives the same counts).

        Stores the schema with the graph so that :meth:`read` rebuilds the same ``KnowledgeGraph``.
        The graph's state is ``writing`` until the last batch is in (a write cut off leaves it so;
        writing the graph again completes it).
        """
        kg.validate()
        for label in kg.schema.labels:
            check_reserved_label(label, path=kg.sources.get(label))
        name = check_graph_name(graph or self.default_graph or kg.name)
        start = time.perf_counter()
        nodes, edges = self._write_graph(name, kg, progress=progress)
        report = WriteReport(name, nodes, edges, time.perf_counter() - start)
        logger.info("wrote %s nodes and %s edges to graph %r of %s in %.1fs (%.0f edges/s)", f"{report.num_nodes:,}",
                    f"{report.num_edges:,}", name, self.url, report.seconds,
                    report.num_edges / max(report.seconds, 1e-9))
        return report

    @abstractmethod
    def _write_graph(self, name: str, kg: KnowledgeGraph, *, progress: bool) -> tuple[dict[str, int], dict[str, int]]:
        """Write a validated graph (state ``writing`` first, ``complete`` last); rows sent per label
        and per edge type (:func:`~kgrec.kg.stores.meta.edge_key`)."""

    @abstractmethod
    def _begin_write(self, name: str, kg: KnowledgeGraph) -> GraphMeta:
        """Make graph ``name`` ready to receive ``kg``'s tables (create it where needed, index each
        label's ``id``) and store its record in state ``writing``: ``kg``'s schema, metadata and
        columns merged over a stored record (a rewrite). Returns the record stored."""

    def writer(self, schema: Schema, *, graph: str, metadata: Mapping[str, Any] | None = None,
               sources: Mapping[str | EdgeType, str] | None = None, progress: bool = False,
               total: int | None = None) -> GraphWriter:
        """A streaming write of graph ``graph``: write its tables chunk by chunk, never all at once.

        ``with store.writer(schema, graph="g") as w:`` stores the graph's record in state
        ``writing`` (schema and ``metadata``, merged over a stored graph's as :meth:`write` does);
        ``w.add_nodes(label, rows)`` / ``w.add_edges(edge_type, rows)`` check each chunk as
        :meth:`write` checks a whole graph (labels and relation types of ``schema``, reserved
        labels, clean unique ids, property types; an edge's endpoints must be in the store, written
        by an earlier call or an earlier write) and upsert it; leaving the block sets ``complete``.

        An error (or a kill) in the middle leaves what was written so far and the state ``writing``:
        :meth:`read` refuses the graph until the same stream is written again (idempotent upserts),
        which completes it. A node or edge sent twice is upserted: the later row's values win.
        ``w.report`` is the :class:`WriteReport` (rows sent, per label and per edge type).

        Args:
            schema: the graph's schema; every chunk must fit it.
            graph: the graph's name.
            metadata: stored with the graph (default: none).
            sources: label or edge type → its file, for error messages (default: none).
            progress: show a progress bar of rows written (default: False).
            total: rows to come, the progress bar's total, when known (default: None).
        """
        ops = WriteOps(self.url, self._begin_write, self._write_meta, self._write_node_rows, self._write_edge_rows,
                       self._missing_ids)
        return GraphWriter(ops, check_graph_name(graph), schema, metadata=metadata, sources=sources,
                           progress=progress, total=total)

    def write_stream(self, stream: GraphStream, *, graph: str | None = None, progress: bool = False) -> WriteReport:
        """Write a :class:`~kgrec.kg.stream.GraphStream` chunk by chunk (see :meth:`writer`): the
        client holds one chunk at a time. The stored graph is the one :meth:`write` stores for the
        same rows; ``graph`` defaults to the store's default graph, else the stream's name."""
        name = graph or self.default_graph or stream.name
        with self.writer(stream.schema, graph=name, metadata=stream.metadata, sources=stream.sources,
                         progress=progress, total=stream.num_rows) as w:
            for chunk in stream:
                w.add(chunk)
        return w.report

    def read(self, *, graph: str | None = None, allow_incomplete: bool = False) -> KnowledgeGraph:
        """The whole graph back (equal to what was written, up to row order).

        Args:
            allow_incomplete: read a graph whose last write did not finish (default: False).

        Raises:
            IncompleteGraphError: the graph's last write did not finish (a killed ingest): what
                training or serving would see is part of a graph. Write it again to complete it.
        """
        name = self._graph(graph)
        meta = self._require_meta(name)
        if meta.state != COMPLETE and not allow_incomplete:
            raise IncompleteGraphError(
                f"graph {name!r} in {self.url} is incomplete: its last write did not finish (state {meta.state!r}: "
                "the ingest was stopped or failed). Run the same ingest again to complete it "
                f"(kgrec ingest ... --graph {name}, or store.write(kg, graph={name!r}); writes are idempotent)")
        return self._read_graph(name, meta)

    @abstractmethod
    def _read_graph(self, name: str, meta: GraphMeta) -> KnowledgeGraph:
        """Read graph ``name`` whole."""

    # -- small writes (feedback, profiles, vectors, forgetting) --------------------------------
    def upsert_nodes(self, label: str, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update nodes by ``(label, id)``; columns are ``id`` and properties. Returns rows sent.

        Only the columns given are replaced on existing nodes (a null cell removes that value); a
        new node without a ``name`` column is named by its id. A new label or property extends the
        stored schema (its type inferred from the column).
        """
        name = self._graph(graph)
        rows = node_rows(label, rows)
        meta = self._require_meta(name)
        rows, extended = extend_for_nodes(meta, label, rows)
        if extended != meta:
            self._write_meta(name, extended)
            if label not in meta.schema.labels:
                logger.info("graph %r: schema extended with label %s", name, label)
                self._label_added(name, label)
        return self._write_node_rows(name, extended.schema, label, rows)

    def upsert_edges(self, edge_type: EdgeType, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update edges by ``(src, dst)``; both endpoints must exist. Only the property
        columns given are replaced; a new relation type or property extends the stored schema."""
        name = self._graph(graph)
        et = tuple(edge_type)
        rows = edge_rows(et, rows)
        meta = self._require_meta(name)
        rows, extended = extend_for_edges(meta, et, rows)
        for col, label in (("src", et[0]), ("dst", et[2])):
            missing = self._missing_ids(name, label, rows[col].drop_duplicates().tolist())
            if missing:
                shown = ", ".join(repr(m) for m in missing[:5])
                raise InputError(f"upsert_edges({edge_key(et)}): {col}: no {label} node with id {shown} in graph "
                                 f"{name!r}")
        if extended != meta:
            self._write_meta(name, extended)
        return self._write_edge_rows(name, extended.schema, et, rows)

    def _label_added(self, name: str, label: str) -> None:
        """Called after an upsert brought a new label (the Cypher stores index its ``id``)."""

    @abstractmethod
    def _missing_ids(self, name: str, label: str, ids: list[str]) -> list[str]:
        """Which of ``ids`` are not ``label`` nodes of graph ``name`` (the first few)."""

    @abstractmethod
    def _write_node_rows(self, name: str, schema: Schema, label: str, rows: pd.DataFrame) -> int:
        """Write checked node rows (declared properties cast). Returns rows sent."""

    @abstractmethod
    def _write_edge_rows(self, name: str, schema: Schema, edge_type: EdgeType, rows: pd.DataFrame) -> int:
        """Write checked edge rows whose endpoints exist. Returns rows sent."""

    @abstractmethod
    def delete_edges(self, edge_type: EdgeType, *, src: Sequence[str] | None = None,
                     graph: str | None = None) -> int:
        """Delete edges of one type (only those from ``src`` ids when given). Returns how many."""

    @abstractmethod
    def delete_nodes(self, label: str, ids: Sequence[str], *, graph: str | None = None) -> int:
        """Delete nodes and every edge touching them. Returns how many nodes."""

    def add_interaction(self, user: str, item: str, *, properties: Mapping[str, Any] | None = None,
                        graph: str | None = None) -> None:
        """Upsert one user→item interaction edge (the user node is created if it is new)."""
        kg_schema = self.schema(graph=graph)
        self.upsert_nodes(kg_schema.user_label, pd.DataFrame({"id": [user]}), graph=graph)
        row = {"src": [user], "dst": [item], **{k: [v] for k, v in (properties or {}).items()}}
        self.upsert_edges(tuple(kg_schema.interaction), pd.DataFrame(row), graph=graph)

    # -- analyst queries -----------------------------------------------------------------------
    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              graph: str | None = None, timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run a **read-only** analyst Cypher query with ``$parameters``.

        The query is checked first (:mod:`kgrec.kg.stores.guard`): ``LOAD CSV``, procedures and
        functions that reach outside the database, administration and ``USE`` raise
        ForbiddenQueryError; writes raise ReadOnlyQueryError.

        Args:
            timeout: seconds the store may spend on it (default: the store's ``query_timeout``,
                :data:`DEFAULT_QUERY_TIMEOUT_S`; at most its ``max_query_timeout``,
                :data:`MAX_QUERY_TIMEOUT_S`); past it the store stops the query and a
                ``QueryTimeoutError`` is raised.
            max_rows: rows returned at most (default: the store's ``max_rows``,
                :data:`DEFAULT_MAX_ROWS`); the store stops producing rows there (memory stays
                flat) and the result says ``truncated``.
        """
        if not self.capabilities.cypher:
            raise StoreError(f"{type(self).__name__} does not speak Cypher")
        tokens = guard.check_analyst_query(cypher, check_writes=self._lexical_write_check)
        seconds, rows = self._limits(timeout, max_rows)
        params = check_params(params)
        name = self._graph(graph)
        limited = guard.limit_rows(cypher, rows + 1, params, tokens)
        return self._run_analyst(name, limited, params, timeout=seconds, max_rows=rows)

    #: Refuse write clauses lexically (servers that do not enforce read-only transactions themselves).
    _lexical_write_check: bool = True

    def _limits(self, timeout: float | None, max_rows: int | None) -> tuple[float, int]:
        return guard.resolve_limits(timeout, max_rows, default_timeout=self.query_timeout,
                                    max_timeout=self.max_query_timeout, default_rows=self.max_rows)

    def _run_analyst(self, name: str, cypher: str, params: dict[str, Any], *, timeout: float,
                     max_rows: int) -> QueryResult:
        """Run a guarded analyst query read-only, stopped at ``timeout`` seconds, reading at most
        ``max_rows`` rows (``truncated`` when there were more)."""
        raise StoreError(f"{type(self).__name__} does not speak Cypher")

    def sparql(self, query: str, *, graph: str | None = None, params: Mapping[str, Any] | None = None,
               timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run a read-only SPARQL query (rdf store only)."""
        raise StoreError(f"{type(self).__name__} does not speak SPARQL; use an rdf: store")

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def stats(self, *, graph: str | None = None) -> GraphStats:
        """Counts per label and relation (degree summaries may be empty)."""


@dataclass(frozen=True)
class WriteOps:
    """What a streaming write needs of its store: the store's own write primitives, handed over by
    :meth:`Store.writer` (so the writer reaches into no other object)."""

    url: str
    begin: Callable[[str, KnowledgeGraph], GraphMeta]
    write_meta: Callable[[str, GraphMeta], None]
    write_nodes: Callable[[str, Schema, str, pd.DataFrame], int]
    write_edges: Callable[[str, Schema, EdgeType, pd.DataFrame], int]
    missing_ids: Callable[[str, str, list[str]], list[str]]


class GraphWriter:
    """A streaming write of one graph (:meth:`Store.writer`): a context manager that stores the
    graph's record in state ``writing`` on entry, upserts each chunk given to :meth:`add_nodes`,
    :meth:`add_edges` or :meth:`add`, and sets ``complete`` on a clean exit (an exception leaves
    ``writing``). Constructing it does no I/O."""

    def __init__(self, ops: WriteOps, name: str, schema: Schema, *, metadata: Mapping[str, Any] | None = None,
                 sources: Mapping[str | EdgeType, str] | None = None, progress: bool = False,
                 total: int | None = None):
        self.ops, self.name, self.schema = ops, name, schema
        self.metadata = dict(metadata or {})
        self.sources = dict(sources or {})
        self.progress, self.total = progress, total
        self.nodes: dict[str, int] = {}
        self.edges: dict[str, int] = {}
        self.report: WriteReport | None = None
        self._meta: GraphMeta | None = None

    def __enter__(self) -> GraphWriter:
        from tqdm.auto import tqdm

        for label in self.schema.labels:
            check_reserved_label(label, path=self.sources.get(label))
        self._start = time.perf_counter()
        self._meta = self.ops.begin(self.name, KnowledgeGraph(self.schema, {}, {}, name=self.name,
                                                                       metadata=self.metadata))
        self._bar = tqdm(total=self.total, desc=f"write {self.name}", unit="rows", unit_scale=True,
                         disable=not self.progress, leave=False)
        return self

    def __exit__(self, kind, value, tb) -> None:
        self._bar.close()
        if kind is None:
            self.ops.write_meta(self.name, self._meta.with_state(COMPLETE))
        else:
            logger.warning("graph %r of %s: the streaming write stopped (%s); its state stays 'writing' until "
                           "the same stream is written again", self.name, self.ops.url, kind.__name__)
        self.report = WriteReport(self.name, dict(self.nodes), dict(self.edges), time.perf_counter() - self._start)
        if kind is None:
            logger.info("streamed %s nodes and %s edges to graph %r of %s in %.1fs (%.0f edges/s)",
                        f"{self.report.num_nodes:,}", f"{self.report.num_edges:,}", self.name, self.ops.url,
                        self.report.seconds, self.report.num_edges / max(self.report.seconds, 1e-9))

    def _chunk_graph(self, nodes: Mapping[str, pd.DataFrame], edges: Mapping[EdgeType, pd.DataFrame]) -> KnowledgeGraph:
        if self._meta is None:
            raise StoreError("a GraphWriter writes inside its with-block only (with store.writer(...) as w: ...)")
        return KnowledgeGraph(self.schema, nodes, edges, name=self.name, sources=self.sources)

    def _columns(self, meta: GraphMeta) -> None:
        if meta != self._meta:  # a table brought columns the record does not list yet
            self.ops.write_meta(self.name, meta)
            self._meta = meta

    def add_nodes(self, label: str, rows: pd.DataFrame) -> int:
        """Check and upsert one chunk of ``label`` nodes (``id`` [, ``name``, ``text``, properties]).
        Returns the rows sent."""
        kg = self._chunk_graph({label: rows}, {})
        kg.validate_nodes(label)
        df = kg.nodes[label]
        df = df[[c for c in df.columns if not str(c).startswith("_")]]
        self._columns(self._meta.with_node_columns(label, table_properties(df.columns, ("id", "name", "text"))))
        sent = self.ops.write_nodes(self.name, self._meta.schema, label, df) if len(df) else 0
        self.nodes[label] = self.nodes.get(label, 0) + sent
        self._bar.update(sent)
        return sent

    def add_edges(self, edge_type: EdgeType, rows: pd.DataFrame) -> int:
        """Check and upsert one chunk of edges (``src``, ``dst`` [, properties]); both endpoints
        must be in the store already. Returns the rows sent."""
        et = tuple(edge_type)
        kg = self._chunk_graph({}, {et: rows})
        kg.validate_edges(et, endpoints=False)
        df = kg.edges[et]
        for col, label in (("src", et[0]), ("dst", et[2])):
            missing = self.ops.missing_ids(self.name, label, df[col].drop_duplicates().tolist())
            if missing:
                raise kg.unknown_endpoint(et, col, int(np.flatnonzero((df[col] == missing[0]).to_numpy())[0]))
        df = df[[c for c in df.columns if not str(c).startswith("_")]]
        self._columns(self._meta.with_edge_columns(et, table_properties(df.columns, ("src", "dst"))))
        sent = self.ops.write_edges(self.name, self._meta.schema, et, df) if len(df) else 0
        self.edges[edge_key(et)] = self.edges.get(edge_key(et), 0) + sent
        self._bar.update(sent)
        return sent

    def add(self, chunk: GraphChunk) -> None:
        """Write one :class:`~kgrec.kg.stream.GraphChunk`: its node tables, then its edge tables."""
        for label, df in chunk.nodes.items():
            self.add_nodes(label, df)
        for et, df in chunk.edges.items():
            self.add_edges(et, df)


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters as a dict, each name an identifier (they are written into query text by
    some clients)."""
    if params is not None and not isinstance(params, Mapping):
        raise InputError(f"query parameters must be a mapping of names to values, not {type(params).__name__}")
    out = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not key.isidentifier():
            raise InputError(f"query parameter name {key!r} is not an identifier")
        out[key] = value
    return out
