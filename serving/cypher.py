"""The queries the serving layer writes: Cypher (and SPARQL) that return one explanation path.

Values travel as ``$parameters`` (node ids ``$n0``, ``$n1``, …). Cypher has no parameters for
labels and relationship types, so each one is checked against the graph's schema — the label must
be one of its labels, each hop's ``(source, relation, target)`` one of its relation types, in the
direction the hop walks — and against the strict identifier patterns of :mod:`kgrec.kg.schema`
before it enters the query text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgrec.errors import SchemaError
from kgrec.kg import Schema
from kgrec.kg.schema import check_label, check_relation

from .paths import ExplanationPath

#: The columns every path query returns, one list entry per node or relation of the path.
PATH_COLUMNS = ("labels", "ids", "names", "relations")


@dataclass(frozen=True)
class PathQuery:
    """A query text and the values of its parameters."""

    text: str
    parameters: dict[str, str] = field(default_factory=dict)


_NAMES: dict[int, tuple[Schema, frozenset, frozenset]] = {}


def _names(schema: Schema) -> tuple[frozenset, frozenset]:
    """The schema's labels and edge types as sets (cached per schema object)."""
    cached = _NAMES.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_NAMES) > 64:
            _NAMES.clear()
        cached = (schema, frozenset(schema.labels), frozenset(schema.edge_types))
        _NAMES[id(schema)] = cached
    return cached[1], cached[2]


def _checked(path: ExplanationPath, schema: Schema) -> None:
    labels, edge_types = _names(schema)
    for node in path.nodes:
        if node.label not in labels:
            raise SchemaError(f"label {node.label!r} is not in the schema; labels: {', '.join(schema.labels)}")
        check_label(node.label)
    for rel, et in zip(path.relations, path.edge_types):
        check_relation(rel.type)
        if et not in edge_types:
            raise SchemaError(f"relation ({et[0]})-[:{et[1]}]->({et[2]}) is not in the schema")


def path_cypher(path: ExplanationPath, schema: Schema) -> PathQuery:
    """A Cypher query that returns exactly ``path``: one row whose columns :data:`PATH_COLUMNS` list
    each node's label, id and name and each relation's type, in the path's order.

    Example (``$n0 = "2"``, ``$n1 = "89"``, ``$n2 = "75"``, ``$n3 = "300"``)::

        MATCH p = (n0:User {id: $n0})-[:LISTENED_TO]->(n1:Artist {id: $n1})-[:HAS_TAG]->(n2:Tag {id: $n2})
                  <-[:HAS_TAG]-(n3:Artist {id: $n3})
        RETURN [n IN nodes(p) | labels(n)[0]] AS labels, [n IN nodes(p) | n.id] AS ids,
               [n IN nodes(p) | n.name] AS names, [r IN relationships(p) | type(r)] AS relations

    Raises:
        SchemaError: a label or relation of the path that the schema does not have.
    """
    _checked(path, schema)
    parts = []
    params: dict[str, str] = {}
    for i, node in enumerate(path.nodes):
        if i:
            rel = path.relations[i - 1]
            parts.append(f"-[:{rel.type}]->" if rel.direction == "out" else f"<-[:{rel.type}]-")
        parts.append(f"(n{i}:{node.label} {{id: $n{i}}})")
        params[f"n{i}"] = node.id
    text = (f"MATCH p = {''.join(parts)} "
            "RETURN [n IN nodes(p) | labels(n)[0]] AS labels, [n IN nodes(p) | n.id] AS ids, "
            "[n IN nodes(p) | n.name] AS names, [r IN relationships(p) | type(r)] AS relations")
    return PathQuery(text, params)


def path_sparql(path: ExplanationPath, schema: Schema, *, base_iri: str | None = None) -> PathQuery:
    """The SPARQL equivalent of :func:`path_cypher` for the rdf store (kgrec's RDF vocabulary).

    SPARQL through the store takes no parameters, so node IRIs are written into the text; they are
    built by :class:`~kgrec.kg.rdf_vocab.Vocabulary`, which percent-encodes every id, so no id can
    change the query. Returns one row with the node IRIs ``?n0 … ?nK`` and names ``?name0 …``.
    """
    from kgrec.kg.rdf_vocab import DEFAULT_BASE_IRI, RDFS_LABEL, Vocabulary

    _checked(path, schema)
    vocab = Vocabulary(base_iri or DEFAULT_BASE_IRI)
    variables = [f"?n{i}" for i in range(len(path.nodes))]
    lines = [f"VALUES ({' '.join(variables)}) {{ ({' '.join('<' + vocab.node_iri(n.label, n.id) + '>' for n in path.nodes)}) }}"]
    for i, node in enumerate(path.nodes):
        lines.append(f"?n{i} a <{vocab.class_iri(node.label)}> .")
        lines.append(f"OPTIONAL {{ ?n{i} <{RDFS_LABEL}> ?name{i} }}")
    for i, rel in enumerate(path.relations):
        a, b = (f"?n{i}", f"?n{i + 1}") if rel.direction == "out" else (f"?n{i + 1}", f"?n{i}")
        lines.append(f"{a} <{vocab.relation_iri(rel.type)}> {b} .")
    names = " ".join(f"?name{i}" for i in range(len(path.nodes)))
    text = f"SELECT {' '.join(variables)} {names} WHERE {{\n  " + "\n  ".join(lines) + "\n}"
    return PathQuery(text, {})
