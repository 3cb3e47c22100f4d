"""The checks every backend's small writes share (``upsert_nodes`` / ``upsert_edges``): rows are
checked whole before anything is sent, and a new label, relation type or property extends the
stored schema (its type inferred from the column).

Messages name the call, the label or relation, the row (0-based, as in the frame given) and the
value: ``upsert_nodes(User): row 3: id 'a\\x00b' contains a NUL character``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kgrec.errors import InputError, SchemaError

from ..cypher import META_LABEL
from ..graph import MAX_ID_LENGTH, PANDAS_DTYPES
from ..schema import EdgeType, PropertyType, check_label, check_property, check_relation
from .meta import GraphMeta, edge_key, table_properties

RESERVED_LABELS = frozenset({META_LABEL})
"""Labels kgrec keeps for itself in every store (the Cypher stores' meta node)."""


def check_reserved_label(label: str, *, path: str | None = None) -> None:
    """Raise :class:`SchemaError` when ``label`` is one kgrec reserves (``KgrecMeta``)."""
    if label in RESERVED_LABELS:
        raise SchemaError(f"label {label!r} is reserved for kgrec's own meta node; rename it (e.g. "
                          f"{label + 'Node'!r})", path=path)


def infer_property_type(series: pd.Series) -> PropertyType:
    """The schema type of a property column that the schema does not declare yet."""
    kind = series.dtype.kind
    if kind == "b" or str(series.dtype) == "boolean":
        return "boolean"
    if kind in "iu" or str(series.dtype) == "Int64":
        return "integer"
    if kind == "f" or str(series.dtype) == "Float64":
        return "float"
    return "string"


def check_ids(rows: pd.DataFrame, col: str, what: str, *, call: str = "") -> None:
    """Make ``rows[col]`` strings in place; raise :class:`InputError` naming the first empty, too
    long or NUL-holding id (``call`` prefixes the message, e.g. ``upsert_nodes(User)``)."""
    values = rows[col].astype("string")
    prefix = f"{call}: " if call else ""
    empty = (values.isna() | (values.fillna("").str.strip() == "")).to_numpy(dtype=bool)
    long = (values.str.len().fillna(0) > MAX_ID_LENGTH).to_numpy(dtype=bool)
    nul = values.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    for bad, why in ((empty, "is empty"), (long, f"is longer than {MAX_ID_LENGTH} characters"),
                     (nul, "contains a NUL character")):
        if bad.any():
            i = int(bad.argmax())
            shown = rows[col].iat[i]
            shown = shown[:80] + "..." if isinstance(shown, str) and len(shown) > 80 else shown
            raise InputError(f"{prefix}row {i}: {what} {shown!r} {why}")
    rows[col] = values


def cast_properties(rows: pd.DataFrame, props: list[str], declared: Mapping[str, PropertyType], where: str,
                    *, call: str = "") -> pd.DataFrame:
    """A copy of ``rows`` with each declared property cast to its schema type (names checked, no NUL
    in a string value)."""
    rows = rows.copy()
    prefix = f"{call}: " if call else ""
    for p in props:
        check_property(p)
        if p in declared:
            try:
                rows[p] = rows[p].astype(PANDAS_DTYPES[declared[p]])
            except (TypeError, ValueError) as e:
                bad = _first_uncastable(rows[p], declared[p])
                at = f"row {bad[0]}: value {bad[1]!r}: " if bad is not None else ""
                raise InputError(f"{prefix}{where}.{p}: {at}not of type {declared[p]} ({e})") from e
        if str(rows[p].dtype) in ("string", "object", "str"):
            nul = rows[p].astype("string").str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
            if nul.any():
                i = int(nul.argmax())
                raise InputError(f"{prefix}row {i}: {where}.{p} value {rows[p].iat[i]!r} contains a NUL character")
    return rows


def _first_uncastable(values: pd.Series, kind: PropertyType) -> tuple[int, object] | None:
    for i, v in enumerate(values.tolist()):
        try:
            pd.Series([v]).astype(PANDAS_DTYPES[kind])
        except (TypeError, ValueError):
            return i, v
    return None


def node_rows(label: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of an ``upsert_nodes`` checked: a safe, unreserved label, an ``id`` column of
    non-empty unique ids, bookkeeping columns (``_line``) dropped. Returns a fresh frame."""
    check_label(label)
    check_reserved_label(label)
    call = f"upsert_nodes({label})"
    if "id" not in rows.columns:
        raise InputError(f"{call}: rows need an 'id' column; they have {list(rows.columns)}")
    rows = rows.drop(columns=[c for c in rows.columns if str(c).startswith("_")]).reset_index(drop=True)
    check_ids(rows, "id", f"{label} id", call=call)
    dup = rows["id"].duplicated().to_numpy()
    if dup.any():
        i = int(dup.argmax())
        raise InputError(f"{call}: row {i}: id {rows['id'].iat[i]!r} appears twice")
    for col in ("name", "text"):
        if col in rows.columns:
            rows[col] = rows[col].astype("string")
            nul = rows[col].str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
            if nul.any():
                i = int(nul.argmax())
                raise InputError(f"{call}: row {i}: {col} {rows[col].iat[i]!r} contains a NUL character")
    return rows


def edge_rows(edge_type: EdgeType, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of an ``upsert_edges`` checked: safe names, ``src``/``dst`` columns of non-empty ids,
    each pair once, bookkeeping columns dropped. Returns a fresh frame."""
    src_label, rel, dst_label = tuple(edge_type)
    check_label(src_label), check_relation(rel), check_label(dst_label)
    call = f"upsert_edges({edge_key(edge_type)})"
    if {"src", "dst"} - set(rows.columns):
        raise InputError(f"{call}: rows need 'src' and 'dst' columns; they have {list(rows.columns)}")
    rows = rows.drop(columns=[c for c in rows.columns if str(c).startswith("_")]).reset_index(drop=True)
    check_ids(rows, "src", f"{rel} src", call=call)
    check_ids(rows, "dst", f"{rel} dst", call=call)
    dup = rows.duplicated(subset=["src", "dst"]).to_numpy()
    if dup.any():
        i = int(dup.argmax())
        raise InputError(f"{call}: row {i}: edge {rows['src'].iat[i]!r} -> {rows['dst'].iat[i]!r} appears twice")
    return rows


def extend_for_nodes(meta: GraphMeta, label: str, rows: pd.DataFrame) -> tuple[pd.DataFrame, GraphMeta]:
    """``rows`` with declared properties cast, and ``meta`` with the label, new properties (types
    inferred) and the columns given added (the same record when nothing is new)."""
    schema = meta.schema
    props = table_properties(rows.columns, ("id", "name", "text"))
    declared = schema.node(label).properties if label in schema.labels else {}
    rows = cast_properties(rows, props, declared, label, call=f"upsert_nodes({label})")
    new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
    out = meta
    if label not in schema.labels or new_props:
        out = dataclasses.replace(meta, schema=schema.with_node_properties(label, new_props))
    if label not in meta.node_columns or not set(props) <= set(meta.node_columns[label]):
        out = out.with_node_columns(label, props)
    return rows, out


def extend_for_edges(meta: GraphMeta, edge_type: EdgeType, rows: pd.DataFrame) -> tuple[pd.DataFrame, GraphMeta]:
    """As :func:`extend_for_nodes`, for an edge type (its labels must be in the schema already)."""
    et = tuple(edge_type)
    schema = meta.schema
    for label in (et[0], et[2]):
        if label not in schema.labels:
            raise SchemaError(f"upsert_edges({edge_key(et)}): label {label!r} is not in graph {meta.name!r}; "
                              f"labels: {', '.join(schema.labels)}")
    props = table_properties(rows.columns, ("src", "dst"))
    known = et in schema.edge_types
    declared = schema.relation(et).properties if known else {}
    rows = cast_properties(rows, props, declared, et[1], call=f"upsert_edges({edge_key(et)})")
    new_props = {p: infer_property_type(rows[p]) for p in props if p not in declared}
    out = meta
    if not known or new_props:
        out = dataclasses.replace(meta, schema=schema.with_relation_properties(et, new_props))
    if et not in meta.edge_columns or not set(props) <= set(meta.edge_columns[et]):
        out = out.with_edge_columns(et, props)
    return rows, out


def diff_rows(old: pd.DataFrame | None, new: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows of ``new`` that ``old`` lacks (a mask), and per value column the index labels of rows
    present in both whose value differs (missing equals missing): what an upsert of ``new`` over
    ``old`` by ``keys`` must write (the rdf store rewrites only those)."""
    if old is None or not len(old):
        return np.ones(len(new), dtype=bool), {}
    if len(keys) == 1:
        pos = pd.Index(old[keys[0]]).get_indexer(new[keys[0]])
    else:
        pos = pd.MultiIndex.from_frame(old[keys]).get_indexer(pd.MultiIndex.from_frame(new[keys]))
    inserted = pos < 0
    both = np.flatnonzero(~inserted)
    changed: dict[str, np.ndarray] = {}
    for col in (c for c in new.columns if c not in keys):
        a = new[col].iloc[both]
        if col in old.columns:
            b = pd.Series(old[col].to_numpy(dtype=object)[pos[both]], index=a.index).astype(a.dtype)
        else:
            b = pd.Series(pd.NA, index=a.index, dtype=a.dtype)
        same = (a.isna() & b.isna()) | (a == b).fillna(False)
        diff = ~same.to_numpy(dtype=bool)
        if diff.any():
            changed[col] = a.index[diff].to_numpy()
    return inserted, changed


__all__ = ["RESERVED_LABELS", "diff_rows", "cast_properties", "check_ids", "check_reserved_label", "edge_rows",
           "extend_for_edges", "extend_for_nodes", "infer_property_type", "node_rows"]
