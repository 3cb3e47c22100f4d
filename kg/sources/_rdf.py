"""Reading an RDF file of triples for the generic loader (any format rdflib parses).

An IRI is an id (a blank node ``_:b0``); ids follow the one rule of :mod:`kgrec.kg.ids`. Literal
objects of a naming predicate (``rdfs:label``, ``schema:name``, ``foaf:name``, ``skos:prefLabel``)
name their subject; other literals are skipped. The predicate's local name is the relation text
(``http://dbpedia.org/ontology/genre`` → ``genre``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from kgrec.errors import InputError

from ..ids import clean_ids
from . import _io

logger = logging.getLogger(__name__)

RDF_SUFFIXES = (".ttl", ".nt", ".rdf", ".xml", ".jsonld", ".json-ld", ".n3", ".nq", ".trig", ".owl", ".trix")
NAME_PREDICATES = ("http://www.w3.org/2000/01/rdf-schema#label", "http://schema.org/name", "https://schema.org/name",
                   "http://xmlns.com/foaf/0.1/name", "http://www.w3.org/2004/02/skos/core#prefLabel")


def read_rdf(path: Path, rdf_format: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An RDF file → (triples ``head``, ``relation``, ``tail``, ``_line`` (missing: rdflib gives no
    lines), names ``id``, ``name``). A file that does not parse is an InputError with its line."""
    import rdflib
    from rdflib.util import guess_format

    fmt = rdf_format or guess_format(str(path)) or "turtle"
    graph = rdflib.Graph()
    raw = _io.read_bytes(path)
    if not raw.strip():
        raise InputError("file is empty; expected RDF triples", path=str(path), line=1)
    try:
        graph.parse(data=raw, format=fmt)
    except Exception as e:  # rdflib's parsers raise many unrelated types; all mean "bad input"
        raise _rdf_error(e, path, raw, fmt) from e
    heads, rels, tails, named, names = [], [], [], [], []
    skipped = 0
    for s, p, o in graph:
        if isinstance(o, rdflib.Literal):
            if str(p) in NAME_PREDICATES:
                named.append(_rdf_id(s))
                names.append(str(o))
            else:
                skipped += 1
            continue
        heads.append(_rdf_id(s))
        rels.append(_local_name(str(p)))
        tails.append(_rdf_id(o))
    if skipped:
        logger.info("%s: skipped %d literal-valued triples (only names are kept)", path, skipped)
    triples = pd.DataFrame({"head": pd.Series(heads, dtype="string"), "relation": pd.Series(rels, dtype="string"),
                            "tail": pd.Series(tails, dtype="string"),
                            "_line": pd.Series(pd.NA, index=range(len(heads)), dtype="Int64")})
    for col, what in (("head", "subject IRI"), ("relation", "predicate local name"), ("tail", "object IRI")):
        triples[col] = clean_ids(triples[col])
        _io.check_ids(triples, triples[col], path, what, limit=_io.MAX_ID_LENGTH)
    triples = triples.sort_values(["head", "relation", "tail"], kind="stable").reset_index(drop=True)
    names_df = pd.DataFrame({"id": clean_ids(pd.Series(named, dtype="string")),
                             "name": pd.Series(names, dtype="string")})
    names_df = names_df.sort_values(["id", "name"]).drop_duplicates("id").reset_index(drop=True)
    return triples, names_df


def _rdf_id(term) -> str:
    import rdflib

    return f"_:{term}" if isinstance(term, rdflib.BNode) else str(term)


def _local_name(iri: str) -> str:
    for sep in ("#", "/", ":"):
        if sep in iri.rstrip(sep):
            iri = iri.rstrip(sep).rsplit(sep, 1)[1]
    return iri


def _rdf_error(e: Exception, path: Path, raw: bytes, fmt: str) -> InputError:
    """rdflib's error with the line it names; for line-based formats (N-Triples, N-Quads), whose
    parser does not say, the first line that fails alone (this loop runs only on the error path)."""
    import rdflib

    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    line = None
    if hasattr(e, "getLineNumber"):
        line = e.getLineNumber()
    elif (match := re.search(r"line (\d+)", str(e))) is not None:
        line = int(match.group(1))
    elif fmt in ("nt", "ntriples", "nt11", "nquads", "nq"):
        for i, text in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                (rdflib.Dataset() if fmt in ("nquads", "nq") else rdflib.Graph()).parse(data=text, format=fmt)
            except Exception:  # the first line that does not parse alone
                line = i
                break
    return InputError(f"not valid RDF: {message}", path=str(path), line=line)
