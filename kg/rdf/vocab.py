"""The RDF vocabulary of kgrec: how a :class:`~kgrec.kg.graph.KnowledgeGraph` maps to IRIs.

Everything hangs off one configurable base IRI (default ``https://kgrec.dev/``); see
``docs/rdf-vocabulary.md`` for the full description with examples.

==========================  ===================================================  ==============
what                        IRI                                                  Turtle prefix
==========================  ===================================================  ==============
a node                      ``<base>node/<Label>/<url-quoted id>``
a class (label)             ``<base>schema/<Label>``                             ``kgs:``
a relation                  ``<base>schema/<REL>``                               ``kgs:``
a property                  ``<base>schema/<prop>``                              ``kgs:``
an edge with properties     ``<base>edge/<REL>/<SrcLabel>/<q src>/<DstLabel>/<q dst>``
a relation type             ``<base>schema/<SrcLabel>/<REL>/<DstLabel>``         ``kgs:``
a property declaration      ``<base>schema/<Label>/<prop>`` or
                            ``<base>schema/<Src>/<REL>/<Dst>/<prop>``
the graph                   ``<base>graph/<url-quoted name>``
kgrec's own terms           ``<base>vocab#<term>`` (``id``, ``text``, ``Graph``…)  ``kgrec:``
==========================  ===================================================  ==============

Ids are quoted with ``urllib.parse.quote(id, safe="")`` (:func:`quote_id`; column-wise
:func:`quote_ids`), so a node IRI is plain ASCII whatever the id holds (quotes, ``>``, spaces,
unicode); the exact id string is also kept as ``kgrec:id``. Node and edge IRIs of whole columns are
built by :func:`node_iris` and :func:`edge_iris` (and read back by :func:`split_edge_iris`).
Labels, relations and properties are checked identifiers (see :mod:`kgrec.kg.schema`), so they go
into IRIs as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError

from ..schema import EdgeType, check_label, check_property, check_relation

DEFAULT_BASE_IRI = "https://kgrec.dev/"

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OWL = "http://www.w3.org/2002/07/owl#"

RDF_TYPE = RDF + "type"
RDF_SUBJECT = RDF + "subject"
RDF_PREDICATE = RDF + "predicate"
RDF_OBJECT = RDF + "object"
RDF_PROPERTY = RDF + "Property"
RDFS_LABEL = RDFS + "label"
RDFS_CLASS = RDFS + "Class"
RDFS_DOMAIN = RDFS + "domain"
RDFS_RANGE = RDFS + "range"
OWL_DATATYPE_PROPERTY = OWL + "DatatypeProperty"

XSD_STRING = XSD + "string"
XSD_INTEGER = XSD + "integer"
XSD_DOUBLE = XSD + "double"
XSD_BOOLEAN = XSD + "boolean"

#: The XSD datatype of each schema property type.
XSD_TYPES: dict[str, str] = {"string": XSD_STRING, "integer": XSD_INTEGER, "float": XSD_DOUBLE,
                             "boolean": XSD_BOOLEAN}

# kgrec's own terms, in the <base>vocab# namespace (prefix kgrec:).
VOCAB_TERMS = (
    "id",  # a node's original id string
    "text",  # a node's text
    "Graph",  # the class of graph resources
    "name",  # a graph's name
    "schema",  # the exact schema, as a JSON string
    "metadata",  # the graph's metadata, as a JSON string
    "columns",  # which declared property columns each table has, as a JSON string
    "formatVersion",  # the version of this vocabulary the file was written with
    "userLabel", "itemLabel", "interaction",  # recommendation roles
    "RelationType", "source", "relation", "target",  # relation types
    "PropertyDeclaration", "owner", "property", "datatype",  # property declarations
    "pseudonymized",  # true when user ids were replaced with keyed hashes
    "state",  # rdf store only: "writing" while a write runs (or after one was cut off), else "complete"
)

#: Bumped when the mapping changes in a way an old reader would misread.
FORMAT_VERSION = 1

_BASE_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>\"{}|\\^`#]*/$")


@dataclass(frozen=True)
class Vocabulary:
    """IRIs of a graph's nodes, classes, relations and properties under one base IRI.

    Args:
        base_iri: an absolute IRI ending in ``/``, without ``#`` (default: ``https://kgrec.dev/``);
            kgrec's own terms are ``<base>vocab#term``.
    """

    base_iri: str = DEFAULT_BASE_IRI

    def __post_init__(self) -> None:
        if not isinstance(self.base_iri, str) or not _BASE_RE.match(self.base_iri):
            raise ConfigError(f"base IRI {self.base_iri!r} must be an absolute IRI ending in '/', "
                              "without spaces or any of #<>\"{}|\\^`")

    # -- namespaces ----------------------------------------------------------------------------
    @property
    def schema_ns(self) -> str:
        """``<base>schema/``: classes, relations and properties (Turtle prefix ``kgs:``)."""
        return self.base_iri + "schema/"

    @property
    def vocab_ns(self) -> str:
        """``<base>vocab#``: kgrec's own terms (Turtle prefix ``kgrec:``)."""
        return self.base_iri + "vocab#"

    @property
    def node_ns(self) -> str:
        return self.base_iri + "node/"

    @property
    def edge_ns(self) -> str:
        return self.base_iri + "edge/"

    @property
    def graph_ns(self) -> str:
        return self.base_iri + "graph/"

    def term(self, name: str) -> str:
        """A kgrec term: ``term("id")`` is ``<base>vocab#id``."""
        if name not in VOCAB_TERMS:
            raise KeyError(f"{name!r} is not a kgrec vocabulary term; terms: {', '.join(VOCAB_TERMS)}")
        return self.vocab_ns + name

    # -- schema terms --------------------------------------------------------------------------
    def class_iri(self, label: str) -> str:
        return self.schema_ns + check_label(label)

    def relation_iri(self, relation: str) -> str:
        return self.schema_ns + check_relation(relation)

    def property_iri(self, name: str) -> str:
        return self.schema_ns + check_property(name)

    def relation_type_iri(self, source: str, relation: str, target: str) -> str:
        return f"{self.schema_ns}{check_label(source)}/{check_relation(relation)}/{check_label(target)}"

    def property_declaration_iri(self, owner: str | tuple[str, str, str], name: str) -> str:
        """``<base>schema/<Label>/<prop>`` for a node property, ``…/<Src>/<REL>/<Dst>/<prop>`` for an edge's."""
        if isinstance(owner, str):
            return f"{self.class_iri(owner)}/{check_property(name)}"
        return f"{self.relation_type_iri(*owner)}/{check_property(name)}"

    # -- data terms ----------------------------------------------------------------------------
    def node_prefix(self, label: str) -> str:
        """``<base>node/<Label>/``: every node IRI of ``label`` starts with it."""
        return f"{self.node_ns}{check_label(label)}/"

    def node_iri(self, label: str, node_id: str) -> str:
        return self.node_prefix(label) + quote_id(node_id)

    def edge_iri(self, source: str, relation: str, target: str, src: str, dst: str) -> str:
        """The resource that carries the properties of one edge (RDF 1.1 reification); the scalar
        form of :func:`edge_iris`."""
        return edge_iris(self, (source, relation, target), pd.Series([src], dtype="string"),
                         pd.Series([dst], dtype="string")).iat[0]

    def graph_iri(self, name: str) -> str:
        return self.graph_ns + quote_id(name)

    def prefixes(self) -> dict[str, str]:
        """Turtle prefixes used in kgrec's files."""
        return {"rdf": RDF, "rdfs": RDFS, "xsd": XSD, "owl": OWL, "kgs": self.schema_ns, "kgrec": self.vocab_ns}


def quote_id(value: str) -> str:
    """Percent-encode an id for use as the last segment of an IRI (every reserved character)."""
    return quote(str(value), safe="")


_UNRESERVED = r"[A-Za-z0-9_.~-]*"


def quote_ids(values: pd.Series) -> pd.Series:
    """:func:`quote_id` of each value of a column; ids of unreserved characters only (most) pass
    through as they are, the others are quoted once per distinct value."""
    values = values.astype("string")
    safe = values.str.fullmatch(_UNRESERVED).fillna(False).to_numpy(dtype=bool)
    if safe.all():
        return values
    out = values.copy()
    unsafe = values[~safe]
    codes, uniques = pd.factorize(unsafe)
    out[~safe] = np.array([quote_id(u) for u in uniques], dtype=object)[codes]
    return out


def node_iris(vocab: Vocabulary, label: str, ids: pd.Series) -> pd.Series:
    """The IRIs (without ``<>``) of the ``label`` nodes ``ids``: ``<base>node/<Label>/<quoted id>``."""
    return vocab.node_prefix(label) + quote_ids(ids)


def edge_iris(vocab: Vocabulary, edge_type: EdgeType, src: pd.Series, dst: pd.Series, *,
              quoted: bool = False) -> pd.Series:
    """The IRIs of the resources that carry edge properties:
    ``<base>edge/<REL>/<Src>/<quoted src>/<Dst>/<quoted dst>`` (the one place this shape is built;
    :func:`split_edge_iris` reads it back). ``quoted``: ``src``/``dst`` are quoted already."""
    source, relation, target = edge_type
    qs, qd = (src, dst) if quoted else (quote_ids(src), quote_ids(dst))
    return (f"{vocab.edge_ns}{check_relation(relation)}/{check_label(source)}/" + qs.astype("string")
            + f"/{check_label(target)}/" + qd.astype("string"))


def split_edge_iris(vocab: Vocabulary, iris: pd.Series) -> pd.DataFrame:
    """The inverse of :func:`edge_iris`: columns ``r`` (the relation's IRI), ``s`` and ``o`` (the
    endpoints' node IRIs), one row per edge IRI (quoted ids hold no ``/``, so the split is exact).

    Raises:
        ValueError: an IRI is not of the edge shape.
    """
    parts = iris.astype("string").str.slice(len(vocab.edge_ns)).str.split("/", expand=True, regex=False)
    if len(iris) and (parts.shape[1] != 5 or parts.isna().any().any()):
        raise ValueError(f"edge resources must look like <{vocab.edge_ns}REL/Src/src/Dst/dst>")
    if not len(iris):
        return pd.DataFrame({"r": [], "s": [], "o": []}, dtype=object)
    return pd.DataFrame({
        "r": (vocab.schema_ns + parts[0]).to_numpy(dtype=object),
        "s": (vocab.node_ns + parts[1] + "/" + parts[2]).to_numpy(dtype=object),
        "o": (vocab.node_ns + parts[3] + "/" + parts[4]).to_numpy(dtype=object),
    })


__all__ = [
    "DEFAULT_BASE_IRI", "FORMAT_VERSION", "OWL", "OWL_DATATYPE_PROPERTY", "RDF", "RDFS", "RDFS_CLASS", "RDFS_DOMAIN",
    "RDFS_LABEL", "RDFS_RANGE", "RDF_OBJECT", "RDF_PREDICATE", "RDF_PROPERTY", "RDF_SUBJECT", "RDF_TYPE",
    "VOCAB_TERMS", "XSD", "XSD_BOOLEAN", "XSD_DOUBLE", "XSD_INTEGER", "XSD_STRING", "XSD_TYPES", "Vocabulary",
    "edge_iris", "node_iris", "quote_id", "quote_ids", "split_edge_iris",
]
