"""`RdfStore`: the knowledge graph as RDF in persistent Oxigraph databases, queried with SPARQL.

``rdf:PATH`` opens (creating it if needed) the folder ``PATH`` (``rdf:`` alone: ``KGREC_HOME/rdf``).
Each kgrec graph lives in the named graph ``<base>graph/<name>`` of its own Oxigraph database
(RocksDB) in ``PATH/graphs/<name>@<token>``, holding exactly what the RDF export writes
(:mod:`kgrec.kg.rdf`, ``docs/rdf-vocabulary.md``): nodes, edges, reified edge properties and the
graph resource with the schema (and, here only, the write state ``kgrec:state``). One database per
graph because deleting triples is Oxigraph's slow path (dropping lastfm's 2.1 M triples inside one
database took 8 minutes; removing its folder takes milliseconds), and because a new graph is
bulk-loaded into a hidden folder and renamed into place, so it appears whole or not at all.

rdflib sees the same data through ``oxrdflib`` (:meth:`RdfStore.dataset`); bulk work goes to
Oxigraph directly (N-Triples built column-wise and bulk-loaded; reads as one single-pattern SPARQL
query per column with CSV results). Only one process can open a graph's database at a time
(RocksDB holds a lock), so two processes cannot open the same rdf store.

Analysts query with :meth:`RdfStore.sparql`: SELECT / ASK / CONSTRUCT / DESCRIBE only, checked
with rdflib's SPARQL parser first (updates raise :class:`~kgrec.errors.ReadOnlyQueryError`;
``SERVICE``, ``LOAD`` and ``FROM`` raise :class:`~kgrec.errors.ForbiddenQueryError`), then run by
:mod:`kgrec.kg.stores.rdf_query` on a snapshot in a process of its own, killed at the time limit
(pyoxigraph cannot stop a running query), reading at most ``max_rows`` rows.

Forgetting: Oxigraph keeps every string it ever stored (its id-to-string table is never pruned) and
RocksDB keeps deleted triples in older files until they are compacted, so ``optimize()`` does not
remove a deleted id from disk. :meth:`RdfStore.compact` rewrites each graph's database from its live
triples into a fresh folder and removes the old one.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kgrec.config import kgrec_home
from kgrec.errors import ConfigError, InputError, SchemaError, StoreError, StoreUnavailableError, UnknownGraphError

from ..graph import GraphStats, KnowledgeGraph
from ..rdf import sparql
from ..rdf.decode import read_oxigraph, select_frame
from ..rdf.ntriples import edge_ntriples, graph_ntriples, node_ntriples, write_ntriples
from ..rdf.vocab import DEFAULT_BASE_IRI, RDF_TYPE, RDFS_LABEL, Vocabulary, edge_iris, node_iris
from ..schema import EdgeType, Schema
from .base import (DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_S, GRAPH_NAME_RE, MAX_QUERY_TIMEOUT_S, QueryResult, Store,
                   StoreCapabilities, check_graph_name, check_params)
from .meta import COMPLETE, WRITING, GraphMeta, edge_key
from .rdf_query import run_sparql
from .rows import diff_rows

logger = logging.getLogger(__name__)

__all__ = ["RdfStore"]

GRAPHS_DIR = "graphs"
BULK_THRESHOLD = 50_000  # triples: above this a chunk is bulk-loaded (no transaction, much faster)


class RdfStore(Store):
    """A :class:`Store` over rdflib + Oxigraph, persistent in a directory; SPARQL, no Cypher.

    Args:
        url: ``rdf:PATH`` (``rdf:`` alone: ``KGREC_HOME/rdf``; ``~`` is expanded).
        graph: the default graph of every call (default: ``KGREC_GRAPH``, else the only graph).
        batch_size: ids per SPARQL update when deleting or checking (default: 5000).
        base_iri: the base of every IRI (default: ``https://kgrec.dev/``).
        query_timeout, max_query_timeout, max_rows: the limits of analyst queries (see :class:`Store`).
    """

    capabilities = StoreCapabilities(cypher=False, sparql=True, vectors=False, persistent=True, named_graphs=True,
                                     restartable=False, fsync=False, compactable=True)

    def __init__(self, url: str = "rdf:", *, graph: str | None = None, batch_size: int = 5000,
                 base_iri: str = DEFAULT_BASE_IRI, query_timeout: float = DEFAULT_QUERY_TIMEOUT_S,
                 max_query_timeout: float = MAX_QUERY_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS):
        if not isinstance(url, str) or not url.startswith("rdf:"):
            raise ConfigError(f"an rdf store URL looks like 'rdf:/path/to/dir', not {url!r}")
        super().__init__(url, graph=graph, batch_size=batch_size, query_timeout=query_timeout,
                         max_query_timeout=max_query_timeout, max_rows=max_rows)
        raw = url[len("rdf:"):]
        if raw.startswith("//"):
            raw = raw[2:]
        self.path = Path(raw).expanduser() if raw else kgrec_home() / "rdf"
        self.vocabulary = Vocabulary(base_iri)
        self.base_iri = self.vocabulary.base_iri
        self._stores: dict[str, Any] = {}  # graph name -> opened pyoxigraph.Store
        self._paths: dict[str, Path] = {}  # graph name -> its database folder
        self._datasets: dict[str, Any] = {}
        self._opened = False
        self._shared = False  # a reader() over another store's open databases

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def graphs_dir(self) -> Path:
        """``PATH/graphs``: one Oxigraph database per kgrec graph, in a folder ``<name>@<token>``."""
        return self.path / GRAPHS_DIR

    def open(self) -> RdfStore:
        """Open every graph's Oxigraph database (each holds a RocksDB lock while open)."""
        if self._opened:
            return self
        self.graphs_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name, path in self._dirs_on_disk().items():
                self._open_graph(name, path)
        except StoreUnavailableError:
            self._release()
            raise
        self._opened = True
        logger.debug("opened rdf store %s (%d graphs)", self.path, len(self._stores))
        return self

    def reader(self) -> RdfStore:
        """A second store object over the same open databases, for analyst queries (see
        :meth:`Store.reader <kgrec.kg.stores.base.Store.reader>`; RocksDB lets one process open a
        database once). Its :meth:`sparql` runs on a snapshot in a process of its own, so it never
        holds up writes; closing it leaves the databases open."""
        if not self._opened:
            raise StoreError(f"the rdf store {self.url} is not open; call open() first")
        other = RdfStore(self.url, graph=self.default_graph, batch_size=self.batch_size, base_iri=self.base_iri,
                         query_timeout=self.query_timeout, max_query_timeout=self.max_query_timeout,
                         max_rows=self.max_rows)
        other.use_databases_of(self)
        return other

    def databases(self) -> tuple[dict, dict, dict]:
        """The open database handles, their paths and datasets (what :meth:`reader` shares)."""
        return self._stores, self._paths, self._datasets

    def use_databases_of(self, owner: RdfStore) -> None:
        """Work on ``owner``'s open databases; closing this store then leaves them open."""
        self._stores, self._paths, self._datasets = owner.databases()
        self._opened = self._shared = True

    def close(self) -> None:
        if self._shared:  # a reader: the handles belong to the store it came from
            self._opened = False
            return
        for name, store in list(self._stores.items()):
            try:
                store.flush()
            except OSError as e:  # pragma: no cover - disk trouble
                logger.warning("flushing graph %r in %s failed: %s", name, self.path, e)
        self._release()
        self._opened = False

    def _release(self) -> None:
        self._stores.clear()
        self._paths.clear()
        self._datasets.clear()
        gc.collect()  # pyoxigraph releases the RocksDB lock when the Store object goes away

    def _dirs_on_disk(self) -> dict[str, Path]:
        """Graph name -> its database folder (``<name>@<token>``; the newest token when a crash left two)."""
        found: dict[str, Path] = {}
        if not self.graphs_dir.is_dir():
            return found
        for d in sorted(self.graphs_dir.iterdir(), key=lambda p: p.name):
            name, sep, _ = d.name.rpartition("@")
            if sep and GRAPH_NAME_RE.match(name) and d.is_dir() and (d / "CURRENT").exists():
                found[name] = d  # sorted: a later token wins
        return found

    def _new_folder(self, name: str, why: str) -> tuple[Path, Path]:
        """A hidden staging folder and the final folder of a new database of graph ``name``: a fresh
        token each time (no stale lock can collide; a later token wins in :meth:`_dirs_on_disk`)."""
        token = f"{time.time_ns():x}{os.getpid():x}"
        return self.graphs_dir / f".{name}@{token}.{why}", self.graphs_dir / f"{name}@{token}"

    def _open_graph(self, name: str, path: Path):
        import pyoxigraph as ox

        try:
            store = ox.Store(str(path))
        except OSError as e:
            raise StoreUnavailableError(f"cannot open graph {name!r} of the rdf store {self.path}: {e} (is another "
                                        "process using it? Only one process can open a graph at a time)") from e
        self._stores[name] = store
        self._paths[name] = path
        return store

    def _ox(self, name: str):
        """The Oxigraph database of graph ``name`` (opened on first use)."""
        if not self._opened:
            raise StoreError(f"the rdf store {self.url} is not open; call open() or use it as a context manager")
        store = self._stores.get(name)
        if store is None:
            path = self._dirs_on_disk().get(name)
            if path is None:
                raise UnknownGraphError(f"graph {name!r} is not in {self.url}")
            store = self._open_graph(name, path)
        return store

    def ox_store(self, *, graph: str | None = None):
        """The ``pyoxigraph.Store`` that holds ``graph`` (its triples are in the named graph
        ``<base>graph/<name>``)."""
        return self._ox(self._graph(graph))

    def triples(self, *, graph: str | None = None) -> int:
        """How many triples ``graph`` holds (nodes, edges, edge resources, graph resource, schema)."""
        return len(self.ox_store(graph=graph))

    def dataset(self, *, graph: str | None = None):
        """An ``rdflib.Dataset`` over the Oxigraph database of ``graph`` (oxrdflib), for rdflib users;
        the kgrec graph is its named graph ``<base>graph/<name>``."""
        name = self._graph(graph)
        if name not in self._datasets:
            import rdflib
            from oxrdflib import OxigraphStore

            ds = rdflib.Dataset(store=OxigraphStore(store=self._ox(name)))
            for prefix, ns in self.vocabulary.prefixes().items():
                ds.bind(prefix, rdflib.Namespace(ns), override=True)
            self._datasets[name] = ds
        return self._datasets[name]

    # -- helpers -------------------------------------------------------------------------------
    def _graph_node(self, name: str):
        import pyoxigraph as ox

        return ox.NamedNode(self.vocabulary.graph_iri(name))

    def _graph_names(self) -> list[str]:
        if not self._opened:
            raise StoreError(f"the rdf store {self.url} is not open; call open() or use it as a context manager")
        return sorted(set(self._stores) | set(self._dirs_on_disk()))

    def _update(self, name: str, text: str) -> None:
        try:
            self._ox(name).update(text)
        except (SyntaxError, OSError, ValueError) as e:
            raise StoreError(f"rdf store update failed: {e}") from e

    def _select(self, name: str, query: str) -> pd.DataFrame:
        try:
            return select_frame(self._ox(name), query, self._graph_node(name))
        except (SyntaxError, OSError, ValueError) as e:
            raise StoreError(f"rdf store query failed: {e}") from e

    def _load(self, name: str, text: str) -> None:
        """Load N-Triples text into graph ``name`` in one transaction."""
        import pyoxigraph as ox

        if not text:
            return
        try:
            self._ox(name).load(text.encode("utf-8"), ox.RdfFormat.N_TRIPLES, to_graph=self._graph_node(name))
        except UnicodeEncodeError as e:
            raise InputError(f"a value is not valid unicode (lone surrogate): {e}") from e
        except SyntaxError as e:  # a bug in the line builder, never user input
            raise StoreError(f"internal error: kgrec wrote invalid N-Triples: {e}") from e

    def _missing_ids(self, name: str, label: str, ids: list[str], *, limit: int | None = 5) -> list[str]:
        """Which of ``ids`` are not ``label`` nodes (the first ``limit``; all when None)."""
        import pyoxigraph as ox

        g = self._graph_node(name)
        store = self._ox(name)
        rdf_type = ox.NamedNode(RDF_TYPE)
        cls = ox.NamedNode(self.vocabulary.class_iri(label))
        missing = []
        for node_id, iri in zip(ids, node_iris(self.vocabulary, label, pd.Series(list(ids), dtype="string"))):
            if next(iter(store.quads_for_pattern(ox.NamedNode(iri), rdf_type, cls, g)), None) is None:
                missing.append(node_id)
                if limit is not None and len(missing) >= limit:
                    break
        return missing

    def _delete_values(self, name: str, subjects: Sequence[str], predicates: Sequence[str]) -> None:
        """Delete every ``(s, p, *)`` for ``s`` in ``subjects`` and ``p`` in ``predicates``: one request
        (one transaction) per batch of subjects."""
        if not subjects or not predicates:
            return
        size = max(1, int(self.batch_size))
        for start in range(0, len(subjects), size):
            self._update(name, sparql.delete_values(self.vocabulary, name, subjects[start:start + size], predicates))

    # -- the graph's record: the graph resource ------------------------------------------------
    def _read_meta(self, name: str) -> GraphMeta | None:
        rows = self._select(name, sparql.graph_record(self.vocabulary, name))
        if not len(rows):
            return None
        if len(rows) != 1:
            raise StoreError(f"graph {name!r} in {self.url} has {len(rows)} kgrec graph resources; write it again")
        try:
            schema = Schema.from_dict(json.loads(rows["schema"].iat[0]))
            metadata = json.loads(rows["meta"].iat[0] or "{}")
            nodes, edges = GraphMeta.parse_columns(json.loads(rows["cols"].iat[0] or "{}"))
        except (ValueError, SchemaError) as e:
            raise StoreError(f"graph {name!r} in {self.url}: its graph resource is damaged: {e}") from e
        fmt = rows["format"].iat[0]
        return GraphMeta(name, schema, metadata, nodes, edges, rows["state"].iat[0] or COMPLETE,
                         int(fmt) if fmt else 1, "")

    def _write_meta(self, name: str, meta: GraphMeta) -> None:
        """Replace the graph resource and the schema triples (everything that is not a node or edge)."""
        self._update(name, sparql.delete_graph_record(self.vocabulary, name))
        text, _ = graph_ntriples(self.vocabulary, name=name, schema=meta.schema, metadata=meta.metadata,
                                 columns=meta.columns_as_list(), state=meta.state)
        self._load(name, text)

    # -- graphs --------------------------------------------------------------------------------
    def drop(self, graph: str) -> None:
        check_graph_name(graph)
        if graph not in self._graph_names():
            raise UnknownGraphError(f"graph {graph!r} is not in {self.url}; graphs there: "
                                    f"{', '.join(self.graphs()) or 'none'}")
        # a graph is its own Oxigraph database: dropping it removes the folder (deleting millions of
        # triples inside Oxigraph takes minutes; removing a folder takes milliseconds)
        store = self._stores.pop(graph, None)
        path = self._paths.pop(graph, None) or self._dirs_on_disk()[graph]
        self._datasets.pop(graph, None)
        del store
        gc.collect()
        try:
            shutil.rmtree(path)
        except OSError as e:
            raise StoreError(f"dropping graph {graph!r} from {self.url} failed: {e}") from e
        logger.info("dropped graph %r from %s", graph, self.url)

    # -- bulk ----------------------------------------------------------------------------------
    def _write_graph(self, name: str, kg: KnowledgeGraph, *, progress: bool) -> tuple[dict[str, int], dict[str, int]]:
        """A new graph is bulk-loaded in one pass. Into an existing graph the tables are upserted
        (schemas merge; nodes by id and edges by ``(src, dst)``; the columns ``kg`` has replace the
        stored values, other columns are kept): the stored graph is read and only the values that
        differ are rewritten, so writing the same graph twice leaves the same triples and costs
        one read."""
        if name in self._graph_names():
            self._writediff_rows(name, kg)
        else:
            self._bulk_write(name, kg)
        nodes = {label: len(df) for label, df in kg.nodes.items()}
        return nodes, {edge_key(et): len(df) for et, df in kg.edges.items()}

    def _writediff_rows(self, name: str, kg: KnowledgeGraph) -> None:
        """Upsert ``kg`` into the existing graph ``name``, touching only what differs.

        The stored graph is read and compared with ``kg`` cell by cell: new nodes and edges are
        inserted, changed values replaced, equal ones left alone (deleting triples is what costs
        most in Oxigraph), so writing the same graph again changes nothing.
        """
        stored = read_oxigraph(self._ox(name), base_iri=self.base_iri, default_graph=self._graph_node(name),
                               where=f"{self.url} graph {name}", validate=False)
        meta = self._begin_write(name, kg)
        vocab, schema = self.vocabulary, meta.schema
        for label, new in kg.nodes.items():
            new = new[[c for c in new.columns if not c.startswith("_")]]
            inserted, changed = diff_rows(stored.nodes.get(label), new, ["id"])
            declared = schema.node(label).properties
            self._insert_chunks(name, node_ntriples(vocab, label, new[inserted], declared))
            for col, rows in changed.items():
                part = new.loc[rows, ["id", col]]
                pred = RDFS_LABEL if col == "name" else vocab.term("text") if col == "text" else vocab.property_iri(col)
                self._delete_values(name, node_iris(vocab, label, part["id"]).tolist(), [pred])
                self._insert_chunks(name, node_ntriples(vocab, label, part, declared, header=False))
        for et, new in kg.edges.items():
            new = new[[c for c in new.columns if not c.startswith("_")]]
            inserted, changed = diff_rows(stored.edges.get(et), new, ["src", "dst"])
            declared = schema.relation(et).properties
            self._insert_chunks(name, edge_ntriples(vocab, et, new[inserted], declared))
            for col, rows in changed.items():
                part = new.loc[rows, ["src", "dst", col]]
                self._delete_values(name, edge_iris(vocab, et, part["src"], part["dst"]).tolist(),
                                    [vocab.property_iri(col)])
                self._insert_chunks(name, edge_ntriples(vocab, et, part, declared))
        self._update(name, sparql.set_state(vocab, name, COMPLETE))

    def _begin_write(self, name: str, kg: KnowledgeGraph) -> GraphMeta:
        """An existing graph: its record merged with ``kg``'s; a new one: an empty database (no
        staging folder: a streaming write fills the live graph, marked ``writing``) and ``kg``'s."""
        if name in self._graph_names():
            meta = self._require_meta(name).merged_with(kg, state=WRITING)
        else:
            self._open_graph(name, self._new_folder(name, "stream")[1])
            meta = GraphMeta.of_graph(kg, name)
        self._write_meta(name, meta)
        return meta

    def _insert_chunks(self, name: str, chunks) -> None:
        """Load N-Triples chunks into the graph: one transaction each, or a bulk load when big."""
        import pyoxigraph as ox

        g = self._graph_node(name)
        for text, count in chunks:
            if count >= BULK_THRESHOLD:
                self._ox(name).bulk_load(text.encode("utf-8"), ox.RdfFormat.N_TRIPLES, to_graph=g, lenient=True)
            else:
                self._load(name, text)

    def _bulk_write(self, name: str, kg: KnowledgeGraph) -> int:
        """Write a new graph: bulk-load it into a fresh database in a hidden folder, then rename the
        folder into place, so a graph appears whole or not at all."""
        import pyoxigraph as ox

        g = self._graph_node(name)
        kg_named = kg if kg.name == name else kg.replace(name=name)
        staging, final = self._new_folder(name, "loading")
        try:
            store = self._open_graph(name, staging)
            with tempfile.TemporaryFile(dir=self.graphs_dir) as tmp:
                triples = write_ntriples(kg_named, tmp, self.vocabulary)
                tmp.seek(0)
                try:
                    store.bulk_load(tmp, ox.RdfFormat.N_TRIPLES, to_graph=g, lenient=True)
                except SyntaxError as e:  # pragma: no cover - a bug in the line builder
                    raise StoreError(f"internal error: kgrec wrote invalid N-Triples: {e}") from e
                except OSError as e:
                    raise StoreError(f"loading graph {name!r} into {self.url} failed: {e}") from e
            store.update(sparql.set_state(self.vocabulary, name, COMPLETE))
            store.flush()
            del store
            self._stores.pop(name, None)
            self._paths.pop(name, None)
            gc.collect()
            staging.rename(final)
        finally:
            self._stores.pop(name, None)
            self._paths.pop(name, None)
            shutil.rmtree(staging, ignore_errors=True)
        self._open_graph(name, final)
        logger.debug("bulk-loaded %d triples into %s", triples, g.value)
        return triples

    def _read_graph(self, name: str, meta: GraphMeta) -> KnowledgeGraph:
        try:
            return read_oxigraph(self._ox(name), base_iri=self.base_iri, default_graph=self._graph_node(name),
                                 where=f"{self.url} graph {name}")
        except InputError as e:
            raise StoreError(f"graph {name!r} in {self.url} cannot be read back: {e}") from e

    # -- small writes --------------------------------------------------------------------------
    def _write_node_rows(self, name: str, schema: Schema, label: str, rows: pd.DataFrame) -> int:
        """Write node rows; only the columns given are replaced on existing nodes, and a new node
        without a name column is named by its id (as ``KnowledgeGraph`` does)."""
        declared = schema.node(label).properties
        props = [c for c in rows.columns if c not in ("id", "name", "text")]
        iris = node_iris(self.vocabulary, label, rows["id"]).tolist()
        predicates = [RDFS_LABEL] if "name" in rows else []
        predicates += [self.vocabulary.term("text")] if "text" in rows else []
        predicates += [self.vocabulary.property_iri(p) for p in props]
        if "name" not in rows.columns:
            existing = set(rows["id"].tolist()) - set(self._missing_ids(name, label, rows["id"].tolist(), limit=None))
            rows = rows.copy()
            rows["name"] = rows["id"].where(~rows["id"].isin(existing), None).astype("string")
        else:
            existing = None
        if existing is None or existing:
            self._delete_values(name, iris, predicates)
        for text, _ in node_ntriples(self.vocabulary, label, rows, declared):
            self._load(name, text)
        return len(rows)

    def _write_edge_rows(self, name: str, schema: Schema, edge_type: EdgeType, rows: pd.DataFrame) -> int:
        declared = schema.relation(edge_type).properties
        props = [c for c in rows.columns if c not in ("src", "dst")]
        if props:
            e_iris = edge_iris(self.vocabulary, edge_type, rows["src"], rows["dst"]).tolist()
            self._delete_values(name, e_iris, [self.vocabulary.property_iri(p) for p in props])
        for text, _ in edge_ntriples(self.vocabulary, edge_type, rows, declared):
            self._load(name, text)
        return len(rows)

    def delete_edges(self, edge_type: EdgeType, *, src: Sequence[str] | None = None, graph: str | None = None) -> int:
        name = self._graph(graph)
        et = tuple(edge_type)
        if et not in self._require_meta(name).schema.edge_types:
            raise SchemaError(f"relation type {edge_key(et)} is not in graph {name!r}")
        batches: list[list[str] | None]
        if src is None:
            batches = [None]
        else:
            ids = list(dict.fromkeys(map(str, src)))
            if not ids:
                return 0
            iris = node_iris(self.vocabulary, et[0], pd.Series(ids, dtype="string")).tolist()
            size = max(1, int(self.batch_size))
            batches = [iris[i:i + size] for i in range(0, len(iris), size)]
        deleted = 0
        for sources in batches:
            deleted += int(self._select(name, sparql.count_edges(self.vocabulary, et, sources))["n"].iat[0])
            self._update(name, sparql.delete_edges(self.vocabulary, name, et, sources))
        return deleted

    def delete_nodes(self, label: str, ids: Sequence[str], *, graph: str | None = None) -> int:
        """Delete nodes, every edge touching them and those edges' property resources."""
        name = self._graph(graph)
        schema = self._require_meta(name).schema
        if label not in schema.labels:
            raise SchemaError(f"label {label!r} is not in graph {name!r}; labels: {', '.join(schema.labels)}")
        ids = list(dict.fromkeys(map(str, ids)))
        found = len(ids) - len(self._missing_ids(name, label, ids, limit=None))
        size = max(1, int(self.batch_size))
        for start in range(0, len(ids), size):
            iris = node_iris(self.vocabulary, label, pd.Series(ids[start:start + size], dtype="string")).tolist()
            self._update(name, sparql.delete_nodes(self.vocabulary, name, iris))
        return found

    # -- forgetting on disk --------------------------------------------------------------------
    def compact(self, *, graph: str | None = None) -> None:
        """Rewrite each graph's database (or only ``graph``'s) from its live triples into a fresh
        folder and remove the old one, so that deleted nodes and their ids are gone from disk
        (Oxigraph never prunes strings it stored once; RocksDB keeps deleted triples in old files).
        Costs a dump and a bulk load of the graph."""
        import pyoxigraph as ox

        names = [self._graph(graph)] if graph is not None else self._graph_names()
        for name in names:
            store, old = self._ox(name), self._paths[name]
            staging, final = self._new_folder(name, "compacting")
            try:
                with tempfile.TemporaryFile(dir=self.graphs_dir) as tmp:
                    store.dump(tmp, ox.RdfFormat.N_QUADS)
                    tmp.seek(0)
                    fresh = ox.Store(str(staging))
                    fresh.bulk_load(tmp, ox.RdfFormat.N_QUADS)
                    fresh.flush()
                    del fresh
                    gc.collect()
                staging.rename(final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self._stores.pop(name, None)
            self._datasets.pop(name, None)
            del store
            gc.collect()
            self._open_graph(name, final)
            shutil.rmtree(old)
            logger.info("compacted graph %r of %s (%s -> %s)", name, self.url, old.name, final.name)

    # -- reads ---------------------------------------------------------------------------------
    def stats(self, *, graph: str | None = None) -> GraphStats:
        """Node counts per label and edge counts per edge type, by SPARQL (no degree summaries)."""
        name = self._graph(graph)
        schema = self._require_meta(name).schema
        v = self.vocabulary
        counts = self._select(name, sparql.CLASS_COUNTS)
        by_class = dict(zip(counts["c"], counts["n"].astype(int)))
        nodes = {label: int(by_class.get(v.class_iri(label), 0)) for label in schema.labels}
        edges: dict[str, int] = {}
        relations: dict[str, int] = {}
        if schema.relations:
            rows = self._select(name, sparql.relation_counts(v, schema.relation_names()))
            found = {(r.p, r.sl, r.ol): int(r.n) for r in rows.itertuples(index=False)}
            for et in schema.edge_types:
                n = found.get((v.relation_iri(et[1]), et[0], et[2]), 0)
                edges[edge_key(et)] = n
                relations[et[1]] = relations.get(et[1], 0) + n
        return GraphStats(name, nodes, edges, relations)

    # -- analyst queries -----------------------------------------------------------------------
    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *, graph: str | None = None,
              timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        raise StoreError("the rdf store speaks SPARQL, not Cypher: use store.sparql(query) or kgrec query --sparql "
                         "(see docs/rdf-vocabulary.md for the IRIs), or an embedded/neo4j store for Cypher")

    def sparql(self, query: str, *, graph: str | None = None, params: Mapping[str, Any] | None = None,
               timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run a read-only SPARQL query; the named graph of ``graph`` is the default graph.

        Args:
            query: a SELECT, ASK, CONSTRUCT or DESCRIBE query (prefixes ``kgs:``, ``kgrec:``,
                ``rdf:``, ``rdfs:``, ``xsd:``, ``owl:`` are predeclared).
            graph: the kgrec graph to query (default: the store's default graph).
            params: values for variables: ``{"id": "42"}`` binds ``?id`` (or ``$id``) to the literal
                "42" (ints, floats and bools become typed literals) through a trailing ``VALUES``
                clause, escaped, so values never mix with the query text. A query that already ends
                in a ``VALUES`` clause cannot take params.
            timeout: seconds it may run (default: the store's ``query_timeout``; at most its
                ``max_query_timeout``); the process running it is killed there and a
                ``QueryTimeoutError`` raised.
            max_rows: rows returned at most (default: the store's ``max_rows``); the result says
                ``truncated`` when there were more.

        Returns:
            SELECT: one column per variable; ASK: one column ``ask``; CONSTRUCT/DESCRIBE: columns
            ``subject``, ``predicate``, ``object``. IRIs come as strings, literals as Python values.
        """
        params = check_params(params)
        if params:
            query = f"{query}\n{sparql.values_clause(params)}"
        sparql.check_analyst_sparql(query, self.vocabulary.prefixes())
        seconds, rows = self._limits(timeout, max_rows)
        name = self._graph(graph)
        return run_sparql(lambda folder: self._ox(name).backup(folder), query, workdir=self.graphs_dir,
                          default_graph=self.vocabulary.graph_iri(name), prefixes=self.vocabulary.prefixes(),
                          timeout=seconds, max_rows=rows)
