"""Explanations: bounded path search over the knowledge graph, scored with the trained vectors.

The graph is held as compact CSR adjacency arrays, one pair per edge type (``out``: from the
relation's source to its target; ``in``: the reverse), built once by :class:`GraphIndex`. A search
for one user runs breadth-first from the user over *every* relation in both directions, keeps the
``beam`` best partial paths per depth, and meets each recommended item from its own one-hop
neighbourhood, so the last hop is exact for every target: a path of at most ``max_hops`` hops is
``user → … → m → item`` with ``m`` a neighbour of the item.

**Path score** (what "how much the path supports the recommendation" means here): the trained
model scores ``user · item`` with final node vectors that every node type shares (message passing
moves them into one space). Each hop ``a → b`` of a path gets a *support* ``s = max(cos(v_a, v_b),
ε)`` — how strongly the trained model ties its two ends — and the path's score is the geometric
mean of its hop supports, ``exp(mean(log s))``, a number in ``(0, 1]``. A chain is as convincing as
its hops are; one weak hop (a hub tag that the model does not associate with the item) pulls it
down, and the geometric mean does not favour short or long paths by itself. A hop whose end has
no trained vector gets the neutral support :data:`NEUTRAL_SUPPORT`.

The ``m`` explanations returned per item are chosen best-first with one rule for variety: the best
path of each relation pattern (``LISTENED_TO/HAS_TAG/HAS_TAG``, ``LISTENED_TO/LISTENED_TO/…``) comes
before a second path of a pattern already shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kgrec.errors import SchemaError
from kgrec.kg import KnowledgeGraph, Schema
from kgrec.kg.schema import EdgeType

logger = logging.getLogger(__name__)

Direction = Literal["out", "in"]
EPSILON = 1e-3
"""Smallest hop support: a hop whose vectors point away from each other still counts a little."""
NEUTRAL_SUPPORT = 0.5
"""Support of a hop when one of its nodes has no trained vector."""


# -- typed results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PathNode:
    """One node of an explanation path."""

    label: str
    id: str
    name: str


@dataclass(frozen=True)
class PathRelation:
    """One hop of an explanation path.

    ``direction`` is relative to the path's order: ``"out"`` means ``nodes[i] -[type]-> nodes[i+1]``
    as stored in the graph, ``"in"`` means ``nodes[i] <-[type]- nodes[i+1]``.
    """

    type: str
    direction: Direction


@dataclass(frozen=True)
class ExplanationPath:
    """A walk through the graph from a user to an item: ``len(nodes) == len(relations) + 1``."""

    nodes: tuple[PathNode, ...]
    relations: tuple[PathRelation, ...]

    def __post_init__(self) -> None:
        if len(self.nodes) != len(self.relations) + 1:
            raise ValueError(f"a path of {len(self.relations)} relations needs {len(self.relations) + 1} nodes, "
                             f"got {len(self.nodes)}")

    @property
    def hops(self) -> int:
        return len(self.relations)

    @property
    def edge_types(self) -> list[EdgeType]:
        """The stored ``(source, relation, target)`` type of each hop."""
        out = []
        for i, rel in enumerate(self.relations):
            a, b = self.nodes[i].label, self.nodes[i + 1].label
            out.append((a, rel.type, b) if rel.direction == "out" else (b, rel.type, a))
        return out

    @property
    def pattern(self) -> tuple[str, ...]:
        return tuple(r.type for r in self.relations)

    def __str__(self) -> str:
        parts = [f"({self.nodes[0].label} {self.nodes[0].name})"]
        for rel, node in zip(self.relations, self.nodes[1:]):
            arrow = f"-[:{rel.type}]->" if rel.direction == "out" else f"<-[:{rel.type}]-"
            parts.append(f"{arrow}({node.label} {node.name})")
        return "".join(parts)

    def to_dict(self) -> dict:
        return {"nodes": [vars(n) for n in self.nodes], "relations": [vars(r) for r in self.relations]}


@dataclass(frozen=True)
class Explanation:
    """Why an item is recommended to a user: a path, its score, a sentence and a query that returns it.

    Args:
        path: the nodes and relations from the user to the item.
        score: the path's score in ``(0, 1]`` (geometric mean of hop supports; see the module doc).
        sentence: the path in plain English.
        cypher: a parameterised Cypher query that returns exactly this path.
        parameters: the values of the query's ``$parameters``.
        hop_supports: the support of each hop (cosine of its two ends' trained vectors, floored).
        sparql: the equivalent SPARQL query, when the store is an RDF store.
    """

    path: ExplanationPath
    score: float
    sentence: str
    cypher: str
    parameters: Mapping[str, str]
    hop_supports: tuple[float, ...] = ()
    sparql: str | None = None


# -- adjacency ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """Moving along one edge type in one direction, from ``source`` to ``target``."""

    edge_type: EdgeType
    direction: Direction
    source: str
    target: str


_SHIFT = np.int64(32)
_MASK = np.int64((1 << 32) - 1)


@dataclass
class _Adjacency:
    """Every edge leaving the nodes of one label, over all steps: CSR over the label's rows."""

    indptr: np.ndarray  # int64 [num_rows + 1]
    key: np.ndarray  # int64 [num_edges]: neighbour as ``label_code << 32 | row``
    step: np.ndarray  # int64 [num_edges]: the step taken
    logsup: np.ndarray | None = None  # float64 [num_edges]: log support of the hop (see GraphIndex.weigh)
    extra: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # row -> [(key, step)] added later


class GraphIndex:
    """Compact adjacency of a :class:`KnowledgeGraph`: CSR arrays per label over every edge type
    and direction (``out`` along the stored relation, ``in`` against it).

    Built once (``O(num_edges log num_edges)``); nodes and edges added later (feedback, new items)
    go to small overlays. A node is addressed by ``(label, row)`` with ``row`` its position in
    ``kg.nodes[label]`` (new nodes are appended); inside the search it is one int64 key,
    ``label_code << 32 | row``.

    Args:
        kg: the graph (its schema decides the labels and relation types).
    """

    def __init__(self, kg: KnowledgeGraph):
        self.schema: Schema = kg.schema
        self.labels: list[str] = list(kg.nodes)
        self.code: dict[str, int] = {label: i for i, label in enumerate(self.labels)}
        self._ids: dict[str, list[str]] = {}
        self._names: dict[str, list[str]] = {}
        self._rows: dict[str, dict[str, int]] = {}
        for label, df in kg.nodes.items():
            ids = df["id"].astype(str).tolist()
            names = df["name"].astype("string").fillna(df["id"]).astype(str).tolist()
            self._ids[label] = ids
            self._names[label] = names
            self._rows[label] = {i: r for r, i in enumerate(ids)}
        self.vectors: UnitVectors | None = None
        self.steps: list[Step] = []
        self._step_of: dict[tuple[EdgeType, Direction], int] = {}
        parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {label: [] for label in self.labels}
        for et in kg.edges:
            ei = kg.edge_index(et)
            ok = (ei[0] >= 0) & (ei[1] >= 0)
            src, dst = ei[0][ok], ei[1][ok]
            s, _, t = et
            for direction, a, b, la, lb in (("out", src, dst, s, t), ("in", dst, src, t, s)):
                self._step_of[(tuple(et), direction)] = len(self.steps)
                parts[la].append((a, (np.int64(self.code[lb]) << _SHIFT) | b,
                                  np.full(len(a), len(self.steps), dtype=np.int64)))
                self.steps.append(Step(tuple(et), direction, la, lb))
        self.relation_of = [step.edge_type[1] for step in self.steps]
        self.reverse = np.array([self._step_of[(s.edge_type, "in" if s.direction == "out" else "out")]
                                 for s in self.steps], dtype=np.int64)
        self.steps_from: dict[str, list[int]] = {label: [] for label in self.labels}
        for i, step in enumerate(self.steps):
            self.steps_from[step.source].append(i)
        self._adj: dict[str, _Adjacency] = {}
        for label in self.labels:
            n = len(self._ids[label])
            if parts[label]:
                rows, keys, steps = (np.concatenate(x) for x in zip(*parts[label]))
            else:
                rows = keys = steps = np.empty(0, dtype=np.int64)
            order = np.argsort(rows, kind="stable")
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            self._adj[label] = _Adjacency(indptr, keys[order], steps[order])
        logger.debug("graph index: %d labels, %d steps", len(self.labels), len(self.steps))

    # -- nodes ---------------------------------------------------------------------------------
    def num_nodes(self, label: str) -> int:
        return len(self._ids[label])

    def row(self, label: str, node_id: str) -> int | None:
        return self._rows[label].get(str(node_id))

    def node_id(self, label: str, row: int) -> str:
        return self._ids[label][row]

    def name(self, label: str, row: int) -> str:
        return self._names[label][row]

    def node(self, label: str, row: int) -> PathNode:
        return PathNode(label, self._ids[label][row], self._names[label][row])

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
        self._rows[label][node_id] = row
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

    def step_index(self, edge_type: EdgeType, direction: Direction) -> int:
        return self._step_of[(tuple(edge_type), direction)]

    # -- neighbours ------------------------------------------------------------------------------
    def neighbourhood(self, label: str, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Every neighbour of one node: ``(keys, steps)``."""
        adj = self._adj[label]
        if row + 1 < len(adj.indptr):
            lo, hi = adj.indptr[row], adj.indptr[row + 1]
            keys, steps = adj.key[lo:hi], adj.step[lo:hi]
        else:
            keys = steps = np.empty(0, dtype=np.int64)
        extra = adj.extra.get(int(row))
        if extra:
            k, s = zip(*extra)
            keys = np.concatenate([keys, np.asarray(k, dtype=np.int64)])
            steps = np.concatenate([steps, np.asarray(s, dtype=np.int64)])
        return keys, steps

    def degree(self, label: str, row: int) -> int:
        return len(self.neighbourhood(label, row)[0])

    # -- hop supports --------------------------------------------------------------------------
    def weigh(self, vectors: UnitVectors) -> None:
        """Precompute the log support of every hop from the trained vectors (done once at load;
        hops touching a node whose vector changed later are recomputed when they are used)."""
        self.vectors = vectors
        for label, adj in self._adj.items():
            n = len(adj.indptr) - 1
            src = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
            src_keys = (np.int64(self.code[label]) << _SHIFT) | src
            adj.logsup = np.log(self.supports(src_keys, adj.key))

    def supports(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hop supports for pairs of node keys, computed from the vectors (neutral without them)."""
        out = np.full(len(a), NEUTRAL_SUPPORT, dtype=np.float64)
        vectors = self.vectors
        if vectors is None or not len(a):
            return out
        nl = len(self.labels)
        pair = (a >> _SHIFT) * nl + (b >> _SHIFT)
        for p in np.unique(pair):
            sel = np.flatnonzero(pair == p)
            la, lb = self.labels[int(p) // nl], self.labels[int(p) % nl]
            out[sel] = vectors.supports(la, a[sel] & _MASK, lb, b[sel] & _MASK)
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
        starts = adj.indptr[safe]
        counts = np.where(inside, adj.indptr[safe + 1] - starts, 0)
        total = int(counts.sum())
        position = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        at = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)
        key, step = adj.key[at], adj.step[at]
        code = np.int64(self.code[label]) << _SHIFT
        if adj.logsup is not None:
            logsup = adj.logsup[at]
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


# -- vectors -----------------------------------------------------------------------------------
class UnitVectors:
    """Row-normalised float32 vectors per label, aligned with a :class:`GraphIndex`'s rows.

    Rows without a vector are zero and flagged missing (their hops get :data:`NEUTRAL_SUPPORT`).
    """

    def __init__(self, index: GraphIndex, vectors: Mapping[str, np.ndarray]):
        self._code = dict(index.code)
        self._unit: dict[str, np.ndarray] = {}
        self._has: dict[str, np.ndarray] = {}
        self.dirty: set[int] = set()  # keys of nodes whose vector changed after load
        dims = {np.asarray(v).shape[1] for v in vectors.values() if np.asarray(v).ndim == 2}
        if len(dims) > 1:
            logger.warning("node vectors have different widths %s: hops between them get the neutral support",
                           sorted(dims))
        for label in index.labels:
            v = vectors.get(label)
            if v is None:
                continue
            v = np.asarray(v, dtype=np.float32)
            if v.ndim != 2 or v.shape[0] != index.num_nodes(label):
                raise ValueError(f"vectors of {label} have shape {v.shape}; expected "
                                 f"[{index.num_nodes(label)}, dim] aligned with the graph's {label} rows")
            norm = np.linalg.norm(v, axis=1, keepdims=True)
            self._has[label] = (norm[:, 0] > 0) & np.isfinite(norm[:, 0])
            self._unit[label] = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)

    def set(self, label: str, row: int, vector: np.ndarray) -> None:
        """Set (or append) one row's vector."""
        if label not in self._unit:
            return
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        n = float(np.linalg.norm(v))
        unit, has = self._unit[label], self._has[label]
        if row >= len(unit):
            grow = row + 1 - len(unit)
            unit = np.vstack([unit, np.zeros((grow, unit.shape[1]), dtype=np.float32)])
            has = np.concatenate([has, np.zeros(grow, dtype=bool)])
        if v.shape[0] == unit.shape[1]:
            unit[row] = v / n if n > 0 else 0.0
            has[row] = n > 0
        self._unit[label], self._has[label] = unit, has
        self.dirty.add((self._code[label] << 32) | int(row))

    def supports(self, label_a: str, rows_a: np.ndarray, label_b: str, rows_b: np.ndarray) -> np.ndarray:
        """Hop supports ``max(cos, ε)`` for pairs of rows (neutral where a vector is missing)."""
        n = len(rows_a)
        ua, ub = self._unit.get(label_a), self._unit.get(label_b)
        if ua is None or ub is None or ua.shape[1] != ub.shape[1]:
            return np.full(n, NEUTRAL_SUPPORT, dtype=np.float64)
        rows_a = np.asarray(rows_a, dtype=np.int64)
        rows_b = np.asarray(rows_b, dtype=np.int64)
        ok = (rows_a < len(ua)) & (rows_b < len(ub))
        ra, rb = np.where(ok, rows_a, 0), np.where(ok, rows_b, 0)
        cos = np.einsum("ij,ij->i", ua[ra], ub[rb]).astype(np.float64)
        ok &= self._has[label_a][ra] & self._has[label_b][rb]
        return np.where(ok, np.maximum(cos, EPSILON), NEUTRAL_SUPPORT)


# -- search ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoundPath:
    """A path found by :func:`search_paths`, before it is turned into an :class:`Explanation`."""

    keys: tuple[int, ...]  # node keys, user first, item last
    steps: tuple[int, ...]  # GraphIndex step of each hop
    supports: tuple[float, ...]
    score: float


@dataclass
class _Layer:
    key: np.ndarray  # node of each entry
    parent: np.ndarray  # entry in the previous layer
    step: np.ndarray  # step used to arrive here
    support: np.ndarray  # support of that last hop
    logsum: np.ndarray  # sum of log supports so far


def _expand(index: GraphIndex, layers: list[_Layer], beam: int) -> _Layer:
    prev = layers[-1]
    parts = []
    codes = prev.key >> _SHIFT
    for code in np.unique(codes):
        sel = np.flatnonzero(codes == code)
        pos, key, step, logsup = index.gather(index.labels[int(code)], prev.key[sel] & _MASK)
        if len(key):
            parts.append((sel[pos], key, step, logsup))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return _Layer(empty, empty, empty, np.empty(0), np.empty(0))
    parent, key, step, logsup = (np.concatenate(x) for x in zip(*parts))
    # simple paths only: a node may not repeat one of its ancestors
    ok = np.ones(len(key), dtype=bool)
    anc = parent
    for d in range(len(layers) - 1, -1, -1):
        ok &= layers[d].key[anc] != key
        if d:
            anc = layers[d].parent[anc]
    parent, key, step, logsup = parent[ok], key[ok], step[ok], logsup[ok]
    logsum = prev.logsum[parent] + logsup
    if len(key) > beam:
        top = np.argpartition(-logsum, beam - 1)[:beam]
        parent, key, step, logsup, logsum = parent[top], key[top], step[top], logsup[top], logsum[top]
    return _Layer(key, parent, step, np.exp(logsup), logsum)


def search_paths(index: GraphIndex, user_row: int, item_rows: Sequence[int], *,
                 max_hops: int = 3, beam: int = 2000, per_item: int = 16, per_relation: int = 2
                 ) -> dict[int, list[FoundPath]]:
    """Best paths of at most ``max_hops`` hops from one user to each of some items.

    The user's side is expanded once, ``max_hops - 1`` deep, keeping the ``beam`` best partial
    paths per depth; each item is then met from its own one-hop neighbourhood.

    Args:
        index: the adjacency, weighed with the trained vectors (:meth:`GraphIndex.weigh`).
        user_row: the user's row (``schema.user_label``).
        item_rows: rows of the items (``schema.item_label``) to reach.
        max_hops: the longest path (default: 3).
        beam: partial paths kept per depth, best first (default: 2000).
        per_item: paths kept per item, best first (default: 16).
        per_relation: paths kept besides those per item and relation of the last hop (the item's
            listener, tag, genre, …), best first, so that other kinds of path survive many strong
            paths of one kind (default: 2).

    Returns:
        item row → paths, best first (an item with no path within ``max_hops`` maps to ``[]``).
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be at least 1, got {max_hops}")
    user_label, item_label = index.schema.user_label, index.schema.item_label
    start = np.array([index.key(user_label, user_row)], dtype=np.int64)
    layers = [_Layer(start, np.array([-1]), np.array([-1]), np.ones(1), np.zeros(1))]
    for _ in range(max_hops - 1):
        layers.append(_expand(index, layers, beam))
    # all entries of every depth, sorted by node key, for the meeting
    depth_of = np.concatenate([np.full(len(layer.key), d, dtype=np.int64) for d, layer in enumerate(layers)])
    entry_of = np.concatenate([np.arange(len(layer.key), dtype=np.int64) for layer in layers])
    all_keys = np.concatenate([layer.key for layer in layers])
    all_logsum = np.concatenate([layer.logsum for layer in layers])
    # each entry's path so far: nodes (padded with -1), steps and hop supports, one row per entry
    paths_of = [np.full((1, max_hops), -1, dtype=np.int64)]
    paths_of[0][:, 0] = start
    steps_of = [np.full((1, max_hops), -1, dtype=np.int64)]
    sups_of = [np.ones((1, max_hops))]
    for d in range(1, len(layers)):
        layer = layers[d]
        p, st, su = paths_of[d - 1][layer.parent], steps_of[d - 1][layer.parent], sups_of[d - 1][layer.parent]
        p[:, d], st[:, d], su[:, d] = layer.key, layer.step, layer.support
        paths_of.append(p)
        steps_of.append(st)
        sups_of.append(su)
    all_path, all_steps, all_sups = np.concatenate(paths_of), np.concatenate(steps_of), np.concatenate(sups_of)
    order = np.argsort(all_keys, kind="stable")
    sorted_keys = all_keys[order]

    # every item's one-hop neighbourhood at once, met with every depth's entries
    items = np.asarray([int(i) for i in item_rows], dtype=np.int64)
    out: dict[int, list[FoundPath]] = {int(i): [] for i in items}
    if not len(items):
        return out
    pos, mkeys, msteps, mlog = index.gather(item_label, items)
    lo = np.searchsorted(sorted_keys, mkeys, "left")
    counts = np.searchsorted(sorted_keys, mkeys, "right") - lo
    total = int(counts.sum())
    if not total:
        return out
    which = np.repeat(np.arange(len(mkeys)), counts)  # the neighbour (of some item) each match came through
    flat = order[np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)]
    item_of = pos[which]
    tkeys = (np.int64(index.code[item_label]) << _SHIFT) | items
    # the item itself may not appear earlier on its own path
    ok = ~(all_path[flat] == tkeys[item_of][:, None]).any(axis=1)
    flat, which, item_of = flat[ok], which[ok], item_of[ok]
    depth = depth_of[flat]
    # the support of a hop is symmetric: item -> m weighs the same as m -> item
    last_log = mlog[which]
    score = np.exp((all_logsum[flat] + last_log) / (depth + 1))
    # per item: the per_item best, and the user's own edge to the item whenever there is one
    order_by = np.lexsort((-score, item_of))
    starts = np.searchsorted(item_of[order_by], np.arange(len(items)), "left")
    rank = np.arange(len(order_by)) - starts[item_of[order_by]]
    # and the best ``per_relation`` per (item, relation of the last hop), so that choose() can show a
    # shared tag or genre beside many strong friend-of-friend paths
    variety = np.zeros(len(score), dtype=bool)
    if per_relation:
        rel_code = np.unique(np.asarray(index.relation_of), return_inverse=True)[1].astype(np.int64)
        group = item_of.astype(np.int64) * (int(rel_code.max()) + 1) + rel_code[msteps[which]]
        order_g = np.lexsort((-score, group))
        g = group[order_g]
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        grank = np.arange(len(g)) - np.repeat(first, np.diff(np.r_[first, len(g)]))
        variety[order_g[grank < per_relation]] = True
    chosen = order_by[(rank < per_item) | (depth[order_by] == 0) | variety[order_by]]
    for j in chosen.tolist():
        f, d, t = int(flat[j]), int(depth[j]), int(item_of[j])
        out[int(items[t])].append(FoundPath(
            tuple(all_path[f, :d + 1].tolist()) + (int(tkeys[t]),),
            tuple(all_steps[f, 1:d + 1].tolist()) + (int(index.reverse[msteps[which[j]]]),),
            tuple(all_sups[f, 1:d + 1].tolist()) + (float(np.exp(last_log[j])),),
            float(score[j])))
    return out


def choose(paths: Sequence[FoundPath], index: GraphIndex, m: int) -> list[FoundPath]:
    """The ``m`` paths to show, ordered by score: the user's own edge to the item when there is one,
    then the best path of each relation pattern before a second one of a pattern already chosen, and
    no two paths through the same nodes, in any order (two relations between the same nodes — a
    friendship stored both ways, DBpedia's associated band and associated musical artist — show
    once, and so do "a friend of your friend B" and "B, a friend of your friend A" when A and B are
    friends of the user and of each other)."""
    seen: set[frozenset] = set()
    unique: list[FoundPath] = []
    for p in sorted(paths, key=lambda p: (len(p.steps) > 1, -p.score)):
        nodes = frozenset(p.keys)
        if nodes not in seen:
            seen.add(nodes)
            unique.append(p)
    chosen: list[FoundPath] = []
    patterns: set[tuple] = set()
    for p in unique:
        pat = tuple(index.relation_of[s] for s in p.steps)
        if pat not in patterns:
            patterns.add(pat)
            chosen.append(p)
        if len(chosen) == m:
            break
    for p in sorted(unique, key=lambda p: -p.score):
        if len(chosen) >= m:
            break
        if p not in chosen:
            chosen.append(p)
    chosen.sort(key=lambda p: -p.score)
    return chosen[:m]


def to_path(found: FoundPath, index: GraphIndex) -> ExplanationPath:
    nodes = tuple(index.node(*index.unkey(k)) for k in found.keys)
    rels = tuple(PathRelation(index.steps[s].edge_type[1], index.steps[s].direction) for s in found.steps)
    return ExplanationPath(nodes, rels)


# -- sentences ---------------------------------------------------------------------------------
# relation -> (out: "you" form, out: third person, in: "you" form, in: third person)
_VERBS: dict[str, tuple[str, str, str, str]] = {
    "LISTENED_TO": ("listen to", "listens to", "are listened to by", "is listened to by"),
    "RATED": ("rated", "rated", "were rated by", "was rated by"),
    "INTERACTED": ("interacted with", "interacted with", "were chosen by", "was chosen by"),
    "FRIEND_OF": ("are friends with", "is friends with", "are friends with", "is friends with"),
    "TAGGED": ("tagged music with", "tagged music with", "were used as a tag by", "was used as a tag by"),
    "HAS_TAG": ("have the tag", "has the tag", "are a tag of", "is a tag of"),
    "HAS_GENRE": ("have the genre", "has the genre", "are the genre of", "is the genre of"),
}
_PREFIXES = ("DBO_", "DBP_")


def relation_words(relation: str) -> str:
    """``DBO_GENRE`` → ``genre``, ``MUSIC_ARTIST_ORIGIN`` → ``music artist origin``."""
    name = relation
    for p in _PREFIXES:
        if name.startswith(p):
            name = name[len(p):]
    words = name.lower().replace("_", " ").strip()
    return re.sub(r"\s+", " ", words)


def _verb(relation: str, direction: Direction, *, you: bool) -> str:
    if relation in _VERBS:
        v = _VERBS[relation]
        return v[(0 if you else 1) + (0 if direction == "out" else 2)]
    words = relation_words(relation)
    if direction == "out":
        return f"{'have' if you else 'has'} the {words}"
    return f"{'are' if you else 'is'} the {words} of"


def node_phrase(node: PathNode, schema: Schema) -> str:
    """How a node is named in a sentence: items by name, users as ``user 42``, tags quoted."""
    label = node.label
    if label == schema.item_label:
        return node.name
    if label == schema.user_label:
        return f"user {node.name}" if node.name == node.id else node.name
    if label == "Tag":
        return f"'{node.name}'"
    if node.name == node.id and ":" in node.id and not node.id.startswith("http"):
        words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label).lower()
        return f"the {words} {node.id}"
    return node.name


def sentence(path: ExplanationPath, schema: Schema) -> str:
    """A plain-English sentence for a path from a user (``you``) to a recommended item."""
    n, r = path.nodes, path.relations
    ph = [node_phrase(x, schema) for x in n]
    interaction = schema.interaction[1]
    listen = _verb(interaction, "out", you=True)
    listens = _verb(interaction, "out", you=False)
    item = ph[-1]
    kinds = tuple((x.type if x.type != interaction else "I") + (">" if x.direction == "out" else "<") for x in r)

    def verb(i: int) -> str:
        return _verb(r[i].type, r[i].direction, you=False)

    friend = r[0].type == "FRIEND_OF"
    if kinds == ("I>",):
        return f"You already {listen} {item}."
    if friend and path.hops == 2 and kinds[1] == "I>":
        return f"Because your friend {ph[1]} {listens} {item}."
    if kinds[:1] == ("I>",) and path.hops == 2:
        return f"Because you {listen} {ph[1]}, which {verb(1)} {item}."
    if kinds == ("TAGGED>", "HAS_TAG<"):
        return f"Because you tagged music with {ph[1]}, a tag of {item}."
    if path.hops == 3:
        a, x = ph[1], ph[2]
        if kinds == ("I>", "I<", "I>"):
            return f"Because {x}, who also {listens} {a}, {listens} {item}."
        if kinds == ("TAGGED>", "TAGGED<", "I>"):
            return f"Because {x}, who also tagged music with {a}, {listens} {item}."
        if friend and kinds[1:] == ("TAGGED>", "HAS_TAG<"):
            return f"Because your friend {a} tagged music with {x}, a tag of {item}."
        if friend and kinds[1:] == ("FRIEND_OF" + kinds[1][-1], "I>") and r[1].type == "FRIEND_OF":
            return f"Because {x}, a friend of your friend {a}, {listens} {item}."
        if kinds[0] == "I>" and r[1].direction == "out" and r[2].direction == "in" and n[2].label != schema.user_label:
            if r[1].type == r[2].type:
                return f"Because you {listen} {a}, which shares {_shared(r[1].type, ph[2])} with {item}."
            return (f"Because you {listen} {a}, which {_verb(r[1].type, 'out', you=False)} {x}, "
                    f"and {item} {_verb(r[2].type, 'out', you=False)} {x} too.")
    # the general chain: "Because you <verb> A, which <verb> B, who <verb> C."
    if friend:
        parts = [f"Because your friend {ph[1]}"]
        first = 1
    else:
        parts = [f"Because you {_verb(r[0].type, r[0].direction, you=True)} {ph[1]}"]
        first = 1
    for i in range(first, path.hops):
        who = "who" if n[i].label == schema.user_label else "which"
        if friend and i == 1:
            parts[0] += f" {verb(i)} {ph[i + 1]}"
        else:
            parts.append(f"{who} {verb(i)} {ph[i + 1]}")
    return ", ".join(parts) + "."


def _shared(relation: str, phrase: str) -> str:
    if relation == "HAS_TAG":
        return f"the tag {phrase}"
    if relation in _VERBS:
        words = _VERBS[relation][1].split(" ", 1)[-1]  # "has the genre" -> "the genre"
        return f"{words} {phrase}"
    return f"the {relation_words(relation)} {phrase}"
