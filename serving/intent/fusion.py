"""Fusion: how the collaborative (GNN) score and the intent (text) score make one list.

Both inputs are score arrays over the item rows of the serving index, ``-inf`` where an item may not
be recommended (seen, excluded, filtered, unknown). Each list is first **normalised** on its own:
:func:`standardise` turns the finite scores into z-scores (mean 0, standard deviation 1 over the
items that may be recommended), so a dot product of GNN vectors and a cosine of text vectors trade
on one scale. Every mode returns a score array of the same shape, ``-inf`` for what it leaves out,
so the caller takes the top ``k`` (and MMR diversity) the same way for every mode.

=============  ===========================================================================
``weighted``   ``weight · z(collaborative) + (1 − weight) · z(intent)``: a convex combination
               after per-list normalisation ("weighted" fusion); ``weight`` = 1 is the
               collaborative list, 0 is text-only retrieval
``rerank``     the collaborative list's ``depth`` best items, re-ordered by the intent score
               (ties by the collaborative one): the "sequential" fusion
``union``      the intent list and the collaborative list interleaved, intent first, without
               duplicates, ``depth`` deep: the "parallel" fusion
=============  ===========================================================================

The modes are registered in :data:`FUSIONS` (looked up case- and dash-insensitively; an unknown
name lists the choices).

Shapes:
    collaborative, intent and every output: ``[num_item_rows]`` float64.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kgrec.resolver import Registry


class Fusion(Protocol):
    """A fusion mode: two score arrays → one (``-inf`` = left out)."""

    def __call__(self, collaborative: np.ndarray, intent: np.ndarray, *, weight: float, depth: int) -> np.ndarray:
        ...


def standardise(scores: np.ndarray) -> np.ndarray:
    """Z-scores of the finite entries (``-inf`` stays); a constant list becomes zeros."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.full(s.shape, -np.inf)
    ok = np.isfinite(s)
    if not ok.any():
        return out
    values = s[ok]
    std = float(values.std())
    out[ok] = (values - float(values.mean())) / std if std > 0 else 0.0
    return out


def _common(collaborative: np.ndarray, intent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both lists over the items both may rank (``-inf`` elsewhere), so each is normalised over
    the same candidates."""
    c, t = np.asarray(collaborative, dtype=np.float64), np.asarray(intent, dtype=np.float64)
    ok = np.isfinite(c) & np.isfinite(t)
    return np.where(ok, c, -np.inf), np.where(ok, t, -np.inf)


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows of the ``n`` best finite scores, best first (stable on ties)."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > n:
        finite = finite[np.argpartition(-scores[finite], n - 1)[:n]]
    return finite[np.argsort(-scores[finite], kind="stable")]


def weighted(collaborative: np.ndarray, intent: np.ndarray, *, weight: float, depth: int) -> np.ndarray:
    """``weight · z(collaborative) + (1 − weight) · z(intent)`` (see the module docs)."""
    c, t = (standardise(x) for x in _common(collaborative, intent))
    out = weight * np.where(np.isfinite(c), c, 0.0) + (1.0 - weight) * np.where(np.isfinite(t), t, 0.0)
    out[~(np.isfinite(c) & np.isfinite(t))] = -np.inf
    return out


def rerank(collaborative: np.ndarray, intent: np.ndarray, *, weight: float, depth: int) -> np.ndarray:
    """The collaborative list's ``depth`` best items, ordered by the intent score (see the module docs)."""
    c, t = (standardise(x) for x in _common(collaborative, intent))
    pool = _best(c, depth)
    out = np.full(c.shape, -np.inf)
    if len(pool):
        # the collaborative z-score only breaks ties: scaled below the smallest intent difference
        spread = float(np.ptp(c[pool])) or 1.0
        out[pool] = t[pool] + 1e-6 * (c[pool] - c[pool].min()) / spread
    return out


def union(collaborative: np.ndarray, intent: np.ndarray, *, weight: float, depth: int) -> np.ndarray:
    """The two lists interleaved, intent first, without duplicates (see the module docs)."""
    c, t = _common(collaborative, intent)
    first, second = _best(t, depth), _best(c, depth)
    out = np.full(np.shape(collaborative), -np.inf)
    position = 0
    for a, b in zip(first.tolist(), second.tolist()):
        for row in (a, b):
            if not np.isfinite(out[row]):
                out[row] = -float(position)
                position += 1
    for row in (first[len(second):].tolist() + second[len(first):].tolist()):
        if not np.isfinite(out[row]):
            out[row] = -float(position)
            position += 1
    return out


FUSIONS: Registry[Fusion] = Registry("fusion mode")
"""The fusion modes by name: ``weighted`` (alias ``convex``), ``rerank`` (``sequential``), ``union``
(``parallel``, ``interleave``)."""
FUSIONS.register("weighted", weighted, aliases=("convex",))
FUSIONS.register("rerank", rerank, aliases=("sequential", "re-rank"))
FUSIONS.register("union", union, aliases=("parallel", "interleave"))


__all__ = ["FUSIONS", "Fusion", "rerank", "standardise", "union", "weighted"]
