"""`embed_graph`: every node document of a graph → a vector, through the cache.

The result, :class:`NodeVectors`, is what the GNN takes as node features: one float32 matrix per
label, its rows aligned with ``kg.nodes[label]``. It saves itself as safetensors + JSON, so a run
directory can hold it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kgrec.errors import RunDirError, SchemaError
from kgrec.kg import KnowledgeGraph

from .cache import VectorCache
from .config import TextConfig
from .documents import DocumentTemplates, node_documents
from .encoder import TextEncoder

logger = logging.getLogger(__name__)

VECTORS_FILE = "node_vectors.safetensors"
META_FILE = "node_vectors.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EmbedReport:
    """What one :func:`embed_graph` call did.

    Attributes:
        encoded: label → nodes whose document had to be encoded.
        cached: label → nodes whose vector came from the cache.
        seconds: the whole call (documents, cache, encoding).
        encode_seconds: the part spent in the encoder (0 when everything was cached).
    """

    encoded: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    encode_seconds: float = 0.0
    unique_encoded: int = 0

    @property
    def num_encoded(self) -> int:
        return sum(self.encoded.values())

    @property
    def num_cached(self) -> int:
        return sum(self.cached.values())

    @property
    def texts_per_second(self) -> float:
        """Node documents served per second over the whole call (cache hits included)."""
        total = self.num_encoded + self.num_cached
        return total / self.seconds if self.seconds > 0 else float("inf")

    @property
    def encoded_per_second(self) -> float:
        """The encoder's throughput: distinct texts encoded per second of encoding (0 if none)."""
        return self.unique_encoded / self.encode_seconds if self.encode_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"encoded": dict(self.encoded), "cached": dict(self.cached), "seconds": self.seconds,
                "encode_seconds": self.encode_seconds, "unique_encoded": self.unique_encoded,
                "texts_per_second": self.texts_per_second, "encoded_per_second": self.encoded_per_second}


@dataclass(frozen=True)
class NodeVectors:
    """Text vectors of a graph's nodes.

    Attributes:
        model_id: the encoder's model id (or path).
        fingerprint: the encoder's fingerprint (model, revision, pooling, max_length).
        dim: the vector size.
        vectors: label → float32 matrix, rows aligned with ``kg.nodes[label]``.
        ids: label → node ids, the row order of ``vectors[label]``.
        documents: label → the texts that were encoded.
        report: what the call that made them did.

    Shapes:
        vectors[label]: ``[kg.num_nodes(label), dim]``, float32, unit rows.
    """

    model_id: str
    fingerprint: str
    dim: int
    vectors: dict[str, np.ndarray]
    ids: dict[str, list[str]]
    documents: dict[str, list[str]]
    report: EmbedReport = field(default_factory=EmbedReport)

    @property
    def labels(self) -> list[str]:
        return list(self.vectors)

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self.vectors[label]
        except KeyError:
            raise SchemaError(f"no vectors for label {label!r}; have: {', '.join(self.vectors)}") from None

    def check_aligned(self, kg: KnowledgeGraph) -> None:
        """Raise :class:`SchemaError` unless every label's rows match ``kg.nodes[label]``'s ids."""
        for label, ids in self.ids.items():
            if label not in kg.nodes:
                raise SchemaError(f"vectors for label {label!r}, which the graph does not have")
            if kg.nodes[label]["id"].tolist() != ids:
                raise SchemaError(f"vectors for {label} are not aligned with the graph's {label} rows "
                                  f"({len(ids)} vectors, {kg.num_nodes(label)} nodes); embed the graph again")

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``node_vectors.safetensors`` and ``node_vectors.json`` into ``directory``."""
        from safetensors.numpy import save

        from .cache import _atomic_write

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = save({label: np.ascontiguousarray(m, dtype=np.float32) for label, m in self.vectors.items()},
                    metadata={"model_id": self.model_id, "fingerprint": self.fingerprint})
        meta = {
            "format": FORMAT_VERSION,
            "model_id": self.model_id,
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "labels": {label: len(m) for label, m in self.vectors.items()},
            "sha256": hashlib.sha256(data).hexdigest(),
            "report": self.report.to_dict(),
            "versions": _versions(),
            "ids": self.ids,
            "documents": self.documents,
        }
        _atomic_write(directory / VECTORS_FILE, data)
        _atomic_write(directory / META_FILE, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> NodeVectors:
        """Read what :meth:`save` wrote; raise :class:`RunDirError` if it is missing or damaged."""
        from safetensors import SafetensorError
        from safetensors.numpy import load

        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            data = (directory / VECTORS_FILE).read_bytes()
        except FileNotFoundError as e:
            raise RunDirError(f"{directory}: no saved node vectors ({Path(e.filename).name} is missing)") from e
        except (OSError, ValueError) as e:
            raise RunDirError(f"{directory / META_FILE}: unreadable: {e}") from e
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise RunDirError(f"{directory / VECTORS_FILE}: checksum mismatch (truncated or modified)")
        try:
            tensors = load(data)
        except (SafetensorError, ValueError) as e:
            raise RunDirError(f"{directory / VECTORS_FILE}: not a valid safetensors file: {e}") from e
        try:
            vectors = {label: tensors[label] for label in meta["labels"]}
            for label, n in meta["labels"].items():
                if vectors[label].shape != (n, meta["dim"]) or len(meta["ids"][label]) != n:
                    raise RunDirError(f"{directory}: vectors of {label} have shape {vectors[label].shape}, "
                                      f"expected ({n}, {meta['dim']})")
            r = meta.get("report", {})
            report = EmbedReport(encoded=r.get("encoded", {}), cached=r.get("cached", {}),
                                 seconds=r.get("seconds", 0.0), encode_seconds=r.get("encode_seconds", 0.0),
                                 unique_encoded=r.get("unique_encoded", 0))
            return cls(model_id=meta["model_id"], fingerprint=meta["fingerprint"], dim=int(meta["dim"]),
                       vectors=vectors, ids=meta["ids"], documents=meta["documents"], report=report)
        except KeyError as e:
            raise RunDirError(f"{directory}: saved node vectors lack {e}") from e


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("kgrec", "transformers", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


def embed_graph(kg: KnowledgeGraph, *, config: TextConfig | None = None, encoder: TextEncoder | None = None,
                cache: VectorCache | Literal[False] | None = None, templates: DocumentTemplates | None = None,
                labels: Iterable[str] | None = None, progress: bool | None = None) -> NodeVectors:
    """Encode the document of every node (of ``labels``, default all), serving repeats from the cache.

    Args:
        kg: the graph.
        config: a :class:`~kgrec.text.TextConfig`: the encoder, the documents (``full`` or
            ``short``) and the labels (``all``, ``items`` or a list) in one; the quick path is
            ``TextConfig(documents="short", labels="items")``. The arguments below, when given,
            take precedence (default: ``TextConfig()``).
        encoder: the text encoder (default: ``config.encoder()``, the packaged MiniLM).
        cache: where vectors are kept between runs (default: ``VectorCache()`` under the kgrec home;
            ``False``: no cache; ``config.cache=False`` also means no cache).
        templates: how documents are built (default: ``config.templates()``).
        labels: the labels to embed (default: ``config.labels``, every label of the graph).
        progress: show a progress bar while encoding; None = auto, on in a terminal or a notebook
            (default: None).

    Returns:
        :class:`NodeVectors` with rows aligned with ``kg.nodes[label]``. Texts found in the cache
        never reach the encoder: when every text is cached, no model is loaded at all.
    """
    t0 = time.perf_counter()
    config = config or TextConfig()
    if encoder is None:
        encoder = config.encoder(progress=progress)
    if cache is None:
        cache = VectorCache() if config.cache else False
    if templates is None:
        templates = config.templates()
    if labels is None:
        labels = config.labels_of(kg)
    docs = node_documents(kg, templates=templates, labels=labels)
    t_docs = time.perf_counter() - t0
    fingerprint = encoder.fingerprint
    unique = list(dict.fromkeys(t for texts in docs.values() for t in texts))
    position = {t: i for i, t in enumerate(unique)}
    if cache is not False:
        lookup = cache.get(fingerprint, unique)
        matrix, found = lookup.vectors, lookup.found
    else:
        matrix, found = np.zeros((len(unique), 0), dtype=np.float32), np.zeros(len(unique), dtype=bool)
    missing = np.flatnonzero(~found)
    encode_seconds = 0.0
    if len(missing):
        t1 = time.perf_counter()
        fresh = encoder.encode([unique[i] for i in missing])
        encode_seconds = time.perf_counter() - t1
        if matrix.shape[1] != fresh.shape[1]:  # nothing was cached (one size per fingerprint)
            matrix = np.zeros((len(unique), fresh.shape[1]), dtype=np.float32)
        matrix[missing] = fresh
        if cache is not False:
            cache.put(fingerprint, [unique[i] for i in missing], fresh, model_id=encoder.model_id)
    dim = matrix.shape[1] if len(unique) else encoder.dim
    vectors, encoded, cached = {}, {}, {}
    for label, texts in docs.items():
        rows = np.fromiter((position[t] for t in texts), dtype=np.int64, count=len(texts))
        vectors[label] = matrix[rows] if len(rows) else np.zeros((0, dim), dtype=np.float32)
        hit = found[rows]
        cached[label] = int(hit.sum())
        encoded[label] = int(len(rows) - hit.sum())
    seconds = time.perf_counter() - t0
    report = EmbedReport(encoded=encoded, cached=cached, seconds=seconds, encode_seconds=encode_seconds,
                         unique_encoded=len(missing))
    logger.info("embedded %s: %d texts encoded, %d from the cache, in %.1fs (documents %.1fs)",
                kg.name, report.num_encoded, report.num_cached, seconds, t_docs)
    return NodeVectors(model_id=encoder.model_id, fingerprint=fingerprint, dim=int(dim), vectors=vectors,
                       ids={label: kg.nodes[label]["id"].tolist() for label in docs}, documents=docs, report=report)


def embed_features(kg: KnowledgeGraph, config: TextConfig | None = None, *, progress: bool | None = None
                   ) -> NodeVectors:
    """The text vectors a model takes as node features: ``config``'s labels (default: every label)
    but never the user label, whose documents are written from whole histories (test items
    included), and ``config``'s documents and encoder, through the cache.

    ``config=TextConfig(documents="short", labels="items")`` is the quick path: short documents of
    the items only.
    """
    config = config or TextConfig()
    labels = [label for label in (config.labels_of(kg) or list(kg.nodes)) if label != kg.schema.user_label]
    logger.info("text vectors of %s nodes (%s documents of %s; cached ones are not encoded again)%s",
                f"{sum(kg.num_nodes(label) for label in labels):,}", config.documents, ", ".join(labels),
                "" if (config.documents, config.labels) == ("short", "items") else
                "; TextConfig(documents='short', labels='items') is the quick path")
    return embed_graph(kg, config=config, labels=labels, progress=progress)
