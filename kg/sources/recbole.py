"""RecBole atomic files: a folder with ``NAME.inter`` and optional ``NAME.item``, ``NAME.kg``, ``NAME.link``.

Each file is tab-separated with a typed header, e.g. ``user_id:token  item_id:token  rating:float
timestamp:float`` (types ``token``, ``token_seq``, ``float``, ``float_seq``; see RecBole's "Atomic
Files" documentation). Mapping to the graph:

- ``.inter``: ``user_id``, ``item_id`` (required), ``rating`` (float property), ``timestamp``
  (integer property; a float timestamp is rounded down); other fields are ignored.
- ``.item``: ``item_id``; the first of ``name``, ``title``, ``movie_title``, ``item_name``,
  ``artist_name``, ``track_name``, ``book_title`` is the name; ``text``/``description``/``overview``
  the text; other ``token`` fields are single-valued attributes and ``token_seq`` fields
  multi-valued attributes (space-separated), both becoming nodes + ``HAS_<FIELD>``; ``float``
  fields are float properties; ``float_seq`` fields are skipped.
- ``.kg``: ``head_id``, ``relation_id``, ``tail_id``; ``.link``: ``item_id``, ``entity_id``: a KG entity
  linked to an item is that item, any other is an ``Entity`` node.
"""

from __future__ import annotations

import csv
import logging
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.errors import DatasetNotFoundError, InputError

from ..graph import KnowledgeGraph
from . import _io
from ..schema import name_words
from .generic import OnDuplicate, Parts, assemble, dedupe_interactions, property_name

logger = logging.getLogger(__name__)

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
NAME_FIELDS = ("name", "title", "movie_title", "item_name", "artist_name", "track_name", "book_title")
TEXT_FIELDS = ("text", "description", "overview", "plot")


def is_recbole_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.inter"))


def load_recbole(
    path: str | PathLike,
    *,
    dataset: str | None = None,
    encoding: str = "utf-8",
    user_label: str = "User",
    item_label: str = "Item",
    interaction: str = "INTERACTED",
    entity_label: str = "Entity",
    on_duplicate: OnDuplicate = "error",
) -> KnowledgeGraph:
    """Load a folder of RecBole atomic files as a validated :class:`KnowledgeGraph`.

    Args:
        path: the folder (or its ``NAME.inter`` file).
        dataset: ``NAME`` of the files (default: the folder's only ``*.inter`` file).
        encoding: the files' encoding (default: ``"utf-8"``).
        user_label: label of the users (default: ``"User"``).
        item_label: label of the items (default: ``"Item"``).
        interaction: relation name of the interactions (default: ``"INTERACTED"``).
        entity_label: label of KG entities not linked to items (default: ``"Entity"``).
        on_duplicate: a repeated (user, item) pair is an ``"error"``, or keeps the ``"first"``
            or ``"last"`` row (default: ``"error"``).
    """
    folder = Path(path)
    if folder.is_file() and folder.suffix == ".inter":
        dataset = dataset or folder.stem
        folder = folder.parent
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such folder of RecBole atomic files")
    if dataset is None:
        found = sorted(folder.glob("*.inter"))
        if len(found) != 1:
            raise DatasetNotFoundError(f"{folder}: expected one NAME.inter file, found "
                                       f"{', '.join(p.name for p in found) or 'none'}; pass dataset=NAME")
        dataset = found[0].stem
    f_inter = folder / f"{dataset}.inter"
    if not f_inter.is_file():
        raise DatasetNotFoundError(f"{f_inter}: no such file")

    inter, types = read_atomic(f_inter, encoding)
    _require(inter, types, f_inter, ("user_id", "item_id"))
    _io.require_rows(inter, f_inter, "interactions")
    table = pd.DataFrame({"src": _io.require_nonempty(inter, "user_id", f_inter, "user_id"),
                          "dst": _io.require_nonempty(inter, "item_id", f_inter, "item_id")})
    if "rating" in inter.columns:
        table["rating"] = _io.to_float(inter, "rating", f_inter, required=False)
    if "timestamp" in inter.columns:
        stamp = _io.to_float(inter, "timestamp", f_inter, required=False)
        table["timestamp"] = np.floor(stamp).astype("Int64")
    table["_line"] = inter["_line"]
    parts = Parts(interactions=dedupe_interactions(table, f_inter, on_duplicate), interactions_path=f_inter)

    f_item = folder / f"{dataset}.item"
    if f_item.is_file():
        parts.items_path = f_item
        parts.items, parts.item_property_types, parts.attributes = _read_items(f_item, encoding)

    f_link, f_kg = folder / f"{dataset}.link", folder / f"{dataset}.kg"
    link = None
    if f_link.is_file():
        link, ltypes = read_atomic(f_link, encoding)
        _require(link, ltypes, f_link, ("item_id", "entity_id"))
        link["item_id"] = _io.require_nonempty(link, "item_id", f_link, "item_id")
        link["entity_id"] = _io.require_nonempty(link, "entity_id", f_link, "entity_id")
        dup = link["entity_id"].duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise _io.error_at(link, i, f_link, f"entity {link['entity_id'].iat[i]!r} is linked to two items")
        if parts.items is None:
            parts.extra_items = link["item_id"]
    if f_kg.is_file():
        kg, ktypes = read_atomic(f_kg, encoding)
        _require(kg, ktypes, f_kg, ("head_id", "relation_id", "tail_id"))
        triples = pd.DataFrame({"head": _io.require_nonempty(kg, "head_id", f_kg, "head_id"),
                                "relation": _io.require_nonempty(kg, "relation_id", f_kg, "relation_id"),
                                "tail": _io.require_nonempty(kg, "tail_id", f_kg, "tail_id"), "_line": kg["_line"]})
        if link is not None:
            to_item = pd.Series(link["item_id"].to_numpy(), index=link["entity_id"].to_numpy())
            for end in ("head", "tail"):
                item = triples[end].map(to_item)
                triples[f"{end}_label"] = pd.Series(np.where(item.notna(), item_label, entity_label),
                                                    index=triples.index, dtype="string")
                triples[end] = item.fillna(triples[end])
        else:
            for end in ("head", "tail"):
                triples[f"{end}_label"] = pd.Series(entity_label, index=triples.index, dtype="string")
        parts.triples, parts.triples_path = triples, f_kg

    files = {suffix: str(folder / f"{dataset}.{suffix}") for suffix in ("inter", "item", "kg", "link")
             if (folder / f"{dataset}.{suffix}").is_file()}
    return assemble(parts, name=dataset, user_label=user_label, item_label=item_label, interaction=interaction,
                    entity_label=entity_label, metadata={"format": "recbole", "files": files})


def read_atomic(path: Path, encoding: str = "utf-8") -> tuple[pd.DataFrame, dict[str, str]]:
    """An atomic file → (table with field names as columns and ``_line``, field → type)."""
    df = _io.read_table(path, sep="\t", encoding=encoding, quoting=csv.QUOTE_NONE,
                        expected="a RecBole header of name:type fields")
    types: dict[str, str] = {}
    rename = {}
    for column in df.columns:
        if column == "_line":
            continue
        field, sep, kind = column.rpartition(":")
        if not sep or not field or kind not in FIELD_TYPES:
            raise InputError(f"header field {column!r} is not name:type with type one of {', '.join(FIELD_TYPES)}",
                             path=str(path), line=1)
        if field in types:
            raise InputError(f"header field {field!r} appears twice", path=str(path), line=1)
        types[field] = kind
        rename[column] = field
    return df.rename(columns=rename), types


def _require(df: pd.DataFrame, types: dict[str, str], path: Path, fields: tuple[str, ...]) -> None:
    for f in fields:
        if f not in types:
            raise InputError(f"missing field {f!r}; the header has {', '.join(f'{k}:{v}' for k, v in types.items())}",
                             path=str(path), line=1)


def _read_items(path: Path, encoding: str):
    df, types = read_atomic(path, encoding)
    _require(df, types, path, ("item_id",))
    _io.require_rows(df, path, "items")
    items = pd.DataFrame({"id": _io.require_nonempty(df, "item_id", path, "item_id")})
    name_field = next((f for f in NAME_FIELDS if f in types and types[f] in ("token", "token_seq")), None)
    text_field = next((f for f in TEXT_FIELDS if f in types and types[f] in ("token", "token_seq")), None)
    if name_field:
        items["name"] = df[name_field].where(df[name_field].str.strip() != "", items["id"])
    if text_field:
        items["text"] = df[text_field].replace("", None)
    props, attributes = {}, {}
    for field, kind in types.items():
        if field in ("item_id", name_field, text_field):
            continue
        if kind == "float":
            prop = property_name(field, path)
            items[prop] = _io.to_float(df, field, path, required=False)
            props[prop] = "float"
        elif kind == "float_seq":
            logger.info("%s: field %s:float_seq is skipped", path, field)
        else:
            if not name_words(field):
                raise InputError(f"field {field!r} has no letters or digits to name a label", path=str(path), line=1)
            attributes[field] = _io.split_values(items["id"], df[field], df["_line"],
                                                 " " if kind == "token_seq" else None, path=path, column=field)
    items["_line"] = df["_line"]
    return items, props, attributes
