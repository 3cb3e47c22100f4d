"""The serving index: every node of the graph and its adjacency, in the run's row order.

:class:`GraphIndex` holds, per label, the node ids and names and compact CSR adjacency arrays over
every edge type and direction (``out``: from the relation's source to its target; ``in``: the
reverse). Rows follow the run's id maps, so a row of the index *is* the row of the run's vectors:
rows ``0 .. n - 1`` are the run's nodes in its order, and nodes the graph has but the run lacks are
appended after them (no vector). A node the run knows but the graph lacks keeps its row, is
*absent*, and is never looked up by id. Nodes and edges added later (feedback, new items) go to
small overlays.

Inside the explanation search a node is one int64 key, ``label_code << 32 | row``.

The index is saved into the run directory (``graph_index.json`` with ids, names and schema;
``graph_index.safetensors`` with the CSR arrays, read back memory-mapped), so that a one-off
``kgrec recommend`` reads neither the whole graph from the store nor the dataset.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kgrec.errors import InputError, RunDirError, SchemaError
from kgrec.kg.schema import EdgeType, Schema

if TYPE_CHECKING:
    from kgrec.kg import KnowledgeGraph

    from .vectors import UnitVectors

logger = logging.getLogger(__name__)

Direction = Literal["out", "in"]
INDEX_JSON = "graph_index.json"
INDEX_ARRAYS = "graph_index.safetensors"
INDEX_FORMAT = 1
SHIFT = np.int64(32)
MASK = np.int64((1 << 32) - 1)
_WEIGH_BLOCK = 1 << 20  # hops per block when GraphIndex.weigh computes every hop's support


@dataclass(frozen=True)
class Step:
    """Moving along one edge type in one direction, from ``source`` to ``target``."""

    edge_type: EdgeType
    direction: Direction
    source: str
    target: str


@dataclass
class Adjacency:
    """Every edge leaving the nodes of one label, over all steps: CSR over the label's rows."""

    indptr: np.ndarray  # int64 [num_rows + 1]
    key: np.ndarray  # int64 [num_edges]: neighbour as ``label_code << 32 | row``
    step: np.ndarray  # int64 [num_edges]: the step taken
    logsup: np.ndarray | None = None  # float64 [num_edges]: log support of the hop (see GraphIndex.weigh)
    extra: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # row -> [(key, step)] added later


def steps_of(schema: Schema, edge_types: Sequence[EdgeType]) -> list[Step]:
    """The two steps (``out``, then ``in``) of each edge type, in order."""
    out = []
    for et in edge_types:
        s, _, t = schema.relation(et).edge_type
        out += [Step(tuple(et), "out", s, t), Step(tuple(et), "in", t, s)]
    return out


class GraphIndex:
    """Node ids, names and CSR adjacency per label (see the module docs).

    Args:
        schema: the graph's schema.
        ids: label → node ids in row order.
        names: label → node names in row order.
        adjacency: label → its :class:`Adjacency`.
        steps: the steps the adjacency's ``step`` arrays refer to (:func:`steps_of`).
        present: label → bool per row: the node is in the graph (default: every row).
        source: what the index was built from (graph name and counts; saved with it).

    :meth:`from_graph` builds one from a :class:`KnowledgeGraph`; :meth:`load` reads a saved one.
    """

    def __init__(self, schema: Schema, ids: Mapping[str, list[str]], names: Mapping[str, list[str]],
                 adjacency: Mapping[str, Adjacency], steps: Sequence[Step], *,
                 present: Mapping[str, np.ndarray] | None = None, source: Mapping[str, Any] | None = None):
        self.schema = schema
        self.labels: list[str] = list(ids)
        self.code: dict[str, int] = {label: i for i, label in enumerate(self.labels)}
        self._ids = {label: list(v) for label, v in ids.items()}
        self._names = {label: list(v) for label, v in names.items()}
        self._present = {label: (np.ones(len(v), dtype=bool) if present is None or label not in present
                                 else np.asarray(present[label], dtype=bool).copy()) for label, v in ids.items()}
        self._rows: dict[str, dict[str, int]] = {}
        for label, v in self._ids.items():
            here = self._present[label]
            self._rows[label] = {node_id: r for r, node_id in enumerate(v) if here[r]}
        self._adj = dict(adjacency)
        self.steps: list[Step] = list(steps)
        self.source: dict[str, Any] = dict(source or {})
        self._step_of = {(s.edge_type, s.direction): i for i, s in enumerate(self.steps)}
        self.relation_of = [s.edge_type[1] for s in self.steps]
        self.reverse = np.array([self._step_of[(s.edge_type, "in" if s.direction == "out" else "out")]
                                 for s in self.steps], dtype=np.int64)
        self.steps_from: dict[str, list[int]] = {label: [] for label in self.labels}
        for i, s in enumerate(self.steps):
            self.steps_from[s.source].append(i)
        self.vectors: UnitVectors | None = None
        self._by_name: dict[str, dict[str, int]] = {}

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_graph(cls, kg: KnowledgeGraph, *, order: Mapping[str, Sequence[str]] | None = None,
                   source: Mapping[str, Any] | None = None) -> GraphIndex:
        """The index of a graph, ``order[label]``'s ids first (the run's rows), the graph's other
        nodes after them (``O(num_edges log num_edges)``)."""
        import pandas as pd

        order = order or {}
        ids: dict[str, list[str]] = {}
        names: dict[str, list[str]] = {}
        present: dict[str, np.ndarray] = {}
        row_of: dict[str, np.ndarray] = {}  # graph row -> index row
        for label, df in kg.nodes.items():
            graph_ids = df["id"].astype(str).tolist()
            graph_names = df["name"].astype("string").fillna(df["id"].astype("string")).astype(str).tolist() \
                if "name" in df.columns else list(graph_ids)
            first = [str(x) for x in order.get(label, ())]
            pos = pd.Index(first, dtype="object").get_indexer(graph_ids) if first else np.full(len(graph_ids), -1)
            pos = np.asarray(pos, dtype=np.int64)
            extra = np.flatnonzero(pos < 0)
            pos[extra] = len(first) + np.arange(len(extra))
            n = len(first) + len(extra)
            ids[label] = first + [graph_ids[i] for i in extra]
            label_names = list(ids[label])
            here = np.zeros(n, dtype=bool)
            for g, r in enumerate(pos.tolist()):
                label_names[r] = graph_names[g]
            here[pos] = True
            names[label], present[label], row_of[label] = label_names, here, pos
        labels = list(ids)
        code = {label: i for i, label in enumerate(labels)}
        steps = steps_of(kg.schema, list(kg.edges))
        parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {label: [] for label in labels}
        for i, step in enumerate(steps):
            if step.direction == "in":
                continue
            ei = kg.edge_index(step.edge_type)
            ok = (ei[0] >= 0) & (ei[1] >= 0)
            s, _, t = step.edge_type
            src, dst = row_of[s][ei[0][ok]], row_of[t][ei[1][ok]]
            for j, a, b, la, lb in ((i, src, dst, s, t), (i + 1, dst, src, t, s)):
                parts[la].append((a, (np.int64(code[lb]) << SHIFT) | b, np.full(len(a), j, dtype=np.int64)))
        adjacency = {}
        for label in labels:
            n = len(ids[label])
            if parts[label]:
                rows, keys, stp = (np.concatenate(x) for x in zip(*parts[label]))
            else:
                rows = keys = stp = np.empty(0, dtype=np.int64)
            sort = np.argsort(rows, kind="stable")
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            adjacency[label] = Adjacency(indptr, keys[sort], stp[sort])
        index = cls(kg.schema, ids, names, adjacency, steps, present=present,
                    source={"graph": kg.name, **(source or {})})
        logger.debug("graph index: %d labels, %d steps", len(labels), len(steps))
        return index

    # -- nodes ---------------------------------------------------------------------------------
    def num_nodes(self, label: str) -> int:
        return len(self._ids[label])

    def row(self, label: str, node_id: str) -> int | None:
        """The row of a node present in the graph, by id (None if there is none)."""
        return self._rows[label].get(str(node_id))

    def present(self, label: str) -> np.ndarray:
        """Bool per row: the node is in the graph (a copy)."""
        return self._present[label].copy()

    def node_id(self, label: str, row: int) -> str:
        return self._ids[label][row]

    def name(self, label: str, row: int) -> str:
        return self._names[label][row]

    def find(self, label: str, value: str) -> int:
        """A node by id, else by exact name (case-insensitive); :class:`InputError` if neither."""
        row = self.row(label, value)
        if row is not None:
            return row
        names = self._by_name.get(label)
        if names is None or len(names) < len(self._rows[label]):
            names = {}
            for r in range(self.num_nodes(label) - 1, -1, -1):
                if self._present[label][r]:
                    names[self._names[label][r].casefold()] = r
            self._by_name[label] = names
        row = names.get(str(value).casefold())
        if row is None:
            raise InputError(f"no {label} with id or name {str(value)!r}")
        return row

    def key(self, label: str, row: int) -> int:
        return (self.code[label] << 32) | int(row)

    def unkey(self, key: int) -> tuple[str, int]:
        return self.labels[int(key) >> 32], int(key) & ((1 << 32) - 1)

    def add_node(self, label: str, node_id: str, name: str | None = None) -> int:
        """Add a node (or return the row of an existing one, renamed when ``name`` is given)."""
        self.schema.node(label)
        node_id = str(node_id)
        row = self._rows[label].get(node_id)
        if row is not None:
            if name:
                self._names[label][row] = name
            return row
        row = len(self._ids[label])
        self._ids[label].append(node_id)
        self._names[label].append(name or node_id)
        self._present[label] = np.append(self._present[label], True)
        self._rows[label][node_id] = row
        self._by_name.pop(label, None)
        return row

    def add_edge(self, edge_type: EdgeType, src_row: int, dst_row: int) -> bool:
        """Add one edge (both directions). Returns False if it was there already."""
        et = tuple(edge_type)
        if (et, "out") not in self._step_of:
            raise SchemaError(f"relation type {et} is not in the graph's schema")
        s, _, t = et
        out_step = self._step_of[(et, "out")]
        keys, steps = self.neighbourhood(s, src_row)
        if np.any((keys == self.key(t, dst_row)) & (steps == out_step)):
            return False
        self._adj[s].extra.setdefault(int(src_row), []).append((self.key(t, dst_row), out_step))
        self._adj[t].extra.setdefault(int(dst_row), []).append((self.key(s, src_row), self._step_of[(et, "in")]))
        return True

    def add_edges(self, edge_type: EdgeType, src_row: int, dst_rows: Sequence[int]) -> int:
        """Add edges from one node to many (both directions), reading its neighbourhood once.
        Returns how many were new."""
        et = tuple(edge_type)
        if (et, "out") not in self._step_of:
            raise SchemaError(f"relation type {et} is not in the graph's schema")
        s, _, t = et
        out_step, in_step = self._step_of[(et, "out")], self._step_of[(et, "in")]
        keys, steps = self.neighbourhood(s, src_row)
        have = set(keys[steps == out_step].tolist())
        added = 0
        for dst in dict.fromkeys(int(d) for d in dst_rows):
            key = self.key(t, dst)
            if key in have:
                continue
            self._adj[s].extra.setdefault(int(src_row), []).append((key, out_step))
            self._adj[t].extra.setdefault(dst, []).append((self.key(s, src_row), in_step))
            added += 1
        return added

    def step_index(self, edge_type: EdgeType, direction: Direction) -> int:
        return self._step_of[(tuple(edge_type), direction)]

    def has_steps(self, edge_type: EdgeType) -> bool:
        return (tuple(edge_type), "out") in self._step_of

    # -- neighbours ------------------------------------------------------------------------------
    def neighbourhood(self, label: str, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Every neighbour of one node: ``(keys, steps)``."""
        adj = self._adj[label]
        if row + 1 < len(adj.indptr):
            lo, hi = adj.indptr[row], adj.indptr[row + 1]
            keys, steps = np.asarray(adj.key[lo:hi]), np.asarray(adj.step[lo:hi])
        else:
            keys = steps = np.empty(0, dtype=np.int64)
        extra = adj.extra.get(int(row))
        if extra:
            k, s = zip(*extra)
            keys = np.concatenate([keys, np.asarray(k, dtype=np.int64)])
            steps = np.concatenate([steps, np.asarray(s, dtype=np.int64)])
        return keys, steps

    def neighbours(self, label: str, row: int, step: int | Sequence[int]) -> np.ndarray:
        """Rows of the nodes one node reaches by one (or any of some) steps, sorted, unique."""
        keys, steps = self.neighbourhood(label, row)
        hit = np.isin(steps, np.atleast_1d(np.asarray(step, dtype=np.int64)))
        return np.unique(keys[hit] & MASK)

    def degree(self, label: str, row: int) -> int:
        return len(self.neighbourhood(label, row)[0])

    def linked(self, label: str, rows: Sequence[int], steps: Sequence[int], size: int) -> np.ndarray:
        """A bool mask of ``size`` rows: True for the rows some node of ``rows`` reaches by ``steps``."""
        out = np.zeros(size, dtype=bool)
        for r in rows:
            found = self.neighbours(label, int(r), list(steps))
            out[found[found < size]] = True
        return out

    # -- hop supports --------------------------------------------------------------------------
    def weigh(self, vectors: UnitVectors, *, saved: bool = False) -> None:
        """Precompute the log support of every hop from the trained vectors (done once at load;
        hops touching a node whose vector changed later are recomputed when they are used).
        ``saved``: the supports were loaded with the index; only attach the vectors."""
        self.vectors = vectors
        if saved and all(adj.logsup is not None for adj in self._adj.values()):
            return
        for label, adj in self._adj.items():
            n = len(adj.indptr) - 1
            src = np.repeat(np.arange(n, dtype=np.int32 if n < 2**31 else np.int64), np.diff(adj.indptr))
            code = np.int64(self.code[label]) << SHIFT
            logsup = np.empty(len(src), dtype=np.float64)
            for lo in range(0, len(src), _WEIGH_BLOCK):  # blocks bound the temporaries (hops × a few int64)
                hi = lo + _WEIGH_BLOCK
                logsup[lo:hi] = np.log(self.supports(code | src[lo:hi].astype(np.int64), np.asarray(adj.key[lo:hi])))
            adj.logsup = logsup

    def supports(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hop supports for pairs of node keys, computed from the vectors (neutral without them)."""
        from .vectors import NEUTRAL_SUPPORT

        out = np.full(len(a), NEUTRAL_SUPPORT, dtype=np.float64)
        vectors = self.vectors
        if vectors is None or not len(a):
            return out
        nl = len(self.labels)
        pair = (a >> SHIFT) * nl + (b >> SHIFT)
        for p in np.unique(pair):
            sel = np.flatnonzero(pair == p)
            la, lb = self.labels[int(p) // nl], self.labels[int(p) % nl]
            out[sel] = vectors.supports(la, a[sel] & MASK, lb, b[sel] & MASK)
        return out

    def gather(self, label: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every neighbour of many nodes of one label, vectorised, with the hop's log support.

        Returns ``(position, key, step, logsup)``: ``rows[position[j]]`` is joined to node ``key[j]``
        by ``step[j]``.
        """
        adj = self._adj[label]
        rows = np.asarray(rows, dtype=np.int64)
        n = len(adj.indptr) - 1
        inside = rows < n
        safe = np.where(inside, rows, 0)
        starts = np.asarray(adj.indptr[safe])
        counts = np.where(inside, np.asarray(adj.indptr[safe + 1]) - starts, 0)
        total = int(counts.sum())
        position = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        at = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)
        key, step = np.asarray(adj.key[at]), np.asarray(adj.step[at])
        code = np.int64(self.code[label]) << SHIFT
        if adj.logsup is not None:
            logsup = np.asarray(adj.logsup[at])
            dirty = self.vectors.dirty if self.vectors is not None else None
            if dirty and len(key):
                marks = np.fromiter(dirty, dtype=np.int64, count=len(dirty))
                redo = np.isin(key, marks) | np.isin(code | rows[position], marks)
                if redo.any():
                    logsup = logsup.copy()
                    logsup[redo] = np.log(self.supports(code | rows[position[redo]], key[redo]))
        else:
            logsup = np.log(self.supports(code | rows[position], key))
        if adj.extra:
            hit = np.flatnonzero(np.isin(rows, np.fromiter(adj.extra, dtype=np.int64, count=len(adj.extra))))
            if len(hit):
                extra = [(p, k, s) for p in hit.tolist() for k, s in adj.extra[int(rows[p])]]
                p, k, s = (np.asarray(x, dtype=np.int64) for x in zip(*extra))
                ls = np.log(self.supports(code | rows[p], k))
                position, key = np.concatenate([position, p]), np.concatenate([key, k])
                step, logsup = np.concatenate([step, s]), np.concatenate([logsup, ls])
        return position, key, step, logsup

    def neighbourhood_supports(self, label: str, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`neighbourhood` with each hop's log support: ``(keys, steps, logsup)``."""
        _, key, step, logsup = self.gather(label, np.array([row], dtype=np.int64))
        return key, step, logsup

    # -- forgetting ------------------------------------------------------------------------------
    def forget(self, label: str, row: int, tombstone: str) -> int:
        """Remove every edge touching one node (both directions) and replace its id and name by
        ``tombstone``; the node is absent from then on. Returns the edges removed (each once)."""
        key = self.key(label, row)
        removed = 0
        for lab, adj in self._adj.items():
            n = len(adj.indptr) - 1
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
            keep = np.asarray(adj.key) != key
            if lab == label:
                keep &= rows != row
            if not keep.all():
                removed += int((~keep).sum())
                counts = np.bincount(rows[keep], minlength=n)
                adj.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
                adj.key, adj.step = np.asarray(adj.key)[keep], np.asarray(adj.step)[keep]
                if adj.logsup is not None:
                    adj.logsup = np.asarray(adj.logsup)[keep]
            if lab == label:
                removed += len(adj.extra.pop(int(row), []))
            for r in list(adj.extra):
                kept = [(k, s) for k, s in adj.extra[r] if k != key]
                removed += len(adj.extra[r]) - len(kept)
                if kept:
                    adj.extra[r] = kept
                else:
                    del adj.extra[r]  # the index expects no empty overlay lists
        self._rows[label].pop(self._ids[label][row], None)
        self._ids[label][row] = tombstone
        self._names[label][row] = tombstone
        self._present[label][row] = False
        self._by_name.pop(label, None)
        return removed // 2

    # -- saving ----------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> list[str]:
        """Write ``graph_index.json`` and ``graph_index.safetensors`` into ``folder`` (atomically,
        byte-for-byte the same for the same index). Returns the file names. Only an index without
        overlays (as built) is saved."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        if any(adj.extra for adj in self._adj.values()):
            raise InputError("an index with added nodes or edges is not saved (it is rebuilt from the graph)")
        meta = {
            "format": INDEX_FORMAT, "source": self.source, "schema": self.schema.to_dict(), "labels": self.labels,
            "steps": [[*s.edge_type, s.direction] for s in self.steps],
            "nodes": {label: {"ids": self._ids[label],
                              "names": None if self._names[label] == self._ids[label] else self._names[label]}
                      for label in self.labels},
        }
        tensors: dict[str, np.ndarray] = {}
        for label, adj in self._adj.items():
            tensors[f"{label}.indptr"] = np.ascontiguousarray(adj.indptr, dtype=np.int64)
            tensors[f"{label}.key"] = np.ascontiguousarray(adj.key, dtype=np.int64)
            tensors[f"{label}.step"] = np.ascontiguousarray(adj.step, dtype=np.int64)
            if adj.logsup is not None:
                tensors[f"{label}.logsup"] = np.ascontiguousarray(adj.logsup, dtype=np.float64)
            tensors[f"{label}.present"] = self._present[label].astype(np.uint8)
        tmp = folder / f".{INDEX_ARRAYS}.{os.getpid()}.tmp"
        save_file(tensors, str(tmp))
        os.replace(tmp, folder / INDEX_ARRAYS)
        tmp = folder / f".{INDEX_JSON}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, folder / INDEX_JSON)
        return [INDEX_JSON, INDEX_ARRAYS]

    @classmethod
    def load(cls, folder: str | os.PathLike) -> GraphIndex:
        """Read what :meth:`save` wrote; the arrays are memory-mapped (read-only)."""
        from kgrec.kg.schema import Schema

        folder = Path(folder)
        try:
            meta = json.loads((folder / INDEX_JSON).read_text(encoding="utf-8"))
            if meta.get("format") != INDEX_FORMAT:
                raise RunDirError(f"{folder / INDEX_JSON}: index format {meta.get('format')!r}; "
                                  f"this kgrec reads {INDEX_FORMAT}")
            arrays = _mapped(folder / INDEX_ARRAYS)
            schema = Schema.from_dict(meta["schema"])
            steps = [Step((s, r, t), d, s if d == "out" else t, t if d == "out" else s)  # type: ignore[arg-type]
                     for s, r, t, d in meta["steps"]]
            nodes = meta["nodes"]  # in the order of the labels' codes (the keys of the arrays hold them)
            ids = {label: [str(x) for x in nodes[label]["ids"]] for label in meta["labels"]}
            names = {label: ids[label] if nodes[label]["names"] is None else [str(x) for x in nodes[label]["names"]]
                     for label in meta["labels"]}
            adjacency = {label: Adjacency(arrays[f"{label}.indptr"], arrays[f"{label}.key"], arrays[f"{label}.step"],
                                          arrays.get(f"{label}.logsup")) for label in ids}
            present = {label: arrays[f"{label}.present"].astype(bool) for label in ids}
        except RunDirError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
            raise RunDirError(f"{folder}: cannot read the graph index: {e!r}") from None
        for label, adj in adjacency.items():
            if len(adj.indptr) != len(ids[label]) + 1 or len(present[label]) != len(ids[label]):
                raise RunDirError(f"{folder / INDEX_ARRAYS}: arrays of {label} do not match its {len(ids[label])} ids")
        return cls(schema, ids, names, adjacency, steps, present=present, source=meta.get("source"))


_DTYPES = {"I64": np.int64, "F64": np.float64, "U8": np.uint8, "F32": np.float32, "I32": np.int32}


def _mapped(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only memory maps (the format is an 8-byte header
    length, a JSON header with each tensor's dtype, shape and byte range, then the raw data)."""
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < 100_000_000:
            raise ValueError(f"{path}: not a safetensors file")
        header = json.loads(f.read(size))
    base = 8 + size
    whole = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_DTYPES[spec["dtype"]])
        begin, end = (int(x) for x in spec["data_offsets"])
        raw = whole[base + begin:base + end]
        if (base + begin) % dtype.alignment:
            raw = np.array(raw)  # unaligned: a copy
        out[name] = raw.view(dtype).reshape(spec["shape"])
    return out


__all__ = ["INDEX_ARRAYS", "INDEX_JSON", "Adjacency", "GraphIndex", "Step", "steps_of"]
