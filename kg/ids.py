"""The one rule for external ids (users, items, any node): what makes two spellings the same id.

An id is Unicode text normalised to NFC, with every *format* character (Unicode category ``Cf``:
U+FEFF byte-order mark, U+200B zero-width space, U+200D joiner, U+2060 word joiner, bidi marks ...)
removed and surrounding whitespace stripped. So ``"2"``, ``"\\ufeff2"`` and ``" 2\\u200b"`` are the
same user. Ingest (every loader) and every serving edge (HTTP, CLI, Python feedback) apply it; an
id that is empty after cleaning is refused by the caller, which knows the file and line.

Where it is applied at ingest: the shared readers of :mod:`kgrec.kg.sources` (every id column of
every loader: generic, RecBole, Last.fm, MovieLens; attribute values such as genres; the IRIs of an
RDF triples file) and the header names of delimited files; :meth:`kgrec.kg.KnowledgeGraph.validate` refuses a node id that is not in its clean form,
so a graph built by hand cannot hold ``\ufeff2`` beside ``2`` either. Names and texts are not
ids: they load verbatim.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def clean_id(value: object) -> str:
    """``value`` as a clean id string (NFC, no format characters, stripped). May return ``""``."""
    text = unicodedata.normalize("NFC", str(value))
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.strip()


def clean_ids(values: pd.Series) -> pd.Series:
    """:func:`clean_id` over a column (missing values stay missing); fast when every id is ASCII."""
    s = values.astype("string")
    stripped = s.str.strip()
    ascii_mask = np.asarray(pc.string_is_ascii(pa.array(stripped.fillna(""), type=pa.large_string())), dtype=bool)
    if ascii_mask.all():
        return stripped
    out = stripped.copy()
    rows = np.flatnonzero(~ascii_mask)
    out.iloc[rows] = [clean_id(v) for v in s.iloc[rows]]
    return out


__all__ = ["clean_id", "clean_ids"]
