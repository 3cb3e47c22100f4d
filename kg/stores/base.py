"""The one interface every store backend implements, and the results it returns.

A backend declares what it can do as :class:`StoreCapabilities` flags; the contract test
(``tests/integration/test_store_contract.py``) runs the same cases over every backend available.

Lifecycle: constructing a store does no I/O; :meth:`Store.open` connects (and, for the embedded
store, starts the server); :meth:`Store.close` disconnects. Stores are context managers.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kgrec.errors import InputError, StoreError, UnknownGraphError

from ..graph import MAX_ID_LENGTH, PANDAS_DTYPES, GraphStats, KnowledgeGraph
from ..schema import EdgeType, PropertyType, check_property


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


# -- row checks shared by the backends' upserts ---------------------------------------------------
def infer_property_type(series: pd.Series) -> PropertyType:
    """The schema type of a property column that the schema does not declare yet."""
    kind = series.dtype.kind
    if kind == "b" or str(series.dtype) == "boolean":
        return "boolean"
    if kind in "iu" or str(series.dtype) == "Int64":
        return "integer"
    if kind == "f" or str(series.dtype) == "Float64":
        return "float"
    return "string"


def check_ids(rows: pd.DataFrame, col: str, what: str) -> None:
    """Make ``rows[col]`` strings in place; raise :class:`InputError` naming the first empty or too long id."""
    values = rows[col].astype("string")
    bad = (values.isna() | (values.fillna("").str.strip() == "") | (values.str.len().fillna(0) > MAX_ID_LENGTH))
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(f"row {i}: {what} {rows[col].iat[i]!r} is empty or longer than {MAX_ID_LENGTH}")
    rows[col] = values


def cast_properties(rows: pd.DataFrame, props: list[str], declared: Mapping[str, PropertyType],
                    where: str) -> pd.DataFrame:
    """A copy of ``rows`` with each declared property cast to its schema type (names checked)."""
    rows = rows.copy()
    for p in props:
        check_property(p)
        if p in declared:
            try:
                rows[p] = rows[p].astype(PANDAS_DTYPES[declared[p]])
            except (TypeError, ValueError) as e:
                raise InputError(f"{where}.{p}: values are not of type {declared[p]}: {e}") from e
    return rows


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
    given at construction, else the only graph in the store).
    """

    capabilities: StoreCapabilities = StoreCapabilities()

    def __init__(self, url: str, *, graph: str | None = None, batch_size: int = 5000):
        self.url = url
        self.default_graph = graph
        self.batch_size = batch_size

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

    # -- graphs --------------------------------------------------------------------------------
    @abstractmethod
    def graphs(self) -> list[str]:
        """Names of the graphs in this store."""

    @abstractmethod
    def drop(self, graph: str) -> None:
        """Delete one graph and everything in it."""

    # -- bulk ----------------------------------------------------------------------------------
    @abstractmethod
    def write(self, kg: KnowledgeGraph, *, graph: str | None = None, progress: bool = False) -> WriteReport:
        """Validate ``kg`` whole, then upsert it in batches (idempotent: twice gives the same counts).

        Stores the schema with the graph so that :meth:`read` rebuilds the same ``KnowledgeGraph``.
        """

    @abstractmethod
    def read(self, *, graph: str | None = None) -> KnowledgeGraph:
        """The whole graph back (equal to what was written, up to row order)."""

    # -- small writes (feedback, profiles, vectors, forgetting) --------------------------------
    @abstractmethod
    def upsert_nodes(self, label: str, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update nodes by ``(label, id)``; columns are ``id`` and properties. Returns rows sent."""

    @abstractmethod
    def upsert_edges(self, edge_type: EdgeType, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update edges by ``(src, dst)``; endpoints must exist. Returns rows sent."""

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

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def schema(self, *, graph: str | None = None):
        """The :class:`~kgrec.kg.schema.Schema` stored with the graph."""

    @abstractmethod
    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *,
              graph: str | None = None, timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run a **read-only** analyst Cypher query with ``$parameters``; writes raise ReadOnlyQueryError.

        Args:
            timeout: seconds the store may spend on it (default: :data:`DEFAULT_QUERY_TIMEOUT_S`;
                at most :data:`MAX_QUERY_TIMEOUT_S`); past it the store stops the query and a
                ``QueryTimeoutError`` is raised.
            max_rows: rows returned at most (default: :data:`DEFAULT_MAX_ROWS`); the store stops
                producing rows there (memory stays flat) and the result says ``truncated``.
        """

    def compact(self) -> None:
        """Rewrite the store's persistence files so that deleted data is gone from disk, and wait
        until that is done (called after ``forget``). A backend that cannot says so in its docs."""
        raise NotImplementedError(f"{type(self).__name__} cannot compact its persistence files")

    def sparql(self, query: str, *, graph: str | None = None) -> QueryResult:
        """Run a read-only SPARQL query (rdf store only)."""
        raise StoreError(f"{type(self).__name__} does not speak SPARQL; use an rdf: store")

    @abstractmethod
    def stats(self, *, graph: str | None = None) -> GraphStats:
        """Counts per label and relation (degree summaries may be empty)."""
