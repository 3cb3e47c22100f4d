"""What the Cypher stores (FalkorDB, embedded FalkorDB, Neo4j) share: the graph model of
:mod:`kgrec.kg.cypher` and the primitives of :class:`~kgrec.kg.stores.base.Store` written once
over a few that each backend supplies (run a query, make an index, list graphs, drop a graph).

The graph's record (:class:`~kgrec.kg.stores.meta.GraphMeta`) lives in one ``(:KgrecMeta)`` node.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from kgrec.errors import SchemaError, StoreError

from .. import cypher
from ..graph import GraphStats, KnowledgeGraph
from ..schema import EdgeType, PropertyType, Schema
from .base import QueryResult, Store
from .meta import COMPLETE, WRITING, GraphMeta, edge_key, table_properties

logger = logging.getLogger(__name__)


def frame_rows(df: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``df[columns]`` as dicts of plain Python values; missing values (NA, NaN) become None."""
    values = []
    for col in columns:
        vals = df[col].to_numpy(dtype=object, na_value=None).tolist()
        if df[col].dtype.kind == "f" or str(df[col].dtype) == "Float64":
            vals = [None if isinstance(v, float) and math.isnan(v) else v for v in vals]
        values.append(vals)
    return [dict(zip(columns, row)) for row in zip(*values)]


def _dump_json(value: Any) -> str:
    """JSON text for a meta field; ``b64:`` + base64 of it when it holds a backslash or a single
    quote, which FalkorDB's Bolt endpoint mangles or refuses in parameters."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if "\\" in text or "'" in text:
        return "b64:" + base64.b64encode(text.encode()).decode("ascii")
    return text


def _load_json(text: str) -> Any:
    if text.startswith("b64:"):
        text = base64.b64decode(text[4:]).decode()
    return json.loads(text)


def _split_text(text: str, budget: int) -> list[str]:
    """``text`` in parts of at most ``budget`` UTF-8 bytes each."""
    parts, start = [], 0
    while start < len(text):
        end = min(len(text), start + budget)
        while len(text[start:end].encode()) > budget:
            end = start + max(1, (end - start) * 3 // 4)
        parts.append(text[start:end])
        start = end
    return parts



class CypherStore(Store):
    """A :class:`Store` over a Cypher database; subclasses supply the primitives below.

    Args:
        url: where the store is (kept for messages).
        graph: the default graph (default: ``KGREC_GRAPH``, else the only graph in the store).
        batch_size: rows per ``UNWIND`` batch (default: 5000).
        query_timeout, max_query_timeout, max_rows: the limits of analyst queries (see :class:`Store`).
        max_batch_bytes: split batches further so that no request carries more than about this
            many bytes of parameters (default: None, no limit). FalkorDB's experimental Bolt
            endpoint crashes on messages over ~4 KB.
    """

    max_batch_bytes: int | None = None

    # -- primitives ----------------------------------------------------------------------------
    @abstractmethod
    def _run(self, graph: str, query: str, params: Mapping[str, Any] | None = None, *,
             write: bool = False) -> QueryResult:
        """Run one trusted query (kgrec's own text) on ``graph``; map failures to store errors."""

    @abstractmethod
    def _ensure_index(self, graph: str, label: str) -> None:
        """An index (or uniqueness constraint) on ``label.id``."""

    def _prepare_graph(self, graph: str) -> None:
        """Make ``graph`` writable (create a database, refuse a second graph ...)."""

    # -- the graph's record: one (:KgrecMeta) node ---------------------------------------------
    def _read_meta(self, name: str, *, tolerant: bool = False) -> GraphMeta | None:
        """The record of ``name``, or None when there is none. A damaged one (a write cut off while
        it was written) raises, or is None when ``tolerant``."""
        rows = self._run(name, cypher.META_READ).to_dicts()
        rows = [r for r in rows if r["graph"] == name] or rows
        if not rows:
            return None
        row = rows[0]
        try:
            schema = Schema.from_dict(_load_json(row["schema"]))
            metadata = _load_json(row["metadata"] or "{}")
            node_columns, edge_columns = GraphMeta.parse_columns(_load_json(row["columns"] or "{}"))
        except (TypeError, ValueError, SchemaError) as e:
            if tolerant:
                logger.warning("graph %r: its %s node is damaged (%s); rewriting it", name, cypher.META_LABEL, e)
                return None
            raise StoreError(f"graph {name!r} in {self.url}: its {cypher.META_LABEL} node is damaged ({e}); "
                             "write the graph again to repair it") from e
        return GraphMeta(name, schema, metadata, node_columns, edge_columns, row["state"] or COMPLETE,
                         int(row["format"] or cypher.META_FORMAT), str(row["kgrec_version"] or ""))

    def _write_meta(self, name: str, meta: GraphMeta) -> None:
        params = {
            "graph": name,
            "schema": _dump_json(meta.schema.to_dict()),
            "metadata": _dump_json(dict(meta.metadata)),
            "columns": _dump_json(meta.columns_by_key()),
            "state": meta.state,
            "format": cypher.META_FORMAT,
            "kgrec_version": meta.kgrec_version,
        }
        if self.max_batch_bytes is None:
            self._run(name, cypher.META_WRITE, params, write=True)
            return
        # A server that takes small requests only: write the long JSON fields in parts.
        budget = max(256, self.max_batch_bytes - 512)
        parts = {f: _split_text(params[f], budget) for f in cypher.META_APPEND}
        self._run(name, cypher.META_WRITE, {**params, **{f: "" for f in parts}}, write=True)
        for field, chunks in parts.items():
            for chunk in chunks:
                self._run(name, cypher.META_APPEND[field], {"graph": name, "part": chunk}, write=True)

    def _set_state(self, name: str, state: str) -> None:
        self._run(name, cypher.META_SET_STATE, {"graph": name, "state": state}, write=True)

    # -- bulk ----------------------------------------------------------------------------------
    def _begin_write(self, name: str, kg: KnowledgeGraph) -> GraphMeta:
        self._prepare_graph(name)
        stored = self._read_meta(name, tolerant=True) if name in self._graph_names() else None
        meta = stored.merged_with(kg, state=WRITING) if stored is not None else GraphMeta.of_graph(kg, name)
        self._write_meta(name, meta)
        for label in kg.schema.labels:
            self._ensure_index(name, label)
        return meta

    def _write_graph(self, name: str, kg: KnowledgeGraph, *, progress: bool) -> tuple[dict[str, int], dict[str, int]]:
        self._begin_write(name, kg)
        node_counts: dict[str, int] = {}
        edge_counts: dict[str, int] = {}
        total = kg.num_nodes() + kg.num_edges()
        with tqdm(total=total, desc=f"write {name}", unit="rows", unit_scale=True, disable=not progress,
                  leave=False) as bar:
            for label, df in kg.nodes.items():
                cols = ["id", "name", "text", *table_properties(df.columns, ("id", "name", "text"))]
                node_counts[label] = self._send(name, cypher.upsert_nodes(label, cols), df, cols, bar)
            for et, df in kg.edges.items():
                cols = ["src", "dst", *table_properties(df.columns, ("src", "dst"))]
                edge_counts[edge_key(et)] = self._send(name, cypher.upsert_edges(et, cols), df, cols, bar)
        self._set_state(name, COMPLETE)
        return node_counts, edge_counts

    def _send(self, graph: str, query: str, df: pd.DataFrame, columns: Sequence[str], bar=None) -> int:
        size = max(1, int(self.batch_size))
        sent = 0
        for start in range(0, len(df), size):
            batch = df.iloc[start:start + size]
            self._write_frame(graph, query, batch, columns)
            sent += len(batch)
            if bar is not None:
                bar.update(len(batch))
        return sent

    def _write_frame(self, graph: str, query: str, batch: pd.DataFrame, columns: Sequence[str]) -> None:
        """Send one batch as ``$rows`` (a list of maps), split further by :attr:`max_batch_bytes`."""
        rows = frame_rows(batch, columns)
        if self.max_batch_bytes is None:
            self._run(graph, query, {"rows": rows}, write=True)
            return
        for part in self._split_by_bytes(rows, self.max_batch_bytes - len(query.encode()) - 64):
            self._run(graph, query, {"rows": part}, write=True)

    def _read_frame(self, graph: str, query: str, kinds: Mapping[str, PropertyType]) -> pd.DataFrame:
        """The rows of a bulk read query as a frame with the columns of ``kinds`` (in order)."""
        res = self._run(graph, query)
        columns = list(kinds)
        if not res.rows:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        return pd.DataFrame(res.rows, columns=columns)

    def _read_edges(self, graph: str, edge_type: EdgeType, properties: list[str],
                    kinds: Mapping[str, PropertyType]) -> pd.DataFrame:
        """Every edge of one type as a frame (a backend may read it in pages)."""
        return self._read_frame(graph, cypher.read_edges(edge_type, properties), kinds)

    @staticmethod
    def _split_by_bytes(rows: list[dict[str, Any]], budget: int) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        used = 0
        for row in rows:
            # A generous estimate of the packed size: JSON text plus a few bytes per value.
            size = len(json.dumps(row, ensure_ascii=False, default=str).encode()) + 4 * len(row)
            if size > budget:
                raise StoreError(f"a row of about {size} bytes does not fit in one request of at most "
                                 f"{budget} bytes (max_batch_bytes); row starts {str(row)[:80]!r}")
            if batch and used + size > budget:
                yield batch
                batch, used = [], 0
            batch.append(row)
            used += size
        if batch:
            yield batch

    def _read_graph(self, name: str, meta: GraphMeta) -> KnowledgeGraph:
        schema = meta.schema
        nodes: dict[str, pd.DataFrame] = {}
        edges: dict[EdgeType, pd.DataFrame] = {}
        for node_type in schema.nodes:
            kinds = {"id": "string", "name": "string", "text": "string", **node_type.properties}
            df = self._read_frame(name, cypher.read_nodes(node_type.label, list(node_type.properties)), kinds)
            keep = set(meta.node_columns.get(node_type.label, ()))
            nodes[node_type.label] = self._drop_empty(df, node_type.properties, keep)
        for rel in schema.relations:
            kinds = {"src": "string", "dst": "string", **rel.properties}
            df = self._read_edges(name, rel.edge_type, list(rel.properties), kinds)
            keep = set(meta.edge_columns.get(rel.edge_type, ()))
            edges[rel.edge_type] = self._drop_empty(df, rel.properties, keep)
        return KnowledgeGraph(schema, nodes, edges, name=name, metadata=dict(meta.metadata))

    @staticmethod
    def _drop_empty(df: pd.DataFrame, props: Mapping[str, PropertyType], keep: set[str]) -> pd.DataFrame:
        """Drop a declared property column that the written tables did not have and no row sets."""
        drop = [p for p in props if p not in keep and df[p].isna().all()]
        return df.drop(columns=drop)

    # -- small writes --------------------------------------------------------------------------
    def _label_added(self, name: str, label: str) -> None:
        self._ensure_index(name, label)

    def _write_node_rows(self, name: str, schema: Schema, label: str, rows: pd.DataFrame) -> int:
        props = table_properties(rows.columns, ("id", "name", "text"))
        cols = [c for c in ("id", "name", "text") if c in rows.columns] + props
        return self._send(name, cypher.upsert_nodes(label, cols), rows, cols)

    def _write_edge_rows(self, name: str, schema: Schema, edge_type: EdgeType, rows: pd.DataFrame) -> int:
        cols = ["src", "dst", *table_properties(rows.columns, ("src", "dst"))]
        return self._send(name, cypher.upsert_edges(edge_type, cols), rows, cols)

    def _missing_ids(self, name: str, label: str, ids: list[str]) -> list[str]:
        step = max(1, int(self.batch_size))
        for start in range(0, len(ids), step):
            res = self._run(name, cypher.missing_nodes(label), {"ids": ids[start:start + step], "limit": 5})
            if res.rows:
                return [r[0] for r in res.rows]
        return []

    def delete_edges(self, edge_type: EdgeType, *, src: Sequence[str] | None = None, graph: str | None = None) -> int:
        name = self._graph(graph)
        et = tuple(edge_type)
        if et not in self._require_meta(name).schema.edge_types:
            raise SchemaError(f"relation type {edge_key(et)} is not in graph {name!r}")
        limit = max(1, int(self.batch_size))
        deleted = 0
        chunks = [None] if src is None else [list(map(str, src[i:i + limit])) for i in range(0, len(src), limit)]
        for chunk in chunks:
            query = cypher.delete_edges_batch(et, by_src=chunk is not None)
            while True:
                params: dict[str, Any] = {"limit": limit}
                if chunk is not None:
                    params["src"] = chunk
                n = int(self._run(name, query, params, write=True).scalar() or 0)
                deleted += n
                if n < limit:
                    break
        return deleted

    def delete_nodes(self, label: str, ids: Sequence[str], *, graph: str | None = None) -> int:
        name = self._graph(graph)
        schema = self._require_meta(name).schema
        if label not in schema.labels:
            raise SchemaError(f"label {label!r} is not in graph {name!r}; labels: {', '.join(schema.labels)}")
        ids = list(map(str, ids))
        deleted = 0
        limit = max(1, int(self.batch_size))
        for start in range(0, len(ids), limit):
            res = self._run(name, cypher.delete_nodes(label), {"ids": ids[start:start + limit]}, write=True)
            deleted += int(res.scalar() or 0)
        return deleted

    # -- reads ---------------------------------------------------------------------------------
    def stats(self, *, graph: str | None = None) -> GraphStats:
        name = self._graph(graph)
        schema = self._require_meta(name).schema
        nodes = {label: int(self._run(name, cypher.count_nodes(label)).scalar()) for label in schema.labels}
        edges: dict[str, int] = {}
        relations: dict[str, int] = {}
        pairs: dict[str, int] = {}
        for _, rel, _ in schema.edge_types:
            pairs[rel] = pairs.get(rel, 0) + 1
        for et in schema.edge_types:
            query = cypher.count_relation(et[1]) if pairs[et[1]] == 1 else cypher.count_edges(et)
            n = int(self._run(name, query).scalar())
            edges[edge_key(et)] = n
            relations[et[1]] = relations.get(et[1], 0) + n
        return GraphStats(name, nodes, edges, relations)
