"""What the Cypher stores (FalkorDB, embedded FalkorDB, Neo4j) share: the graph model of
:mod:`kgrec.kg.cypher` and every :class:`~kgrec.kg.stores.base.Store` method written once over a few
primitives that each backend supplies (run a query, make an index, list graphs, drop a graph).

Upserts extend the stored schema when they bring a new label, relation type or property (its type
inferred from the column), so that later layers (profiles, feedback) can write back and
:meth:`CypherStore.read` still returns everything as a typed :class:`KnowledgeGraph`.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from kgrec.errors import InputError, SchemaError, StoreError, UnknownGraphError

from .. import cypher
from ..graph import GraphStats, KnowledgeGraph
from ..schema import EdgeType, NodeType, PropertyType, RelationType, Schema, check_label
from .base import (QueryResult, Store, WriteReport, cast_properties, check_graph_name, check_ids, choose_graph,
                   infer_property_type)

logger = logging.getLogger(__name__)

_STATE_WRITING = "writing"
_STATE_COMPLETE = "complete"


def edge_key(edge_type: EdgeType) -> str:
    """``"(User)-[LISTENED_TO]->(Artist)"``: how stats and reports name an edge type."""
    return "({0})-[{1}]->({2})".format(*edge_type)


def _edge_id(edge_type: EdgeType) -> str:
    return "|".join(edge_type)


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

    @abstractmethod
    def _graph_names(self) -> list[str]:
        """The kgrec graphs in the store (those with a meta node)."""

    def _prepare_graph(self, graph: str) -> None:
        """Make ``graph`` writable (create a database, refuse a second graph ...)."""

    # -- graphs --------------------------------------------------------------------------------
    def graphs(self) -> list[str]:
        return sorted(self._graph_names())

    def _graph(self, graph: str | None) -> str:
        return choose_graph(graph, self.default_graph, self._graph_names(), where=self.url)

    def _meta(self, graph: str, *, tolerant: bool = False) -> dict[str, Any] | None:
        """The meta node of ``graph`` (schema, metadata, columns, state), or None when there is none.
        A damaged one (a write cut off while it was written) raises, or is None when ``tolerant``."""
        rows = self._run(graph, cypher.META_READ).to_dicts()
        rows = [r for r in rows if r["graph"] == graph] or rows
        if not rows:
            return None
        meta = rows[0]
        try:
            meta["schema"] = Schema.from_dict(_load_json(meta["schema"]))
            meta["metadata"] = _load_json(meta["metadata"] or "{}")
            meta["columns"] = _load_json(meta["columns"] or "{}")
        except (TypeError, ValueError, SchemaError) as e:
            if tolerant:
                logger.warning("graph %r: its %s node is damaged (%s); rewriting it", graph, cypher.META_LABEL, e)
                return None
            raise StoreError(f"graph {graph!r} in {self.url}: its {cypher.META_LABEL} node is damaged ({e}); "
                             "write the graph again to repair it") from e
        meta["columns"].setdefault("nodes", {})
        meta["columns"].setdefault("edges", {})
        return meta

    def _require_meta(self, graph: str) -> dict[str, Any]:
        meta = self._meta(graph)
        if meta is None:
            raise UnknownGraphError(f"graph {graph!r} in {self.url} has no {cypher.META_LABEL} node; "
                                    "it was not written by kgrec")
        return meta

    def _write_meta(self, graph: str, schema: Schema, metadata: Mapping[str, Any], columns: Mapping[str, Any],
                    state: str) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            kgrec_version = version("kgrec")
        except PackageNotFoundError:
            kgrec_version = "0+unknown"
        params = {
            "graph": graph,
            "schema": _dump_json(schema.to_dict()),
            "metadata": _dump_json(dict(metadata)),
            "columns": _dump_json(columns),
            "state": state,
            "format": cypher.META_FORMAT,
            "kgrec_version": kgrec_version,
        }
        if self.max_batch_bytes is None:
            self._run(graph, cypher.META_WRITE, params, write=True)
            return
        # A server that takes small requests only: write the long JSON fields in parts.
        budget = max(256, self.max_batch_bytes - 512)
        parts = {f: _split_text(params[f], budget) for f in cypher.META_APPEND}
        self._run(graph, cypher.META_WRITE, {**params, **{f: "" for f in parts}}, write=True)
        for field, chunks in parts.items():
            for chunk in chunks:
                self._run(graph, cypher.META_APPEND[field], {"graph": graph, "part": chunk}, write=True)

    # -- bulk ----------------------------------------------------------------------------------
    def write(self, kg: KnowledgeGraph, *, graph: str | None = None, progress: bool = False) -> WriteReport:
        kg.validate()
        if cypher.META_LABEL in kg.schema.labels:
            raise SchemaError(f"label {cypher.META_LABEL!r} is reserved for kgrec's meta node")
        name = check_graph_name(graph or self.default_graph or kg.name)
        start = time.perf_counter()
        self._prepare_graph(name)
        stored = self._meta(name, tolerant=True) if name in self._graph_names() else None
        schema = kg.schema
        columns: dict[str, dict[str, list[str]]] = {"nodes": {}, "edges": {}}
        metadata = dict(kg.metadata)
        if stored is not None:
            merged = stored["schema"].merge(kg.schema)
            schema = Schema(merged.nodes, merged.relations, kg.schema.user_label, kg.schema.item_label,
                            kg.schema.interaction)
            columns = stored["columns"]
            metadata = {**stored["metadata"], **metadata}
        for label, df in kg.nodes.items():
            columns["nodes"][label] = sorted(set(columns["nodes"].get(label, [])) | set(self._props(df, "nodes")))
        for et, df in kg.edges.items():
            key = _edge_id(et)
            columns["edges"][key] = sorted(set(columns["edges"].get(key, [])) | set(self._props(df, "edges")))
        self._write_meta(name, schema, metadata, columns, _STATE_WRITING)
        for label in kg.schema.labels:
            self._ensure_index(name, label)
        node_counts: dict[str, int] = {}
        edge_counts: dict[str, int] = {}
        total = kg.num_nodes() + kg.num_edges()
        with tqdm(total=total, desc=f"write {name}", unit="rows", unit_scale=True, disable=not progress,
                  leave=False) as bar:
            for label, df in kg.nodes.items():
                cols = ["id", "name", "text", *self._props(df, "nodes")]
                node_counts[label] = self._send(name, cypher.upsert_nodes(label, cols), df, cols, bar)
            for et, df in kg.edges.items():
                cols = ["src", "dst", *self._props(df, "edges")]
                edge_counts[edge_key(et)] = self._send(name, cypher.upsert_edges(et, cols), df, cols, bar)
        self._run(name, cypher.META_SET_STATE, {"graph": name, "state": _STATE_COMPLETE}, write=True)
        report = WriteReport(name, node_counts, edge_counts, time.perf_counter() - start)
        logger.info("wrote %s nodes and %s edges to graph %r in %.1fs (%.0f edges/s)", f"{report.num_nodes:,}",
                    f"{report.num_edges:,}", name, report.seconds, report.num_edges / max(report.seconds, 1e-9))
        return report

    @staticmethod
    def _props(df: pd.DataFrame, kind: str) -> list[str]:
        fixed = ("id", "name", "text") if kind == "nodes" else ("src", "dst")
        return [c for c in df.columns if c not in fixed and not c.startswith("_")]

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

    def read(self, *, graph: str | None = None) -> KnowledgeGraph:
        name = self._graph(graph)
        meta = self._require_meta(name)
        schema: Schema = meta["schema"]
        nodes: dict[str, pd.DataFrame] = {}
        edges: dict[EdgeType, pd.DataFrame] = {}
        for node_type in schema.nodes:
            kinds = {"id": "string", "name": "string", "text": "string", **node_type.properties}
            df = self._read_frame(name, cypher.read_nodes(node_type.label, list(node_type.properties)), kinds)
            keep = set(meta["columns"]["nodes"].get(node_type.label, []))
            nodes[node_type.label] = self._drop_empty(df, node_type.properties, keep)
        for rel in schema.relations:
            kinds = {"src": "string", "dst": "string", **rel.properties}
            df = self._read_frame(name, cypher.read_edges(rel.edge_type, list(rel.properties)), kinds)
            keep = set(meta["columns"]["edges"].get(_edge_id(rel.edge_type), []))
            edges[rel.edge_type] = self._drop_empty(df, rel.properties, keep)
        return KnowledgeGraph(schema, nodes, edges, name=name, metadata=meta["metadata"])

    @staticmethod
    def _drop_empty(df: pd.DataFrame, props: Mapping[str, PropertyType], keep: set[str]) -> pd.DataFrame:
        """Drop a declared property column that the written tables did not have and no row sets."""
        drop = [p for p in props if p not in keep and df[p].isna().all()]
        return df.drop(columns=drop)

    # -- small writes --------------------------------------------------------------------------
    def upsert_nodes(self, label: str, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        name = self._graph(graph)
        check_label(label)
        if label == cypher.META_LABEL:
            raise SchemaError(f"label {cypher.META_LABEL!r} is reserved for kgrec's meta node")
        if "id" not in rows.columns:
            raise InputError(f"upsert_nodes({label}): rows need an 'id' column; they have {list(rows.columns)}")
        rows = rows.reset_index(drop=True)
        check_ids(rows, "id", f"{label} id")
        meta = self._require_meta(name)
        schema: Schema = meta["schema"]
        props = [c for c in rows.columns if c not in ("id", "name", "text") and not c.startswith("_")]
        declared = schema.node(label).properties if label in schema.labels else {}
        rows = cast_properties(rows, props, declared, label)
        new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
        if label not in schema.labels or new_props:
            node = NodeType(label, {**declared, **new_props},
                            schema.node(label).description if label in schema.labels else "")
            others = tuple(n for n in schema.nodes if n.label != label)
            schema = Schema((*others, node), schema.relations, schema.user_label, schema.item_label,
                            schema.interaction)
            columns = meta["columns"]
            columns["nodes"][label] = sorted(set(columns["nodes"].get(label, [])) | set(new_props))
            logger.info("graph %r: schema extended with %s %s", name, label, sorted(new_props))
            self._write_meta(name, schema, meta["metadata"], columns, meta["state"] or _STATE_COMPLETE)
            self._ensure_index(name, label)
        cols = [c for c in ("id", "name", "text") if c in rows.columns] + props
        return self._send(name, cypher.upsert_nodes(label, cols), rows, cols)

    def upsert_edges(self, edge_type: EdgeType, rows: pd.DataFrame, *, graph: str | None = None) -> int:
        name = self._graph(graph)
        et = tuple(edge_type)
        src_label, rel, dst_label = et
        cypher.count_edges(et)  # checks the three names
        missing_cols = {"src", "dst"} - set(rows.columns)
        if missing_cols:
            raise InputError(f"upsert_edges({edge_key(et)}): rows need 'src' and 'dst' columns; "
                             f"they have {list(rows.columns)}")
        rows = rows.reset_index(drop=True)
        check_ids(rows, "src", f"{rel} src")
        check_ids(rows, "dst", f"{rel} dst")
        dup = rows.duplicated(subset=["src", "dst"]).to_numpy()
        if dup.any():
            i = int(dup.argmax())
            raise InputError(f"upsert_edges({edge_key(et)}): edge {rows['src'].iat[i]!r} -> "
                             f"{rows['dst'].iat[i]!r} appears twice")
        meta = self._require_meta(name)
        schema: Schema = meta["schema"]
        for label in (src_label, dst_label):
            if label not in schema.labels:
                raise SchemaError(f"label {label!r} is not in graph {name!r}; labels: {', '.join(schema.labels)}")
        for col, label in (("src", src_label), ("dst", dst_label)):
            self._check_endpoints(name, label, rows[col].drop_duplicates().tolist(), col, rel)
        props = [c for c in rows.columns if c not in ("src", "dst") and not c.startswith("_")]
        known = et in schema.edge_types
        declared = schema.relation(et).properties if known else {}
        rows = cast_properties(rows, props, declared, rel)
        new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
        if not known or new_props:
            relation = RelationType(*et, {**declared, **new_props}, schema.relation(et).description if known else "")
            others = tuple(r for r in schema.relations if r.edge_type != et)
            schema = Schema(schema.nodes, (*others, relation), schema.user_label, schema.item_label,
                            schema.interaction)
            columns = meta["columns"]
            key = _edge_id(et)
            columns["edges"][key] = sorted(set(columns["edges"].get(key, [])) | set(new_props))
            logger.info("graph %r: schema extended with %s %s", name, edge_key(et), sorted(new_props))
            self._write_meta(name, schema, meta["metadata"], columns, meta["state"] or _STATE_COMPLETE)
        cols = ["src", "dst", *props]
        return self._send(name, cypher.upsert_edges(et, cols), rows, cols)

    def _check_endpoints(self, graph: str, label: str, ids: list[str], col: str, rel: str) -> None:
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start:start + self.batch_size]
            res = self._run(graph, cypher.missing_nodes(label), {"ids": chunk, "limit": 5})
            if res.rows:
                shown = ", ".join(repr(r[0]) for r in res.rows)
                raise InputError(f"{rel} {col}: no {label} node with id {shown} in graph {graph!r}")

    def delete_edges(self, edge_type: EdgeType, *, src: Sequence[str] | None = None, graph: str | None = None) -> int:
        name = self._graph(graph)
        et = tuple(edge_type)
        schema: Schema = self._require_meta(name)["schema"]
        if et not in schema.edge_types:
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
        schema: Schema = self._require_meta(name)["schema"]
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
    def schema(self, *, graph: str | None = None) -> Schema:
        return self._require_meta(self._graph(graph))["schema"]

    def stats(self, *, graph: str | None = None) -> GraphStats:
        name = self._graph(graph)
        schema: Schema = self._require_meta(name)["schema"]
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

    def state(self, *, graph: str | None = None) -> str:
        """``"complete"`` once a write finished; ``"writing"`` while one runs or after one was cut off."""
        return self._require_meta(self._graph(graph))["state"] or _STATE_COMPLETE

    @staticmethod
    def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
        out = {}
        for key, value in (params or {}).items():
            if not isinstance(key, str) or not key.isidentifier():
                raise InputError(f"query parameter name {key!r} is not an identifier")
            out[key] = value
        return out
