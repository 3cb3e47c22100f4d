"""User profiles ("interest tags"): the attributes closest to what a user reads like.

A user's profile vector mixes two views of the user, both unit vectors:

- the vector of the user's own document (the tags they applied, the items they used most), and
- the mean of the vectors of the items they interacted with, weighted by the interaction's weight
  property (listening count, rating; ``log1p`` of it, so one obsessively played item does not
  drown the rest), or uniformly when the interaction has none;

``profile = normalise(mix * user_doc + (1 - mix) * items)``, ``mix`` = 0.5 by default. The
interest tags of a user are the ``k`` attribute nodes (every label that is neither the user nor
the item label: Tag, Genre, DbpediaEntity ...) whose vectors have the highest cosine similarity
with the profile. Only nodes with a readable name qualify (an opaque ``satori:123`` says nothing to
an analyst), and only those linked by at least ``min_degree`` edges (a tag used once is noise).
Scores are cosine similarities in [-1, 1]. One matrix product per batch of users, then top-k.

:func:`write_profiles` stores them as ``(:User)-[:INTERESTED_IN {score, rank}]->(attribute)`` edges,
replacing a user's previous ones, so analysts can query them in Cypher.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, SchemaError, UnknownUserError
from kgrec.kg import KnowledgeGraph

from .documents import _weight_column, display_names
from .embed import NodeVectors

logger = logging.getLogger(__name__)

INTERESTED_IN = "INTERESTED_IN"


@dataclass(frozen=True)
class InterestTag:
    """One attribute node a user is interested in, with its cosine ``score``."""

    label: str
    id: str
    name: str
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "id": self.id, "name": self.name, "score": self.score}


def attribute_labels(kg: KnowledgeGraph, vectors: NodeVectors | None = None) -> list[str]:
    """Labels that are neither the user nor the item label (and have vectors, when given)."""
    roles = {kg.schema.user_label, kg.schema.item_label}
    return [label for label in kg.nodes if label not in roles and (vectors is None or label in vectors.vectors)]


def named_labels(kg: KnowledgeGraph, labels: Iterable[str]) -> list[str]:
    """Those of ``labels`` with at least one node that has a readable name (candidates for tags)."""
    return [label for label in labels if display_names(kg, label).notna().any()]


def profile_vectors(kg: KnowledgeGraph, vectors: NodeVectors, *, mix: float = 0.5) -> np.ndarray:
    """One unit profile vector per user, rows aligned with ``kg.users``.

    Shapes:
        output: ``[num_users, dim]``, float32.
    """
    if not 0.0 <= mix <= 1.0:
        raise ConfigError(f"mix must lie in [0, 1], got {mix}")
    user, item = kg.schema.user_label, kg.schema.item_label
    vectors.check_aligned(kg)
    n_users = kg.num_nodes(user)
    parts = np.zeros((n_users, vectors.dim), dtype=np.float32)
    if mix > 0:
        parts += mix * vectors[user]
    if mix < 1 and item in vectors.vectors:
        et = tuple(kg.schema.interaction)
        ei = kg.edge_index(et)
        ok = (ei[0] >= 0) & (ei[1] >= 0)
        rel = kg.schema.relation(et)
        col = _weight_column(rel)
        if col is not None:
            w = kg.edges[et][col].to_numpy(dtype=np.float64, na_value=0.0)[ok]
            w = np.log1p(np.clip(w, 0.0, None))
        else:
            w = np.ones(int(ok.sum()))
        u, i = ei[0][ok], ei[1][ok]
        # weighted sum of item vectors per user, as a sparse product: A[u, i] = w
        items = np.zeros((n_users, vectors.dim), dtype=np.float64)
        np.add.at(items, u, w[:, None] * vectors[item][i])
        norms = np.linalg.norm(items, axis=1, keepdims=True)
        items = np.divide(items, norms, out=np.zeros_like(items), where=norms > 0)
        parts += (1.0 - mix) * items.astype(np.float32)
    norms = np.linalg.norm(parts, axis=1, keepdims=True)
    return np.divide(parts, norms, out=np.zeros_like(parts), where=norms > 0)


def _candidates(kg: KnowledgeGraph, vectors: NodeVectors, labels: Sequence[str], min_degree: int
                ) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    mats, meta = [], []
    for label in labels:
        names = display_names(kg, label)
        degree = np.zeros(kg.num_nodes(label), dtype=np.int64)
        for et in kg.edges:
            ei = kg.edge_index(et)
            for side, end in ((0, et[0]), (1, et[2])):
                if end == label:
                    rows = ei[side][ei[side] >= 0]
                    degree += np.bincount(rows, minlength=len(degree))
        keep = names.notna().to_numpy(dtype=bool) & (degree >= min_degree)
        rows = np.flatnonzero(keep)
        mats.append(vectors[label][rows])
        ids = kg.nodes[label]["id"].to_numpy(dtype=object)
        meta += [(label, str(ids[r]), str(names.iat[r])) for r in rows]
    matrix = np.concatenate(mats) if mats else np.zeros((0, vectors.dim), dtype=np.float32)
    return np.ascontiguousarray(matrix, dtype=np.float32), meta


def interest_tags(kg: KnowledgeGraph, vectors: NodeVectors, *, k: int = 10, labels: Iterable[str] | None = None,
                  users: Iterable[str] | None = None, mix: float = 0.5, min_degree: int = 2,
                  batch_size: int = 1024) -> dict[str, list[InterestTag]]:
    """The ``k`` attribute nodes closest to each user's profile vector.

    Args:
        kg: the graph the vectors were made from.
        vectors: :func:`~kgrec.text.embed_graph`'s output for ``kg`` (user, item and attribute labels).
        k: interest tags per user (default: 10).
        labels: the attribute labels to choose from (default: every label but user and item).
        users: the user ids (default: every user).
        mix: weight of the user's own document against their items (default: 0.5).
        min_degree: edges an attribute needs to qualify (default: 2).
        batch_size: users per matrix product (default: 1024).

    Returns:
        user id → interest tags, best first.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    labels = attribute_labels(kg, vectors) if labels is None else list(labels)
    for label in labels:
        if label in (kg.schema.user_label, kg.schema.item_label):
            raise SchemaError(f"{label!r} is the user or item label, not an attribute label")
        if label not in vectors.vectors:
            raise SchemaError(f"no vectors for label {label!r}; embed it first (have: {', '.join(vectors.vectors)})")
    profiles = profile_vectors(kg, vectors, mix=mix)
    index = kg.node_index(kg.schema.user_label)
    if users is None:
        rows = np.arange(len(index))
    else:
        wanted = [str(u) for u in users]
        rows = index.get_indexer(wanted)
        if (rows < 0).any():
            missing = [u for u, r in zip(wanted, rows) if r < 0]
            raise UnknownUserError(f"user {missing[0]!r} is not in graph {kg.name!r}")
    matrix, meta = _candidates(kg, vectors, labels, min_degree)
    out: dict[str, list[InterestTag]] = {}
    if len(meta) == 0:
        return {str(index[r]): [] for r in rows}
    kk = min(k, len(meta))
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        scores = profiles[batch] @ matrix.T
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        for r, cols, vals in zip(batch, top, top_scores):
            out[str(index[r])] = [InterestTag(*meta[c], float(v)) for c, v in zip(cols, vals)]
    return out


def profiles_frame(profiles: Mapping[str, Sequence[InterestTag]]) -> pd.DataFrame:
    """Profiles as one table: ``user``, ``rank`` (1 = best), ``label``, ``id``, ``name``, ``score``."""
    rows = [(user, rank, t.label, t.id, t.name, t.score)
            for user, tags in profiles.items() for rank, t in enumerate(tags, start=1)]
    return pd.DataFrame(rows, columns=["user", "rank", "label", "id", "name", "score"])


def write_profiles(store, profiles: Mapping[str, Sequence[InterestTag]], *, graph: str | None = None,
                   user_label: str | None = None) -> int:
    """Store profiles as ``(:User)-[:INTERESTED_IN {score, rank}]->(attribute)`` edges.

    A written user's old ``INTERESTED_IN`` edges (to any label) are deleted first, so the stored
    profile is exactly the new one. New relation types extend the stored schema (the store's
    ``upsert_edges`` does that). Returns the number of edges written.
    """
    schema = store.schema(graph=graph)
    user_label = user_label or schema.user_label
    users = [str(u) for u in profiles]
    if not users:
        return 0
    for et in schema.edge_types:
        if et[0] == user_label and et[1] == INTERESTED_IN:
            store.delete_edges(et, src=users, graph=graph)
    table = profiles_frame(profiles)
    written = 0
    for label, part in table.groupby("label", sort=True):
        rows = pd.DataFrame({"src": part["user"].astype(str).to_numpy(), "dst": part["id"].astype(str).to_numpy(),
                             "score": part["score"].astype(float).to_numpy(),
                             "rank": part["rank"].astype("int64").to_numpy()})
        written += store.upsert_edges((user_label, INTERESTED_IN, str(label)), rows, graph=graph)
    logger.info("wrote %d interest tags for %d users", written, len(users))
    return written


def read_profiles(store, user: str, *, graph: str | None = None, user_label: str | None = None) -> list[InterestTag]:
    """A user's stored interest tags, best first (empty when none were written)."""
    from kgrec.kg.schema import check_label

    schema = store.schema(graph=graph)
    user_label = check_label(user_label or schema.user_label)
    if not any(et[0] == user_label and et[1] == INTERESTED_IN for et in schema.edge_types):
        return []
    result = store.query(
        f"MATCH (u:{user_label} {{id: $user}})-[r:{INTERESTED_IN}]->(a) "
        "RETURN labels(a)[0] AS label, a.id AS id, coalesce(a.name, a.id) AS name, r.score AS score "
        "ORDER BY r.score DESC", {"user": str(user)}, graph=graph)
    return [InterestTag(str(label), str(id_), str(name), float(score)) for label, id_, name, score in result.rows]
