"""Scoring: the users' and items' vectors, top-k, similar items, MMR diversity, exclusions.

Top-k is one matrix–vector product over the item vectors (``numpy``, BLAS) and
``np.argpartition``: no torch, no per-item Python. Rows are the serving index's rows (the run's
order; rows after the run's have no vector and are never recommended).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kgrec.errors import InputError


def unit_rows(m: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (zero rows stay zero)."""
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norm, out=np.zeros_like(m), where=norm > 0)


class Scorer:
    """User and item vectors with what may be recommended to whom.

    Args:
        users: ``[num_user_rows, d]`` user vectors (rows without a vector: zeros).
        items: ``[num_item_rows, d]`` item vectors.
        known_users: bool per user row: the user can get recommendations.
        recommendable: bool per item row: the item can be recommended.
        similarity_dims: the leading item columns that item-item cosine (similar items, diversity)
            compares; the rest is a block a cold item has no value in yet (kgrec's closed-form
            block), which would otherwise rank every new item far from all others (default: all).

    Shapes:
        :meth:`scores` and :meth:`similarities` return ``[num_item_rows]`` float32.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, *, known_users: np.ndarray, recommendable: np.ndarray,
                 similarity_dims: int | None = None):
        self._users = np.ascontiguousarray(users, dtype=np.float32)
        self._items = np.ascontiguousarray(items, dtype=np.float32)
        self._sim_dims = similarity_dims or self._items.shape[1]
        self._item_unit = unit_rows(self._items[:, : self._sim_dims])
        self._known = np.asarray(known_users, dtype=bool).copy()
        self._recommendable = np.asarray(recommendable, dtype=bool).copy()
        if len(self._known) != len(self._users) or len(self._recommendable) != len(self._items):
            raise ValueError("one flag per user row and per item row")
        self._disliked: dict[int, set[int]] = {}

    # -- who and what ---------------------------------------------------------------------------
    @property
    def num_users(self) -> int:
        return int(self._known.sum())

    @property
    def num_items(self) -> int:
        return int(self._recommendable.sum())

    def known(self, user_row: int) -> bool:
        return 0 <= user_row < len(self._known) and bool(self._known[user_row])

    def recommendable(self, item_row: int) -> bool:
        return 0 <= item_row < len(self._recommendable) and bool(self._recommendable[item_row])

    def known_rows(self) -> np.ndarray:
        return np.flatnonzero(self._known)

    def recommendable_rows(self) -> np.ndarray:
        return np.flatnonzero(self._recommendable)

    def user_vector(self, user_row: int) -> np.ndarray:
        return self._users[user_row].copy()

    def item_unit(self, rows: np.ndarray) -> np.ndarray:
        """Unit-norm item vectors of some item rows."""
        return self._item_unit[np.asarray(rows, dtype=np.int64)]

    # -- scores ---------------------------------------------------------------------------------
    def scores(self, user_row: int, *, exclude: np.ndarray | None = None) -> np.ndarray:
        """``user · item`` for every item row; ``-inf`` for items that cannot be recommended, the
        ``exclude`` rows and the user's dislikes."""
        s = self._items @ self._users[user_row]
        s[~self._recommendable] = -np.inf
        if exclude is not None and len(exclude):
            s[np.asarray(exclude, dtype=np.int64)] = -np.inf
        disliked = self._disliked.get(user_row)
        if disliked:
            s[list(disliked)] = -np.inf
        return s

    def score_vector(self, vector: np.ndarray, *, exclude: np.ndarray | None = None, user_row: int | None = None
                     ) -> np.ndarray:
        """:meth:`scores` for any user vector (a session's, a fold-in); ``user_row``'s dislikes
        are left out too when given."""
        s = self.score_vectors(np.asarray(vector, dtype=np.float32).reshape(1, -1), exclude=exclude)[0]
        if user_row is not None and self._disliked.get(user_row):
            s[list(self._disliked[user_row])] = -np.inf
        return s

    def score_vectors(self, vectors: np.ndarray, *, exclude: np.ndarray | None = None) -> np.ndarray:
        """``user · item`` for user vectors that are not stored here (a user with an interaction
        taken out, for :mod:`kgrec.serving.fidelity`), with ``-inf`` for the items that cannot be
        recommended and the ``exclude`` rows.

        Shapes:
            vectors: ``[n, d]``; output: ``[n, num_item_rows]`` float32.
        """
        s = np.asarray(vectors, dtype=np.float32).reshape(-1, self._items.shape[1]) @ self._items.T
        s[:, ~self._recommendable] = -np.inf
        if exclude is not None and len(exclude):
            s[:, np.asarray(exclude, dtype=np.int64)] = -np.inf
        return s

    def similarities(self, item_row: int) -> np.ndarray:
        """Cosine of one item's vector with every item's (``-inf`` for itself and the items that
        cannot be recommended)."""
        sims = self._item_unit @ self._item_unit[item_row]
        sims[~self._recommendable] = -np.inf
        sims[item_row] = -np.inf
        return sims

    def top(self, scores: np.ndarray, k: int, *, diversity: float = 0.0) -> np.ndarray:
        """The rows of the ``k`` best finite scores, best first; with ``diversity > 0``, MMR over the
        ``max(5k, 100)`` best (item vectors' cosine as similarity).

        Shapes:
            scores: ``[num_item_rows]``; output: ``[<= k]`` item rows.
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if diversity <= 0 and k < len(scores):
            # one partial sort of the whole array: -inf (excluded) rows land last and are dropped
            part = np.argpartition(scores, len(scores) - k)[len(scores) - k:]
            part = part[np.isfinite(scores[part])]
            if len(part) == k or not np.isfinite(scores).sum() > len(part):
                return part[np.argsort(-scores[part], kind="stable")]
        finite = np.flatnonzero(np.isfinite(scores))
        if not len(finite):
            return finite
        if diversity <= 0:
            k = min(k, len(finite))
            part = finite[np.argpartition(-scores[finite], k - 1)[:k]]
            return part[np.argsort(-scores[part], kind="stable")]
        pool_size = min(len(finite), max(5 * k, 100))
        pool = finite[np.argpartition(-scores[finite], pool_size - 1)[:pool_size]]
        pool = pool[np.argsort(-scores[pool], kind="stable")]
        return mmr(scores[pool], self._item_unit[pool], k, diversity=diversity, ids=pool)

    # -- changes --------------------------------------------------------------------------------
    def set_user(self, user_row: int, vector: np.ndarray) -> None:
        """Give a user row a vector (rows are added up to it); the user can get recommendations."""
        self.set_users([user_row], np.asarray(vector).reshape(1, -1))

    def set_users(self, user_rows: Sequence[int], vectors: np.ndarray) -> None:
        """:meth:`set_user` for many rows at once (the matrix grows once)."""
        rows = np.asarray(user_rows, dtype=np.int64)
        if not len(rows):
            return
        if rows.max() >= len(self._users):
            grow = int(rows.max()) + 1 - len(self._users)
            self._users = np.vstack([self._users, np.zeros((grow, self._users.shape[1]), dtype=np.float32)])
            self._known = np.concatenate([self._known, np.zeros(grow, dtype=bool)])
        self._users[rows] = np.asarray(vectors, dtype=np.float32).reshape(len(rows), -1)
        self._known[rows] = True

    def add_item(self, item_row: int, vector: np.ndarray) -> None:
        """A new recommendable item at ``item_row`` (the next row)."""
        if item_row != len(self._items):
            raise ValueError(f"new item rows are appended: expected row {len(self._items)}, got {item_row}")
        v = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        self._items = np.vstack([self._items, v])
        self._item_unit = np.vstack([self._item_unit, unit_rows(v[:, : self._sim_dims])])
        self._recommendable = np.append(self._recommendable, True)

    def dislike(self, user_row: int, item_row: int) -> None:
        self._disliked.setdefault(user_row, set()).add(item_row)

    def undislike(self, user_row: int, item_row: int) -> None:
        self._disliked.get(user_row, set()).discard(item_row)

    def forget(self, user_row: int) -> None:
        """The user's vector and dislikes are gone; the row can no longer get recommendations."""
        if user_row < len(self._users):
            self._users[user_row] = 0.0
            self._known[user_row] = False
        self._disliked.pop(user_row, None)


# -- diversity ---------------------------------------------------------------------------------
def mmr(scores: np.ndarray, unit: np.ndarray, k: int, *, diversity: float, ids: np.ndarray | None = None
        ) -> np.ndarray:
    """Maximal marginal relevance: pick ``k`` of the candidates, each maximising
    ``(1 - λ)·relevance − λ·(max cosine to the items already picked)``, ``λ = diversity``.

    Relevance is the score min–max scaled to ``[0, 1]`` over the candidates, so λ trades on the
    same scale as the cosine. Returns ``ids`` (default: positions) of the picked candidates in order.

    Shapes:
        scores: ``[n]``; unit: ``[n, d]`` unit-norm rows; output: ``[min(k, n)]``.
    """
    n = len(scores)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if n == 0:
        return ids[:0]
    lo, hi = float(scores.min()), float(scores.max())
    rel = (scores - lo) / (hi - lo) if hi > lo else np.ones(n)
    picked: list[int] = []
    max_sim = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        value = (1 - diversity) * rel - diversity * max_sim if picked else rel.copy()
        value = np.where(available, value, -np.inf)
        j = int(np.argmax(value))
        picked.append(j)
        available[j] = False
        max_sim = np.maximum(max_sim, unit @ unit[j])
    return ids[np.asarray(picked)]


def intra_list_diversity(unit: np.ndarray) -> float:
    """``1 − mean pairwise cosine`` of a list's unit vectors (0 for fewer than two items)."""
    n = len(unit)
    if n < 2:
        return 0.0
    sims = unit @ unit.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


__all__ = ["Scorer", "intra_list_diversity", "mmr", "unit_rows"]
