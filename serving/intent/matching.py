"""Queries as vectors, and what they match: attributes by name, items by text.

:class:`QueryEncoder` turns a text into a unit vector with the run's text model, at most one
encoder call per distinct text: an in-memory LRU by text first, then the content-addressed text
cache (:class:`kgrec.text.VectorCache`, shared with training), then the encoder (whose vector is
put into both).

:class:`Matcher` scores a query vector ``q`` against the intent vectors (:mod:`.vectors`):

- **attributes** (:meth:`Matcher.attributes`): cosine of ``q`` with every attribute's name vector;
  an attribute whose name *is* the text (case-insensitive) counts as cosine 1. The best
  ``attributes`` of them match, provided their cosine is at least ``min_similarity`` and at least
  ``relative_similarity`` times the best one's.
- **the intent score of each item** (:meth:`Matcher.intent_scores`)::

      intent(i) = (1 − item_text) · max{ cos(q, a) : a matched, a linked to i }   (0 if none)
                +      item_text  · max(cos(q, t_i), 0)

  where ``t_i`` is the item's document vector: the attributes say *which* items carry what was
  asked for, the item's own text ranks the rest. Both terms lie in ``[0, 1]``.

Shapes:
    ``q``: ``[dim]`` float32 unit; item score arrays: ``[num_item_rows]`` float64.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .vectors import IntentVectors, attribute_labels

if TYPE_CHECKING:
    from kgrec.text import TextEncoder, VectorCache

    from ..index import GraphIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttributeMatch:
    """An attribute node a query or a phrase matched, with the cosine of their text vectors."""

    label: str
    id: str
    name: str
    similarity: float
    row: int

    def to_dict(self) -> dict:
        return {"label": self.label, "id": self.id, "name": self.name, "similarity": self.similarity}


class QueryEncoder:
    """Texts → unit vectors with the run's text model, cached by text (see the module docs).

    Args:
        encoder: returns the run's :class:`~kgrec.text.TextEncoder` (called on the first miss).
        cache: the text cache (default: None = ``VectorCache()`` under the kgrec home; False: none).
        size: texts kept in memory (default: 4096).
    """

    def __init__(self, encoder: Callable[[], TextEncoder], *, cache: VectorCache | Literal[False] | None = None,
                 size: int = 4096):
        self._encoder = encoder
        self._cache = cache
        self.size = size
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.encoder_calls = 0  # texts that reached the encoder (tests and benchmarks read it)

    @property
    def encoder(self) -> TextEncoder:
        """The run's text encoder (loaded on its first encode)."""
        return self._encoder()

    @property
    def fingerprint(self) -> str:
        return self._encoder().fingerprint

    def _text_cache(self) -> VectorCache | Literal[False]:
        if self._cache is None:
            from kgrec.text import VectorCache

            self._cache = VectorCache()
        return self._cache

    def encode(self, text: str) -> np.ndarray:
        """The unit vector of ``text`` (float32 ``[dim]``; a read-only array shared by callers)."""
        with self._lock:
            hit = self._memory.get(text)
            if hit is not None:
                self._memory.move_to_end(text)
                return hit
        encoder = self._encoder()
        cache = self._text_cache()
        vector = None
        if cache is not False:
            found = cache.get(encoder.fingerprint, [text])
            if found.found[0]:
                vector = found.vectors[0]
        if vector is None:
            vector = encoder.encode([text])[0]
            self.encoder_calls += 1
            if cache is not False:
                cache.put(encoder.fingerprint, [text], vector[None, :], model_id=encoder.model_id)
        vector = np.asarray(vector, dtype=np.float32)
        vector.setflags(write=False)
        with self._lock:
            if self.size:
                self._memory[text] = vector
                self._memory.move_to_end(text)
                while len(self._memory) > self.size:
                    self._memory.popitem(last=False)
        return vector


class Matcher:
    """Attributes and items that a query vector matches (see the module docs).

    Args:
        index: the serving index.
        vectors: the intent vectors, in the index's rows.
        attributes: matches kept at most (default: 5).
        min_similarity: the least cosine of a match (default: 0.5).
        relative_similarity: the least fraction of the best match's cosine (default: 0.85).
        item_text: the item text's share of the intent score (default: 0.3).
    """

    def __init__(self, index: GraphIndex, vectors: IntentVectors, *, attributes: int = 5,
                 min_similarity: float = 0.5, relative_similarity: float = 0.85, item_text: float = 0.3):
        self.index = index
        self.vectors = vectors
        self.k = attributes
        self.min_similarity = min_similarity
        self.relative_similarity = relative_similarity
        self.item_text = item_text
        self.item_label = index.schema.item_label
        self.labels = [label for label in attribute_labels(index) if label in vectors.spans
                       and label != self.item_label and vectors.has(label).any()]
        self._valid = {label: vectors.has(label) & index.present(label)[:len(vectors.has(label))]
                       for label in self.labels}  # rows that can match: a text vector, in the graph
        self._names: dict[str, list[tuple[str, int]]] | None = None
        self._to_items = {label: [s for s in index.steps_from[label] if index.steps[s].target == self.item_label]
                          for label in self.labels}
        self._lock = threading.Lock()

    def _by_name(self) -> dict[str, list[tuple[str, int]]]:
        with self._lock:
            if self._names is None:
                names: dict[str, list[tuple[str, int]]] = {}
                for label in self.labels:
                    has = self.vectors.has(label)
                    for row in np.flatnonzero(has).tolist():
                        names.setdefault(" ".join(self.index.name(label, row).casefold().split()), []).append(
                            (label, row))
                self._names = names
            return self._names

    def attributes(self, q: np.ndarray, *, text: str | None = None, k: int | None = None,
                   min_similarity: float | None = None) -> list[AttributeMatch]:
        """The attributes ``q`` matches, best first (see the module docs)."""
        k = self.k if k is None else k
        floor = self.min_similarity if min_similarity is None else min_similarity
        exact = set(self._by_name().get(" ".join(text.casefold().split()), ())) if text else set()
        found: list[tuple[float, str, int]] = []
        for label in self.labels:
            matrix = self.vectors.of(label)
            if not len(matrix):
                continue
            sims = np.asarray(matrix @ q, dtype=np.float64)
            sims[~self._valid[label]] = -np.inf
            n = min(k, len(sims))
            top = np.argpartition(-sims, n - 1)[:n]
            found += [(float(sims[r]), label, int(r)) for r in top.tolist() if np.isfinite(sims[r])]
        found += [(1.0, label, row) for label, row in exact]
        best: dict[tuple[str, int], float] = {}
        for sim, label, row in found:
            best[(label, row)] = max(sim, best.get((label, row), -np.inf))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        if not ranked:
            return []
        top_sim = ranked[0][1]
        keep = [(key, sim) for key, sim in ranked
                if sim >= floor and sim >= self.relative_similarity * top_sim][:k]
        return [AttributeMatch(label, self.index.node_id(label, row), self.index.name(label, row), float(sim), row)
                for (label, row), sim in keep]

    def linked_items(self, label: str, row: int) -> np.ndarray:
        """Item rows linked to one attribute node."""
        return self.index.neighbours(label, row, self._to_items.get(label, []))

    def attribute_scores(self, matches: Sequence[AttributeMatch], size: int) -> np.ndarray:
        """Per item row: the best cosine of a matched attribute it is linked to (0 for none)."""
        out = np.zeros(size, dtype=np.float64)
        for m in matches:
            rows = self.linked_items(m.label, m.row)
            rows = rows[rows < size]
            np.maximum.at(out, rows, m.similarity)
        return out

    def item_similarity(self, q: np.ndarray, size: int) -> np.ndarray:
        """Per item row: ``max(cos(q, t_i), 0)`` (0 for an item without text, or added after the vectors)."""
        out = np.zeros(size, dtype=np.float64)
        matrix = self.vectors.of(self.item_label)
        n = min(size, len(matrix))
        out[:n] = np.maximum(np.asarray(matrix[:n] @ q, dtype=np.float64), 0.0)
        return out

    def intent_scores(self, q: np.ndarray, matches: Sequence[AttributeMatch], size: int) -> np.ndarray:
        """The intent score of every item row (see the module docs)."""
        return ((1.0 - self.item_text) * self.attribute_scores(matches, size)
                + self.item_text * self.item_similarity(q, size))


__all__ = ["AttributeMatch", "Matcher", "QueryEncoder"]
