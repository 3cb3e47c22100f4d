"""`Neo4jStore`: any Neo4j 5 server (or anything that speaks Bolt like one) through the official
``neo4j`` driver.

Graphs and databases:

- **Enterprise** (``CALL dbms.components()`` says so): one database per graph, named after the
  graph, lower-cased (``lastfm-kgcn``); created on first write, dropped by :meth:`Neo4jStore.drop`.
- **Community**, or any server that does not say (FalkorDB's Bolt endpoint): one graph per
  database, in the user's home database (or ``database=...``). The graph's name is kept in its
  ``(:KgrecMeta)`` node; asking to write a second graph name there is an error that says so,
  rather than mixing two graphs under one set of labels. We chose this over a "graph" property on
  every node and edge because every analyst query would then need that filter. Dropping such a
  graph deletes the nodes of its schema's labels and its meta node, not the rest of the database.

Reads are routed as READ; :meth:`Neo4jStore.query` runs in a READ transaction, which Neo4j refuses
to write in (mapped to :class:`~kgrec.errors.ReadOnlyQueryError`). Writes are ``UNWIND $rows``
batches (``batch_size``, default 10000) in managed write transactions that the driver retries.

Forgetting (``capabilities.compactable`` is False): a deleted node leaves Neo4j's disk only when
Neo4j itself lets go of it. Its transaction logs keep every change until they are rotated and
pruned (``db.tx_log.rotation.retention_policy``, e.g. ``"2 files"`` or ``"1 days"``; pruning
happens at checkpoints: ``CALL db.checkpoint()``), the store files reuse the freed records' space
but do not erase it, and backups and cluster copies hold their own. What removes a user from a
Neo4j installation is an operator's procedure: delete, ``CALL db.checkpoint()`` after enough log
rotations to prune the logs that held the user, and ``neo4j-admin database copy`` (which writes
fresh store files without the freed records) for the database and every backup. kgrec cannot do
that over Bolt, so :meth:`Neo4jStore.compact` is not offered.

Time limits: see :class:`Neo4jStore` (a transaction timeout per analyst query).

Fallbacks, each narrow and found by experiment against FalkorDB 4.16's experimental Bolt
endpoint, which the tests use because no Neo4j server can be installed here:

- ``CREATE CONSTRAINT ... REQUIRE n.id IS UNIQUE`` fails there with an unknown DatabaseError:
  we then create a plain ``CREATE INDEX FOR (n:L) ON (n.id)`` (valid Neo4j 5 too).
- ``CALL dbms.components()`` fails there: the edition counts as unknown, i.e. one graph per
  database. Database names are accepted and ignored there.
- READ transactions are not enforced there (a CREATE in ``execute_read`` is committed) and
  ``EXPLAIN`` gives no query type: so every analyst query also passes a lexical check
  (:func:`kgrec.kg.stores.guard.find_write_clause`) before it is sent. On Neo4j that check is redundant.
- Transaction timeouts are ignored there; the server's ``TIMEOUT_DEFAULT`` (which the embedded
  store sets) stops a query, with an empty ``DatabaseError``.
- Requests over about 4 KB crash that server: use ``batch_size=50`` and ``max_batch_bytes=3500``.
- The first connection opened after a client said GOODBYE (a driver's close sends one per pooled
  connection) is never answered; the next one is. :meth:`Neo4jStore.open` tries up to
  ``OPEN_ATTEMPTS`` connections (a client that closed with two connections costs two), the
  connection timeout bounds the handshake (the driver's own default waits 60 s), and
  ``max_retry_time > 0`` lets the driver's managed transactions get past it.
- ``elementId()`` fails there; kgrec never uses element ids.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from kgrec.errors import (
    ConfigError,
    InputError,
    MissingExtraError,
    QueryTimeoutError,
    ReadOnlyQueryError,
    StoreError,
    StoreUnavailableError,
    UnknownGraphError,
)

from .. import cypher as cy
from . import guard
from .base import (DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_S, MAX_QUERY_TIMEOUT_S, QueryResult, StoreCapabilities,
                   check_graph_name)
from .cypherbase import CypherStore

logger = logging.getLogger(__name__)

TIMEOUT_GRACE_S = 1.0
"""How long after an analyst query's time limit the call stops waiting for a server that has not
stopped the query itself."""

OPEN_ATTEMPTS = 3
"""How many connections :meth:`Neo4jStore.open` tries before it gives up: FalkorDB's Bolt endpoint
loses one after each GOODBYE, and a store closed with two pooled connections sent two."""

_ACCESS_MODE_CODES = ("Neo.ClientError.Statement.AccessMode", "Neo.ClientError.Cluster.NotALeader")


def _neo4j():
    try:
        import neo4j
    except ImportError as e:  # pragma: no cover - a core dependency today
        raise MissingExtraError("neo4j", "neo4j") from e
    return neo4j


def database_name(graph: str) -> str:
    """The Neo4j database of a graph on Enterprise: lower-case letters, digits, ``.`` and ``-``."""
    name = re.sub(r"[^a-z0-9.-]+", "-", graph.lower()).strip("-.")
    if not name or not name[0].isalpha():
        name = "kg-" + name
    return name[:63].ljust(3, "0")


def plain(value: Any) -> Any:
    """A driver value as plain Python: nodes and relationships become dicts of their properties
    with ``_labels`` / ``_type``; paths ``{"nodes": [...], "relationships": [...]}``; temporal
    values ISO strings."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Path):
        return {"nodes": [plain(n) for n in value.nodes], "relationships": [plain(r) for r in value.relationships]}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


class Neo4jStore(CypherStore):
    """A Neo4j 5 server over Bolt.

    Args:
        url: ``bolt://host:port``, ``neo4j://host:port`` (``+s``/``+ssc`` for TLS), or ``neo4j``
            alone for the URI in ``KGREC_NEO4J_URI``.
        graph: the default graph (default: ``KGREC_GRAPH``, else the only graph in the store).
        batch_size: rows per ``UNWIND`` batch (default: 10000).
        auth: ``(user, password)`` (default: ``KGREC_NEO4J_USER`` / ``KGREC_NEO4J_PASSWORD`` when
            set, else no authentication).
        driver: a ``neo4j.Driver`` the caller owns (then ``url`` and ``auth`` are not used and
            :meth:`close` leaves the driver open).
        database: keep the graph in this database (default: one database per graph on
            Enterprise, the home database elsewhere).
        max_batch_bytes: split batches so no request carries more than about this many bytes
            (default: None; 3500 for FalkorDB's Bolt endpoint).
        max_retry_time: seconds the driver retries a transaction that failed transiently
            (default: 30).
        connection_timeout: seconds to wait for a connection, its Bolt handshake included
            (default: 10). :meth:`open` tries up to ``OPEN_ATTEMPTS`` (3) connections when one is
            not answered, so a silent server fails after three timeouts.
        query_timeout, max_query_timeout, max_rows: the limits of analyst queries (see
            :class:`~kgrec.kg.stores.base.Store`).

    Analyst queries run in a READ transaction with the query's time limit as the transaction
    timeout (Neo4j stops it there: ``Neo.ClientError.Transaction.TransactionTimedOut``); records
    are fetched lazily and reading stops at ``max_rows``. The call itself also stops waiting one
    second after the limit, for servers that ignore transaction timeouts (FalkorDB's Bolt endpoint,
    which stops queries at its own ``TIMEOUT_DEFAULT``); the abandoned transaction ends when the
    server stops it.
    """

    capabilities = StoreCapabilities(cypher=True, sparql=False, vectors=True, persistent=True, named_graphs=False,
                                     restartable=False, fsync=False, compactable=False)

    def __init__(self, url: str = "neo4j", *, graph: str | None = None, batch_size: int = 10_000,
                 auth: tuple[str, str] | None = None, driver: Any = None, database: str | None = None,
                 max_batch_bytes: int | None = None, max_retry_time: float = 30.0, connection_timeout: float = 10.0,
                 query_timeout: float = DEFAULT_QUERY_TIMEOUT_S, max_query_timeout: float = MAX_QUERY_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS):
        if url.strip().lower() == "neo4j" and driver is None:
            uri = os.environ.get("KGREC_NEO4J_URI")
            if not uri:
                raise ConfigError("store URL 'neo4j' needs KGREC_NEO4J_URI (or give bolt://host:port)")
            url = uri
        super().__init__(url, graph=graph, batch_size=batch_size, query_timeout=query_timeout,
                         max_query_timeout=max_query_timeout, max_rows=max_rows)
        if auth is None and os.environ.get("KGREC_NEO4J_USER"):
            auth = (os.environ["KGREC_NEO4J_USER"], os.environ.get("KGREC_NEO4J_PASSWORD", ""))
        self.auth = auth
        self.database = database
        self.max_batch_bytes = max_batch_bytes
        self.max_retry_time = max_retry_time
        self.connection_timeout = connection_timeout
        self._driver = driver
        self._owns_driver = driver is None
        self._opened = False
        self.edition: str = "unknown"

    def reader(self) -> Neo4jStore:
        """A second store on the same server, opened: a driver of its own, or the same
        caller-owned driver (its sessions are separate connections of its pool)."""
        return Neo4jStore(self.url, graph=self.default_graph, batch_size=self.batch_size, auth=self.auth,
                          driver=None if self._owns_driver else self._driver, database=self.database,
                          max_batch_bytes=self.max_batch_bytes, max_retry_time=self.max_retry_time,
                          connection_timeout=self.connection_timeout, query_timeout=self.query_timeout,
                          max_query_timeout=self.max_query_timeout, max_rows=self.max_rows).open()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def multi_database(self) -> bool:
        """One database per graph (Enterprise, no ``database=`` given)."""
        return self.database is None and self.edition == "enterprise"

    def open(self) -> Neo4jStore:
        if self._opened:
            return self
        neo4j = _neo4j()
        if self._driver is None:
            try:
                # the acquisition timeout bounds the handshake too (the driver's default waits 60 s)
                self._driver = neo4j.GraphDatabase.driver(
                    self.url, auth=self.auth, max_transaction_retry_time=self.max_retry_time,
                    connection_timeout=self.connection_timeout,
                    connection_acquisition_timeout=self.connection_timeout)
            except (ValueError, neo4j.exceptions.ConfigurationError) as e:
                raise ConfigError(f"{self.url!r} is not a usable Neo4j URL: {e}") from e
        try:
            # FalkorDB's Bolt endpoint never answers one connection per GOODBYE a client sent (a
            # driver's close sends one per pooled connection); the next is answered. A real outage
            # fails every try: at once when refused, after the connection timeout each when silent.
            for attempt in range(OPEN_ATTEMPTS):
                try:
                    self._driver.verify_connectivity()
                    break
                except neo4j.exceptions.ServiceUnavailable:
                    if attempt == OPEN_ATTEMPTS - 1:
                        raise
        except Exception as e:
            if self._owns_driver:
                self._driver.close()
                self._driver = None
            raise self._error(e, "connect") from e
        try:
            records = self._driver.execute_query(cy.NEO4J_EDITION, routing_=neo4j.RoutingControl.READ).records
            self.edition = str(records[0]["edition"]).lower() if records else "unknown"
        except neo4j.exceptions.Neo4jError as e:
            logger.debug("dbms.components() failed (%s); treating the server as single-database", e)
            self.edition = "unknown"
        self.capabilities = dataclasses.replace(type(self).capabilities, named_graphs=self.multi_database)
        self._opened = True
        logger.debug("connected to %s (edition %s)", self.url, self.edition)
        return self

    def close(self) -> None:
        if self._driver is not None and self._owns_driver:
            self._driver.close()
            self._driver = None
        self._opened = False

    @property
    def driver(self):
        if not self._opened or self._driver is None:
            raise StoreError(f"Neo4jStore({self.url!r}) is not open; call open() first")
        return self._driver

    # -- errors --------------------------------------------------------------------------------
    def _error(self, e: Exception, doing: str) -> StoreError:
        neo4j = _neo4j()
        ex = neo4j.exceptions
        if isinstance(e, StoreError):
            return e
        if isinstance(e, (ex.ServiceUnavailable, ex.SessionExpired, OSError)):
            return StoreUnavailableError(f"Neo4j at {self.url} is not reachable ({doing}): {e}")
        if isinstance(e, ex.AuthError):
            return StoreUnavailableError(f"Neo4j at {self.url} refused the credentials ({doing}): {e}")
        if isinstance(e, ex.Neo4jError):
            if e.code in _ACCESS_MODE_CODES:
                return ReadOnlyQueryError(f"the query writes; analyst queries are read-only (Neo4j: {e.message})")
            return StoreError(f"Neo4j refused the query ({doing}): {e.code}: {e.message}")
        if isinstance(e, ex.DriverError):
            return StoreError(f"Neo4j driver failed ({doing}): {e}")
        return StoreError(f"Neo4j failed ({doing}): {type(e).__name__}: {e}")

    # -- databases -----------------------------------------------------------------------------
    def _database(self, graph: str) -> str | None:
        if self.database is not None:
            return self.database
        return database_name(graph) if self.multi_database else None

    def _system(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            return [r.data() for r in self.driver.execute_query(query, params, database_="system").records]
        except Exception as e:
            raise self._error(e, "system database") from e

    # -- primitives ----------------------------------------------------------------------------
    def _run(self, graph: str, query: str, params: Mapping[str, Any] | None = None, *,
             write: bool = False) -> QueryResult:
        neo4j = _neo4j()
        routing = neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ
        try:
            result = self.driver.execute_query(query, dict(params or {}), database_=self._database(graph),
                                               routing_=routing)
        except Exception as e:
            raise self._error(e, f"graph {graph!r}") from e
        return QueryResult(list(result.keys), [tuple(plain(v) for v in r.values()) for r in result.records])

    def _ensure_index(self, graph: str, label: str) -> None:
        try:
            self._run(graph, cy.neo4j_constraint(label), write=True)
            return
        except StoreError as e:
            logger.debug("uniqueness constraint on %s.id refused (%s); creating a plain index", label, e)
        try:
            self._run(graph, cy.falkordb_index(label), write=True)
        except StoreError as e:  # an equivalent index exists already
            logger.debug("index on %s.id not created: %s", label, e)

    def _graph_names(self) -> list[str]:
        if self.multi_database:
            databases = [r["name"] for r in self._system(cy.NEO4J_SHOW_DATABASES)]
        else:
            databases = [self.database]
        names = []
        for db in databases:
            try:
                result = self.driver.execute_query(cy.META_GRAPH, database_=db,
                                                   routing_=_neo4j().RoutingControl.READ)
            except Exception as e:
                err = self._error(e, f"database {db!r}")
                if isinstance(err, StoreUnavailableError):
                    raise err from e
                logger.debug("database %r skipped: %s", db, err)
                continue
            if result.records and result.records[0]["graph"]:
                names.append(str(result.records[0]["graph"]))
        return names

    def _prepare_graph(self, graph: str) -> None:
        if self.multi_database:
            self._system(cy.NEO4J_CREATE_DATABASE, {"name": database_name(graph)})
            return
        existing = self._graph_names()
        if existing and graph not in existing:
            where = f"database {self.database!r}" if self.database else "the home database"
            raise StoreError(
                f"{where} of {self.url} already holds graph {existing[0]!r}; this server keeps one graph per "
                f"database (Neo4j Community, or an edition kgrec cannot tell): drop {existing[0]!r} first, "
                "write to another database with database=..., or use Neo4j Enterprise")

    # -- graphs --------------------------------------------------------------------------------
    def drop(self, graph: str) -> None:
        check_graph_name(graph)
        names = self._graph_names()
        if graph not in names:
            raise UnknownGraphError(f"graph {graph!r} is not in {self.url}; graphs there: {', '.join(names) or 'none'}")
        if self.multi_database:
            self._system(cy.NEO4J_DROP_DATABASE, {"name": database_name(graph)})
        else:
            # Only what the graph's schema names: a database may hold other data beside it.
            meta = self._read_meta(graph, tolerant=True)
            labels = meta.schema.labels if meta is not None else []
            limit = max(1, int(self.batch_size))
            for label in labels:
                while int(self._run(graph, cy.delete_label_batch(label), {"limit": limit}, write=True).scalar() or 0):
                    pass
            self._run(graph, cy.META_DELETE, {"graph": graph}, write=True)
        logger.info("dropped graph %r from %s", graph, self.url)

    # -- analyst queries -----------------------------------------------------------------------
    def _run_analyst(self, name: str, cypher: str, params: dict[str, Any], *, timeout: float,
                     max_rows: int) -> QueryResult:
        """A READ transaction with ``timeout`` as its transaction timeout, records fetched lazily and
        read up to ``max_rows``; the caller stops waiting :data:`TIMEOUT_GRACE_S` after the limit."""
        neo4j = _neo4j()

        @neo4j.unit_of_work(timeout=timeout)
        def work(tx):
            result = tx.run(cypher, params)
            keys = list(result.keys())
            rows, truncated = [], False
            for record in result:
                if len(rows) >= max_rows:
                    truncated = True
                    break
                rows.append(tuple(plain(v) for v in record.values()))
            return keys, rows, truncated

        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with self.driver.session(database=self._database(name), default_access_mode=neo4j.READ_ACCESS,
                                         fetch_size=min(max_rows + 1, 1000)) as session:
                    outcome["value"] = session.execute_read(work)
            except BaseException as e:  # handed to the caller's thread
                outcome["error"] = e

        started = time.monotonic()
        thread = threading.Thread(target=run, name="kgrec-neo4j-query", daemon=True)
        thread.start()
        thread.join(timeout + TIMEOUT_GRACE_S)
        if thread.is_alive():
            raise QueryTimeoutError(guard.timeout_message(timeout, "kgrec (the server had not answered)"))
        error = outcome.get("error")
        if error is not None:
            code = str(getattr(error, "code", "") or "")
            if "TransactionTimedOut" in code or (isinstance(error, neo4j.exceptions.DatabaseError)
                                                 and time.monotonic() - started >= 0.9 * timeout):
                raise QueryTimeoutError(guard.timeout_message(timeout, "the server")) from error
            raise self._error(error, f"query on graph {name!r}") from error
        keys, rows, truncated = outcome["value"]
        return QueryResult(keys, rows, truncated)

    # -- vectors (written by kgrec.text.write_vectors) -------------------------------------------
    def write_vectors(self, label: str, ids, matrix, *, property: str = "embedding", graph: str | None = None) -> int:
        """Set ``property`` of the ``label`` nodes ``ids`` to the rows of ``matrix`` with
        ``db.create.setNodeVectorProperty`` and keep a cosine vector index ``kgrec_<label>_<property>``
        on it (Neo4j 5.13+). Returns nodes set.

        Query it with ``CALL db.index.vector.queryNodes('kgrec_<label>_<property>', k, $v) YIELD node,
        score`` (score: (1 + cosine) / 2)."""
        import numpy as np

        from ..schema import check_label, check_property

        name = self._graph(graph)
        label, prop = check_label(label), check_property(property)
        matrix = np.asarray(matrix, dtype=np.float32)
        ids = [str(i) for i in ids]
        if matrix.ndim != 2 or len(matrix) != len(ids):
            raise InputError(f"write_vectors({label}): {len(ids)} ids but a matrix of shape {matrix.shape}")
        dim, index = int(matrix.shape[1]), f"kgrec_{label}_{prop}"
        found = self._run(name, "SHOW VECTOR INDEXES YIELD name, options WHERE name = $name RETURN options",
                          {"name": index}).rows
        config = (found[0][0] or {}).get("indexConfig", {}) if found else {}
        if found and int(config.get("vector.dimensions", dim)) != dim:
            self._run(name, f"DROP INDEX {index} IF EXISTS", write=True)
        self._run(name, f"CREATE VECTOR INDEX {index} IF NOT EXISTS FOR (n:{label}) ON (n.{prop}) OPTIONS "
                        f"{{indexConfig: {{`vector.dimensions`: {dim}, `vector.similarity_function`: 'cosine'}}}}",
                  write=True)
        query = (f"UNWIND $rows AS r MATCH (n:{label} {{id: r.id}}) "
                 f"CALL db.create.setNodeVectorProperty(n, '{prop}', r.v) RETURN count(n)")
        written, step = 0, max(1, min(self.batch_size, 1000))
        for start in range(0, len(ids), step):
            rows = [{"id": i, "v": v} for i, v in zip(ids[start:start + step], matrix[start:start + step].tolist())]
            written += int(self._run(name, query, {"rows": rows}, write=True).scalar() or 0)
        return written
