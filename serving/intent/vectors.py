"""Text vectors of the items and their attributes, in the serving index's row order, kept with the run.

A query ("dark synth") and a sentence of feedback ("less metal") are matched against two kinds of
text vectors, made by the run's text model through the content-addressed text cache
(:class:`kgrec.text.VectorCache`), so that nothing already encoded is encoded again:

- **items**: the item's document as the text layer writes it (:func:`kgrec.text.node_documents`
  with the ``short`` preset by default: name, three tags, one fact), the very texts a run trained
  on the quick path has in the cache;
- **attributes**: every node of a label linked to the item label (tags, genres, KG entities: any
  label but the user and item labels) by its readable name alone ("synthpop", "Progressive
  metal"); a node without a readable name (an opaque ``satori:123``) has no vector and is never
  matched.

They are saved into the run directory (``intent_vectors.npy``, one float32 matrix, and
``intent_vectors.json``: the model's fingerprint, the document preset and, per label, its rows and
a digest of its ids) and listed in the run's manifest (:func:`kgrec.gnn.run.attach_files`); the
matrix is read back memory-mapped. They are reused while the text model, the preset and the
index's ids are those they were made for, else rebuilt once (from the cache when it has the texts).

Shapes:
    :meth:`IntentVectors.of` returns ``[rows, dim]`` float32 unit rows (zeros: no text).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kgrec.errors import RunDirError

if TYPE_CHECKING:
    from kgrec.kg import KnowledgeGraph
    from kgrec.text import TextEncoder, VectorCache

    from ..index import GraphIndex

logger = logging.getLogger(__name__)

VECTORS_JSON = "intent_vectors.json"
VECTORS_NPY = "intent_vectors.npy"
FORMAT = 1


def attribute_labels(index: GraphIndex) -> list[str]:
    """The labels linked to the item label by some relation (either way), but the user and item
    labels: the attributes a query or a feedback sentence can name."""
    item, user = index.schema.item_label, index.schema.user_label
    out: list[str] = []
    for s in index.steps:
        if s.source == item and s.target not in (item, user) and s.target not in out:
            out.append(s.target)
    return out


def ids_digest(index: GraphIndex, label: str) -> str:
    """A digest of a label's ids in the index's row order (the vectors' rows must be the index's)."""
    h = hashlib.sha256()
    for r in range(index.num_nodes(label)):
        h.update(index.node_id(label, r).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class IntentVectors:
    """Unit text vectors per label in the serving index's row order (see the module docs).

    Args:
        matrix: ``[total_rows, dim]`` float32: every label's rows, one after the other.
        spans: label → ``(start, stop)`` rows of ``matrix``.
        meta: what they were made from (fingerprint, model id, preset, digests).
    """

    def __init__(self, matrix: np.ndarray, spans: Mapping[str, tuple[int, int]], meta: Mapping[str, Any]):
        self.matrix = matrix
        self.spans = {label: (int(a), int(b)) for label, (a, b) in spans.items()}
        self.meta = dict(meta)
        self._has: dict[str, np.ndarray] = {}

    @property
    def fingerprint(self) -> str:
        return str(self.meta.get("fingerprint", ""))

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def labels(self) -> list[str]:
        return list(self.spans)

    def of(self, label: str) -> np.ndarray:
        """The vectors of one label, rows as the index's (a read-only view)."""
        a, b = self.spans[label]
        return self.matrix[a:b]

    def has(self, label: str) -> np.ndarray:
        """Bool per row of :meth:`of`: the node has a text vector."""
        if label not in self._has:
            self._has[label] = np.abs(np.asarray(self.of(label))).sum(axis=1) > 0
        return self._has[label]

    def fits(self, index: GraphIndex, *, fingerprint: str, documents: str, labels: list[str] | None = None) -> bool:
        """Whether these vectors were made for this index's rows, this text model, preset and labels."""
        if self.fingerprint != fingerprint or self.meta.get("documents") != documents:
            return False
        digests = self.meta.get("digests", {})
        wanted = [index.schema.item_label, *(attribute_labels(index) if labels is None else labels)]
        return sorted(wanted) == sorted(self.spans) and all(
            digests.get(label) == ids_digest(index, label) for label in wanted)

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def build(cls, index: GraphIndex, kg: KnowledgeGraph, encoder: TextEncoder, *,
              cache: VectorCache | Literal[False] | None = None, documents: str = "short",
              labels: list[str] | None = None) -> IntentVectors:
        """Encode the items' documents and the attributes' names of ``kg`` (the graph the index was
        built from), through the text cache, into the index's row order; ``labels``: the attribute
        labels (default: :func:`attribute_labels`)."""
        from kgrec.text import DOCUMENTS, VectorCache, node_documents
        from kgrec.text.documents import display_names

        schema = index.schema
        chosen = attribute_labels(index) if labels is None else labels
        labels = [schema.item_label, *[label for label in chosen if label in kg.nodes]]
        texts: dict[str, list[str | None]] = {}
        templates = DOCUMENTS.resolve(documents)
        texts[schema.item_label] = list(node_documents(kg, templates=templates,
                                                       labels=[schema.item_label])[schema.item_label])
        for label in labels[1:]:
            names = display_names(kg, label)
            texts[label] = [(" ".join(n.split()) or None) if isinstance(n, str) else None for n in names.tolist()]
        unique = list(dict.fromkeys(t for v in texts.values() for t in v if t))
        fingerprint = encoder.fingerprint
        if cache is None:
            cache = VectorCache()
        found = np.zeros(len(unique), dtype=bool)
        vectors = np.zeros((len(unique), 0), dtype=np.float32)
        if cache is not False and unique:
            lookup = cache.get(fingerprint, unique)
            vectors, found = lookup.vectors, lookup.found
        missing = np.flatnonzero(~found)
        if len(missing):
            logger.info("intent vectors: encoding %d of %d texts (the rest come from the cache)", len(missing),
                        len(unique))
            fresh = encoder.encode([unique[i] for i in missing])
            if vectors.shape[1] != fresh.shape[1]:
                vectors = np.zeros((len(unique), fresh.shape[1]), dtype=np.float32)
            vectors[missing] = fresh
            if cache is not False:
                cache.put(fingerprint, [unique[i] for i in missing], fresh, model_id=encoder.model_id)
        dim = int(vectors.shape[1]) if unique else int(encoder.dim)
        position = {t: i for i, t in enumerate(unique)}
        spans: dict[str, tuple[int, int]] = {}
        blocks = []
        start = 0
        for label in labels:
            n = index.num_nodes(label)
            block = np.zeros((n, dim), dtype=np.float32)
            ids = kg.nodes[label]["id"].astype(str).tolist()
            for node_id, text in zip(ids, texts[label]):
                row = index.row(label, node_id)
                if text and row is not None:
                    block[row] = vectors[position[text]]
            blocks.append(block)
            spans[label] = (start, start + n)
            start += n
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
        norm = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = np.divide(matrix, norm, out=np.zeros_like(matrix), where=norm > 0).astype(np.float32)
        meta = {"format": FORMAT, "fingerprint": fingerprint, "model_id": encoder.model_id, "documents": documents,
                "dim": dim, "digests": {label: ids_digest(index, label) for label in labels},
                "texts": {label: int(sum(1 for t in texts[label] if t)) for label in labels},
                "encoded": int(len(missing)), "cached": int(found.sum())}
        return cls(matrix, spans, meta)

    # -- files -------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> list[str]:
        """Write ``intent_vectors.npy`` and ``intent_vectors.json`` into ``folder`` (atomically).
        Returns the file names."""
        folder = Path(folder)
        tmp = folder / f".{VECTORS_NPY}.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            np.save(f, np.ascontiguousarray(self.matrix, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, folder / VECTORS_NPY)
        meta = {**self.meta, "spans": {label: list(span) for label, span in self.spans.items()}}
        tmp = folder / f".{VECTORS_JSON}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / VECTORS_JSON)
        return [VECTORS_JSON, VECTORS_NPY]

    @classmethod
    def load(cls, folder: str | os.PathLike) -> IntentVectors:
        """Read what :meth:`save` wrote; the matrix is memory-mapped (read-only).

        Raises:
            RunDirError: a missing, unreadable or inconsistent file.
        """
        folder = Path(folder)
        try:
            meta = json.loads((folder / VECTORS_JSON).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise RunDirError(f"{folder / VECTORS_JSON}: format {meta.get('format')!r}; this kgrec reads {FORMAT}")
            matrix = np.load(folder / VECTORS_NPY, mmap_mode="r", allow_pickle=False)
            spans = {label: (int(a), int(b)) for label, (a, b) in meta.pop("spans").items()}
        except RunDirError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
            raise RunDirError(f"{folder}: cannot read the intent vectors: {e!r}") from None
        if matrix.dtype != np.float32 or matrix.ndim != 2 or \
                any(not 0 <= a <= b <= len(matrix) for a, b in spans.values()):
            raise RunDirError(f"{folder / VECTORS_NPY}: shape {matrix.shape} {matrix.dtype} does not match its spans")
        return cls(matrix, spans, meta)


__all__ = ["FORMAT", "VECTORS_JSON", "VECTORS_NPY", "IntentVectors", "attribute_labels", "ids_digest"]
