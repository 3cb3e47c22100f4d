"""Exports of a :class:`KnowledgeGraph`: a registry of writers, one per file format.

==========  =========================================================  ==========================
format      what                                                       read back by
==========  =========================================================  ==========================
``ttl``     Turtle (aliases ``turtle``)                                :func:`import_rdf`
``nt``      N-Triples (``ntriples``, ``n-triples``)                    :func:`import_rdf`
``jsonld``  JSON-LD (``json-ld``, ``json``)                            :func:`import_rdf`
``graphml`` GraphML through networkx (Gephi, yEd)                      (not read back)
``cypher``  a script of ``UNWIND [...] MERGE`` statements (``cql``)    cypher-shell, redis-cli
``csv``     a folder: one CSV per label and per edge type, graph.json  (not read back)
==========  =========================================================  ==========================

:data:`FORMATS` is the one list of format names (a :class:`~kgrec.resolver.Registry`: names are
looked up case- and dash-insensitively, an unknown one lists the choices); the RDF formats come from
:data:`kgrec.kg.rdf.formats.RDF_FORMATS`. A new format is one writer function and one
``FORMATS.register(...)`` call below.

Every export can pseudonymize: ``pseudonymize_key=`` replaces user ids with keyed hashes (see
:mod:`kgrec.kg.pseudonym`). The RDF mapping is :mod:`kgrec.kg.rdf` (``docs/rdf-vocabulary.md``);
round trips are lossless: ``import_rdf(path).equals(kg)`` after ``export_graph(kg, path)``.

Example::

    from kgrec.kg.export import export_graph, import_rdf
    export_graph(kg, "lastfm.ttl")
    assert import_rdf("lastfm.ttl").equals(kg)
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, InputError
from kgrec.resolver import Registry

from .graph import KnowledgeGraph
from .pseudonym import pseudonymize
from .rdf.decode import import_rdf
from .rdf.formats import RDF_FORMATS, RdfFormat
from .rdf.ntriples import property_columns, write_ntriples
from .rdf.vocab import DEFAULT_BASE_IRI, Vocabulary

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "ExportReport", "ExportWriter", "cypher_literal", "export_graph", "import_rdf", "to_rdflib"]

CYPHER_BATCH_ROWS = 1000


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_graph` wrote."""

    path: Path
    format: str
    triples: int | None  # None for the formats that are not RDF
    nodes: int
    edges: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class ExportWriter:
    """One export format.

    Args:
        name: the canonical name (``ttl``).
        write: ``write(kg, path, vocab) -> triples`` (None for a format that is not RDF).
        description: one line for help texts.
        folder: the output is a folder, not a file.
    """

    name: str
    write: Callable[[KnowledgeGraph, Path, Vocabulary], int | None]
    description: str
    folder: bool = False


FORMATS: Registry[ExportWriter] = Registry("export format")
"""Every export format, by name and alias (``FORMATS.resolve("Turtle")``, ``FORMATS.names()``)."""


def export_graph(kg: KnowledgeGraph, path: str | os.PathLike, *, format: str = "ttl",
                 base_iri: str = DEFAULT_BASE_IRI, pseudonymize_key: bytes | None = None) -> ExportReport:
    """Validate ``kg`` and write it to ``path`` in one of :data:`FORMATS`.

    Args:
        kg: the graph.
        path: the file to write (its folder is created); for ``csv`` a folder.
        format: a name of :data:`FORMATS`: ``"ttl"`` (Turtle), ``"nt"`` (N-Triples), ``"jsonld"``
            (JSON-LD), ``"graphml"`` (networkx GraphML, for Gephi/yEd; not read back by kgrec),
            ``"cypher"`` (a script of ``UNWIND [...] MERGE`` statements for cypher-shell /
            redis-cli, values as escaped literals) or ``"csv"`` (a folder: one CSV per label and per
            edge type, and ``graph.json`` with the schema) (default: ``"ttl"``).
        base_iri: the base of every IRI (default: ``https://kgrec.dev/``).
        pseudonymize_key: when given, user ids become ``HMAC-SHA256(key, id)`` hex everywhere in the
            output (see :func:`kgrec.kg.pseudonym.pseudonymize`).

    Returns:
        an :class:`ExportReport` (path, format, triples, bytes, seconds).
    """
    writer = FORMATS.resolve(format)
    vocab = Vocabulary(base_iri)
    started = time.perf_counter()
    kg = _prepare(kg, pseudonymize_key)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    triples = writer.write(kg, path, vocab)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
    report = ExportReport(path=path, format=writer.name, triples=triples, nodes=kg.num_nodes(),
                          edges=kg.num_edges(), bytes=size, seconds=seconds)
    logger.info("exported %s to %s (%s, %s triples, %.1f s)", kg.name, path, writer.name, triples, seconds)
    return report


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


def _prepare(kg: KnowledgeGraph, pseudonymize_key: bytes | None) -> KnowledgeGraph:
    kg.validate()
    if pseudonymize_key is not None:
        kg = pseudonymize(kg, pseudonymize_key)
    return kg


# ================================================================================================
# RDF: N-Triples straight from the encoder; Turtle and JSON-LD through Oxigraph (Rust)
# ================================================================================================
def _rdf_writer(fmt: RdfFormat) -> Callable[[KnowledgeGraph, Path, Vocabulary], int]:
    def write(kg: KnowledgeGraph, path: Path, vocab: Vocabulary) -> int:
        if fmt.name == "nt":
            with open(path, "wb") as f:
                return write_ntriples(kg, f, vocab)
        return _write_via_oxigraph(kg, path, fmt, vocab)
    return write


def _write_via_oxigraph(kg: KnowledgeGraph, path: Path, fmt: RdfFormat, vocab: Vocabulary) -> int:
    """Turtle / JSON-LD: the N-Triples lines (each subject's triples together) streamed through
    Oxigraph's parser and serializer, with prefixes."""
    import pyoxigraph as ox

    # no prefixes for nodes: ids can make local names that need escapes (``User:\.``), which some
    # readers (rdflib 7) reject; full IRIs always parse
    prefixes = vocab.prefixes()
    with tempfile.TemporaryFile() as tmp:
        triples = write_ntriples(kg, tmp, vocab)
        tmp.seek(0)
        with open(path, "wb") as f:
            ox.serialize(ox.parse(tmp, ox.RdfFormat.N_TRIPLES), f, fmt.pyoxigraph(), prefixes=prefixes)
    return triples


# ================================================================================================
# Cypher script, CSV tables, GraphML
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
                       *property_columns(df, kg.schema.node(label).properties)]
            query = queries.upsert_nodes(label, columns)
            for start in range(0, len(df), CYPHER_BATCH_ROWS):
                rows = _cypher_rows(df.iloc[start:start + CYPHER_BATCH_ROWS], columns)
                f.write(query.replace("$rows", "[" + ", ".join(rows) + "]", 1) + ";\n")
        for et, df in kg.edges.items():
            columns = ["src", "dst", *property_columns(df, kg.schema.relation(et).properties)]
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
                   *property_columns(df, kg.schema.node(label).properties)]
        df[columns].to_csv(path / f"nodes-{_table_name(label)}.csv", index=False, encoding="utf-8")
    for et, df in kg.edges.items():
        columns = ["src", "dst", *property_columns(df, kg.schema.relation(et).properties)]
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
# The registry
# ================================================================================================
_RDF_DESCRIPTIONS = {"ttl": "Turtle", "nt": "N-Triples", "jsonld": "JSON-LD"}
for _name in RDF_FORMATS.names():
    _fmt = RDF_FORMATS.resolve(_name)
    FORMATS.register(_name, ExportWriter(_name, _rdf_writer(_fmt), _RDF_DESCRIPTIONS.get(_name, _name)),
                     aliases=_fmt.aliases)
FORMATS.register("graphml", ExportWriter("graphml", lambda kg, path, vocab: _write_graphml(kg, path),
                                         "GraphML (networkx; Gephi, yEd)"))
FORMATS.register("cypher", ExportWriter("cypher", lambda kg, path, vocab: _write_cypher(kg, path),
                                        "a Cypher script of UNWIND ... MERGE statements"), aliases=("cql",))
FORMATS.register("csv", ExportWriter("csv", lambda kg, path, vocab: _write_csv(kg, path),
                                     "a folder of CSV tables and graph.json", folder=True))
