"""`TextConfig`: the text section of the one config — which encoder, which documents, which nodes.

The quick path (what ``kgrec quickstart`` and the notebooks use) is two settings::

    TextConfig(documents="short", labels="items")   # name, 3 tags, 1 fact; item nodes only

On lastfm that encodes 2,828 to 17,632 short item documents instead of every node's full document
(over twenty minutes on 2 CPU cores with a cold cache); the model learns embeddings for the labels
without text. ``documents="full"`` and ``labels="all"`` (the defaults) encode everything, cached.

Use it with :func:`kgrec.text.embed_graph` (``config=``), :func:`kgrec.gnn.train` (``text=``) or the
``text`` section of :class:`kgrec.KgrecConfig` (``--set text.documents=short``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from kgrec.config import Section
from kgrec.errors import ConfigError
from kgrec.resolver import Registry

from .documents import DocumentTemplates

DOCUMENTS: Registry[DocumentTemplates] = Registry("document preset")
"""Named document templates: ``full`` (the :class:`DocumentTemplates` defaults) and ``short``."""
DOCUMENTS.register("full", DocumentTemplates())
DOCUMENTS.register("short", DocumentTemplates(max_tags=3, max_facts=1, max_fact_relations=1, max_chars=120),
                   aliases=("quick",))

SHORT_DOCUMENTS = DOCUMENTS.resolve("short").model_dump(exclude_unset=True)
"""The ``short`` preset's settings: name, three tags, one fact, at most 120 characters."""


class TextConfig(Section):
    """How node texts become vectors.

    Args:
        model: a Hugging Face model id or a local model folder (default: None, the packaged
            all-MiniLM-L6-v2).
        documents: a preset name, ``full`` or ``short`` (name, three tags, one fact, 120
            characters), or :class:`DocumentTemplates` of your own (default: ``full``).
        labels: which nodes get text vectors: ``all``, ``items`` (the item label only) or a list
            of labels (default: ``all``).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N`` (default: ``auto``).
        batch_size: texts per forward pass (default: 64).
        max_length: tokens kept per text (default: 128).
        threads: torch CPU threads while encoding; None = torch's own (default: None).
        download: let a named Hugging Face model download when it is not cached. Off by default,
            so an unknown id fails at once instead of waiting on a network; the ``kgrec`` command
            turns it on when ``HF_HUB_OFFLINE=0`` (default: False).
        cache: keep vectors in the content-addressed cache under ``KGREC_HOME`` (default: True).
    """

    model: str | None = None
    documents: str | DocumentTemplates = "full"
    labels: Literal["all", "items"] | list[str] = "all"
    device: str = "auto"
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(128, ge=2)
    threads: int | None = Field(None, ge=1)
    download: bool = False
    cache: bool = True

    @field_validator("documents", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        return DOCUMENTS.canonical(value) if isinstance(value, str) else value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not (value in ("auto", "cpu", "cuda") or value.startswith("cuda:")):
            raise ConfigError(f"device {value!r} is not one of auto, cpu, cuda, cuda:N")
        return value

    def templates(self) -> DocumentTemplates:
        """The :class:`DocumentTemplates` the documents are built with."""
        return DOCUMENTS.resolve(self.documents)

    def labels_of(self, kg: Any) -> list[str] | None:
        """The labels of ``kg`` to embed (None = every label)."""
        if self.labels == "all":
            return None
        if self.labels == "items":
            return [kg.schema.item_label]
        return list(self.labels)

    def encoder(self, *, progress: bool | None = None):
        """A :class:`~kgrec.text.TextEncoder` with these settings (no I/O until it encodes)."""
        from .encoder import TextEncoder

        return TextEncoder(self.model, device=self.device, batch_size=self.batch_size, max_length=self.max_length,
                           progress=progress, threads=self.threads, download=self.download)


__all__ = ["DOCUMENTS", "SHORT_DOCUMENTS", "TextConfig"]
