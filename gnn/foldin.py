"""Vectors for new users and new items without retraining, the way each model scores.

A trained model hands over two small recipes, saved in the run directory:

- :class:`FoldIn` — a user vector from a few interactions. For the propagation models it is one
  propagation layer run for a new user node: each interacted item contributes its precomputed
  *basis* row (the item's per-layer states, scaled by its degree and the layer weights), and the sum
  is normalised by the square root of the user's degree, as LightGCN's symmetric normalisation
  does. Other models: a ridge solve against the item vectors (BPR-MF), a sum (ItemKNN), a mean
  (text kNN), or a constant (most popular).
- :class:`ColdStart` — an item vector from its text vector and its KG neighbours: the model's text
  projection gives the item's own layer-0 state, and the neighbours' basis rows carry the rest of the
  propagation, normalised by the new item's degree.

Both are numpy-only, so serving needs no torch model to use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kgrec.errors import InputError, KgrecError

FoldInKind = Literal["propagate", "ridge", "sum", "mean", "constant"]


class NotSupportedError(KgrecError, NotImplementedError):
    """The model of this run cannot do what was asked (e.g. an item from text for BPR-MF)."""


def _weights(items: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return np.ones(len(items), dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(items):
        raise InputError(f"{len(w)} weights for {len(items)} items")
    if (w < 0).any() or not np.isfinite(w).all():
        raise InputError("weights must be finite and non-negative")
    return w


@dataclass(frozen=True, eq=False)
class FoldIn:
    """A user vector from interacted items.

    Args:
        kind: ``propagate`` (``Σ w·basis / sqrt(Σ w)``), ``ridge`` (``(Σ w·basis) @ post``),
            ``sum``, ``mean`` or ``constant``.
        basis: ``[num_items, d_basis]`` rows combined per interacted item.
        post: ``[d_basis, d]`` matrix applied after the sum (``ridge``) (default: None).
        constant: the vector of ``constant`` (default: None).
        normalize: L2-normalise the combined vector (models that score by cosine) (default: False).
        append: a constant appended as the last coordinate, after normalising (the user side of a
            per-item score offset kept as one more column) (default: None, nothing appended).
        scale: multiplies the vector after normalising and appending (default: 1).
        tail: a second recipe whose vector is appended to this one's, for models whose score is a
            sum of two parts (kgrec's GNN and closed-form blocks) (default: None).
    """

    kind: FoldInKind
    basis: np.ndarray
    post: np.ndarray | None = None
    constant: np.ndarray | None = None
    normalize: bool = False
    append: float | None = None
    scale: float = 1.0
    tail: FoldIn | None = None

    def apply(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The user vector (float32 ``[d]``) of someone who interacted with ``items``."""
        head = self._apply(items, weights)
        if self.scale != 1.0:
            head = (head * np.float32(self.scale)).astype(np.float32)
        if self.tail is None:
            return head
        return np.concatenate([head, self.tail.apply(items, weights)]).astype(np.float32)

    def apply_many(self, item_lists: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors (float32 ``[n, d]``) of ``n`` users at once, each from its interacted items with
        unit weights: row ``i`` equals ``apply(item_lists[i])`` (to float32 rounding). One sparse
        product for the whole batch instead of a Python call per user (the live consumer folds in
        thousands of users a second)."""
        head = self._apply_many(item_lists)
        if self.scale != 1.0:
            head = (head * np.float32(self.scale)).astype(np.float32)
        if self.tail is None:
            return head
        return np.concatenate([head, self.tail.apply_many(item_lists)], axis=1).astype(np.float32)

    def _apply_many(self, item_lists: Sequence[np.ndarray]) -> np.ndarray:
        n = len(item_lists)
        if self.kind == "constant":
            return np.tile(np.asarray(self.constant, dtype=np.float32).reshape(1, -1), (n, 1))
        lists = [np.asarray(x, dtype=np.int64).reshape(-1) for x in item_lists]
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=n)
        items = np.concatenate(lists) if n else np.empty(0, dtype=np.int64)
        if len(items) and (items.min() < 0 or items.max() >= len(self.basis)):
            raise InputError(f"item index out of range 0..{len(self.basis) - 1}")
        from scipy import sparse

        # one sparse (users × items) product: no [items, d] copy of the rows (the closed-form block's
        # basis is thousands of columns wide); float32 sums, as the basis is
        indptr = np.concatenate([[0], np.cumsum(counts)])
        pick = sparse.csr_matrix((np.ones(len(items), dtype=np.float32), items, indptr), shape=(n, len(self.basis)))
        total = np.asarray(pick @ self.basis, dtype=np.float64)
        w = counts.astype(np.float64)[:, None]
        if self.kind == "propagate":
            total = np.divide(total, np.sqrt(w), out=total, where=w > 0)
        elif self.kind == "mean":
            total = np.divide(total, w, out=total, where=w > 0)
        elif self.kind == "ridge":
            total = total @ self.post
        if self.normalize:
            norm = np.linalg.norm(total, axis=1, keepdims=True)
            total = np.divide(total, norm, out=total, where=norm > 0)
        if self.append is not None:
            total = np.hstack([total, np.full((n, 1), self.append)])
        return total.astype(np.float32)

    def _apply(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        if self.kind == "constant":
            return np.asarray(self.constant, dtype=np.float32).copy()
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        if len(items) and (items.min() < 0 or items.max() >= len(self.basis)):
            raise InputError(f"item index out of range 0..{len(self.basis) - 1}")
        w = _weights(items, weights)
        total = (w[:, None] * self.basis[items].astype(np.float64)).sum(0) if len(items) else \
            np.zeros(self.basis.shape[1])
        if self.kind == "propagate":
            total = total / np.sqrt(w.sum()) if w.sum() > 0 else total
        elif self.kind == "mean":
            total = total / w.sum() if w.sum() > 0 else total
        elif self.kind == "ridge":
            total = total @ self.post
        return _finish(total, self.normalize, self.append)

    def meta(self) -> dict:
        out = {"kind": self.kind, "normalize": self.normalize, "append": self.append}
        if self.scale != 1.0:
            out["scale"] = self.scale
        if self.tail is not None:
            out["tail"] = self.tail.meta()
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        out = {"basis": self.basis}
        if self.post is not None:
            out["post"] = self.post
        if self.constant is not None:
            out["constant"] = self.constant
        if self.tail is not None:
            out.update({f"tail.{k}": v for k, v in self.tail.tensors().items()})
        return out

    @classmethod
    def from_tensors(cls, kind: str, tensors: Mapping[str, np.ndarray], meta: Mapping | None = None) -> FoldIn:
        meta = meta or {}
        append = meta.get("append")
        tail = None
        if meta.get("tail") is not None:
            tail = cls.from_tensors(meta["tail"]["kind"], {k[len("tail."):]: v for k, v in tensors.items()
                                                           if k.startswith("tail.")}, meta["tail"])
        return cls(kind, tensors["basis"], tensors.get("post"), tensors.get("constant"),  # type: ignore[arg-type]
                   bool(meta.get("normalize", False)), None if append is None else float(append),
                   float(meta.get("scale", 1.0)), tail)


def _finish(vector: np.ndarray, normalize: bool, append: float | None) -> np.ndarray:
    if normalize:
        n = np.linalg.norm(vector)
        vector = vector / n if n > 0 else vector
    if append is not None:
        vector = np.append(vector, append)
    return np.asarray(vector, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class ColdStart:
    """An item vector from its text vector and KG neighbours.

    ``vector = self_coef · (text_weight @ text + text_bias) + Σ_label w_label Σ_n basis[label][n]
    / sqrt(Σ_label w_label · |neighbours[label]|)``; with ``per_label`` each label is normalised on its
    own, ``Σ_label w_label Σ_n basis[label][n] / sqrt(|neighbours[label]|)`` (relation-normalised
    propagation).

    Args:
        text_weight: ``[d, text_dim]``.
        text_bias: ``[d]`` or None.
        self_coef: the weight of the item's own layer-0 state in the final vector.
        basis: label → ``[num_nodes(label), d]`` neighbour rows (default: none).
        weights: label → the weight of messages from that label to items (default: 1 each).
        normalize: L2-normalise the result (models that score by cosine) (default: False).
        per_label: normalise each label's neighbours on their own (default: False).
        append: a constant appended as the last coordinate, after normalising (a new item's score
            offset, for models that keep one as one more column) (default: None, nothing appended).
        pad: zeros appended after that, for a block of the item vectors that a new item has no value
            in yet (kgrec's closed-form block) (default: 0).
    """

    text_weight: np.ndarray
    text_bias: np.ndarray | None = None
    self_coef: float = 1.0
    basis: Mapping[str, np.ndarray] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    normalize: bool = False
    per_label: bool = False
    append: float | None = None
    pad: int = 0

    @property
    def text_dim(self) -> int:
        return int(self.text_weight.shape[1])

    def apply(self, text_vector: np.ndarray | None,
              neighbours: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The vector (float32 ``[d]``) of a new item."""
        d = self.text_weight.shape[0]
        out = np.zeros(d, dtype=np.float64)
        if text_vector is not None:
            x = np.asarray(text_vector, dtype=np.float64).reshape(-1)
            if len(x) != self.text_dim:
                raise InputError(f"text vector has {len(x)} dimensions; this run's model takes {self.text_dim}")
            own = self.text_weight.astype(np.float64) @ x
            if self.text_bias is not None:
                own = own + self.text_bias
            out += self.self_coef * own
        total, degree = np.zeros(d), 0.0
        for label, idx in (neighbours or {}).items():
            idx = np.asarray(idx, dtype=np.int64).reshape(-1)
            if not len(idx):
                continue
            if label not in self.basis:
                raise InputError(f"this run has no {label} nodes to link a new item to; "
                                 f"labels: {', '.join(self.basis) or 'none'}")
            rows = self.basis[label]
            if idx.min() < 0 or idx.max() >= len(rows):
                raise InputError(f"{label} index out of range 0..{len(rows) - 1}")
            w = float(self.weights.get(label, 1.0))
            if self.per_label:
                out += w * rows[idx].astype(np.float64).sum(0) / np.sqrt(len(idx))
            else:
                total += w * rows[idx].astype(np.float64).sum(0)
                degree += w * len(idx)
        if degree > 0:
            out += total / np.sqrt(degree)
        vector = _finish(out, self.normalize, self.append)
        return np.concatenate([vector, np.zeros(self.pad, np.float32)]) if self.pad else vector

    def tensors(self) -> dict[str, np.ndarray]:
        out = {"text_weight": self.text_weight}
        if self.text_bias is not None:
            out["text_bias"] = self.text_bias
        for label, rows in self.basis.items():
            out[f"basis.{label}"] = rows
        return out

    def meta(self) -> dict:
        out = {"self_coef": self.self_coef, "weights": dict(self.weights), "normalize": self.normalize,
               "per_label": self.per_label, "append": self.append}
        if self.pad:
            out["pad"] = self.pad
        return out

    @classmethod
    def from_tensors(cls, meta: Mapping, tensors: Mapping[str, np.ndarray]) -> ColdStart:
        basis = {k[len("basis."):]: v for k, v in tensors.items() if k.startswith("basis.")}
        return cls(tensors["text_weight"], tensors.get("text_bias"), float(meta.get("self_coef", 1.0)), basis,
                   {k: float(v) for k, v in meta.get("weights", {}).items()}, bool(meta.get("normalize", False)),
                   bool(meta.get("per_label", False)), None if meta.get("append") is None else float(meta["append"]),
                   int(meta.get("pad", 0)))
