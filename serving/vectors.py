"""Unit-norm trained vectors per label, aligned with the serving index's rows, and hop supports.

A hop ``a → b`` of an explanation path gets the *support* ``max(cos(v_a, v_b), ε)``: how strongly
the trained model ties its two ends (see :mod:`kgrec.serving.search` for the path score).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .index import GraphIndex

logger = logging.getLogger(__name__)

EPSILON = 1e-3
"""Smallest hop support: a hop whose vectors point away from each other still counts a little."""
NEUTRAL_SUPPORT = 0.5
"""Support of a hop when one of its nodes has no trained vector."""
_BLOCK = 1 << 18  # hops per block in UnitVectors.supports (bounds its memory: ~2 × 64 MiB at width 64)


class UnitVectors:
    """Row-normalised float32 vectors per label, aligned with a :class:`GraphIndex`'s rows.

    Rows without a vector (zero, or past the end of the given array) are flagged missing: their
    hops get :data:`NEUTRAL_SUPPORT`.
    """

    def __init__(self, index: GraphIndex, vectors: Mapping[str, np.ndarray]):
        self._code = dict(index.code)
        self._unit: dict[str, np.ndarray] = {}
        self._has: dict[str, np.ndarray] = {}
        self.dirty: set[int] = set()  # keys of nodes whose vector changed after load
        dims = {np.asarray(v).shape[1] for v in vectors.values() if np.asarray(v).ndim == 2}
        # Models append columns to user and item vectors after the space every label shares (an
        # item-bias column, kgrec's closed-form block): supports compare the shared leading columns.
        self._width = min(dims) if dims else 0
        if len(dims) > 1:
            logger.info("node vectors have widths %s: hop supports compare their first %d columns",
                        sorted(dims), self._width)
        for label in index.labels:
            v = vectors.get(label)
            if v is None:
                continue
            v = np.asarray(v, dtype=np.float32)
            v = v[:, : self._width] if v.ndim == 2 else v
            n = index.num_nodes(label)
            if v.ndim != 2 or v.shape[0] > n:
                raise ValueError(f"vectors of {label} have shape {v.shape}; expected at most "
                                 f"[{n}, dim] aligned with the index's {label} rows")
            if v.shape[0] < n:  # the rows after the run's: nodes the run does not know
                v = np.vstack([v, np.zeros((n - v.shape[0], v.shape[1]), dtype=np.float32)])
            norm = np.linalg.norm(v, axis=1, keepdims=True)
            self._has[label] = (norm[:, 0] > 0) & np.isfinite(norm[:, 0])
            self._unit[label] = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)

    def set(self, label: str, row: int, vector: np.ndarray) -> None:
        """Set (or append) one row's vector."""
        if label not in self._unit:
            return
        v = np.asarray(vector, dtype=np.float32).reshape(-1)[: self._width]
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

    def width(self, label: str) -> int:
        """The vectors' width of a label (0 for a label without vectors)."""
        unit = self._unit.get(label)
        return 0 if unit is None else int(unit.shape[1])

    def unit(self, label: str, row: int) -> np.ndarray | None:
        """One row's unit vector (a copy; None for a label without vectors)."""
        unit = self._unit.get(label)
        return None if unit is None or row >= len(unit) else unit[row].copy()

    def supports(self, label_a: str, rows_a: np.ndarray, label_b: str, rows_b: np.ndarray) -> np.ndarray:
        """Hop supports ``max(cos, ε)`` for pairs of rows (neutral where a vector is missing)."""
        n = len(rows_a)
        ua, ub = self._unit.get(label_a), self._unit.get(label_b)
        if ua is None or ub is None or ua.shape[1] != ub.shape[1]:
            return np.full(n, NEUTRAL_SUPPORT, dtype=np.float64)
        rows_a = np.asarray(rows_a, dtype=np.int64)
        rows_b = np.asarray(rows_b, dtype=np.int64)
        out = np.empty(n, dtype=np.float64)
        # In blocks: the gathered vectors of every hop at once would be hops × width floats twice
        # (20 M hops × 64 floats ≈ 10 GiB at load on the 1 M-user graph).
        for lo in range(0, n, _BLOCK):
            a, b = rows_a[lo: lo + _BLOCK], rows_b[lo: lo + _BLOCK]
            ok = (a < len(ua)) & (b < len(ub))
            ra, rb = np.where(ok, a, 0), np.where(ok, b, 0)
            cos = np.einsum("ij,ij->i", ua[ra], ub[rb]).astype(np.float64)
            ok &= self._has[label_a][ra] & self._has[label_b][rb]
            out[lo: lo + _BLOCK] = np.where(ok, np.maximum(cos, EPSILON), NEUTRAL_SUPPORT)
        return out



__all__ = ["EPSILON", "NEUTRAL_SUPPORT", "UnitVectors"]
