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

Ids follow the one rule of :mod:`kgrec.kg.ids` (NFC, format characters removed, blanks stripped).

The other direction, :func:`write_recbole`, writes a graph (and, if given, a split of its
interactions) as atomic files that RecBole's own loaders read: how kgrec's peers benchmark hands
RecBole exactly kgrec's data.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgrec.errors import DatasetNotFoundError, InputError

from ..graph import KnowledgeGraph
from . import _io
from ..schema import EdgeType, name_words
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
    if folder.exists() and not folder.is_dir() and folder.suffix == ".inter":
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
    if not _present(f_inter):
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
    if _present(f_item):
        parts.items_path = f_item
        parts.items, parts.item_property_types, parts.attributes = _read_items(f_item, encoding)

    f_link, f_kg = folder / f"{dataset}.link", folder / f"{dataset}.kg"
    link = None
    if _present(f_link):
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
    if _present(f_kg):
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
             if _present(folder / f"{dataset}.{suffix}")}
    return assemble(parts, name=dataset, user_label=user_label, item_label=item_label, interaction=interaction,
                    entity_label=entity_label, metadata={"format": "recbole", "files": files})


def _present(path: Path) -> bool:
    """A file of that name is there (a FIFO or device too: the reader then refuses it by name,
    rather than the loader skipping it in silence)."""
    return path.exists() and not path.is_dir()


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


# -- writing ---------------------------------------------------------------------------------------
NO_KG_RELATION = "NO_KG_FACT"
_FORBIDDEN = ("\t", "\r", "\n", '"')


@dataclass(frozen=True)
class RecboleExport:
    """What :func:`write_recbole` wrote.

    Attributes:
        name: the RecBole dataset name (the files' stem).
        folder: the folder of the files (``folder/name``).
        rows: rows per file suffix (``inter``, ``train``, ``valid``, ``test``, ``kg``, ``link``).
        relations: the relations written as ``.kg`` triples.
        triples: the ``.kg`` triples that are facts of the graph (without the self-loops).
        self_loops: ``(item, NO_KG_FACT, item)`` triples added for interacted items with no fact.
        linked_items: rows of the ``.link`` file.
    """

    name: str
    folder: Path
    rows: dict[str, int]
    relations: tuple[str, ...]
    triples: int
    self_loops: int
    linked_items: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        return out


def kg_edge_types(kg: KnowledgeGraph) -> list[EdgeType]:
    """The edge types :func:`write_recbole` writes as ``.kg`` triples: every non-empty one whose
    ends are not users (RecBole's KG models take a KG over items and entities only)."""
    user = kg.schema.user_label
    return [tuple(et) for et, df in kg.edges.items()
            if len(df) and user not in (et[0], et[2]) and tuple(et) != tuple(kg.schema.interaction)]


def _check_tokens(values: Sequence[str], what: str) -> None:
    bad = [v for v in values if not v or any(c in v for c in _FORBIDDEN) or v != v.strip()]
    if bad:
        raise InputError(f"{what} id {bad[0]!r} cannot be a RecBole token (tab, newline, quote or edge blank)")


def write_recbole(kg: KnowledgeGraph, folder: str | PathLike, *, name: str,
                  parts: Mapping[str, np.ndarray] | None = None) -> RecboleExport:
    """Write ``kg`` as RecBole atomic files in ``folder/name/``.

    Args:
        kg: the knowledge graph.
        folder: RecBole's ``data_path``.
        name: the RecBole dataset name (never ``ml-100k``: RecBole reads its bundled copy for it).
        parts: part name → the interactions of that part as row positions in the user and item
            tables, e.g. ``{"train": ..., "valid": ..., "test": ...}`` from a split; each is written
            as ``name.PART.inter`` and ``name.inter`` holds them all (default: none; then
            ``name.inter`` holds every interaction of ``kg``).

    Files: ``name.inter`` (``user_id:token``, ``item_id:token``: kgrec's external ids), one
    ``name.PART.inter`` per part, ``name.kg`` (``head_id:token``, ``relation_id:token``,
    ``tail_id:token``: the edge types of :func:`kg_edge_types`), ``name.link`` (``item_id:token``,
    ``entity_id:token``) and ``entities.tsv`` (entity token → label, kgrec id). Entities are named
    ``<Label>:<row>`` (a KG id such as a DBpedia URI may hold characters RecBole's reader
    mishandles). RecBole drops every interaction whose item has no entity in a ``.kg`` triple, so an
    interacted item with no fact gets one triple ``(item, NO_KG_FACT, item)``: a self-loop that
    carries no information and keeps every row.

    Shapes:
        parts: each ``[2, num_interactions]``, int (user row, item row).

    Raises:
        InputError: a user or item id that cannot be a RecBole token (tab, newline, quote).
    """
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    schema = kg.schema
    u_ids = kg.nodes[schema.user_label]["id"].astype(str).to_numpy(dtype=object)
    i_ids = kg.nodes[schema.item_label]["id"].astype(str).to_numpy(dtype=object)
    _check_tokens(u_ids, schema.user_label)
    _check_tokens(i_ids, schema.item_label)

    def inter_frame(pairs: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"user_id:token": u_ids[pairs[0]], "item_id:token": i_ids[pairs[1]]})

    rows: dict[str, int] = {}
    for part, pairs in (parts or {}).items():
        df = inter_frame(pairs)
        df.to_csv(out / f"{name}.{part}.inter", sep="\t", index=False)
        rows[part] = len(df)
    every = (np.concatenate(list(parts.values()), axis=1) if parts
             else kg.edge_index(schema.interaction))
    inter_frame(every).to_csv(out / f"{name}.inter", sep="\t", index=False)
    rows["inter"] = every.shape[1]

    def entity(label: str, positions: np.ndarray) -> np.ndarray:
        return np.char.add(f"{label}:", positions.astype(str)).astype(object)

    heads, rels, tails, relations = [], [], [], []
    for et in kg_edge_types(kg):
        ei = kg.edge_index(et)
        ei = ei[:, (ei >= 0).all(axis=0)]
        heads.append(entity(et[0], ei[0]))
        tails.append(entity(et[2], ei[1]))
        rels.append(np.full(ei.shape[1], et[1], dtype=object))
        relations.append(et[1])
    empty = np.empty(0, object)
    triples = pd.DataFrame({"head_id:token": np.concatenate(heads) if heads else empty,
                            "relation_id:token": np.concatenate(rels) if rels else empty,
                            "tail_id:token": np.concatenate(tails) if tails else empty})
    triples = triples.drop_duplicates(ignore_index=True)
    n_real = len(triples)
    in_kg = set(triples["head_id:token"]) | set(triples["tail_id:token"])
    interacted = np.unique(every[1])
    item_entities = entity(schema.item_label, interacted)
    missing = [e for e in item_entities if e not in in_kg]
    if missing:
        loops = pd.DataFrame({"head_id:token": missing, "relation_id:token": NO_KG_RELATION, "tail_id:token": missing})
        triples = pd.concat([triples, loops], ignore_index=True)
    triples.to_csv(out / f"{name}.kg", sep="\t", index=False)
    rows["kg"] = len(triples)
    link = pd.DataFrame({"item_id:token": i_ids[interacted], "entity_id:token": item_entities})
    link.to_csv(out / f"{name}.link", sep="\t", index=False)
    rows["link"] = len(link)
    ent = pd.unique(pd.concat([triples["head_id:token"], triples["tail_id:token"]], ignore_index=True))
    label_of = np.array([e.rsplit(":", 1)[0] for e in ent], dtype=object)
    pos = np.array([int(e.rsplit(":", 1)[1]) for e in ent], dtype=np.int64)
    kg_ids = np.empty(len(ent), dtype=object)
    for label in np.unique(label_of):
        m = label_of == label
        kg_ids[m] = kg.nodes[label]["id"].astype(str).to_numpy()[pos[m]]
    pd.DataFrame({"entity": ent, "label": label_of, "id": kg_ids}).to_csv(out / "entities.tsv", sep="\t", index=False)
    return RecboleExport(name, out, rows, tuple(relations), n_real, len(missing), len(link))
