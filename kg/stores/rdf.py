"""`RdfStore`: the knowledge graph as RDF in persistent Oxigraph databases, queried with SPARQL.

``rdf:PATH`` opens (creating it if needed) the folder ``PATH`` (``rdf:`` alone: ``KGREC_HOME/rdf``).
Each kgrec graph lives in the named graph ``<base>graph/<name>`` of its own Oxigraph database
(RocksDB) in ``PATH/graphs/<name>@<token>``, holding exactly what
:func:`kgrec.kg.export.export_graph` writes (see ``docs/rdf-vocabulary.md``): nodes, edges, reified
edge properties and the graph resource with the schema. One database per graph because deleting
triples is Oxigraph's slow path (dropping lastfm's 2.1 M triples inside one database took 8
minutes; removing its folder takes milliseconds), and because a new graph is bulk-loaded into a
hidden folder and renamed into place, so it appears whole or not at all.

rdflib sees the same data through ``oxrdflib`` (:meth:`RdfStore.dataset`); bulk work goes to
Oxigraph directly (N-Triples built column-wise and bulk-loaded; reads as one single-pattern SPARQL
query per column with CSV results). Only one process can open a graph's database at a time
(RocksDB holds a lock), so two processes cannot open the same rdf store.

Analysts query with :meth:`RdfStore.sparql`, which runs SELECT / ASK / CONSTRUCT / DESCRIBE only:
the text is parsed with rdflib's SPARQL parser first and anything else (INSERT, DELETE, LOAD, CLEAR,
DROP, CREATE, SERVICE) is refused with :class:`~kgrec.errors.ReadOnlyQueryError`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgrec.config import kgrec_home
from kgrec.errors import (
    ConfigError,
    InputError,
    ReadOnlyQueryError,
    SchemaError,
    StoreError,
    StoreUnavailableError,
    UnknownGraphError,
)

from .. import export as rdfx
from ..graph import GraphStats, KnowledgeGraph
from ..rdf_vocab import (
    DEFAULT_BASE_IRI,
    RDF_OBJECT,
    RDF_PREDICATE,
    RDF_SUBJECT,
    RDF_TYPE,
    RDFS_LABEL,
    XSD_BOOLEAN,
    XSD_DOUBLE,
    XSD_INTEGER,
    Vocabulary,
)
from ..schema import EdgeType, NodeType, RelationType, Schema, check_label
from .base import (
    GRAPH_NAME_RE,
    QueryResult,
    Store,
    StoreCapabilities,
    WriteReport,
    cast_properties,
    check_graph_name,
    check_ids,
    choose_graph,
    infer_property_type,
)

logger = logging.getLogger(__name__)

__all__ = ["RdfStore"]

GRAPHS_DIR = "graphs"
BULK_THRESHOLD = 50_000  # triples: above this a chunk is bulk-loaded (no transaction, much faster)
_READ_FORMS = {"SelectQuery", "AskQuery", "ConstructQuery", "DescribeQuery"}


def _edge_key(edge_type: EdgeType) -> str:
    return "({0})-[{1}]->({2})".format(*edge_type)



def _walk(node: Any) -> Iterable[Any]:
    """Every element of an rdflib SPARQL parse tree (CompValues, ParseResults, lists)."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):  # CompValue is an OrderedDict
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)) or type(item).__name__ == "ParseResults":
            stack.extend(list(item))


class RdfStore(Store):
    """A :class:`Store` over rdflib + Oxigraph, persistent in a directory; SPARQL, no Cypher.

    Args:
        url: ``rdf:PATH`` (``rdf:`` alone: ``KGREC_HOME/rdf``; ``~`` is expanded).
        graph: the default graph of every call (default: ``KGREC_GRAPH``, else the only graph).
        batch_size: ids per SPARQL update when deleting or checking (default: 5000).
        base_iri: the base of every IRI (default: ``https://kgrec.dev/``).
    """

    capabilities = StoreCapabilities(cypher=False, sparql=True, vectors=False, persistent=True, named_graphs=True)

    def __init__(self, url: str = "rdf:", *, graph: str | None = None, batch_size: int = 5000,
                 base_iri: str = DEFAULT_BASE_IRI):
        if not isinstance(url, str) or not url.startswith("rdf:"):
            raise ConfigError(f"an rdf store URL looks like 'rdf:/path/to/dir', not {url!r}")
        if graph is not None:
            check_graph_name(graph)
        super().__init__(url, graph=graph, batch_size=batch_size)
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

    def close(self) -> None:
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

    def _graph(self, graph: str | None) -> str:
        return choose_graph(graph, self.default_graph, self._graph_names(), where=self.url)

    def _update(self, name: str, text: str) -> None:
        try:
            self._ox(name).update(text)
        except (SyntaxError, OSError, ValueError) as e:
            raise StoreError(f"rdf store update failed: {e}") from e

    def _csv(self, name: str, query: str) -> pd.DataFrame:
        try:
            return rdfx._csv(self._ox(name), query, self._graph_node(name))
        except (SyntaxError, OSError, ValueError) as e:
            raise StoreError(f"rdf store query failed: {e}") from e

    def _meta(self, name: str) -> dict[str, Any]:
        t = self.vocabulary.term
        g = self.vocabulary.graph_iri(name)
        rows = self._csv(name, f"SELECT ?schema ?meta ?cols WHERE {{ <{g}> <{t('schema')}> ?schema . "
                               f"OPTIONAL {{ <{g}> <{t('metadata')}> ?meta }} OPTIONAL {{ <{g}> <{t('columns')}> ?cols }} }}")
        if len(rows) != 1:
            raise UnknownGraphError(f"graph {name!r} in {self.url} has no kgrec graph resource (or several); "
                                    "it was not written by kgrec")
        try:
            schema = Schema.from_dict(json.loads(rows["schema"].iat[0]))
            metadata = json.loads(rows["meta"].iat[0] or "{}")
            columns = json.loads(rows["cols"].iat[0] or "{}")
        except ValueError as e:
            raise StoreError(f"graph {name!r} in {self.url}: its graph resource is damaged: {e}") from e
        columns.setdefault("nodes", {})
        columns.setdefault("edges", [])
        return {"schema": schema, "metadata": metadata, "columns": columns}

    def _write_meta(self, name: str, schema: Schema, metadata: Mapping[str, Any], columns: Mapping[str, Any]) -> None:
        """Replace the graph resource and the schema triples (everything that is not a node or edge)."""

        g = self._graph_node(name)
        v = self.vocabulary
        # the graph resource and the schema resources live under <base>graph/ and <base>schema/
        self._update(name, f"DELETE {{ GRAPH <{g.value}> {{ ?s ?p ?o }} }} WHERE {{ GRAPH <{g.value}> {{ ?s ?p ?o "
                           f'FILTER(STRSTARTS(STR(?s), "{v.schema_ns}") || ?s = <{g.value}>) }} }}')
        text, _ = rdfx.graph_ntriples(v, name=name, schema=schema, metadata=metadata, columns=columns)
        self._load(name, text)

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

    def _iris(self, values: Iterable[str]) -> str:
        return " ".join(f"<{v}>" for v in values)

    def _existing(self, name: str, label: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are ``label`` nodes in the graph."""
        import pyoxigraph as ox

        g = self._graph_node(name)
        store = self._ox(name)
        rdf_type = ox.NamedNode(RDF_TYPE)
        cls = ox.NamedNode(self.vocabulary.class_iri(label))
        prefix = self.vocabulary.node_prefix(label)
        quoted = rdfx._quoted(pd.Series(list(ids), dtype="string")).tolist()
        found = set()
        for node_id, q in zip(ids, quoted):
            if next(iter(store.quads_for_pattern(ox.NamedNode(prefix + q), rdf_type, cls, g)), None) is not None:
                found.add(node_id)
        return found

    def _delete_values(self, name: str, subjects: Sequence[str], predicates: Sequence[str]) -> None:
        """Delete every ``(s, p, *)`` for ``s`` in ``subjects`` and ``p`` in ``predicates``: one request
        (one transaction) per batch of subjects, one operation per predicate (a constant predicate
        lets Oxigraph look each subject up in its index instead of scanning the graph)."""
        if not subjects or not predicates:
            return
        g = self.vocabulary.graph_iri(name)
        size = max(1, int(self.batch_size))
        for start in range(0, len(subjects), size):
            subs = self._iris(subjects[start:start + size])
            self._update(name, " ;\n".join(
                f"DELETE {{ GRAPH <{g}> {{ ?s <{p}> ?o }} }} WHERE {{ VALUES ?s {{ {subs} }} GRAPH <{g}> {{ ?s <{p}> ?o }} }}"
                for p in predicates))

    # -- graphs --------------------------------------------------------------------------------
    def graphs(self) -> list[str]:
        return sorted(self._graph_names())

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
    def write(self, kg: KnowledgeGraph, *, graph: str | None = None, progress: bool = False) -> WriteReport:
        """Validate ``kg``, then write it into the named graph ``<base>graph/<name>``.

        A new graph is bulk-loaded in one pass. Into an existing graph the tables are upserted
        (schemas merge; nodes by id and edges by ``(src, dst)``; the columns ``kg`` has replace the
        stored values, other columns are kept): the stored graph is read and only the values that
        differ are rewritten, so writing the same graph twice leaves the same triples and costs
        one read.
        """
        kg.validate()
        name = check_graph_name(graph or self.default_graph or kg.name)
        start = time.perf_counter()
        node_counts = {label: len(df) for label, df in kg.nodes.items()}
        edge_counts = {_edge_key(et): len(df) for et, df in kg.edges.items()}
        if name in self._graph_names():
            self._write_changes(name, kg)
        else:
            self._bulk_write(name, kg)
        report = WriteReport(name, node_counts, edge_counts, time.perf_counter() - start)
        logger.info("wrote %s nodes and %s edges to rdf graph %r in %.1fs (%.0f edges/s)", f"{report.num_nodes:,}",
                    f"{report.num_edges:,}", name, report.seconds, report.num_edges / max(report.seconds, 1e-9))
        return report

    def _write_changes(self, name: str, kg: KnowledgeGraph) -> None:
        """Upsert ``kg`` into the existing graph ``name``, touching only what differs.

        The stored graph is read and compared with ``kg`` cell by cell: new nodes and edges are
        inserted, changed values replaced, equal ones left alone (deleting triples is what costs
        most in Oxigraph), so writing the same graph again changes nothing.
        """
        stored = rdfx.read_oxigraph(self._ox(name), base_iri=self.base_iri, default_graph=self._graph_node(name),
                                    where=f"{self.url} graph {name}", validate=False)
        merged = _merge_graphs(stored, kg)
        columns = rdfx.table_columns(merged)
        if (merged.schema.to_dict() != stored.schema.to_dict() or merged.metadata != stored.metadata
                or columns != rdfx.table_columns(stored)):
            self._write_meta(name, merged.schema, merged.metadata, columns)
        vocab, schema = self.vocabulary, merged.schema
        for label, new in kg.nodes.items():
            new = new[[c for c in new.columns if not c.startswith("_")]]
            inserted, changed = _changes(stored.nodes.get(label), new, ["id"])
            declared = schema.node(label).properties
            self._insert_chunks(name, rdfx.node_ntriples(vocab, label, new[inserted], declared))
            prefix = vocab.node_prefix(label)
            for col, rows in changed.items():
                part = new.loc[rows, ["id", col]]
                pred = RDFS_LABEL if col == "name" else vocab.term("text") if col == "text" else vocab.property_iri(col)
                self._delete_values(name, (prefix + rdfx._quoted(part["id"])).tolist(), [pred])
                self._insert_chunks(name, rdfx.node_ntriples(vocab, label, part, declared, header=False))
        for et, new in kg.edges.items():
            new = new[[c for c in new.columns if not c.startswith("_")]]
            inserted, changed = _changes(stored.edges.get(et), new, ["src", "dst"])
            declared = schema.relation(et).properties
            self._insert_chunks(name, rdfx.edge_ntriples(vocab, et, new[inserted], declared))
            src, rel, dst = et
            for col, rows in changed.items():
                part = new.loc[rows, ["src", "dst", col]]
                e_iris = (f"{vocab.edge_ns}{rel}/{src}/" + rdfx._quoted(part["src"]) + f"/{dst}/"
                          + rdfx._quoted(part["dst"])).tolist()
                self._delete_values(name, e_iris, [vocab.property_iri(col)])
                self._insert_chunks(name, rdfx.edge_ntriples(vocab, et, part, declared))

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
        token = f"{time.time_ns():x}{os.getpid():x}"  # a fresh folder each time: no stale lock can collide
        staging = self.graphs_dir / f".{name}@{token}.loading"
        final = self.graphs_dir / f"{name}@{token}"
        try:
            store = self._open_graph(name, staging)
            with tempfile.TemporaryFile(dir=self.graphs_dir) as tmp:
                triples = rdfx.write_ntriples(kg_named, tmp, self.vocabulary)
                tmp.seek(0)
                try:
                    store.bulk_load(tmp, ox.RdfFormat.N_TRIPLES, to_graph=g, lenient=True)
                except SyntaxError as e:  # pragma: no cover - a bug in the line builder
                    raise StoreError(f"internal error: kgrec wrote invalid N-Triples: {e}") from e
                except OSError as e:
                    raise StoreError(f"loading graph {name!r} into {self.url} failed: {e}") from e
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

    @staticmethod
    def _merge_edge_columns(old: list, new: list) -> list:
        merged = {tuple(e[:3]): set(e[3]) for e in old}
        for e in new:
            merged.setdefault(tuple(e[:3]), set()).update(e[3])
        return [[*et, sorted(cols)] for et, cols in merged.items()]

    def read(self, *, graph: str | None = None) -> KnowledgeGraph:
        name = self._graph(graph)
        try:
            return rdfx.read_oxigraph(self._ox(name), base_iri=self.base_iri, default_graph=self._graph_node(name),
                                      where=f"{self.url} graph {name}")
        except InputError as e:
            raise StoreError(f"graph {name!r} in {self.url} cannot be read back: {e}") from e

    # -- small writes --------------------------------------------------------------------------
    def _upsert_node_rows(self, name: str, schema: Schema, label: str, rows: pd.DataFrame) -> int:
        """Write node rows; only the columns given are replaced on existing nodes, and a new node
        without a name column is named by its id (as ``KnowledgeGraph`` does)."""
        declared = schema.node(label).properties
        props = [c for c in rows.columns if c not in ("id", "name", "text")]
        prefix = self.vocabulary.node_prefix(label)
        iris = (prefix + rdfx._quoted(rows["id"])).tolist()
        predicates = ([RDFS_LABEL] if "name" in rows else []) + ([self.vocabulary.term("text")] if "text" in rows else [])
        predicates += [self.vocabulary.property_iri(p) for p in props]
        if "name" not in rows.columns:
            existing = self._existing(name, label, rows["id"].tolist())
            rows = rows.copy()
            rows["name"] = rows["id"].where(~rows["id"].isin(existing), None).astype("string")
        else:
            existing = None
        if existing is None or existing:
            self._delete_values(name, iris, predicates)
        for text, _ in rdfx.node_ntriples(self.vocabulary, label, rows, declared):
            self._load(name, text)
        return len(rows)

    def _upsert_edge_rows(self, name: str, schema: Schema, edge_type: EdgeType, rows: pd.DataFrame) -> int:
        declared = schema.relation(edge_type).properties
        props = [c for c in rows.columns if c not in ("src", "dst")]
        if props:
            src, rel, dst = edge_type
            qs, qd = rdfx._quoted(rows["src"]), rdfx._quoted(rows["dst"])
            e_iris = (f"{self.vocabulary.edge_ns}{rel}/{src}/" + qs + f"/{dst}/" + qd).tolist()
            self._delete_values(name, e_iris, [self.vocabulary.property_iri(p) for p in props])
        for text, _ in rdfx.edge_ntriples(self.vocabulary, edge_type, rows, declared):
            self._load(name, text)
        return len(rows)

    def upsert_nodes(self, label: str, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update nodes by ``(label, id)``.

        Only the columns given are replaced on existing nodes (a null cell removes that value); a
        new node without a ``name`` column is named by its id. A new label or property extends the
        stored schema (its type inferred from the column).
        """
        name = self._graph(graph)
        check_label(label)
        if "id" not in rows.columns:
            raise InputError(f"upsert_nodes({label}): rows need an 'id' column; they have {list(rows.columns)}")
        rows = rows.drop(columns=[c for c in rows.columns if c.startswith("_")]).reset_index(drop=True)
        check_ids(rows, "id", f"{label} id")
        dup = rows["id"].duplicated().to_numpy()
        if dup.any():
            raise InputError(f"upsert_nodes({label}): id {rows['id'].iat[int(dup.argmax())]!r} appears twice")
        meta = self._meta(name)
        schema: Schema = meta["schema"]
        props = [c for c in rows.columns if c not in ("id", "name", "text")]
        declared = schema.node(label).properties if label in schema.labels else {}
        rows = cast_properties(rows, props, declared, label)
        for col in ("name", "text"):
            if col in rows.columns:
                rows[col] = rows[col].astype("string")
        new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
        columns = meta["columns"]
        if label not in schema.labels or new_props:
            node = NodeType(label, {**declared, **new_props},
                            schema.node(label).description if label in schema.labels else "")
            others = tuple(n for n in schema.nodes if n.label != label)
            schema = Schema((*others, node), schema.relations, schema.user_label, schema.item_label,
                            schema.interaction)
            logger.info("graph %r: schema extended with %s %s", name, label, sorted(new_props))
        known_cols = set(columns["nodes"].get(label, []))
        if label not in columns["nodes"] or not set(props) <= known_cols or new_props:
            columns["nodes"][label] = sorted(known_cols | set(props))
            self._write_meta(name, schema, meta["metadata"], columns)
        return self._upsert_node_rows(name, schema, label, rows)

    def upsert_edges(self, edge_type: EdgeType, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        """Create or update edges by ``(src, dst)``; both endpoints must exist. Only the property
        columns given are replaced; a new relation type or property extends the stored schema."""
        name = self._graph(graph)
        et = tuple(edge_type)
        src_label, rel, dst_label = et
        RelationType(src_label, rel, dst_label)  # checks the three names
        if {"src", "dst"} - set(rows.columns):
            raise InputError(f"upsert_edges({_edge_key(et)}): rows need 'src' and 'dst' columns; "
                             f"they have {list(rows.columns)}")
        rows = rows.drop(columns=[c for c in rows.columns if c.startswith("_")]).reset_index(drop=True)
        check_ids(rows, "src", f"{rel} src")
        check_ids(rows, "dst", f"{rel} dst")
        dup = rows.duplicated(subset=["src", "dst"]).to_numpy()
        if dup.any():
            i = int(dup.argmax())
            raise InputError(f"upsert_edges({_edge_key(et)}): edge {rows['src'].iat[i]!r} -> "
                             f"{rows['dst'].iat[i]!r} appears twice")
        meta = self._meta(name)
        schema: Schema = meta["schema"]
        for label in (src_label, dst_label):
            if label not in schema.labels:
                raise SchemaError(f"label {label!r} is not in graph {name!r}; labels: {', '.join(schema.labels)}")
        for col, label in (("src", src_label), ("dst", dst_label)):
            wanted = rows[col].drop_duplicates().tolist()
            found = self._existing(name, label, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                shown = ", ".join(repr(m) for m in missing[:5])
                raise InputError(f"{rel} {col}: no {label} node with id {shown} in graph {name!r}")
        props = [c for c in rows.columns if c not in ("src", "dst")]
        known = et in schema.edge_types
        declared = schema.relation(et).properties if known else {}
        rows = cast_properties(rows, props, declared, rel)
        new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
        columns = meta["columns"]
        if not known or new_props:
            relation = RelationType(*et, {**declared, **new_props}, schema.relation(et).description if known else "")
            others = tuple(r for r in schema.relations if r.edge_type != et)
            schema = Schema(schema.nodes, (*others, relation), schema.user_label, schema.item_label,
                            schema.interaction)
            logger.info("graph %r: schema extended with %s %s", name, _edge_key(et), sorted(new_props))
        known_cols = {tuple(e[:3]): set(e[3]) for e in columns["edges"]}
        if et not in known_cols or not set(props) <= known_cols[et] or not known or new_props:
            columns["edges"] = self._merge_edge_columns(columns["edges"], [[*et, props]])
            self._write_meta(name, schema, meta["metadata"], columns)
        return self._upsert_edge_rows(name, schema, et, rows)

    def _edge_filter(self, edge_type: EdgeType) -> str:
        src_label, _, dst_label = edge_type
        return (f'FILTER(STRSTARTS(STR(?s), "{self.vocabulary.node_prefix(src_label)}") && '
                f'STRSTARTS(STR(?o), "{self.vocabulary.node_prefix(dst_label)}"))')

    def delete_edges(self, edge_type: EdgeType, *, src: Sequence[str] | None = None, graph: str | None = None) -> int:
        name = self._graph(graph)
        et = tuple(edge_type)
        schema = self._meta(name)["schema"]
        if et not in schema.edge_types:
            raise SchemaError(f"relation type {_edge_key(et)} is not in graph {name!r}")
        g = self.vocabulary.graph_iri(name)
        rel = self.vocabulary.relation_iri(et[1])
        where = f"?s <{rel}> ?o {self._edge_filter(et)}"
        if src is None:
            batches: list[str] = [""]
        else:
            ids = list(dict.fromkeys(map(str, src)))
            if not ids:
                return 0
            iris = (self.vocabulary.node_prefix(et[0]) + rdfx._quoted(pd.Series(ids, dtype="string"))).tolist()
            size = max(1, int(self.batch_size))
            batches = [f"VALUES ?s {{ {self._iris(iris[i:i + size])} }} " for i in range(0, len(iris), size)]
        deleted = 0
        for values in batches:
            n = self._csv(name, f"SELECT (COUNT(*) AS ?n) WHERE {{ {values}{where} }}")
            deleted += int(n["n"].iat[0])
            self._update(
                name, f"DELETE {{ GRAPH <{g}> {{ ?s <{rel}> ?o . ?e ?p ?v }} }} WHERE {{ {values}GRAPH <{g}> {{ {where} "
                f"OPTIONAL {{ ?e <{RDF_SUBJECT}> ?s ; <{RDF_PREDICATE}> <{rel}> ; <{RDF_OBJECT}> ?o ; ?p ?v }} }} }}")
        return deleted

    def delete_nodes(self, label: str, ids: Sequence[str], *, graph: str | None = None) -> int:
        """Delete nodes, every edge touching them and those edges' property resources."""
        name = self._graph(graph)
        schema = self._meta(name)["schema"]
        if label not in schema.labels:
            raise SchemaError(f"label {label!r} is not in graph {name!r}; labels: {', '.join(schema.labels)}")
        ids = list(dict.fromkeys(map(str, ids)))
        existing = self._existing(name, label, ids)
        g = self.vocabulary.graph_iri(name)
        prefix = self.vocabulary.node_prefix(label)
        size = max(1, int(self.batch_size))
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            iris = self._iris((prefix + rdfx._quoted(pd.Series(chunk, dtype="string"))).tolist())
            self._update(
                name, f"DELETE {{ GRAPH <{g}> {{ ?e ?p ?v }} }} WHERE {{ VALUES ?n {{ {iris} }} GRAPH <{g}> {{ "
                f"{{ ?e <{RDF_SUBJECT}> ?n }} UNION {{ ?e <{RDF_OBJECT}> ?n }} ?e ?p ?v }} }} ;\n"
                f"DELETE {{ GRAPH <{g}> {{ ?n ?p ?o }} }} WHERE {{ VALUES ?n {{ {iris} }} GRAPH <{g}> {{ ?n ?p ?o }} }} ;\n"
                f"DELETE {{ GRAPH <{g}> {{ ?x ?p ?n }} }} WHERE {{ VALUES ?n {{ {iris} }} GRAPH <{g}> {{ ?x ?p ?n }} }}")
        return len(existing)

    # -- reads ---------------------------------------------------------------------------------
    def schema(self, *, graph: str | None = None) -> Schema:
        return self._meta(self._graph(graph))["schema"]

    def stats(self, *, graph: str | None = None) -> GraphStats:
        """Node counts per label and edge counts per edge type, by SPARQL (no degree summaries)."""
        name = self._graph(graph)
        schema = self._meta(name)["schema"]
        v = self.vocabulary
        # single-pattern scans; an edge's labels come from its endpoints' IRIs (<base>node/<Label>/<id>)
        counts = self._csv(name, f"SELECT ?c (COUNT(*) AS ?n) WHERE {{ ?s <{RDF_TYPE}> ?c }} GROUP BY ?c")
        by_class = dict(zip(counts["c"], counts["n"].astype(int)))
        nodes = {label: int(by_class.get(v.class_iri(label), 0)) for label in schema.labels}
        edges: dict[str, int] = {}
        relations: dict[str, int] = {}
        if schema.relations:
            rels = " ".join(f"<{v.relation_iri(r)}>" for r in schema.relation_names())
            rows = self._csv(name, f"SELECT ?p ?sl ?ol (COUNT(*) AS ?n) WHERE {{ VALUES ?p {{ {rels} }} ?s ?p ?o "
                                   f'BIND(STRBEFORE(STRAFTER(STR(?s), "{v.node_ns}"), "/") AS ?sl) '
                                   f'BIND(STRBEFORE(STRAFTER(STR(?o), "{v.node_ns}"), "/") AS ?ol) }} '
                                   "GROUP BY ?p ?sl ?ol")
            found = {(r.p, r.sl, r.ol): int(r.n) for r in rows.itertuples(index=False)}
            for et in schema.edge_types:
                n = found.get((v.relation_iri(et[1]), et[0], et[2]), 0)
                edges[_edge_key(et)] = n
                relations[et[1]] = relations.get(et[1], 0) + n
        return GraphStats(name, nodes, edges, relations)

    def query(self, cypher: str, params: Mapping[str, Any] | None = None, *, graph: str | None = None,
              timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        raise StoreError("the rdf store speaks SPARQL, not Cypher: use store.sparql(query) "
                         "(see docs/rdf-vocabulary.md for the IRIs), or an embedded/neo4j store for Cypher")

    def sparql(self, query: str, *, graph: str | None = None, params: Mapping[str, Any] | None = None
               ) -> QueryResult:
        """Run a read-only SPARQL query; the named graph of ``graph`` is the default graph.

        Args:
            query: a SELECT, ASK, CONSTRUCT or DESCRIBE query (prefixes ``kgs:``, ``kgrec:``,
                ``rdf:``, ``rdfs:``, ``xsd:``, ``owl:`` are predeclared).
            graph: the kgrec graph to query (default: the store's default graph).
            params: values for variables: ``{"id": "42"}`` binds ``?id`` (or ``$id``) to the literal
                "42" (ints, floats and bools become typed literals) through a trailing ``VALUES``
                clause, escaped, so values never mix with the query text. A query that already ends
                in a ``VALUES`` clause cannot take params.

        Returns:
            SELECT: one column per variable; ASK: one column ``ask``; CONSTRUCT/DESCRIBE: columns
            ``subject``, ``predicate``, ``object``. IRIs come as strings, literals as Python values.
        """
        import pyoxigraph as ox

        if params:
            query = f"{query}\n{self._values_clause(params)}"
        self._check_read_only(query)
        name = self._graph(graph)
        try:
            res = self._ox(name).query(query, default_graph=self._graph_node(name), prefixes=self.vocabulary.prefixes())
        except SyntaxError as e:
            raise StoreError(f"SPARQL query rejected by Oxigraph: {e}") from e
        except (OSError, ValueError, RuntimeError) as e:
            raise StoreError(f"SPARQL query failed: {e}") from e
        if isinstance(res, ox.QueryBoolean):
            return QueryResult(["ask"], [(bool(res),)])
        if isinstance(res, ox.QuerySolutions):
            names = [v.value for v in res.variables]
            return QueryResult(names, [tuple(_plain(sol[i]) for i in range(len(names))) for sol in res])
        return QueryResult(["subject", "predicate", "object"],
                           [(_plain(t.subject), _plain(t.predicate), _plain(t.object)) for t in res])

    @staticmethod
    def _values_clause(params: Mapping[str, Any]) -> str:
        """A trailing ``VALUES (?a ?b) { (...) }`` clause binding each parameter to an escaped literal
        (SPARQL 1.1 joins it with the WHERE pattern before projection)."""
        names, values = [], []
        for key, value in params.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise InputError(f"query parameter name {key!r} is not an identifier")
            if isinstance(value, bool):
                lit = rdfx.nt_literal("true" if value else "false", XSD_BOOLEAN)
            elif isinstance(value, int):
                lit = rdfx.nt_literal(str(value), XSD_INTEGER)
            elif isinstance(value, float):
                lit = rdfx.nt_literal({"inf": "INF", "-inf": "-INF", "nan": "NaN"}.get(repr(value), repr(value)),
                                      XSD_DOUBLE)
            elif isinstance(value, str):
                lit = rdfx.nt_literal(value)
            else:
                raise InputError(f"query parameter {key!r}: {type(value).__name__} values are not supported "
                                 "(str, int, float, bool)")
            names.append(f"?{key}")
            values.append(lit)
        return f"VALUES ({' '.join(names)}) {{ ({' '.join(values)}) }}"

    def _check_read_only(self, query: str) -> None:
        """Parse with rdflib's SPARQL grammar; only SELECT/ASK/CONSTRUCT/DESCRIBE without SERVICE pass."""
        from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

        if not isinstance(query, str) or not query.strip():
            raise StoreError("the SPARQL query is empty")
        prologue = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in self.vocabulary.prefixes().items())
        try:
            parsed = parseQuery(prologue + query)
        except Exception as e:  # pyparsing's ParseException, or rdflib's errors on bad prefixes
            try:
                parseUpdate(prologue + query)
            except Exception:
                raise StoreError(f"not a valid SPARQL query: {e}") from e
            raise ReadOnlyQueryError("SPARQL updates (INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ...) are not "
                                     "allowed through sparql(); it runs read-only queries only") from None
        form = getattr(parsed[1], "name", None)
        if form not in _READ_FORMS:
            raise ReadOnlyQueryError(f"only SELECT, ASK, CONSTRUCT and DESCRIBE queries are allowed, not {form}")
        for item in _walk(parsed):
            if getattr(item, "name", None) == "ServiceGraphPattern":
                raise ReadOnlyQueryError("SERVICE (federated queries to other endpoints) is not allowed")


def _upsert_frame(old: pd.DataFrame | None, new: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame | None:
    """``old`` with the rows of ``new`` upserted by ``keys``: for a row in both, the columns of
    ``new`` win and the columns only ``old`` has are kept."""
    if new is None:
        return old
    new = new[[c for c in new.columns if not c.startswith("_")]].reset_index(drop=True)
    if old is None or not len(old):
        return new
    if len(keys) == 1:
        old_index, new_index = pd.Index(old[keys[0]]), pd.Index(new[keys[0]])
    else:
        old_index, new_index = pd.MultiIndex.from_frame(old[keys]), pd.MultiIndex.from_frame(new[keys])
    pos = old_index.get_indexer(new_index)
    kept = old[~old_index.isin(new_index)]
    updated = new.copy()
    found = pos >= 0
    for col in (c for c in old.columns if c not in new.columns):
        values = np.full(len(new), None, dtype=object)
        values[found] = old[col].to_numpy(dtype=object)[pos[found]]
        updated[col] = values
    return pd.concat([kept.astype(object), updated.astype(object)], ignore_index=True)


def _changes(old: pd.DataFrame | None, new: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows of ``new`` that ``old`` lacks (a mask), and per value column the index labels of rows
    present in both whose value differs (missing equals missing)."""
    if old is None or not len(old):
        return np.ones(len(new), dtype=bool), {}
    if len(keys) == 1:
        pos = pd.Index(old[keys[0]]).get_indexer(new[keys[0]])
    else:
        pos = pd.MultiIndex.from_frame(old[keys]).get_indexer(pd.MultiIndex.from_frame(new[keys]))
    inserted = pos < 0
    both = np.flatnonzero(~inserted)
    changed: dict[str, np.ndarray] = {}
    for col in (c for c in new.columns if c not in keys):
        a = new[col].iloc[both]
        if col in old.columns:
            b = pd.Series(old[col].to_numpy(dtype=object)[pos[both]], index=a.index).astype(a.dtype)
        else:
            b = pd.Series(pd.NA, index=a.index, dtype=a.dtype)
        same = (a.isna() & b.isna()) | (a == b).fillna(False)
        diff = ~same.to_numpy(dtype=bool)
        if diff.any():
            changed[col] = a.index[diff].to_numpy()
    return inserted, changed


def _merge_graphs(stored: KnowledgeGraph, kg: KnowledgeGraph) -> KnowledgeGraph:
    """``stored`` with ``kg`` upserted into it (schemas merged, roles and name from ``kg``)."""
    merged = stored.schema.merge(kg.schema)
    schema = Schema(merged.nodes, merged.relations, kg.schema.user_label, kg.schema.item_label, kg.schema.interaction)
    nodes = {label: _upsert_frame(stored.nodes.get(label), kg.nodes.get(label), ["id"]) for label in schema.labels}
    edges = {et: _upsert_frame(stored.edges.get(et), kg.edges.get(et), ["src", "dst"]) for et in schema.edge_types}
    return KnowledgeGraph(schema, {k: v for k, v in nodes.items() if v is not None},
                          {k: v for k, v in edges.items() if v is not None},
                          name=kg.name, metadata={**stored.metadata, **kg.metadata})


def _plain(term: Any) -> Any:
    """A Python value for an Oxigraph term: IRIs as strings, literals by datatype, None when unbound."""
    if term is None:
        return None
    import pyoxigraph as ox

    if isinstance(term, ox.Literal):
        dt = term.datatype.value
        text = term.value
        try:
            if dt == XSD_INTEGER or dt.endswith(("#int", "#long", "#short", "#nonNegativeInteger")):
                return int(text)
            if dt == XSD_DOUBLE or dt.endswith(("#decimal", "#float")):
                return float({"INF": "inf", "+INF": "inf", "-INF": "-inf"}.get(text, text))
            if dt == XSD_BOOLEAN:
                return text in ("true", "1")
        except ValueError:
            return text
        return text
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return getattr(term, "value", str(term))
