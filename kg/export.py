"""Exports of a :class:`KnowledgeGraph`: RDF (Turtle, N-Triples, JSON-LD), GraphML, a Cypher script,
CSV tables, rdflib; and RDF import.

Every export can pseudonymize: ``pseudonymize_key=`` replaces user ids with keyed hashes
(HMAC-SHA256) everywhere in the output (``kgrec export --pseudonymize`` takes the key from
``KGREC_PSEUDONYM_KEY``).

The RDF mapping is described in ``docs/rdf-vocabulary.md`` and built by :mod:`kgrec.kg.rdf_vocab`.
Round trips are lossless: ``import_rdf(path).equals(kg)`` after ``export_graph(kg, path)``.

How it is fast: the N-Triples lines are built column-wise with pandas string operations (no rdflib
term per triple); Turtle and JSON-LD are written by Oxigraph (Rust) from those lines; import loads
the file into an in-memory Oxigraph store and reads each column back with one SPARQL query whose
results come as CSV straight into pandas.

Example::

    from kgrec.kg.export import export_graph, import_rdf
    export_graph(kg, "lastfm.ttl")
    assert import_rdf("lastfm.ttl").equals(kg)
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, InputError, KgrecError

from .graph import KnowledgeGraph
from .rdf_vocab import (
    DEFAULT_BASE_IRI,
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
    XSD_INTEGER,
    XSD_TYPES,
    Vocabulary,
    quote_id,
)
from .schema import EdgeType, PropertyType, Schema

logger = logging.getLogger(__name__)

__all__ = ["EXPORT_FORMATS", "ExportFormat", "ExportReport", "cypher_literal", "export_graph", "import_rdf",
           "pseudonym_key_from_env", "pseudonymize", "to_rdflib"]

ExportFormat = Literal["ttl", "nt", "jsonld", "graphml", "cypher", "csv"]
EXPORT_FORMATS: tuple[str, ...] = ("ttl", "nt", "jsonld", "graphml", "cypher", "csv")
_FORMATS: dict[str, str] = {
    "ttl": "ttl", "turtle": "ttl",
    "nt": "nt", "ntriples": "nt", "n-triples": "nt",
    "jsonld": "jsonld", "json-ld": "jsonld", "json": "jsonld",
    "graphml": "graphml",
    "cypher": "cypher", "cql": "cypher",
    "csv": "csv",
}
_SUFFIXES: dict[str, str] = {".ttl": "ttl", ".turtle": "ttl", ".nt": "nt", ".ntriples": "nt",
                             ".jsonld": "jsonld", ".json": "jsonld", ".graphml": "graphml", ".cypher": "cypher",
                             ".cql": "cypher"}
CHUNK_ROWS = 200_000
CYPHER_BATCH_ROWS = 1000
PSEUDONYM_KEY_ENV = "KGREC_PSEUDONYM_KEY"


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_graph` wrote."""

    path: Path
    format: str
    triples: int | None  # None for GraphML
    nodes: int
    edges: int
    bytes: int
    seconds: float


def _normalise_format(fmt: str, *, allowed: tuple[str, ...] = EXPORT_FORMATS) -> str:
    key = str(fmt).strip().lower().replace("_", "-")
    value = _FORMATS.get(key) or _FORMATS.get(key.replace("-", ""))
    if value is None or value not in allowed:
        raise ConfigError(f"format {fmt!r} is not supported; choose one of {', '.join(allowed)}")
    return value


# ================================================================================================
# Pseudonymisation
# ================================================================================================
def pseudonym_key_from_env(env: str = PSEUDONYM_KEY_ENV) -> bytes:
    """The HMAC key of :func:`pseudonymize` from the environment variable ``env`` (UTF-8 bytes).

    Raises:
        ConfigError: the variable is missing, empty or shorter than 16 characters.
    """
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"pseudonymizing needs a secret key in the environment variable {env} (at least 16 "
                          f"characters; e.g. export {env}=$(openssl rand -hex 32)); it is not set")
    if len(value) < 16:
        raise ConfigError(f"{env} is {len(value)} characters long; use a secret of at least 16 characters")
    return value.encode("utf-8")


def pseudonymize(kg: KnowledgeGraph, key: bytes) -> KnowledgeGraph:
    """The same graph with every user id replaced by ``HMAC-SHA256(key, id)`` in hex.

    User nodes get the keyed hash as id and as name (a real name would undo the point); every edge
    that starts or ends at a user refers to the hash. Other labels and user texts are left alone.
    ``metadata["pseudonymized"]`` is set to True.
    """
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ConfigError("pseudonymize_key must be non-empty bytes")
    user = kg.schema.user_label
    ids = kg.nodes[user]["id"]
    uniques = pd.unique(ids.dropna())
    mapping = {u: hmac.new(bytes(key), str(u).encode("utf-8"), hashlib.sha256).hexdigest() for u in uniques}
    nodes = dict(kg.nodes)
    users = kg.nodes[user].copy()
    users["id"] = ids.map(mapping).astype("string")
    users["name"] = users["id"]
    nodes[user] = users

    def _map(values: pd.Series) -> pd.Series:
        # ids that are not user nodes (a validation error elsewhere) are hashed the same way
        out = values.map(mapping)
        missing = out.isna() & values.notna()
        if missing.any():
            out[missing] = values[missing].map(
                lambda v: hmac.new(bytes(key), str(v).encode("utf-8"), hashlib.sha256).hexdigest())
        return out.astype("string")

    edges = {}
    for et, df in kg.edges.items():
        if user in (et[0], et[2]):
            df = df.copy()
            if et[0] == user:
                df["src"] = _map(df["src"])
            if et[2] == user:
                df["dst"] = _map(df["dst"])
        edges[et] = df
    return KnowledgeGraph(kg.schema, nodes, edges, name=kg.name, metadata={**kg.metadata, "pseudonymized": True},
                          sources=kg.sources)


# ================================================================================================
# N-Triples lines, built column-wise
# ================================================================================================
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"))


def nt_literal(value: str, datatype: str | None = None) -> str:
    """One N-Triples literal (scalar form of :func:`_literal_series`)."""
    for a, b in _ESCAPES:
        value = value.replace(a, b)
    return f'"{value}"' if datatype is None else f'"{value}"^^<{datatype}>'


def _escape_series(values: pd.Series) -> pd.Series:
    out = values.astype("string")
    for a, b in _ESCAPES:
        out = out.str.replace(a, b, regex=False)
    return out


def _lexical(values: pd.Series, kind: PropertyType) -> pd.Series:
    """XSD lexical forms of non-null values of one property column (index preserved)."""
    if kind == "string":
        return '"' + _escape_series(values) + '"'
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


_UNRESERVED = r"[A-Za-z0-9_.~-]*"


def _quoted(values: pd.Series) -> pd.Series:
    """``quote_id`` of each value; ids of unreserved characters only (most) pass through as they are,
    the others are quoted once per distinct value."""
    values = values.astype("string")
    safe = values.str.fullmatch(_UNRESERVED).fillna(False).to_numpy(dtype=bool)
    if safe.all():
        return values
    out = values.copy()
    unsafe = values[~safe]
    codes, uniques = pd.factorize(unsafe)
    out[~safe] = np.array([quote_id(u) for u in uniques], dtype=object)[codes]
    return out


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


def _property_columns(df: pd.DataFrame, declared: Mapping[str, PropertyType]) -> list[str]:
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
    props = _property_columns(df, declared)
    prefix = vocab.node_prefix(label)
    for start in range(0, len(df), CHUNK_ROWS):
        chunk = df.iloc[start:start + CHUNK_ROWS]
        iri = "<" + prefix + _quoted(chunk["id"]) + ">"
        rows = np.arange(len(chunk))
        parts: list[tuple[pd.Series, np.ndarray]] = []
        if header:
            parts.append((iri + type_po, rows))
            parts.append((iri + id_p + '"' + _escape_series(chunk["id"]) + '" .\n', rows))
        for col in ("name", "text"):
            if col in chunk.columns:
                mask = chunk[col].notna().to_numpy(dtype=bool)
                if mask.any():
                    vals = chunk[col][mask]
                    parts.append((iri[mask] + f" <{preds[col]}> " + '"' + _escape_series(vals) + '" .\n', rows[mask]))
        for col in props:
            mask = chunk[col].notna().to_numpy(dtype=bool)
            if mask.any():
                parts.append((iri[mask] + f" <{vocab.property_iri(col)}> "
                              + _lexical(chunk[col][mask], declared[col]) + " .\n", rows[mask]))
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
    edge_prefix = f"{vocab.edge_ns}{relation}/{source}/"
    props = _property_columns(df, declared)
    if len(df) > 1:  # edges from the same source next to each other (Turtle groups them)
        df = df.iloc[np.argsort(pd.factorize(df["src"])[0], kind="stable")]
    for start in range(0, len(df), CHUNK_ROWS):
        chunk = df.iloc[start:start + CHUNK_ROWS]
        qs, qd = _quoted(chunk["src"]), _quoted(chunk["dst"])
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
                e = "<" + edge_prefix + qs[has] + "/" + target + "/" + qd[has] + ">"
                parts.append((e + f" <{RDF_SUBJECT}> " + s_iri[has] + " .\n", rows))
                parts.append((e + f" <{RDF_PREDICATE}> <{vocab.relation_iri(relation)}> .\n", rows))
                parts.append((e + f" <{RDF_OBJECT}> " + o_iri[has] + " .\n", rows))
                for col in props:
                    mask = chunk[col].notna().to_numpy(dtype=bool)
                    if mask.any():
                        parts.append((e[mask[has]] + f" <{vocab.property_iri(col)}> "
                                      + _lexical(chunk[col][mask], declared[col]) + " .\n", n + np.flatnonzero(mask)))
        yield _join(parts)


def table_columns(kg: KnowledgeGraph) -> dict[str, Any]:
    """Which declared property columns each table has (kept so that import gives the same columns)."""
    nodes = {label: _property_columns(df, kg.schema.node(label).properties) for label, df in kg.nodes.items()}
    edges = [[*et, _property_columns(df, kg.schema.relation(et).properties)] for et, df in kg.edges.items()]
    return {"nodes": nodes, "edges": edges}


def graph_ntriples(vocab: Vocabulary, *, name: str, schema: Schema, metadata: Mapping[str, Any],
                   columns: Mapping[str, Any]) -> tuple[str, int]:
    """The graph resource (name, schema and metadata as JSON, roles) and RDFS triples for the schema."""
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


# ================================================================================================
# export_graph / to_rdflib
# ================================================================================================
def _prepare(kg: KnowledgeGraph, pseudonymize_key: bytes | None) -> KnowledgeGraph:
    kg.validate()
    if pseudonymize_key is not None:
        kg = pseudonymize(kg, pseudonymize_key)
    return kg


def export_graph(kg: KnowledgeGraph, path: str | os.PathLike, *, format: str = "ttl",
                 base_iri: str = DEFAULT_BASE_IRI, pseudonymize_key: bytes | None = None) -> ExportReport:
    """Validate ``kg`` and write it to ``path`` as RDF or GraphML.

    Args:
        kg: the graph.
        path: the file to write (its folder is created); for ``csv`` a folder.
        format: ``"ttl"`` (Turtle), ``"nt"`` (N-Triples), ``"jsonld"`` (JSON-LD), ``"graphml"``
            (networkx GraphML, for Gephi/yEd; not read back by kgrec), ``"cypher"`` (a script of
            ``UNWIND [...] MERGE`` statements for cypher-shell / redis-cli, values as escaped
            literals) or ``"csv"`` (a folder: one CSV per label and per edge type, and
            ``graph.json`` with the schema) (default: ``"ttl"``).
        base_iri: the base of every IRI (default: ``https://kgrec.dev/``).
        pseudonymize_key: when given, user ids become ``HMAC-SHA256(key, id)`` hex everywhere in the
            output (see :func:`pseudonymize`).

    Returns:
        an :class:`ExportReport` (path, format, triples, bytes, seconds).
    """
    fmt = _normalise_format(format)
    vocab = Vocabulary(base_iri)
    started = time.perf_counter()
    kg = _prepare(kg, pseudonymize_key)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    triples: int | None
    if fmt == "graphml":
        _write_graphml(kg, path)
        triples = None
    elif fmt == "cypher":
        _write_cypher(kg, path)
        triples = None
    elif fmt == "csv":
        _write_csv(kg, path)
        triples = None
    elif fmt == "nt":
        with open(path, "wb") as f:
            triples = write_ntriples(kg, f, vocab)
    else:
        triples = _write_via_oxigraph(kg, path, fmt, vocab)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
    report = ExportReport(path=path, format=fmt, triples=triples, nodes=kg.num_nodes(), edges=kg.num_edges(),
                          bytes=size, seconds=seconds)
    logger.info("exported %s to %s (%s, %s triples, %.1f s)", kg.name, path, fmt, triples, seconds)
    return report


def _write_via_oxigraph(kg: KnowledgeGraph, path: Path, fmt: str, vocab: Vocabulary) -> int:
    """Turtle / JSON-LD: the N-Triples lines (each subject's triples together) streamed through
    Oxigraph's parser and serializer, with prefixes."""
    import pyoxigraph as ox

    rdf_format = ox.RdfFormat.TURTLE if fmt == "ttl" else ox.RdfFormat.JSON_LD
    # no prefixes for nodes: ids can make local names that need escapes (``User:\.``), which some
    # readers (rdflib 7) reject; full IRIs always parse
    prefixes = vocab.prefixes()
    with tempfile.TemporaryFile() as tmp:
        triples = write_ntriples(kg, tmp, vocab)
        tmp.seek(0)
        with open(path, "wb") as f:
            ox.serialize(ox.parse(tmp, ox.RdfFormat.N_TRIPLES), f, rdf_format, prefixes=prefixes)
    return triples


def _load_ntriples(store, kg: KnowledgeGraph, vocab: Vocabulary, *, to_graph, bulk: bool = False) -> int:
    """Load ``kg``'s N-Triples into an Oxigraph store (chunk by chunk); returns the triple count."""
    import pyoxigraph as ox

    total = 0
    with tempfile.TemporaryFile() as tmp:
        total = write_ntriples(kg, tmp, vocab)
        tmp.seek(0)
        try:
            if bulk:
                store.bulk_load(tmp, ox.RdfFormat.N_TRIPLES, to_graph=to_graph)
            else:
                store.load(tmp, ox.RdfFormat.N_TRIPLES, to_graph=to_graph)
        except SyntaxError as e:  # a bug in the line builder, never user input
            raise KgrecError(f"internal error: kgrec wrote invalid N-Triples: {e}") from e
    return total


def to_rdflib(kg: KnowledgeGraph, *, base_iri: str = DEFAULT_BASE_IRI, pseudonymize_key: bytes | None = None):
    """``kg`` as an in-memory ``rdflib.Graph`` (prefixes bound), for notebooks and rdflib tools.

    For big graphs prefer :func:`export_graph` (rdflib holds every triple as Python objects).
    """
    import rdflib

    vocab = Vocabulary(base_iri)
    kg = _prepare(kg, pseudonymize_key)
    buf = io.BytesIO()
    write_ntriples(kg, buf, vocab)
    g = rdflib.Graph()
    for prefix, ns in vocab.prefixes().items():
        g.bind(prefix, rdflib.Namespace(ns), override=True)
    g.parse(data=buf.getvalue(), format="ox-ntriples")
    return g


# ================================================================================================
# Cypher script and CSV tables
# ================================================================================================
_CYPHER_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                                 "\x00": "\\u0000"})


def cypher_literal(value: Any) -> str:
    """A value as a Cypher literal: strings double-quoted with backslash, double quote, newline,
    carriage return, tab and NUL escaped, so no value can end the literal (other characters are
    written as they are: FalkorDB does not decode ``\\uXXXX`` escapes); missing and non-finite
    numbers are ``null``."""
    if value is None or value is pd.NA:
        return "null"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if np.isfinite(value) else "null"
    return '"' + str(value).translate(_CYPHER_ESCAPES) + '"'


def _cypher_rows(df: pd.DataFrame, columns: list[str]) -> list[str]:
    cells = []
    for col in columns:
        values = df[col].astype(object).where(df[col].notna(), None).tolist()
        cells.append([f"`{col}`: {cypher_literal(v)}" for v in values])
    return ["{" + ", ".join(row) + "}" for row in zip(*cells)]


def _write_cypher(kg: KnowledgeGraph, path: Path) -> None:
    try:
        _write_cypher_file(kg, path)
    except UnicodeEncodeError as e:
        bad = e.object[max(0, e.start - 20):e.end + 20] if isinstance(e.object, str) else ""
        raise InputError(f"{kg.name}: a value is not valid unicode (lone surrogate) near {bad!r}") from e


def _write_cypher_file(kg: KnowledgeGraph, path: Path) -> None:
    from . import cypher as queries
    from .schema import check_label

    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"// kgrec export of graph {json.dumps(kg.name)}: {kg.num_nodes()} nodes, {kg.num_edges()} edges\n")
        if kg.metadata.get("pseudonymized"):
            f.write("// user ids are pseudonyms: HMAC-SHA256 with a secret key\n")
        f.writelines(f"CREATE INDEX FOR (n:{check_label(label)}) ON (n.id);\n" for label in kg.nodes)
        for label, df in kg.nodes.items():
            columns = ["id", *[c for c in ("name", "text") if c in df.columns],
                       *_property_columns(df, kg.schema.node(label).properties)]
            query = queries.upsert_nodes(label, columns)
            for start in range(0, len(df), CYPHER_BATCH_ROWS):
                rows = _cypher_rows(df.iloc[start:start + CYPHER_BATCH_ROWS], columns)
                f.write(query.replace("$rows", "[" + ", ".join(rows) + "]", 1) + ";\n")
        for et, df in kg.edges.items():
            columns = ["src", "dst", *_property_columns(df, kg.schema.relation(et).properties)]
            query = queries.upsert_edges(et, columns)
            for start in range(0, len(df), CYPHER_BATCH_ROWS):
                rows = _cypher_rows(df.iloc[start:start + CYPHER_BATCH_ROWS], columns)
                f.write(query.replace("$rows", "[" + ", ".join(rows) + "]", 1) + ";\n")


def _table_name(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]", "_", p) for p in parts)


def _write_csv(kg: KnowledgeGraph, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: a CSV export is a folder; this is a file")
    path.mkdir(parents=True, exist_ok=True)
    for label, df in kg.nodes.items():
        columns = ["id", *[c for c in ("name", "text") if c in df.columns],
                   *_property_columns(df, kg.schema.node(label).properties)]
        df[columns].to_csv(path / f"nodes-{_table_name(label)}.csv", index=False, encoding="utf-8")
    for et, df in kg.edges.items():
        columns = ["src", "dst", *_property_columns(df, kg.schema.relation(et).properties)]
        df[columns].to_csv(path / f"edges-{_table_name(*et)}.csv", index=False, encoding="utf-8")
    info = {"name": kg.name, "schema": kg.schema.to_dict(), "metadata": kg.metadata}
    (path / "graph.json").write_text(json.dumps(info, indent=1, default=str, ensure_ascii=False), encoding="utf-8")


# ================================================================================================
# GraphML
# ================================================================================================
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _graphml_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return _XML_BAD.sub("\ufffd", value)
    return value


def _write_graphml(kg: KnowledgeGraph, path: Path) -> None:
    import networkx as nx

    g = kg.to_networkx()
    replaced = 0
    renames = {n: _graphml_value(n) for n in g.nodes if isinstance(n, str) and _XML_BAD.search(n)}
    if renames:
        nx.relabel_nodes(g, renames, copy=False)
        replaced += len(renames)
    for _, attrs in g.nodes(data=True):
        for k, v in list(attrs.items()):
            attrs[k] = nv = _graphml_value(v)
            replaced += isinstance(v, str) and nv != v
    for _, _, attrs in g.edges(data=True):
        for k, v in list(attrs.items()):
            attrs[k] = nv = _graphml_value(v)
            replaced += isinstance(v, str) and nv != v
    if replaced:
        logger.warning("GraphML: %d values held characters XML 1.0 cannot carry; they became U+FFFD", replaced)
    g.graph = {"name": kg.name}
    nx.write_graphml(g, path, named_key_ids=True)


# ================================================================================================
# Import
# ================================================================================================
_RDF_SUFFIX_FORMATS = {"ttl": "TURTLE", "nt": "N_TRIPLES", "jsonld": "JSON_LD"}


def import_rdf(source, *, format: str | None = None, base_iri: str | None = None) -> KnowledgeGraph:
    """Rebuild a :class:`KnowledgeGraph` from RDF written by kgrec (a file or an ``rdflib.Graph``).

    Args:
        source: a path to a ``.ttl``, ``.nt`` or ``.jsonld`` file, or an ``rdflib.Graph``.
        format: ``"ttl"``, ``"nt"`` or ``"jsonld"`` (default: from the file suffix).
        base_iri: the base IRI the file was written with (default: found from its ``kgrec:Graph``).

    Raises:
        InputError: the file is not RDF, or not a graph written by kgrec.
    """
    import pyoxigraph as ox

    store = ox.Store()
    where = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if format is None:
            fmt = _SUFFIXES.get(path.suffix.lower())
            if fmt is None or fmt == "graphml":
                raise InputError(f"cannot tell the RDF format from the suffix {path.suffix!r}; "
                                 "pass format='ttl', 'nt' or 'jsonld'", path=where)
        else:
            fmt = _normalise_format(format, allowed=("ttl", "nt", "jsonld"))
        if not path.is_file():
            raise InputError("no such file", path=where)
        try:
            store.bulk_load(path=str(path), format=getattr(ox.RdfFormat, _RDF_SUFFIX_FORMATS[fmt]), lenient=True)
        except SyntaxError as e:
            raise InputError(f"not valid {fmt}: {e}", path=where) from e
    else:
        try:
            import rdflib
        except ImportError as e:  # pragma: no cover - rdflib is a dependency
            raise ConfigError("import_rdf needs rdflib for Graph input") from e
        if not isinstance(source, rdflib.Graph):
            raise ConfigError(f"import_rdf takes a path or an rdflib.Graph, not {type(source).__name__}")
        data = source.serialize(format="nt", encoding="utf-8")
        store.load(data, ox.RdfFormat.N_TRIPLES)
    kg = read_oxigraph(store, base_iri=base_iri, where=where)
    return kg


def _csv(store, query: str, default_graph=None) -> pd.DataFrame:
    """Run a SELECT on an Oxigraph store; the solutions as a DataFrame of strings (no nulls)."""
    import pyoxigraph as ox

    kwargs = {} if default_graph is None else {"default_graph": default_graph}
    res = store.query(query, **kwargs)
    data = res.serialize(format=ox.QueryResultsFormat.CSV)
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")


def _find_graph(store, vocab: Vocabulary | None, default_graph, where: str | None) -> tuple[Vocabulary, str]:
    if vocab is not None:
        rows = _csv(store, f"SELECT ?g WHERE {{ ?g <{RDF_TYPE}> <{vocab.term('Graph')}> }}", default_graph)
        candidates = [(vocab, g) for g in rows["g"]]
    else:
        rows = _csv(store, f'SELECT ?g ?t WHERE {{ ?g <{RDF_TYPE}> ?t FILTER(STRENDS(STR(?t), "vocab#Graph")) }}',
                    default_graph)
        candidates = []
        for g, t in zip(rows["g"], rows["t"]):
            try:
                candidates.append((Vocabulary(t[: -len("vocab#Graph")]), g))
            except ConfigError:
                continue
    if len(candidates) != 1:
        found = "no" if not candidates else f"{len(candidates)}"
        raise InputError(f"{found} kgrec graph resources (a kgrec:Graph) found; import_rdf reads RDF written by "
                         "kgrec's export_graph (one graph per file)", path=where)
    return candidates[0]


def read_oxigraph(store, *, base_iri: str | None = None, default_graph=None, where: str | None = None,
                  validate: bool = True) -> KnowledgeGraph:
    """Rebuild the :class:`KnowledgeGraph` held in an Oxigraph store (its default graph, or
    ``default_graph`` when given: the rdf store passes the named graph).

    One single-pattern SPARQL query (``?s <P> ?v``, an index scan) per predicate, results as CSV
    into pandas, joins in pandas. Edge properties are matched to their edges through the edge
    resource's IRI (``<base>edge/REL/Src/src/Dst/dst``), which saves scanning the reification
    triples.
    """
    vocab = Vocabulary(base_iri) if base_iri is not None else None
    vocab, g_iri = _find_graph(store, vocab, default_graph, where)
    t = vocab.term
    head = _csv(store, f"SELECT ?schema ?meta ?name ?cols WHERE {{ <{g_iri}> <{t('schema')}> ?schema ; "
                       f"<{t('name')}> ?name . OPTIONAL {{ <{g_iri}> <{t('metadata')}> ?meta }} "
                       f"OPTIONAL {{ <{g_iri}> <{t('columns')}> ?cols }} }}", default_graph)
    if len(head) != 1:
        raise InputError(f"the kgrec graph <{g_iri}> has {len(head)} schema/name values; expected exactly one",
                         path=where)
    try:
        schema = Schema.from_dict(json.loads(head["schema"].iat[0]))
        metadata = json.loads(head["meta"].iat[0]) if head["meta"].iat[0] else {}
        columns = json.loads(head["cols"].iat[0]) if head["cols"].iat[0] else None
    except json.JSONDecodeError as e:
        raise InputError(f"the kgrec graph <{g_iri}> holds malformed JSON: {e}", path=where) from e
    name = head["name"].iat[0]

    # Every query is one triple pattern ``?s <P> ?v`` (an index scan, no join); joins happen in pandas.
    scans: dict[str, pd.DataFrame] = {}

    def values_of(predicate: str) -> pd.DataFrame:
        if predicate not in scans:
            scans[predicate] = _csv(store, f"SELECT ?s ?v WHERE {{ ?s <{predicate}> ?v }}", default_graph)
        return scans[predicate]

    # -- nodes: class and id, then one query per predicate --------------------------------------
    class_to_label = {vocab.class_iri(label): label for label in schema.labels}
    types = values_of(RDF_TYPE)
    types = types.assign(label=types["v"].map(class_to_label)).dropna(subset=["label"]).drop_duplicates("s")
    ids = values_of(t("id")).drop_duplicates("s")
    nodes_df = ids.rename(columns={"v": "id"}).merge(types[["s", "label"]], on="s", how="left")
    unknown = nodes_df["label"].isna().to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(f"node <{nodes_df['s'].iat[i]}> has no class among the schema's labels "
                         f"({', '.join(schema.labels)})", path=where)
    nodes_df = nodes_df.reset_index(drop=True)
    node_pos = pd.Index(nodes_df["s"])

    node_cols: dict[str, pd.Series] = {}
    for col, pred in (("name", RDFS_LABEL), ("text", t("text"))):
        node_cols[col] = _spread(values_of(pred), node_pos, len(nodes_df))
    node_props = sorted({p for n in schema.nodes for p in n.properties})
    prop_values = {p: values_of(vocab.property_iri(p)) for p in node_props}
    node_tables = {}
    for label in schema.labels:
        mask = (nodes_df["label"] == label).to_numpy()
        table = {"id": nodes_df["id"][mask].to_numpy(), "name": node_cols["name"][mask].to_numpy(),
                 "text": node_cols["text"][mask].to_numpy()}
        declared = schema.node(label).properties
        wanted = columns["nodes"].get(label, []) if columns is not None else list(declared)
        for p in wanted:
            if p in declared:
                raw = _spread(prop_values[p], node_pos, len(nodes_df))[mask]
                table[p] = _from_lexical(raw, declared[p], f"{label}.{p}", where)
        df = pd.DataFrame(table)
        df["name"] = df["name"].astype("string")
        df["text"] = df["text"].astype("string")
        if columns is None:
            df = df.drop(columns=[p for p in declared if p in df and df[p].isna().all()])
        node_tables[label] = df

    # -- edges: one query per relation name, split by label pair --------------------------------
    labels_arr = nodes_df["label"].to_numpy(dtype=object)
    ids_arr = nodes_df["id"].to_numpy(dtype=object)
    edge_tables: dict[EdgeType, pd.DataFrame] = {}
    edge_columns = {tuple(e[:3]): e[3] for e in columns["edges"]} if columns is not None else None
    edge_props: dict[str, pd.DataFrame] = {}  # property -> (r, s, o, v) from the edge resources' IRIs
    for p in sorted({p for r in schema.relations for p in r.properties}):
        edge_props[p] = _edge_values(values_of(vocab.property_iri(p)), vocab)
    for rname in schema.relation_names():
        rel_iri = vocab.relation_iri(rname)
        pairs = _csv(store, f"SELECT ?s ?o WHERE {{ ?s <{rel_iri}> ?o }}", default_graph)
        sp, op = node_pos.get_indexer(pairs["s"]), node_pos.get_indexer(pairs["o"])
        bad = (sp < 0) | (op < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{rname} edge <{pairs['s'].iat[i]}> -> <{pairs['o'].iat[i]}> has an endpoint that is "
                             "not a node of the graph", path=where)
        src_l, dst_l = labels_arr[sp], labels_arr[op]
        rels = [r for r in schema.relations if r.name == rname]
        declared_all = sorted({p for r in rels for p in r.properties})
        props = {p: edge_props[p][edge_props[p]["r"] == rel_iri] for p in declared_all}
        seen = np.zeros(len(pairs), dtype=bool)
        pair_index = pd.MultiIndex.from_arrays([pairs["s"], pairs["o"]]) if declared_all else None
        for r in rels:
            mask = (src_l == r.source) & (dst_l == r.target)
            seen |= mask
            table = {"src": ids_arr[sp[mask]], "dst": ids_arr[op[mask]]}
            wanted = edge_columns.get(r.edge_type, []) if edge_columns is not None else list(r.properties)
            for p in wanted:
                if p not in r.properties:
                    continue
                pv = props[p]
                pos = pair_index.get_indexer(pd.MultiIndex.from_arrays([pv["s"], pv["o"]]))
                full = np.full(len(pairs), None, dtype=object)
                ok = pos >= 0
                full[pos[ok]] = pv["v"].to_numpy(dtype=object)[ok]
                table[p] = _from_lexical(pd.Series(full[mask], dtype=object), r.properties[p],
                                         f"{rname}.{p}", where)
            df = pd.DataFrame(table)
            if edge_columns is None:
                df = df.drop(columns=[p for p in r.properties if p in df and df[p].isna().all()])
            edge_tables[r.edge_type] = df
        if not seen.all():
            i = int(np.flatnonzero(~seen)[0])
            raise InputError(f"{rname} edge from a {src_l[i]} to a {dst_l[i]} is not a relation type of the schema",
                             path=where)
    kg = KnowledgeGraph(schema, node_tables, edge_tables, name=name, metadata=metadata)
    if not validate:
        return kg
    try:
        return kg.validate()
    except InputError as e:
        raise InputError(f"the graph read back is not valid: {e.reason}", path=where) from e


def _edge_values(values: pd.DataFrame, vocab: Vocabulary) -> pd.DataFrame:
    """``(e, v)`` rows of an edge property, with each edge resource's relation IRI and endpoint IRIs
    read from its IRI ``<base>edge/REL/Src/qsrc/Dst/qdst`` (quoted ids hold no ``/``). Rows whose
    subject is not an edge resource (a node with a property of the same name) are dropped."""
    e = values["s"].astype("string")
    is_edge = e.str.startswith(vocab.edge_ns).fillna(False).to_numpy(dtype=bool)
    parts = e[is_edge].str.slice(len(vocab.edge_ns)).str.split("/", expand=True, regex=False)
    if not is_edge.any():
        return pd.DataFrame({"r": [], "s": [], "o": [], "v": []}, dtype=object)
    if parts.shape[1] != 5 or parts.isna().any().any():
        raise InputError(f"edge resources must look like <{vocab.edge_ns}REL/Src/src/Dst/dst>")
    node_ns = vocab.node_ns
    return pd.DataFrame({
        "r": (vocab.schema_ns + parts[0]).to_numpy(dtype=object),
        "s": (node_ns + parts[1] + "/" + parts[2]).to_numpy(dtype=object),
        "o": (node_ns + parts[3] + "/" + parts[4]).to_numpy(dtype=object),
        "v": values["v"][is_edge].to_numpy(dtype=object),
    })


def _spread(values: pd.DataFrame, node_pos: pd.Index, n: int) -> pd.Series:
    """Values ``(s, v)`` put at the positions of their subjects (None where a node has none)."""
    out = np.full(n, None, dtype=object)
    if len(values):
        pos = node_pos.get_indexer(values["s"])
        ok = pos >= 0
        out[pos[ok]] = values["v"].to_numpy(dtype=object)[ok]
    return pd.Series(out, dtype=object)


_FLOAT_SPECIAL = {"INF": "inf", "+INF": "inf", "-INF": "-inf", "NaN": "nan"}


def _from_lexical(raw: pd.Series, kind: PropertyType, what: str, where: str | None) -> pd.Series:
    """Typed values from XSD lexical forms (None stays missing)."""
    raw = pd.Series(raw.to_numpy(dtype=object), dtype=object)
    if kind == "string":
        return raw.astype("string")
    present = raw.notna()
    try:
        if kind == "integer":
            return _to_int(raw, present)
        if kind == "float":
            vals = raw.map(lambda v: _FLOAT_SPECIAL.get(v.strip(), v) if isinstance(v, str) else v)
            return pd.Series(pd.to_numeric(vals, errors="raise"), dtype="Float64")
        if kind == "boolean":
            mapped = raw.map(lambda v: None if v is None else {"true": True, "1": True, "false": False,
                                                               "0": False}[v.strip()])
            return mapped.astype("boolean")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{what}: a value is not a valid {kind} ({e})", path=where) from e
    raise ConfigError(f"unknown property type {kind!r}")  # pragma: no cover


def _to_int(raw: pd.Series, present: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=raw.index, dtype="Int64")
    if present.any():
        text = raw[present].astype(str).str.strip().str.lstrip("+").to_numpy(dtype=str)
        out[present] = text.astype(np.int64)
    return out
