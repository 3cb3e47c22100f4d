"""The generic loader: an interactions file, an optional items file and optional triples.

Files (CSV or TSV, UTF-8 unless ``encoding`` says otherwise; the separator is guessed from the
suffix, then from the header)::

    interactions.csv   user_id,item_id[,rating][,timestamp]          one row per interaction
    items.csv          item_id[,name][,text][,<attribute>...]        one row per item
    triples.csv        head,relation,tail[,head_label][,tail_label]  or any RDF file (rdflib)

- Other header names: ``columns={"user_id": "userId", "item_id": "movieId"}`` (canonical → header;
  on the command line ``kgrec ingest --columns user_id=userId,item_id=movieId``). A header that
  names a column twice is refused, also once the mapping is applied.
- Every other column of the items file is an *attribute*: its values become nodes (label = the
  column in PascalCase, ``genre`` → ``Genre``) linked by ``HAS_<COLUMN>`` (``HAS_GENRE``); a cell
  holds several values separated by ``|`` (at most ``MAX_CELL_VALUES``, 1,000). Columns named in
  ``item_properties`` become typed properties of the item instead.
- A triple's endpoint is the item when its id is an item id, else a node of ``entity_label``; the
  optional ``head_label``/``tail_label`` columns name the label explicitly (then a user or item id
  must exist). The relation text becomes an UPPER_SNAKE relation name (``film.genre`` → ``FILM_GENRE``;
  a non-ASCII one keeps its difference: ``导演`` → ``R_5BFC_6F14``) whose schema description is the
  original text; two texts that give one name, or a triple relation that would merge into the
  interaction or an attribute relation, are refused, naming both.
- How each relation reads in explanation sentences (:attr:`RelationType.phrases`) is derived from
  its name (``HAS_GENRE`` → "has the genre"), or from the original text of a non-ASCII relation.
- RDF (``.ttl``, ``.nt``, ``.rdf``, ``.xml``, ``.jsonld``, ``.n3``, ``.nq``, ``.trig``, ``.owl``): an IRI
  equal to ``item_namespace + item id`` is that item; other IRIs are entities with the IRI as id;
  literal objects of ``rdfs:label``/``schema:name``/``foaf:name``/``skos:prefLabel`` name their
  subject; other literals are skipped.

Ids follow the one rule of :mod:`kgrec.kg.ids` (NFC, format characters such as U+FEFF and U+200B
removed, surrounding blanks stripped: ``2`` and ``\ufeff2`` are one user). Names and texts load
verbatim (a name that looks like Cypher is data: it travels as a query parameter). An empty id (also
one that held only invisible characters), a NUL character, a short row, a value over the limits of
:mod:`kgrec.kg.graph` or of :mod:`kgrec.kg.sources._io`, or anything that is not a regular file is
an :class:`InputError` naming the file, the line and the value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from kgrec.errors import DatasetNotFoundError, InputError, SchemaError

from ..graph import KnowledgeGraph
from ..ids import clean_id
from ..schema import (
    EdgeType,
    NodeType,
    PropertyType,
    RelationType,
    Schema,
    check_label,
    default_phrases,
    name_words,
    to_label_name,
    to_relation_name,
)
from ..stream import GraphChunk, GraphStream
from . import _io
from ._rdf import RDF_SUFFIXES, read_rdf
from .chunks import DEFAULT_CHUNK_ROWS, read_table_chunks

logger = logging.getLogger(__name__)

OnDuplicate = Literal["error", "first", "last"]

CANONICAL = ("user_id", "item_id", "rating", "timestamp", "name", "text", "head", "relation", "tail",
             "head_label", "tail_label")
# How the default interaction reads (other interaction names read as default_phrases says)
INTERACTED_PHRASES = ("interacted with", "interacted with", "were chosen by", "was chosen by")
_STEMS = {"interactions": ("interactions", "ratings", "inter"), "items": ("items", "item"),
          "triples": ("triples", "kg", "knowledge_graph")}
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")


@dataclass
class Parts:
    """What a loader read, before it becomes a graph (shared by the generic and RecBole loaders).

    Tables carry ``_line``; each ``*_path`` names the file for error messages.
    """

    interactions: pd.DataFrame  # src, dst, [rating], [timestamp], _line
    interactions_path: Path
    items: pd.DataFrame | None = None  # id, [name], [text], [properties...], _line
    items_path: Path | None = None
    item_property_types: dict[str, PropertyType] = field(default_factory=dict)
    attributes: dict[str, pd.DataFrame] = field(default_factory=dict)  # column -> src, dst, _line
    triples: pd.DataFrame | None = None  # head, relation, tail, [head_label], [tail_label], _line
    triples_path: Path | None = None
    entity_names: pd.DataFrame | None = None  # id, name (entities named by RDF literals)
    extra_items: pd.Series | None = None  # item ids known from elsewhere (RecBole .link) when no items file


def find_generic_files(folder: Path) -> dict[str, Path]:
    """``interactions``/``items``/``triples`` files in a folder (``interactions.csv`` etc.).

    Anything of such a name but a folder counts (a FIFO named ``items.csv`` is then refused by the
    reader, naming it, rather than skipped in silence)."""
    found: dict[str, Path] = {}
    for role, stems in _STEMS.items():
        suffixes = _TABLE_SUFFIXES + (RDF_SUFFIXES if role == "triples" else ())
        for stem in stems:
            for suffix in suffixes:
                path = folder / f"{stem}{suffix}"
                if role not in found and path.exists() and not path.is_dir():
                    found[role] = path
    if "interactions" not in found:
        raise DatasetNotFoundError(
            f"{folder}: neither RecBole atomic files (NAME.inter) nor an interactions file "
            f"(interactions.csv or .tsv, with optional items.csv and triples.csv) in this folder")
    return found


def load_generic(
    interactions: str | PathLike,
    *,
    items: str | PathLike | None = None,
    triples: str | PathLike | None = None,
    name: str | None = None,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    user_label: str = "User",
    item_label: str = "Item",
    interaction: str = "INTERACTED",
    entity_label: str = "Entity",
    item_properties: Mapping[str, PropertyType] | None = None,
    separator: str = "|",
    on_duplicate: OnDuplicate = "error",
    rdf_format: str | None = None,
    item_namespace: str = "",
) -> KnowledgeGraph:
    """Load interactions (+ items, + triples) files as a validated :class:`KnowledgeGraph`.

    Args:
        interactions: the interactions file (header ``user_id,item_id[,rating][,timestamp]``).
        items: an items file (header ``item_id[,name][,text][,<attribute>...]``) (default: none;
            then the items are the ids in the interactions).
        triples: a triples file, CSV/TSV ``head,relation,tail`` or RDF (default: none).
        name: the graph's name (default: the interactions file's stem).
        columns: canonical column → header in the files, e.g. ``{"user_id": "userId"}``
            (canonical: ``user_id item_id rating timestamp name text head relation tail head_label
            tail_label``) (default: the canonical names).
        delimiter: the field separator of the table files (default: from the suffix or the header).
        encoding: the files' encoding (default: ``"utf-8"``).
        user_label: label of the users (default: ``"User"``).
        item_label: label of the items (default: ``"Item"``).
        interaction: relation name of the interactions (default: ``"INTERACTED"``).
        entity_label: label of triple endpoints that are not items (default: ``"Entity"``).
        item_properties: items-file columns kept as typed item properties rather than attribute
            nodes, e.g. ``{"year": "integer"}`` (default: none).
        separator: separator of several values in one attribute cell (default: ``"|"``).
        on_duplicate: a repeated (user, item) pair is an ``"error"``, or keeps the ``"first"`` or
            ``"last"`` row (default: ``"error"``).
        rdf_format: rdflib format name for the triples file (default: guessed from the suffix).
        item_namespace: an RDF IRI ``item_namespace + id`` is the item ``id`` (default: ``""``, the IRI
            itself must equal the item id).

    Raises:
        InputError: a file that does not parse or breaks a rule; the message names file, line, value.
    """
    cols = _column_map(columns)
    f_inter = Path(interactions)
    parts = Parts(interactions=_read_interactions(f_inter, cols, delimiter, encoding, on_duplicate),
                  interactions_path=f_inter)
    _read_side_files(parts, cols, items, triples, delimiter=delimiter, encoding=encoding,
                     item_properties=item_properties, separator=separator, rdf_format=rdf_format,
                     item_namespace=item_namespace)
    return assemble(parts, name=name or f_inter.stem, user_label=user_label, item_label=item_label,
                    interaction=interaction, entity_label=entity_label, metadata=_metadata(f_inter, items, triples))


def stream_generic(
    interactions: str | PathLike,
    *,
    items: str | PathLike | None = None,
    triples: str | PathLike | None = None,
    name: str | None = None,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    user_label: str = "User",
    item_label: str = "Item",
    interaction: str = "INTERACTED",
    entity_label: str = "Entity",
    item_properties: Mapping[str, PropertyType] | None = None,
    separator: str = "|",
    on_duplicate: OnDuplicate = "error",
    rdf_format: str | None = None,
    item_namespace: str = "",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> GraphStream:
    """:func:`load_generic` as a :class:`~kgrec.kg.stream.GraphStream` (for
    :meth:`Store.write_stream <kgrec.kg.stores.base.Store.write_stream>`): the interactions file is
    read in chunks of ``chunk_rows`` rows, so the client never holds all of it; the items and
    triples files are read whole (they are small next to the interactions). Written to a store, it
    gives the graph that ``store.write(load_generic(...))`` gives for the same files.

    The header, the items and triples files and the first chunk are checked here, before anything
    is written; each later chunk as it is written, by the same rules and messages (file, real line,
    value). A bad row there stops the write: the chunks before it stay in the store, marked
    ``writing`` (``read()`` refuses the graph) until the ingest runs again. Triples that touch users
    are written after the last chunk. ``on_duplicate`` applies within each chunk; a (user, item)
    pair repeated in a later chunk is the same edge upserted again (the store's MERGE: the later
    row's values win, as with ``"last"``); :func:`load_generic` refuses every repeat in the file.
    Without an items file each chunk writes the items it uses (with a triples file, a first pass
    over the interactions collects the item ids: a triple's end is an item when its id is one).

    Args:
        chunk_rows: lines of the interactions file per chunk (default: 200,000).
        others: as :func:`load_generic`.
    """
    cols = _column_map(columns)
    f_inter = Path(interactions)
    expected = _interactions_expected(cols)

    def interaction_chunks() -> Iterator[pd.DataFrame]:
        for df in read_table_chunks(f_inter, sep=delimiter, encoding=encoding, expected=expected,
                                    chunk_rows=chunk_rows):
            yield interaction_rows(_interaction_columns(df, cols, f_inter), f_inter, on_duplicate)

    first = next(interaction_chunks())
    _io.require_rows(first, f_inter, "interactions")
    parts = Parts(interactions=first.iloc[:0], interactions_path=f_inter)
    items_per_chunk = items is None and triples is None
    if items is None and triples is not None:
        parts.extra_items = pd.Series(pd.unique(pd.concat([c["dst"].drop_duplicates() for c in interaction_chunks()])),
                                      dtype="string")
    _read_side_files(parts, cols, items, triples, delimiter=delimiter, encoding=encoding,
                     item_properties=item_properties, separator=separator, rdf_format=rdf_format,
                     item_namespace=item_namespace)
    kg = build_graph(parts, name=name or f_inter.stem, user_label=user_label, item_label=item_label,
                     interaction=interaction, entity_label=entity_label, metadata=_metadata(f_inter, items, triples))
    inter_type = tuple(kg.schema.interaction)
    later = {et: df for et, df in kg.edges.items() if et != inter_type and user_label in (et[0], et[2]) and len(df)}
    static = KnowledgeGraph(kg.schema, kg.nodes, {et: df for et, df in kg.edges.items() if et not in later},
                            name=kg.name, metadata=kg.metadata, sources=kg.sources).validate()

    def chunks() -> Iterator[GraphChunk]:
        yield GraphChunk(nodes={label: df for label, df in static.nodes.items() if len(df)},
                         edges={et: df for et, df in static.edges.items() if len(df)})
        for inter in interaction_chunks():
            nodes = {user_label: pd.DataFrame({"id": _io.sorted_ids(inter["src"])})}
            if items_per_chunk:
                nodes[item_label] = pd.DataFrame({"id": _io.sorted_ids(inter["dst"])})
            yield GraphChunk(nodes=nodes, edges={inter_type: inter})
        if later:
            yield GraphChunk(edges=later)

    return GraphStream(kg.schema, chunks, name=kg.name, metadata=kg.metadata, sources=kg.sources)


def _metadata(interactions: Path, items, triples) -> dict:
    return {"format": "generic", "files": {k: str(v) for k, v in
                                           (("interactions", interactions), ("items", items), ("triples", triples)) if v}}


def _read_side_files(parts: Parts, cols: dict[str, str], items, triples, *, delimiter: str | None, encoding: str,
                     item_properties: Mapping[str, PropertyType] | None, separator: str, rdf_format: str | None,
                     item_namespace: str) -> None:
    """Read the items and triples files into ``parts`` (whole)."""
    if items is not None:
        parts.items_path = Path(items)
        parts.items, parts.item_property_types, parts.attributes = _read_items(
            parts.items_path, cols, delimiter, encoding, dict(item_properties or {}), separator)
    elif item_properties:
        raise InputError("item_properties needs an items file", path=str(parts.interactions_path))
    if triples is not None:
        parts.triples_path = Path(triples)
        if parts.triples_path.suffix.lower() in RDF_SUFFIXES or rdf_format is not None:
            parts.triples, parts.entity_names = read_rdf(parts.triples_path, rdf_format)
            if item_namespace:
                known = parts.items["id"] if parts.items is not None else pd.concat(
                    [parts.interactions["dst"], *([parts.extra_items] if parts.extra_items is not None else [])])
                _strip_namespace(parts, item_namespace, known)
        else:
            parts.triples = _read_triples(parts.triples_path, cols, delimiter, encoding)


# -- reading ----------------------------------------------------------------------------------------
def _column_map(columns: Mapping[str, str] | None) -> dict[str, str]:
    out = {c: c for c in CANONICAL}
    for key, header in (columns or {}).items():
        if key not in CANONICAL:
            raise InputError(f"columns: unknown canonical column {key!r}; allowed: {', '.join(CANONICAL)}")
        if not isinstance(header, str) or not clean_id(header):
            raise InputError(f"columns: {key!r} is mapped to {header!r}; give a header name")
        out[key] = clean_id(header)  # header names are cleaned as ids are
    return out


def _rename(df: pd.DataFrame, cols: dict[str, str], wanted: tuple[str, ...], path: Path) -> pd.DataFrame:
    """File headers → canonical names for the ``wanted`` canonical columns that the file has; a
    mapped column whose canonical name the header also has would be two columns of one name."""
    mapping = {cols[c]: c for c in wanted if cols[c] in df.columns and cols[c] != c}
    for header, canonical in mapping.items():
        if canonical in df.columns:
            raise InputError(f"column {header!r} is mapped to {canonical!r}, but the header has a column "
                             f"{canonical!r} too; map one of them, not both", path=str(path), line=1)
    return df.rename(columns=mapping)


def _interactions_expected(cols: dict[str, str]) -> str:
    return f"a header {cols['user_id']},{cols['item_id']}[,{cols['rating']}][,{cols['timestamp']}]"


def _read_interactions(path: Path, cols: dict[str, str], sep: str | None, encoding: str,
                       on_duplicate: OnDuplicate) -> pd.DataFrame:
    df = _io.read_table(path, sep=sep, encoding=encoding, expected=_interactions_expected(cols))
    df = _interaction_columns(df, cols, path)
    _io.require_rows(df, path, "interactions")
    return interaction_rows(df, path, on_duplicate)


def _interaction_columns(df: pd.DataFrame, cols: dict[str, str], path: Path) -> pd.DataFrame:
    """The table read with canonical column names; a missing user or item column is refused."""
    _io.require_columns(df, [cols["user_id"], cols["item_id"]], path, expected=_interactions_expected(cols),
                        hint=" (map other names with columns={'user_id': ..., 'item_id': ...})")
    return _rename(df, cols, ("user_id", "item_id", "rating", "timestamp"), path)


def interaction_rows(df: pd.DataFrame, path: Path, on_duplicate: OnDuplicate) -> pd.DataFrame:
    """Interactions as an edge table (``src``, ``dst``, [``rating``], [``timestamp``], ``_line``): ids
    by the id rule, numbers checked, a repeated pair handled by ``on_duplicate`` (all of the file,
    or one chunk of it)."""
    out = pd.DataFrame({"src": _io.require_nonempty(df, "user_id", path, "user_id"),
                        "dst": _io.require_nonempty(df, "item_id", path, "item_id")})
    if "rating" in df.columns:
        out["rating"] = _io.to_float(df, "rating", path, required=False)
    if "timestamp" in df.columns:
        out["timestamp"] = _io.to_integer(df, "timestamp", path, required=False)
    out["_line"] = df["_line"]
    return dedupe_interactions(out, path, on_duplicate)


def dedupe_interactions(df: pd.DataFrame, path: Path, on_duplicate: OnDuplicate) -> pd.DataFrame:
    if on_duplicate not in ("error", "first", "last"):
        raise InputError(f"on_duplicate {on_duplicate!r} is not one of 'error', 'first', 'last'", path=str(path))
    dup = df.duplicated(subset=["src", "dst"], keep="first").to_numpy()
    if not dup.any():
        return df
    if on_duplicate == "error":
        i = int(np.flatnonzero(dup)[0])
        first = df.index[(df["src"] == df["src"].iat[i]) & (df["dst"] == df["dst"].iat[i])][0]
        raise _io.error_at(df, i, path, f"duplicate interaction {df['src'].iat[i]!r} -> {df['dst'].iat[i]!r} "
                                        f"(first on line {int(df['_line'].iat[first])}); "
                                        f"pass on_duplicate='first' or 'last' to keep one")
    return df.drop_duplicates(subset=["src", "dst"], keep=on_duplicate).reset_index(drop=True)


def _read_items(path: Path, cols: dict[str, str], sep: str | None, encoding: str,
                properties: dict[str, PropertyType], separator: str
                ) -> tuple[pd.DataFrame, dict[str, PropertyType], dict[str, pd.DataFrame]]:
    expected = f"a header {cols['item_id']}[,{cols['name']}][,{cols['text']}][,<attribute>...]"
    df = _io.read_table(path, sep=sep, encoding=encoding, expected=expected)
    _io.require_columns(df, [cols["item_id"]], path, expected=expected)
    df = _rename(df, cols, ("item_id", "name", "text"), path)
    _io.require_rows(df, path, "items")
    items = pd.DataFrame({"id": _io.require_nonempty(df, "item_id", path, "item_id")})
    if "name" in df.columns:
        items["name"] = df["name"].where(df["name"].str.strip() != "", items["id"])
    if "text" in df.columns:
        items["text"] = df["text"].replace("", None)
    for col in properties:
        if col not in df.columns:
            raise InputError(f"item_properties names column {col!r}, which the header lacks", path=str(path), line=1)
    types: dict[str, PropertyType] = {}
    for col, kind in properties.items():
        prop = property_name(col, path)
        items[prop] = convert(df, col, kind, path)
        types[prop] = kind
    attributes = {}
    for col in df.columns:
        if col in ("item_id", "name", "text", "_line") or col in properties:
            continue
        attributes[col] = _io.split_values(items["id"], df[col], df["_line"], separator, path=path, column=col)
    items["_line"] = df["_line"]
    return items, types, attributes


def convert(df: pd.DataFrame, col: str, kind: PropertyType, path: Path) -> pd.Series:
    """A string column as a typed property column; a bad value raises InputError with its line."""
    if kind == "integer":
        return _io.to_integer(df, col, path, required=False)
    if kind == "float":
        return _io.to_float(df, col, path, required=False)
    if kind == "boolean":
        values = df[col].str.strip().str.lower()
        table = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        out = values.map(table)
        bad = (out.isna() & (values != "")).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _io.error_at(df, i, path, f"{col} {df[col].iat[i]!r} is not a boolean (true/false/1/0/yes/no)")
        return out.astype("boolean")
    if kind == "string":
        return df[col].replace("", None).astype("string")
    raise InputError(f"item_properties: type {kind!r} of {col!r} is not one of string, integer, float, boolean",
                     path=str(path))


def property_name(column: str, path: Path) -> str:
    """An items-file column → a snake_case property name (``releaseYear`` → ``release_year``)."""
    name = "_".join(name_words(column)).lower()
    if not name or not name[0].isalpha():
        name = "p_" + name
    if name in ("id", "name", "text", "src", "dst"):
        raise InputError(f"column {column!r} cannot be a property (reserved name)", path=str(path), line=1)
    return name[:64]


def attribute_label(column: str) -> str:
    """An items-file column → its attribute label (``release_year`` → ``ReleaseYear``, ``导演`` →
    ``A5BFC6F14``)."""
    return to_label_name(column)


def _read_triples(path: Path, cols: dict[str, str], sep: str | None, encoding: str) -> pd.DataFrame:
    expected = f"a header {cols['head']},{cols['relation']},{cols['tail']}[,{cols['head_label']}][,{cols['tail_label']}]"
    df = _io.read_table(path, sep=sep, encoding=encoding, expected=expected)
    _io.require_columns(df, [cols["head"], cols["relation"], cols["tail"]], path, expected=expected)
    df = _rename(df, cols, ("head", "relation", "tail", "head_label", "tail_label"), path)
    out = pd.DataFrame({"head": _io.require_nonempty(df, "head", path, "head"),
                        "relation": _io.require_nonempty(df, "relation", path, "relation"),
                        "tail": _io.require_nonempty(df, "tail", path, "tail")})
    for col in ("head_label", "tail_label"):
        if col in df.columns:
            out[col] = df[col].str.strip().replace("", None)
    out["_line"] = df["_line"]
    return out


def _strip_namespace(parts: Parts, namespace: str, item_ids: pd.Series) -> None:
    """An IRI ``namespace + id`` whose ``id`` is an item id becomes that id (in triples and names)."""
    def strip(values: pd.Series) -> pd.Series:
        local = values.str.slice(len(namespace))
        hit = values.str.startswith(namespace).to_numpy() & _io.isin(local, item_ids)
        return values.where(~hit, local)

    parts.triples["head"] = strip(parts.triples["head"])
    parts.triples["tail"] = strip(parts.triples["tail"])
    if parts.entity_names is not None and len(parts.entity_names):
        parts.entity_names["id"] = strip(parts.entity_names["id"])


# -- assembling -------------------------------------------------------------------------------------
def assemble(parts: Parts, *, name: str, user_label: str = "User", item_label: str = "Item",
             interaction: str = "INTERACTED", entity_label: str = "Entity",
             metadata: Mapping | None = None) -> KnowledgeGraph:
    """Build and validate the graph from what the loader read."""
    return build_graph(parts, name=name, user_label=user_label, item_label=item_label, interaction=interaction,
                       entity_label=entity_label, metadata=metadata).validate()


def build_graph(parts: Parts, *, name: str, user_label: str = "User", item_label: str = "Item",
                interaction: str = "INTERACTED", entity_label: str = "Entity",
                metadata: Mapping | None = None) -> KnowledgeGraph:
    """The graph from what the loader read, not validated yet (:func:`assemble` validates it)."""
    for label in (user_label, item_label, entity_label):
        check_label(label)
    if len({user_label, item_label, entity_label}) < 3:
        raise SchemaError(f"user_label, item_label and entity_label must differ: {user_label}, {item_label}, "
                          f"{entity_label}")
    rel = to_relation_name(interaction)
    inter = parts.interactions
    interaction_type: EdgeType = (user_label, rel, item_label)
    inter_props: dict[str, PropertyType] = {}
    if "rating" in inter.columns:
        inter_props["rating"] = "float"
    if "timestamp" in inter.columns:
        inter_props["timestamp"] = "integer"

    users = pd.DataFrame({"id": _io.sorted_ids(inter["src"])})
    if parts.items is not None:
        items = parts.items
    else:
        known = [inter["dst"]] + ([parts.extra_items] if parts.extra_items is not None else [])
        items = pd.DataFrame({"id": _io.sorted_ids(pd.concat(known, ignore_index=True))})

    nodes: dict[str, pd.DataFrame] = {user_label: users, item_label: items}
    edges: dict[EdgeType, pd.DataFrame] = {interaction_type: inter}
    sources: dict = {interaction_type: str(parts.interactions_path)}
    defined: dict[EdgeType, str] = {interaction_type: f"the interactions ({parts.interactions_path})"}
    if parts.items_path is not None:
        sources[item_label] = str(parts.items_path)
    node_types = {user_label: NodeType(user_label), item_label: NodeType(item_label, dict(parts.item_property_types))}
    phrases = INTERACTED_PHRASES if rel == "INTERACTED" else default_phrases(rel)
    relations = [RelationType(user_label, rel, item_label, inter_props, phrases=phrases)]

    columns_of: dict[str, str] = {}
    for column, pairs in parts.attributes.items():
        label = attribute_label(column)
        if label in node_types:
            taken = f"column {columns_of[label]!r}" if label in columns_of else "a label of the graph"
            raise InputError(f"column {column!r} becomes label {label!r}, as {taken} does; rename one of them",
                             path=str(parts.items_path), line=1)
        columns_of[label] = column
        relation = to_relation_name("has_" + column)
        values = _io.sorted_ids(pairs["dst"])
        first_line = pairs.drop_duplicates("dst").set_index("dst")["_line"]
        nodes[label] = pd.DataFrame({"id": values, "_line": first_line.reindex(values).to_numpy()})
        node_types[label] = NodeType(label, description=f"a value of the items column {column!r}")
        et = (item_label, relation, label)
        edges[et] = pairs
        sources[et] = sources[label] = str(parts.items_path)
        defined[et] = f"the items column {column!r} ({parts.items_path})"
        words = " ".join(name_words(column)).lower() or column
        relations.append(RelationType(item_label, relation, label, description=f"the items column {column!r}",
                                      phrases=default_phrases(relation, words)))

    if parts.triples is not None and len(parts.triples):
        _add_triples(parts, nodes, edges, sources, node_types, relations, defined, user_label=user_label,
                     item_label=item_label, entity_label=entity_label)

    schema = Schema(tuple(node_types.values()), tuple(relations), user_label=user_label, item_label=item_label,
                    interaction=interaction_type)
    return KnowledgeGraph(schema, nodes, edges, name=name, metadata={"dataset": name, **dict(metadata or {})},
                          sources=sources)


def _phrases(name: str, original: str) -> tuple[str, str, str, str]:
    """How a triples relation reads: from its name (``directed by`` → "is directed by"), or for a
    non-ASCII original, whose name spells code points, from its own text with ASCII punctuation
    as spaces (``导演`` → "has the 导演")."""
    if original.isascii():
        return default_phrases(name)
    return default_phrases(name, re.sub(r"[\s_.:/#-]+", " ", original).strip() or name)


def _add_triples(parts: Parts, nodes, edges, sources, node_types, relations, defined, *, user_label: str,
                 item_label: str, entity_label: str) -> None:
    t = parts.triples
    path = parts.triples_path
    item_ids = nodes[item_label]["id"]
    labels = {}
    for end in ("head", "tail"):
        given = t[f"{end}_label"] if f"{end}_label" in t.columns else pd.Series(None, index=t.index, dtype="string")
        inferred = np.where(_io.isin(t[end], item_ids), item_label, entity_label)
        label = given.fillna(pd.Series(inferred, index=t.index)).astype("string")
        for value in pd.unique(label):
            try:
                check_label(str(value))
            except SchemaError as e:
                i = int(np.flatnonzero((label == value).to_numpy())[0])
                raise _io.error_at(t, i, path, f"{end}_label {value!r}: {e.reason}") from e
        labels[end] = label
    rel, originals = _io.relation_names(t["relation"], t, path)
    frame = pd.DataFrame({"src": t["head"].to_numpy(), "dst": t["tail"].to_numpy(), "s": labels["head"].to_numpy(),
                          "r": rel.to_numpy(), "d": labels["tail"].to_numpy(), "_line": t["_line"].to_numpy()})
    closed = {user_label, item_label}
    new_ids: dict[str, list[pd.Series]] = {}
    for (s, r, d), part in sorted(frame.groupby(["s", "r", "d"], sort=True), key=lambda kv: kv[0]):
        et = (s, r, d)
        if et in edges:
            raise _io.error_at(part, 0, path, f"relation {originals[r]!r} from {s} to {d} becomes {r}, the relation "
                                              f"type of {defined[et]}; rename it so the two stay apart")
        table = part[["src", "dst", "_line"]].drop_duplicates(subset=["src", "dst"]).reset_index(drop=True)
        edges[et] = table
        sources[et] = str(path)
        relations.append(RelationType(s, r, d, description=originals[r],
                                      phrases=_phrases(r, originals[r])))
        for label, col in ((s, "src"), (d, "dst")):
            if label not in closed:
                new_ids.setdefault(label, []).append(table[col])
    for label, parts_ids in new_ids.items():
        ids = pd.concat(parts_ids, ignore_index=True)
        if label in nodes:
            ids = pd.concat([nodes[label]["id"], ids], ignore_index=True)
            keep = nodes[label]
            extra = pd.DataFrame({"id": _io.sorted_ids(ids[~_io.isin(ids, keep["id"])])})
            nodes[label] = pd.concat([keep, extra], ignore_index=True)
        else:
            nodes[label] = pd.DataFrame({"id": _io.sorted_ids(ids)})
            node_types[label] = NodeType(label, description="an entity of the triples file")
            sources[label] = str(path)
    if parts.entity_names is not None and len(parts.entity_names):
        named = parts.entity_names.set_index("id")["name"]
        for label, df in nodes.items():
            if label == user_label:
                continue
            found = df["id"].map(named)
            if found.notna().any():
                df = df.copy()
                current = df["name"] if "name" in df.columns else df["id"]
                df["name"] = found.fillna(current)
                nodes[label] = df
