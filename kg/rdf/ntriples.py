"""N-Triples encoding of a :class:`~kgrec.kg.graph.KnowledgeGraph`, built column-wise with pandas
string operations (no rdflib term per triple): the one encoder behind the RDF exports and the rdf
store's writes. The mapping is :mod:`kgrec.kg.rdf.vocab` (``docs/rdf-vocabulary.md``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, InputError

from ..graph import KnowledgeGraph
from ..schema import EdgeType, PropertyType, Schema
from .vocab import (
    FORMAT_VERSION,
    OWL_DATATYPE_PROPERTY,
    RDF_OBJECT,
    RDF_PREDICATE,
    RDF_PROPERTY,
    RDF_SUBJECT,
    RDF_TYPE,
    RDFS_CLASS,
    RDFS_LABEL,
    XSD_BOOLEAN,
    XSD_DOUBLE,
    XSD_INTEGER,
    XSD_TYPES,
    Vocabulary,
    edge_iris,
    node_iris,
    quote_ids,
)

CHUNK_ROWS = 200_000

_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"))


def nt_literal(value: str, datatype: str | None = None) -> str:
    """One N-Triples literal (the scalar form of :func:`escape_literals`)."""
    for a, b in _ESCAPES:
        value = value.replace(a, b)
    return f'"{value}"' if datatype is None else f'"{value}"^^<{datatype}>'


def python_literal(value: Any) -> str:
    """A Python ``str``/``int``/``float``/``bool`` as an N-Triples (and SPARQL) literal, typed
    ``xsd:string``/``integer``/``double``/``boolean``.

    Raises:
        InputError: another type.
    """
    if isinstance(value, bool):
        return nt_literal("true" if value else "false", XSD_BOOLEAN)
    if isinstance(value, int):
        return nt_literal(str(value), XSD_INTEGER)
    if isinstance(value, float):
        return nt_literal({"inf": "INF", "-inf": "-INF", "nan": "NaN"}.get(repr(value), repr(value)), XSD_DOUBLE)
    if isinstance(value, str):
        return nt_literal(value)
    raise InputError(f"{type(value).__name__} value {value!r} cannot be an RDF literal (str, int, float, bool)")


def escape_literals(values: pd.Series) -> pd.Series:
    """The N-Triples escapes of each string of a column (without the quotes)."""
    out = values.astype("string")
    for a, b in _ESCAPES:
        out = out.str.replace(a, b, regex=False)
    return out


def lexical_forms(values: pd.Series, kind: PropertyType) -> pd.Series:
    """XSD lexical forms of non-null values of one property column (index preserved)."""
    if kind == "string":
        return '"' + escape_literals(values) + '"'
    if kind == "integer":
        lex = values.astype("Int64").astype("string")
    elif kind == "float":
        arr = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        text = [repr(float(x)) for x in arr]
        lex = pd.Series(text, index=values.index, dtype="string")
        lex = lex.replace({"inf": "INF", "-inf": "-INF", "nan": "NaN"})
    elif kind == "boolean":
        lex = values.astype("boolean").map({True: "true", False: "false"}).astype("string")
    else:  # pragma: no cover - the schema checks kinds
        raise ConfigError(f"unknown property type {kind!r}")
    return '"' + lex + f'"^^<{XSD_TYPES[kind]}>'


def _join(parts: list[tuple[pd.Series, np.ndarray]]) -> tuple[str, int]:
    """Concatenate line Series; lines are ordered by their row position (stable), so each subject's
    triples are consecutive and Turtle/JSON-LD writers can group them."""
    parts = [(lines, pos) for lines, pos in parts if len(lines)]
    if not parts:
        return "", 0
    lines = np.concatenate([p[0].to_numpy(dtype=object) for p in parts])
    pos = np.concatenate([p[1] for p in parts])
    order = np.argsort(pos, kind="stable")
    return "".join(lines[order].tolist()), len(lines)


def property_columns(df: pd.DataFrame, declared: Mapping[str, PropertyType]) -> list[str]:
    """The declared properties that ``df`` has as columns, in declaration order."""
    return [c for c in declared if c in df.columns]


def node_ntriples(vocab: Vocabulary, label: str, df: pd.DataFrame, declared: Mapping[str, PropertyType], *,
                  header: bool = True) -> Iterator[tuple[str, int]]:
    """N-Triples text for the nodes of one label, in chunks of ``(text, triples)``.

    Args:
        header: write ``rdf:type`` and ``kgrec:id`` (False when only properties are updated).
    Columns present in ``df`` are written (``name``, ``text`` and declared properties); null cells
    give no triple.
    """
    type_po = f" <{RDF_TYPE}> <{vocab.class_iri(label)}> .\n"
    id_p = f" <{vocab.term('id')}> "
    preds = {"name": RDFS_LABEL, "text": vocab.term("text")}
    props = property_columns(df, declared)
    for start in range(0, len(df), CHUNK_ROWS):
        chunk = df.iloc[start:start + CHUNK_ROWS]
        iri = "<" + node_iris(vocab, label, chunk["id"]) + ">"
        rows = np.arange(len(chunk))
        parts: list[tuple[pd.Series, np.ndarray]] = []
        if header:
            parts.append((iri + type_po, rows))
            parts.append((iri + id_p + '"' + escape_literals(chunk["id"]) + '" .\n', rows))
        for col in ("name", "text"):
            if col in chunk.columns:
                mask = chunk[col].notna().to_numpy(dtype=bool)
                if mask.any():
                    vals = chunk[col][mask]
                    parts.append((iri[mask] + f" <{preds[col]}> " + '"' + escape_literals(vals) + '" .\n',
                                  rows[mask]))
        for col in props:
            mask = chunk[col].notna().to_numpy(dtype=bool)
            if mask.any():
                parts.append((iri[mask] + f" <{vocab.property_iri(col)}> "
                              + lexical_forms(chunk[col][mask], declared[col]) + " .\n", rows[mask]))
        yield _join(parts)


def edge_ntriples(vocab: Vocabulary, edge_type: EdgeType, df: pd.DataFrame,
                  declared: Mapping[str, PropertyType]) -> Iterator[tuple[str, int]]:
    """N-Triples text for the edges of one type, in chunks of ``(text, triples)``.

    Each edge is the triple ``<src> kgs:REL <dst>``; an edge with a non-null property also gets a
    resource ``<base>edge/REL/Src/src/Dst/dst`` with ``rdf:subject``/``rdf:predicate``/``rdf:object``
    (RDF 1.1 reification) and one triple per property.
    """
    source, relation, target = edge_type
    rel = f" <{vocab.relation_iri(relation)}> "
    src_prefix, dst_prefix = vocab.node_prefix(source), vocab.node_prefix(target)
    props = property_columns(df, declared)
    if len(df) > 1:  # edges from the same source next to each other (Turtle groups them)
        df = df.iloc[np.argsort(pd.factorize(df["src"])[0], kind="stable")]
    for start in range(0, len(df), CHUNK_ROWS):
        chunk = df.iloc[start:start + CHUNK_ROWS]
        qs, qd = quote_ids(chunk["src"]), quote_ids(chunk["dst"])
        s_iri = "<" + src_prefix + qs + ">"
        o_iri = "<" + dst_prefix + qd + ">"
        n = len(chunk)
        parts = [(s_iri + rel + o_iri + " .\n", np.arange(n))]
        if props:
            has = np.zeros(n, dtype=bool)
            for col in props:
                has |= chunk[col].notna().to_numpy(dtype=bool)
            if has.any():
                rows = n + np.flatnonzero(has)  # after the direct triples, one block per edge
                e = "<" + edge_iris(vocab, edge_type, qs[has], qd[has], quoted=True) + ">"
                parts.append((e + f" <{RDF_SUBJECT}> " + s_iri[has] + " .\n", rows))
                parts.append((e + f" <{RDF_PREDICATE}> <{vocab.relation_iri(relation)}> .\n", rows))
                parts.append((e + f" <{RDF_OBJECT}> " + o_iri[has] + " .\n", rows))
                for col in props:
                    mask = chunk[col].notna().to_numpy(dtype=bool)
                    if mask.any():
                        parts.append((e[mask[has]] + f" <{vocab.property_iri(col)}> "
                                      + lexical_forms(chunk[col][mask], declared[col]) + " .\n",
                                      n + np.flatnonzero(mask)))
        yield _join(parts)


def table_columns(kg: KnowledgeGraph) -> dict[str, Any]:
    """Which declared property columns each table has (kept so that import gives the same columns)."""
    nodes = {label: property_columns(df, kg.schema.node(label).properties) for label, df in kg.nodes.items()}
    edges = [[*et, property_columns(df, kg.schema.relation(et).properties)] for et, df in kg.edges.items()]
    return {"nodes": nodes, "edges": edges}


def graph_ntriples(vocab: Vocabulary, *, name: str, schema: Schema, metadata: Mapping[str, Any],
                   columns: Mapping[str, Any], state: str | None = None) -> tuple[str, int]:
    """The graph resource (name, schema and metadata as JSON, roles) and RDFS triples for the schema.

    Args:
        state: the rdf store's write state (``writing``/``complete``); files carry none (default: None).
    """
    g = f"<{vocab.graph_iri(name)}>"
    t = vocab.term
    lines = [
        f"{g} <{RDF_TYPE}> <{t('Graph')}> .",
        f"{g} <{t('name')}> {nt_literal(name)} .",
        f"{g} <{t('formatVersion')}> {nt_literal(str(FORMAT_VERSION), XSD_INTEGER)} .",
        f"{g} <{t('schema')}> {nt_literal(json.dumps(schema.to_dict(), sort_keys=True))} .",
        f"{g} <{t('metadata')}> {nt_literal(json.dumps(dict(metadata), sort_keys=True, default=str))} .",
        f"{g} <{t('columns')}> {nt_literal(json.dumps(columns, sort_keys=True))} .",
        f"{g} <{t('userLabel')}> <{vocab.class_iri(schema.user_label)}> .",
        f"{g} <{t('itemLabel')}> <{vocab.class_iri(schema.item_label)}> .",
        f"{g} <{t('interaction')}> <{vocab.relation_type_iri(*schema.interaction)}> .",
    ]
    if metadata.get("pseudonymized"):
        lines.append(f"{g} <{t('pseudonymized')}> {nt_literal('true', XSD_BOOLEAN)} .")
    if state is not None:
        lines.append(f"{g} <{t('state')}> {nt_literal(state)} .")
    props: set[str] = set()
    for n in schema.nodes:
        c = f"<{vocab.class_iri(n.label)}>"
        lines += [f"{c} <{RDF_TYPE}> <{RDFS_CLASS}> .", f"{c} <{RDFS_LABEL}> {nt_literal(n.label)} ."]
        for p, kind in n.properties.items():
            d = f"<{vocab.property_declaration_iri(n.label, p)}>"
            lines += [f"{d} <{RDF_TYPE}> <{t('PropertyDeclaration')}> .", f"{d} <{t('owner')}> {c} .",
                      f"{d} <{t('property')}> <{vocab.property_iri(p)}> .",
                      f"{d} <{t('datatype')}> <{XSD_TYPES[kind]}> ."]
            props.add(p)
    for rname in schema.relation_names():
        r = f"<{vocab.relation_iri(rname)}>"
        lines += [f"{r} <{RDF_TYPE}> <{RDF_PROPERTY}> .", f"{r} <{RDFS_LABEL}> {nt_literal(rname)} ."]
    for rel in schema.relations:
        rt = f"<{vocab.relation_type_iri(*rel.edge_type)}>"
        lines += [f"{rt} <{RDF_TYPE}> <{t('RelationType')}> .",
                  f"{rt} <{t('source')}> <{vocab.class_iri(rel.source)}> .",
                  f"{rt} <{t('relation')}> <{vocab.relation_iri(rel.name)}> .",
                  f"{rt} <{t('target')}> <{vocab.class_iri(rel.target)}> ."]
        for p, kind in rel.properties.items():
            d = f"<{vocab.property_declaration_iri(rel.edge_type, p)}>"
            lines += [f"{d} <{RDF_TYPE}> <{t('PropertyDeclaration')}> .", f"{d} <{t('owner')}> {rt} .",
                      f"{d} <{t('property')}> <{vocab.property_iri(p)}> .",
                      f"{d} <{t('datatype')}> <{XSD_TYPES[kind]}> ."]
            props.add(p)
    for p in sorted(props):
        pi = f"<{vocab.property_iri(p)}>"
        lines += [f"{pi} <{RDF_TYPE}> <{OWL_DATATYPE_PROPERTY}> .", f"{pi} <{RDFS_LABEL}> {nt_literal(p)} ."]
    return "\n".join(lines) + "\n", len(lines)


def iter_ntriples(kg: KnowledgeGraph, vocab: Vocabulary) -> Iterator[tuple[str, int]]:
    """The whole graph as N-Triples, in chunks of ``(text, triples)`` (no validation here)."""
    yield graph_ntriples(vocab, name=kg.name, schema=kg.schema, metadata=kg.metadata, columns=table_columns(kg))
    for label, df in kg.nodes.items():
        yield from node_ntriples(vocab, label, df, kg.schema.node(label).properties)
    for et, df in kg.edges.items():
        yield from edge_ntriples(vocab, et, df, kg.schema.relation(et).properties)


def write_ntriples(kg: KnowledgeGraph, out: IO[bytes], vocab: Vocabulary) -> int:
    """Write ``kg`` as N-Triples (UTF-8) to a binary file; returns the number of triples."""
    total = 0
    for text, count in iter_ntriples(kg, vocab):
        try:
            out.write(text.encode("utf-8"))
        except UnicodeEncodeError as e:
            bad = text[max(0, e.start - 40):e.end + 10]
            raise InputError(f"{kg.name}: a value is not valid unicode (lone surrogate) near {bad!r}") from e
        total += count
    return total
