"""From a :class:`~kgrec.kg.KnowledgeGraph` and its text vectors to PyG's ``HeteroData``, and splits.

Vocabulary as in PyTorch Geometric: a node type is a label (``"User"``), an edge type a
``(source, relation, target)`` triple; every relation gets a reverse edge type
``(target, "rev_<REL>", source)`` so that messages flow both ways.

External ids are strings; inside gnn every node is a row position in its label's table. One
:class:`IdMap` per label converts between them (serving uses the same class).

Splits are deterministic functions of the interactions and a seed. Only training interactions
ever enter the message-passing graph (:func:`train_graph`): validation and test pairs cannot leak
into the embeddings through the interaction edges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, InputError, KgrecError, UnknownItemError, UnknownUserError
from kgrec.kg import EdgeType, KnowledgeGraph

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

SplitKind = Literal["random", "temporal", "cold-items", "kgcn"]
SPLITS: tuple[str, ...] = ("random", "temporal", "cold-items", "kgcn")
REVERSE_PREFIX = "rev_"
KGCN_SEED = 555


def reverse_edge_type(edge_type: EdgeType) -> EdgeType:
    """``(A, REL, B)`` → ``(B, rev_REL, A)`` and back."""
    src, rel, dst = edge_type
    rel = rel[len(REVERSE_PREFIX):] if rel.startswith(REVERSE_PREFIX) else REVERSE_PREFIX + rel
    return (dst, rel, src)


# ------------------------------------------------------------------------------------------------
# IdMap
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class IdMap:
    """External string ids of one label ↔ contiguous row positions ``0..n-1``.

    Args:
        label: the node label.
        ids: the external ids in row order (unique).
        role: ``"user"`` or ``"item"`` picks the error for an unknown id
            (:class:`UnknownUserError` / :class:`UnknownItemError`); other labels raise
            :class:`KeyError`-like :class:`KgrecError` subclasses of the same kind (default: None).

    Example::

        m = IdMap("User", ["u1", "u2"], role="user")
        m.index("u2")          # 1
        m.indices(["u2", "u1"])  # array([1, 0])
        m.id(0)                # "u1"
    """

    label: str
    ids: tuple[str, ...]
    role: Literal["user", "item"] | None = None
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __init__(self, label: str, ids: Iterable[str], *, role: Literal["user", "item"] | None = None):
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "ids", tuple(str(x) for x in ids))
        object.__setattr__(self, "role", role)
        index = pd.Index(self.ids, dtype="object")
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise InputError(f"{label}: duplicate id {dup!r} in an id map")
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and (self.label, self.ids, self.role) == (other.label, other.ids, other.role)

    def __hash__(self) -> int:
        return hash((self.label, len(self.ids)))

    def __repr__(self) -> str:
        return f"IdMap(label={self.label!r}, size={len(self)}, role={self.role!r})"

    def _missing(self, external_id: str) -> KgrecError:
        message = f"unknown {self.label} id {external_id!r} ({len(self)} known)"
        if self.role == "user":
            return UnknownUserError(message)
        return UnknownItemError(message) if self.role == "item" else _UnknownNodeError(message)

    def index(self, external_id: str) -> int:
        """The row position of one external id; raises :class:`UnknownUserError` /
        :class:`UnknownItemError` (by role) for an unknown id."""
        pos = self._index.get_indexer([str(external_id)])[0]
        if pos < 0:
            raise self._missing(str(external_id))
        return int(pos)

    def indices(self, external_ids: Iterable[str], *, missing: Literal["raise", "drop", "-1"] = "raise") -> np.ndarray:
        """Row positions of many ids (int64). ``missing``: raise on the first unknown id (default),
        drop unknown ids, or give -1 for them."""
        ids = [str(x) for x in external_ids]
        pos = self._index.get_indexer(ids).astype(np.int64)
        bad = pos < 0
        if bad.any():
            if missing == "raise":
                raise self._missing(ids[int(np.flatnonzero(bad)[0])])
            if missing == "drop":
                pos = pos[~bad]
        return pos

    def id(self, index: int) -> str:
        """The external id at a row position."""
        if not 0 <= int(index) < len(self.ids):
            raise IndexError(f"{self.label} index {index} out of range 0..{len(self.ids) - 1}")
        return self.ids[int(index)]

    def external_ids(self, indices: Iterable[int]) -> list[str]:
        """External ids of many row positions."""
        return [self.id(i) for i in indices]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "role": self.role, "ids": list(self.ids)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdMap:
        return cls(data["label"], data["ids"], role=data.get("role"))

    @classmethod
    def from_graph(cls, kg: KnowledgeGraph, label: str) -> IdMap:
        role = "user" if label == kg.schema.user_label else "item" if label == kg.schema.item_label else None
        return cls(label, kg.nodes[label]["id"].astype(str).tolist(), role=role)


class _UnknownNodeError(KgrecError, KeyError):
    """An id of a non-user, non-item label that the id map does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def save_id_maps(id_maps: Mapping[str, IdMap], path: str | Path) -> None:
    Path(path).write_text(json.dumps({k: v.to_dict() for k, v in id_maps.items()}), encoding="utf-8")


def load_id_maps(path: str | Path) -> dict[str, IdMap]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {k: IdMap.from_dict(v) for k, v in data.items()}


# ------------------------------------------------------------------------------------------------
# HeteroData
# ------------------------------------------------------------------------------------------------
def to_heterodata(kg: KnowledgeGraph, vectors: Any = None, *, relations: Sequence[str] | None = None,
                  exclude_relations: Sequence[str] = ()):
    """Turn a graph (and its node text vectors) into a PyG ``HeteroData``.

    One node type per label (``num_nodes`` = rows of that label's table, in table order); one edge
    type per relation type that has edges, plus its reverse ``(dst, rev_REL, src)``. ``x`` is the
    label's text vectors where ``vectors`` has them. Global attributes: ``id_maps`` (label →
    :class:`IdMap`), ``user_type``, ``item_type`` and ``interaction`` (the user→item edge type).

    Args:
        kg: the knowledge graph.
        vectors: a ``NodeVectors`` (``.vectors``) or a mapping label → ``[num_nodes, dim]`` array,
            row-aligned with ``kg.nodes[label]`` (default: None, no ``x``).
        relations: keep only these relation names (the interaction is always kept) (default: all).
        exclude_relations: drop these relation names (default: none).

    Shapes:
        ``data[label].x``: ``[num_nodes(label), dim]`` float32;
        ``data[edge_type].edge_index``: ``[2, num_edges]`` int64.
    """
    import torch
    from torch_geometric.data import HeteroData

    table = getattr(vectors, "vectors", vectors) or {}
    schema = kg.schema
    inter = tuple(schema.interaction)
    known = set(schema.relation_names())
    for name in [*(relations or []), *exclude_relations]:
        if name not in known:
            raise ConfigError(f"relation {name!r} is not in graph {kg.name!r}; relations: {', '.join(sorted(known))}")
    data = HeteroData()
    id_maps = {}
    for label in kg.nodes:
        n = kg.num_nodes(label)
        data[label].num_nodes = n
        id_maps[label] = IdMap.from_graph(kg, label)
        if label in table:
            x = np.asarray(table[label], dtype=np.float32)
            if x.ndim != 2 or x.shape[0] != n:
                raise InputError(f"text vectors of {label} have shape {x.shape}; expected [{n}, dim]")
            data[label].x = torch.from_numpy(np.ascontiguousarray(x))
    for et, df in kg.edges.items():
        et = tuple(et)
        if not len(df):
            continue
        if et != inter and ((relations is not None and et[1] not in relations) or et[1] in exclude_relations):
            continue
        ei = kg.edge_index(et)
        bad = (ei < 0).any(axis=0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{et[1]} edge {df['src'].iat[i]!r} -> {df['dst'].iat[i]!r} names an unknown node")
        ei = torch.from_numpy(np.ascontiguousarray(ei))
        data[et].edge_index = ei
        data[reverse_edge_type(et)].edge_index = ei.flip(0).contiguous()
    if inter not in data.edge_types:
        data[inter].edge_index = torch.empty(2, 0, dtype=torch.long)
        data[reverse_edge_type(inter)].edge_index = torch.empty(2, 0, dtype=torch.long)
    data.id_maps = id_maps
    data.user_type = schema.user_label
    data.item_type = schema.item_label
    data.interaction = inter
    return data


def train_graph(data, split: Split):
    """A copy of ``data`` whose interaction edges (both directions) are the training pairs only.

    Every other edge type is shared, unchanged. Validation and test interactions are absent, so
    no message can carry them.
    """
    import torch

    out = _shallow_copy(data)
    inter = tuple(data.interaction)
    ei = torch.from_numpy(np.ascontiguousarray(split.positives("train").astype(np.int64)))
    out[inter].edge_index = ei
    out[reverse_edge_type(inter)].edge_index = ei.flip(0).contiguous()
    return out


def _shallow_copy(data):
    from torch_geometric.data import HeteroData

    out = HeteroData()
    for nt in data.node_types:
        for key, value in data[nt].items():
            out[nt][key] = value
    for et in data.edge_types:
        for key, value in data[et].items():
            out[et][key] = value
    for key in ("id_maps", "user_type", "item_type", "interaction"):
        if key in data:
            out[key] = data[key]
    return out


# ------------------------------------------------------------------------------------------------
# Per-user item lists
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class UserItems:
    """Each user's items as a compressed sparse row structure (numpy only).

    ``items[indptr[u]:indptr[u + 1]]`` are the items of user ``u``, sorted.
    """

    indptr: np.ndarray
    indices: np.ndarray
    num_users: int
    num_items: int

    @classmethod
    def from_pairs(cls, pairs: np.ndarray, num_users: int, num_items: int) -> UserItems:
        pairs = np.unique(np.asarray(pairs, dtype=np.int64), axis=1) if pairs.shape[1] else pairs.astype(np.int64)
        counts = np.bincount(pairs[0], minlength=num_users) if pairs.shape[1] else np.zeros(num_users, np.int64)
        indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        return cls(indptr, np.ascontiguousarray(pairs[1]), num_users, num_items)

    def __getitem__(self, user: int) -> np.ndarray:
        return self.indices[self.indptr[user]:self.indptr[user + 1]]

    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    def pairs(self, users: np.ndarray | None = None) -> np.ndarray:
        """``[2, n]`` (position in ``users``, item) pairs of the given users (default: all)."""
        if users is None:
            users = np.arange(self.num_users)
        users = np.asarray(users, dtype=np.int64)
        counts = self.indptr[users + 1] - self.indptr[users]
        rows = np.repeat(np.arange(len(users)), counts)
        starts = np.repeat(self.indptr[users], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.stack([rows, self.indices[starts + offsets]])

    def dense(self, users: np.ndarray, *, device: Any = None) -> torch.Tensor:
        """A ``[len(users), num_items]`` bool tensor, True where the user has the item."""
        import torch

        p = torch.from_numpy(self.pairs(users))
        out = torch.zeros(len(users), self.num_items, dtype=torch.bool, device=device)
        out[p[0].to(out.device), p[1].to(out.device)] = True
        return out


# ------------------------------------------------------------------------------------------------
# Splits
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Split:
    """Interactions divided into train / validation / test (row positions of users and items).

    ``train``, ``valid``, ``test`` are ``[2, n]`` int64 arrays of ``(user, item)`` pairs. For the
    ``kgcn`` protocol ``*_labels`` hold a 0/1 label per pair (sampled negatives carry 0) and only
    the positive training pairs enter the graph; elsewhere the labels are None. ``cold_items`` are the
    items whose interactions all went to test and ``valid_cold_items`` those whose interactions all
    went to validation (``cold-items`` split): each part ranks among its own cold items
    (:meth:`candidates`), so the choices made on validation are made on the task the test measures.
    """

    kind: str
    seed: int
    num_users: int
    num_items: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    valid_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    cold_items: np.ndarray | None = None
    valid_cold_items: np.ndarray | None = None

    @property
    def labelled(self) -> bool:
        return self.test_labels is not None

    def positives(self, part: Literal["train", "valid", "test"]) -> np.ndarray:
        """The positive pairs of a part (``[2, n]``)."""
        pairs = getattr(self, part)
        labels = getattr(self, f"{part}_labels")
        return pairs if labels is None else pairs[:, labels > 0]

    def user_items(self, part: Literal["train", "valid", "test"]) -> UserItems:
        """The positive pairs of a part as a per-user item list (CSR)."""
        return UserItems.from_pairs(self.positives(part), self.num_users, self.num_items)

    def candidates(self, part: Literal["train", "valid", "test"]) -> np.ndarray | None:
        """The items a part ranks among: its cold items (``cold-items`` split), else None (all)."""
        return {"test": self.cold_items, "valid": self.valid_cold_items}.get(part)

    def summary(self) -> dict[str, Any]:
        out = {"kind": self.kind, "seed": self.seed, "train": int(self.positives("train").shape[1]),
               "valid": int(self.positives("valid").shape[1]), "test": int(self.positives("test").shape[1])}
        if self.cold_items is not None:
            out["cold_items"] = int(len(self.cold_items))
        if self.valid_cold_items is not None:
            out["valid_cold_items"] = int(len(self.valid_cold_items))
        return out


def split_interactions(kg: KnowledgeGraph, kind: SplitKind | str = "random", *, seed: int = 0,
                       valid: float = 0.1, test: float = 0.1) -> Split:
    """Split the interactions of ``kg`` deterministically from ``seed``.

    Args:
        kg: the graph; its ``schema.interaction`` edges are split.
        kind: ``random`` (per user: shuffle, ``valid``/``test`` fractions, at least one training
            pair per user; the default), ``temporal`` (per user by the ``timestamp`` property: the
            latest to test, the ones before to validation), ``cold-items`` (``test`` of the items
            with all their interactions to test, ``valid`` of the rest with all theirs to
            validation: both parts measure items the model never saw in training), ``kgcn``
            (KGCN's protocol: one sampled unobserved item per positive as a labelled negative, then
            a 6:2:2 random split of the labelled pairs; ``seed`` 555 unless given otherwise).
        seed: the random seed (default: 0).
        valid: fraction to validation (default: 0.1).
        test: fraction to test (default: 0.1).
    """
    kind = _canonical_split(kind)
    users = kg.node_index(kg.schema.user_label)
    items = kg.node_index(kg.schema.item_label)
    inter = kg.interactions
    ei = kg.edge_index(tuple(kg.schema.interaction))
    if (ei < 0).any():
        raise InputError("an interaction names an unknown user or item; validate the graph first")
    n_u, n_i = len(users), len(items)
    # All the work happens in "rank space" (users and items numbered by their sorted external ids),
    # so a split depends on the graph's content and the seed, not on the order in which a loader or
    # a store returned the rows; results are mapped back to row positions at the end.
    u_rank, i_rank = _ranks(users), _ranks(items)
    u_back, i_back = np.argsort(u_rank), np.argsort(i_rank)
    ranked = np.stack([u_rank[ei[0]], i_rank[ei[1]]]) if ei.shape[1] else ei
    order = np.lexsort((ranked[1], ranked[0]))
    ranked = ranked[:, order]
    rng = np.random.default_rng(seed)

    def back(p: np.ndarray, labels: np.ndarray | None = None):
        rows = np.stack([u_back[p[0]], i_back[p[1]]]).astype(np.int64) if p.shape[1] else p.astype(np.int64)
        o = np.lexsort((rows[1], rows[0]))
        return (np.ascontiguousarray(rows[:, o]), None if labels is None else labels[o])

    if kind == "random":
        parts = _per_user_split(ranked, rng.permutation(ranked.shape[1]), valid, test)
        return Split(kind, seed, n_u, n_i, *(back(p)[0] for p in parts))
    if kind == "temporal":
        if "timestamp" not in inter.columns or inter["timestamp"].isna().all():
            raise ConfigError(f"split 'temporal' needs a 'timestamp' property on {kg.schema.interaction[1]}; "
                              f"graph {kg.name!r} has none; splits: random, cold-items, kgcn")
        ts = inter["timestamp"].astype("Float64").fillna(-np.inf).to_numpy(dtype=np.float64)[order]
        tie = rng.random(len(ts))  # equal timestamps: a seeded order
        latest_first = np.lexsort((tie, ts))[::-1]
        parts = _per_user_split(ranked, latest_first, valid, test)
        return Split(kind, seed, n_u, n_i, *(back(p)[0] for p in parts))
    if kind == "cold-items":
        seen = np.unique(ranked[1])
        n_cold = max(1, int(round(test * len(seen))))
        cold = np.sort(rng.choice(seen, size=n_cold, replace=False))
        rest = np.setdiff1d(seen, cold, assume_unique=True)
        n_valid = min(len(rest) - 1, int(round(valid * len(seen)))) if len(rest) > 1 else 0
        valid_cold = np.sort(rng.choice(rest, size=max(n_valid, 0), replace=False))
        is_cold, is_valid = np.isin(ranked[1], cold), np.isin(ranked[1], valid_cold)
        return Split(kind, seed, n_u, n_i, back(ranked[:, ~is_cold & ~is_valid])[0], back(ranked[:, is_valid])[0],
                     back(ranked[:, is_cold])[0], cold_items=np.sort(i_back[cold]),
                     valid_cold_items=np.sort(i_back[valid_cold]))
    # kgcn: per user as many sampled unobserved items as positives, then 6:2:2 over labelled pairs
    catalogue = np.unique(ranked[1])  # KGCN samples from the items that occur in the rating file
    neg_u, neg_i = [], []
    bounds = np.flatnonzero(np.diff(ranked[0])) + 1
    for u, u_items in zip(ranked[0][np.r_[0, bounds]] if ranked.shape[1] else [],
                          np.split(ranked[1], bounds) if ranked.shape[1] else []):
        unwatched = np.setdiff1d(catalogue, u_items, assume_unique=True)
        k = min(len(u_items), len(unwatched))
        neg_i.append(rng.choice(unwatched, size=k, replace=False))
        neg_u.append(np.full(k, u))
    neg = np.stack([np.concatenate(neg_u), np.concatenate(neg_i)]) if neg_u else np.empty((2, 0), np.int64)
    rows = np.concatenate([ranked, neg], axis=1).astype(np.int64)
    labels = np.concatenate([np.ones(ranked.shape[1]), np.zeros(neg.shape[1])]).astype(np.int64)
    n = rows.shape[1]
    perm = rng.permutation(n)
    n_eval, n_test = int(n * 0.2), int(n * 0.2)
    ev, te, tr = perm[:n_eval], perm[n_eval:n_eval + n_test], perm[n_eval + n_test:]
    (tr_p, tr_l), (ev_p, ev_l), (te_p, te_l) = (back(rows[:, x], labels[x]) for x in (tr, ev, te))
    return Split(kind, seed, n_u, n_i, tr_p, ev_p, te_p, tr_l, ev_l, te_l)


def _ranks(index: pd.Index) -> np.ndarray:
    """Rank of each row's external id in sorted order."""
    order = np.argsort(index.to_numpy(dtype=str), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _canonical_split(kind: str) -> str:
    key = str(kind).lower().replace("_", "-")
    aliases = {"cold": "cold-items", "cold-item": "cold-items", "coldstart": "cold-items", "time": "temporal"}
    key = aliases.get(key, key)
    if key not in SPLITS:
        raise ConfigError(f"unknown split {kind!r}; splits: {', '.join(SPLITS)}")
    return key


def _per_user_split(pairs: np.ndarray, order: np.ndarray, valid: float, test: float):
    """Walk pairs in ``order`` per user: the first ``test`` fraction to test, the next ``valid``
    fraction to validation, the rest to train (at least one training pair per user)."""
    pairs = pairs[:, order]
    users = pairs[0]
    sort = np.argsort(users, kind="stable")  # keeps ``order`` within each user
    pairs = pairs[:, sort]
    users = pairs[0]
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1] if len(users) else np.array([], dtype=np.int64)
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)
    n = np.repeat(counts, counts)
    n_test = np.floor(n * test + 0.5).astype(np.int64)
    n_valid = np.floor(n * valid + 0.5).astype(np.int64)
    # keep at least one training pair per user
    n_test = np.minimum(n_test, n - 1)
    n_valid = np.clip(n_valid, 0, n - 1 - n_test)
    part = np.where(rank < n_test, 2, np.where(rank < n_test + n_valid, 1, 0))
    out = []
    for p in (0, 1, 2):
        sel = pairs[:, part == p]
        o = np.lexsort((sel[1], sel[0]))
        out.append(np.ascontiguousarray(sel[:, o]).astype(np.int64))
    return tuple(out)
