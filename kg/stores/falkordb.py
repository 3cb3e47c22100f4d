"""`FalkorDBStore`: a running FalkorDB server (TCP or unix socket) through the ``falkordb`` client.

Each kgrec graph is one FalkorDB graph key. The schema travels *inside* the graph as one
``(:KgrecMeta)`` node (see :mod:`kgrec.kg.cypher`) rather than in a side Redis key: it is then
copied, deleted, dumped and persisted together with the graph (``GRAPH.COPY``, ``GRAPH.DELETE``,
the AOF), needs no Redis command beside ``GRAPH.*``, and the Neo4j store uses the same node, so
one code path (:class:`~kgrec.kg.stores.cypherbase.CypherStore`) serves both.

Analyst queries go through ``GRAPH.RO_QUERY`` with a per-query ``timeout``: the server itself
refuses any write (mapped to :class:`~kgrec.errors.ReadOnlyQueryError`) and stops the query at its
time limit (:class:`~kgrec.errors.QueryTimeoutError`); the reply is read row by row and cut at
``max_rows``. The client keeps a Redis connection pool, so one store may serve many threads (a
FastAPI server); :meth:`FalkorDBStore.reader` opens a second, independent one.
"""

from __future__ import annotations

import logging
import math
import socket
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd

from kgrec.errors import (
    ConfigError,
    InputError,
    QueryTimeoutError,
    ReadOnlyQueryError,
    StoreError,
    StoreUnavailableError,
    UnknownGraphError,
)

from .. import cypher
from ..graph import PANDAS_DTYPES
from ..schema import PropertyType
from . import guard
from .base import (DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_S, MAX_QUERY_TIMEOUT_S, QueryResult, StoreCapabilities,
                   check_graph_name)
from .cypherbase import CypherStore
from .resp import RespConnection, first_error, read_result_set

logger = logging.getLogger(__name__)

DEFAULT_PORT = 6379
READ_PAGE_ROWS = 1_000_000  # a bulk read of more edges of one type goes in pages of about this many
_READ_ONLY_REFUSAL = "to be executed only on read-only queries"


def parse_falkordb_url(url: str) -> dict[str, Any]:
    """``falkordb://[user:password@]host[:port]`` or ``unix:///path/to/redis.sock`` -> client keywords."""
    parts = urlsplit(url)
    if parts.scheme in ("unix", "falkordb+unix"):
        if not parts.path:
            raise StoreError(f"{url!r}: a unix socket URL needs a path, e.g. unix:///path/to/redis.sock")
        return {"unix_socket_path": unquote(parts.path), "password": parts.password, "username": parts.username}
    if parts.scheme in ("falkordb", "falkor", "redis"):
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as e:
            raise StoreError(f"{url!r}: bad port: {e}") from e
        return {"host": parts.hostname or "localhost", "port": port, "password": parts.password,
                "username": parts.username}
    raise StoreError(f"{url!r} is not a FalkorDB URL (falkordb://host:port or unix:///path/to/redis.sock)")


def plain(value: Any) -> Any:
    """A FalkorDB result value as plain Python: nodes and edges become dicts of their properties
    with ``_labels`` / ``_type``; paths become ``{"nodes": [...], "relationships": [...]}``."""
    from falkordb import Edge, Node, Path

    if isinstance(value, Node):
        return {"_labels": list(value.labels or []), **{k: plain(v) for k, v in value.properties.items()}}
    if isinstance(value, Edge):
        return {"_type": value.relation, **{k: plain(v) for k, v in value.properties.items()}}
    if isinstance(value, Path):
        return {"nodes": [plain(n) for n in value.nodes()], "relationships": [plain(e) for e in value.edges()]}
    if isinstance(value, (OrderedDict, dict)):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def cypher_literals(values: pd.Series) -> pd.Series:
    """Each value of a column as a Cypher literal, the way the ``falkordb`` client writes its
    ``CYPHER name=value`` parameter header (strings in double quotes with ``\\`` and ``"``
    escaped; missing values ``null``), but a column at a time instead of a value at a time."""
    dtype = str(values.dtype)
    missing = values.isna().to_numpy()
    if dtype in ("string", "str") or isinstance(values.dtype, pd.StringDtype):
        text = values.astype("string").str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)
        out = '"' + text + '"'
    elif dtype in ("Int64", "Int32", "int64", "int32"):
        out = values.astype("Int64").astype("string")
    elif dtype in ("boolean", "bool"):
        out = values.astype("boolean").map({True: "true", False: "false"}, na_action="ignore").astype("string")
    elif dtype in ("Float64", "float64", "float32"):
        floats = values.astype("Float64")
        finite = floats.fillna(0.0).map(math.isfinite).astype(bool).to_numpy()
        bad = ~finite & ~missing
        if bad.any():
            raise InputError(f"column {values.name!r}: {floats[bad].iloc[0]} is not a finite number; "
                             "FalkorDB stores finite floats only")
        missing = missing | ~finite
        out = floats.astype(object).map(lambda v: repr(float(v)), na_action="ignore").astype("string")
    else:
        from falkordb.helpers import stringify_param_value

        out = values.astype(object).map(lambda v: stringify_param_value(v.item() if hasattr(v, "item") else v),
                                        na_action="ignore").astype("string")
    out = out.astype("string")
    out[missing] = "null"
    return out.fillna("null")


class FalkorDBStore(CypherStore):
    """A FalkorDB server.

    Args:
        url: ``falkordb://[user:password@]host[:port]`` or ``unix:///path/to/redis.sock``.
        graph: the default graph (default: ``KGREC_GRAPH``, else the only graph in the store).
        batch_size: rows per ``UNWIND`` batch (default: 20000: of 1k, 5k and 20k it wrote lastfm
            fastest and with the least CPU; see benchmarks/notes/stores.md).
        password: overrides a password in the URL.
        connect_timeout: seconds to wait for a connection (default: 10).
        query_timeout, max_query_timeout, max_rows: the limits of analyst queries (see
            :class:`~kgrec.kg.stores.base.Store`); each query passes its timeout to FalkorDB, which
            stops it there (``GRAPH.RO_QUERY ... timeout <ms>``).
        max_connections: the size of the connection pool (default: None, unbounded).
        retries: how often a command is retried after a connection error, with a short backoff
            (default: 2; redis-py's own default waits seconds before a dead server is reported).

    Analyst queries (:meth:`query`) run on a connection of their own, outside the pool, read
    row by row (:mod:`kgrec.kg.stores.resp`) and cut at ``max_rows``; the server enforces
    read-only (``GRAPH.RO_QUERY``) and the time limit.
    """

    capabilities = StoreCapabilities(cypher=True, sparql=False, vectors=True, persistent=True, named_graphs=True,
                                     restartable=False, fsync=False, compactable=False)
    _lexical_write_check = False  # GRAPH.RO_QUERY: the server refuses writes itself
    #: The time limit kgrec's own queries name (None: the server's default). The embedded store
    #: sets one, since it starts its server with a default limit meant for other clients.
    _internal_timeout_ms: int | None = None

    def __init__(self, url: str = "falkordb://localhost:6379", *, graph: str | None = None, batch_size: int = 20_000,
                 password: str | None = None, connect_timeout: float = 10.0,
                 query_timeout: float = DEFAULT_QUERY_TIMEOUT_S, max_query_timeout: float = MAX_QUERY_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS, max_connections: int | None = None, retries: int = 2):
        super().__init__(url, graph=graph, batch_size=batch_size, query_timeout=query_timeout,
                         max_query_timeout=max_query_timeout, max_rows=max_rows)
        self.password = password
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.retries = int(retries)
        self._db = None
        self._graph_cache: dict[str, Any] = {}

    def _options(self) -> dict[str, Any]:
        """The constructor's keyword options of this store (for :meth:`reader`)."""
        return {"graph": self.default_graph, "batch_size": self.batch_size, "password": self.password,
                "connect_timeout": self.connect_timeout, "query_timeout": self.query_timeout,
                "max_query_timeout": self.max_query_timeout, "max_rows": self.max_rows,
                "max_connections": self.max_connections, "retries": self.retries}

    def reader(self) -> FalkorDBStore:
        """A second store on the same server with its own connection pool, opened (see
        :meth:`Store.reader <kgrec.kg.stores.base.Store.reader>`)."""
        return type(self)(self.url, **self._options()).open()

    # -- lifecycle -----------------------------------------------------------------------------
    def _client_options(self) -> dict[str, Any]:
        options = parse_falkordb_url(self.url)
        if self.password is not None:
            options["password"] = self.password
        return options

    def open(self) -> FalkorDBStore:
        if self._db is not None:
            return self
        from falkordb import FalkorDB
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        options = {k: v for k, v in self._client_options().items() if v is not None}
        db = None
        try:
            # The constructor already talks to the server (it asks whether it is a sentinel or a cluster).
            db = FalkorDB(**options, socket_connect_timeout=self.connect_timeout, max_connections=self.max_connections,
                          retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), self.retries))
            db.connection.ping()
            db.list_graphs()
        except Exception as e:
            if db is not None:
                db.close()
            raise self._error(e, "connect") from e
        self._db = db
        logger.debug("connected to FalkorDB at %s", self.url)
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
            self._graph_cache.clear()

    def redis_client(self, *, socket_timeout: float | None = 10.0):
        """A plain ``redis.Redis`` client (bytes replies, its own connection pool) to this store's
        own server, for what lives beside the graphs on it (kgrec's event streams). Needs no
        :meth:`open`; an embedded server must be running (:meth:`open` starts it)."""
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        options = {k: v for k, v in self._client_options().items() if v is not None}
        return redis.Redis(**options, socket_connect_timeout=self.connect_timeout, socket_timeout=socket_timeout,
                           retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), self.retries))

    @property
    def client(self):
        """The ``falkordb.FalkorDB`` client (opened)."""
        if self._db is None:
            raise StoreError(f"{type(self).__name__}({self.url!r}) is not open; call open() first")
        return self._db

    def _select(self, graph: str):
        g = self._graph_cache.get(graph)
        if g is None:
            g = self._graph_cache[graph] = self.client.select_graph(graph)
        return g

    # -- errors --------------------------------------------------------------------------------
    def _error(self, e: Exception, doing: str) -> StoreError | ConfigError:
        import redis

        if isinstance(e, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError,
                          TimeoutError, FileNotFoundError)):
            return StoreUnavailableError(f"FalkorDB at {self.url} is not reachable ({doing}): {e}")
        if isinstance(e, redis.exceptions.ResponseError):
            text = str(e)
            if "timed out" in text.lower():
                return QueryTimeoutError(f"FalkorDB stopped the query at its time limit ({doing}): {text}")
            if "TIMEOUT_MAX" in text:
                return ConfigError(f"FalkorDB refused the query's time limit ({doing}): {text}")
            if _READ_ONLY_REFUSAL in text:
                return ReadOnlyQueryError("the query writes; analyst queries are read-only "
                                          f"(FalkorDB refused it: {text})")
            if "unknown command" in text.lower() and "graph." in text.lower():
                return StoreUnavailableError(f"{self.url} is a Redis server without the FalkorDB module: {text}")
            return StoreError(f"FalkorDB refused the query ({doing}): {text}")
        if isinstance(e, StoreError):
            return e
        return StoreError(f"FalkorDB failed ({doing}): {type(e).__name__}: {e}")

    # -- primitives ----------------------------------------------------------------------------
    def _execute(self, graph: str, query: str, params: Mapping[str, Any] | None, *, read_only: bool,
                 timeout: int | None = None):
        from falkordb.exceptions import SchemaVersionMismatchException

        g = self._select(graph)
        call = g.ro_query if read_only else g.query
        timeout = self._internal_timeout_ms if timeout is None else timeout
        for attempt in range(2):
            try:
                return call(query, dict(params) if params else None, timeout=timeout)
            except SchemaVersionMismatchException:
                if attempt:
                    raise
            except Exception as e:
                raise self._error(e, f"graph {graph!r}") from e

    @staticmethod
    def _result(res) -> QueryResult:
        columns = [h[1] for h in (res.header or [])]
        rows = [tuple(plain(v) for v in row) for row in (res.result_set or [])]
        return QueryResult(columns, rows)

    def _run(self, graph: str, query: str, params: Mapping[str, Any] | None = None, *,
             write: bool = False) -> QueryResult:
        return self._result(self._execute(graph, query, params, read_only=not write))

    def _write_frame(self, graph: str, query: str, batch, columns) -> None:
        # The client's own parameter header is built one value at a time in Python; for bulk
        # rows we build the same text a column at a time (about twice as fast end to end).
        literal = pd.Series("", index=batch.index, dtype="string")
        for i, col in enumerate(columns):
            literal = literal + ("{" if i == 0 else ",") + f"`{col}`:" + cypher_literals(batch[col])
        rows = "[" + ",".join((literal + "}").tolist()) + "]"
        try:
            self.client.connection.execute_command("GRAPH.QUERY", graph, f"CYPHER rows={rows} {query}", "--compact",
                                                   *self._timeout_args())
        except Exception as e:
            raise self._error(e, f"write to graph {graph!r}") from e

    def _read_edges(self, graph: str, edge_type, properties: list[str], kinds: Mapping[str, PropertyType]
                    ) -> pd.DataFrame:
        # One reply of 20 M edges holds ~80 M Python values at once (7.5 GB in the client): past
        # READ_PAGE_ROWS edges the read goes in pages of source-node id ranges, each page's values
        # turned into Arrow columns before the next is read.
        count = int(self._run(graph, cypher.count_relation(edge_type[1])).rows[0][0] or 0)
        if count <= READ_PAGE_ROWS:
            return super()._read_edges(graph, edge_type, properties, kinds)
        lo, hi = self._run(graph, cypher.node_id_range(edge_type[0])).rows[0]
        if lo is None:
            return super()._read_edges(graph, edge_type, properties, kinds)
        step = max(1, math.ceil((int(hi) - int(lo) + 1) / math.ceil(count / READ_PAGE_ROWS)))
        query = cypher.read_edges_page(edge_type, properties)
        pages = [self._read_frame(graph, query, kinds, params={"lo": start, "hi": start + step})
                 for start in range(int(lo), int(hi) + 1, step)]
        return pd.concat(pages, ignore_index=True)

    def _read_frame(self, graph: str, query: str, kinds: Mapping[str, PropertyType],
                    params: Mapping[str, int] | None = None) -> pd.DataFrame:
        # The verbose reply format has about a third of the compact one's elements, and redis-py's
        # pure-Python reply parser is the bottleneck of a bulk read; the types come from the schema.
        if params:  # integers only (page bounds), sent as query parameters
            query = "CYPHER " + " ".join(f"{k}={int(v)}" for k, v in params.items()) + " " + query
        try:
            reply = self.client.connection.execute_command("GRAPH.RO_QUERY", graph, query, *self._timeout_args())
        except Exception as e:
            raise self._error(e, f"read graph {graph!r}") from e
        rows = reply[1] if len(reply) > 2 else []
        values = list(zip(*rows)) if rows else [()] * len(kinds)
        data = {}
        for (col, kind), vals in zip(kinds.items(), values):
            if kind == "float":
                vals = [None if v is None else float(v) for v in vals]
            elif kind == "boolean":
                vals = [None if v is None else (v == "true" if isinstance(v, str) else bool(v)) for v in vals]
            elif kind == "string":
                vals = [None if v is None else str(v) for v in vals]
            data[col] = pd.Series(vals, dtype=PANDAS_DTYPES[kind])
        return pd.DataFrame(data)

    def _timeout_args(self) -> tuple[str, ...]:
        return () if self._internal_timeout_ms is None else ("timeout", str(self._internal_timeout_ms))

    def _ensure_index(self, graph: str, label: str) -> None:
        try:
            self._run(graph, cypher.falkordb_index(label), write=True)
        except StoreError as e:
            if "already indexed" not in str(e):
                raise

    def _keys(self) -> list[str]:
        try:
            return list(self.client.list_graphs())
        except Exception as e:
            raise self._error(e, "list graphs") from e

    def _graph_names(self) -> list[str]:
        names = []
        for key in self._keys():
            try:
                rows = self._run(key, cypher.META_GRAPH).rows
            except StoreUnavailableError:
                raise
            except StoreError:
                continue
            if rows:  # a kgrec graph (its meta node may name the key it was copied from)
                names.append(key)
        return names

    # -- graphs --------------------------------------------------------------------------------
    def drop(self, graph: str) -> None:
        check_graph_name(graph)
        if graph not in self._keys():
            raise UnknownGraphError(f"graph {graph!r} is not in {self.url}; graphs there: "
                                    f"{', '.join(self.graphs()) or 'none'}")
        try:
            self._select(graph).delete()
        except Exception as e:
            raise self._error(e, f"drop graph {graph!r}") from e
        self._graph_cache.pop(graph, None)
        logger.info("dropped graph %r from %s", graph, self.url)

    # -- analyst queries -----------------------------------------------------------------------
    def _run_analyst(self, name: str, cypher: str, params: dict[str, Any], *, timeout: float,
                     max_rows: int) -> QueryResult:
        """``GRAPH.RO_QUERY`` with FalkorDB's own time limit, on a connection of its own, read row by
        row and closed after ``max_rows`` rows (the rest of the reply is never read)."""
        import redis
        from falkordb.helpers import stringify_param_value
        from falkordb.query_result import QueryResult as FalkorResult

        header = "CYPHER " + " ".join(f"{k}={stringify_param_value(v)}" for k, v in params.items()) + " " \
            if params else ""
        ms = max(1, math.ceil(timeout * 1000))
        options = {k: v for k, v in self._client_options().items() if v is not None}
        try:
            # the socket waits a little longer than the server's own limit, which answers first
            with RespConnection(**options, timeout=timeout + 10, connect_timeout=self.connect_timeout) as conn:
                conn.send("GRAPH.RO_QUERY", name, header + cypher, "--compact", "timeout", str(ms))
                reply, truncated = read_result_set(conn, max_rows)
        except socket.timeout as e:
            raise QueryTimeoutError(guard.timeout_message(timeout, "kgrec (FalkorDB did not answer)")) from e
        except (OSError, ConnectionError) as e:
            raise self._error(e, f"query on graph {name!r}") from e
        error = first_error(reply)
        if error is not None:
            if "timed out" in str(error).lower():
                raise QueryTimeoutError(guard.timeout_message(timeout, "FalkorDB"))
            raise self._error(redis.exceptions.ResponseError(str(error)), f"query on graph {name!r}")
        try:
            res = FalkorResult(self._select(name), reply)
        except Exception as e:
            raise self._error(e, f"query on graph {name!r}") from e
        result = self._result(res)
        return QueryResult(result.columns, result.rows, truncated)

    # -- vectors (written by kgrec.text.write_vectors) -------------------------------------------
    def write_vectors(self, label: str, ids, matrix, *, property: str = "embedding", graph: str | None = None) -> int:
        """Set ``property`` of the ``label`` nodes ``ids`` to the rows of ``matrix`` (``vecf32``) and
        keep a cosine vector index on it (recreated when the vector size changes). Returns nodes set.

        Query it with ``CALL db.idx.vector.queryNodes('<label>', '<property>', k, vecf32($v))
        YIELD node, score`` (score: cosine distance)."""
        import numpy as np

        from ..schema import check_label, check_property

        name = self._graph(graph)
        label, prop = check_label(label), check_property(property)
        matrix = np.asarray(matrix, dtype=np.float32)
        ids = [str(i) for i in ids]
        if matrix.ndim != 2 or len(matrix) != len(ids):
            raise InputError(f"write_vectors({label}): {len(ids)} ids but a matrix of shape {matrix.shape}")
        dim = int(matrix.shape[1])
        indexes = self._run(name, "CALL db.indexes() YIELD label, options RETURN label, options").rows
        current = next((opts.get(prop) for lab, opts in indexes if lab == label and prop in (opts or {})), None)
        if current is not None and int(current.get("dimension", dim)) != dim:
            self._run(name, f"DROP VECTOR INDEX FOR (n:{label}) ON (n.{prop})", write=True)
            current = None
        if current is None:
            self._run(name, f"CREATE VECTOR INDEX FOR (n:{label}) ON (n.{prop}) "
                            f"OPTIONS {{dimension: {dim}, similarityFunction: 'cosine'}}", write=True)
        query = f"UNWIND $rows AS r MATCH (n:{label} {{id: r.id}}) SET n.{prop} = vecf32(r.v) RETURN count(n)"
        written, step = 0, max(1, min(self.batch_size, 1000))
        for start in range(0, len(ids), step):
            rows = [{"id": i, "v": v} for i, v in zip(ids[start:start + step], matrix[start:start + step].tolist())]
            written += int(self._run(name, query, {"rows": rows}, write=True).scalar() or 0)
        return written
