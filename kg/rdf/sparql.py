"""Every SPARQL text the rdf store sends, as small builders over :class:`~kgrec.kg.rdf.vocab.Vocabulary`,
and the guard of analysts' SPARQL (:func:`check_analyst_sparql`).

IRIs in the builders come from the vocabulary (checked names, percent-encoded ids), never from
free text; values from analysts travel in a ``VALUES`` clause of escaped literals
(:func:`values_clause`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kgrec.errors import ForbiddenQueryError, InputError, ReadOnlyQueryError, StoreError

from ..schema import EdgeType
from .ntriples import nt_literal, python_literal
from .vocab import RDF_OBJECT, RDF_PREDICATE, RDF_SUBJECT, RDF_TYPE, Vocabulary

READ_FORMS = frozenset({"SelectQuery", "AskQuery", "ConstructQuery", "DescribeQuery"})


def iris(values: Iterable[str]) -> str:
    """``<a> <b> ...`` for a ``VALUES`` clause."""
    return " ".join(f"<{v}>" for v in values)


# -- the graph resource --------------------------------------------------------------------------
def graph_record(vocab: Vocabulary, name: str) -> str:
    """The schema, metadata, columns and state of graph ``name``."""
    t, g = vocab.term, vocab.graph_iri(name)
    return (f"SELECT ?schema ?meta ?cols ?state ?format WHERE {{ <{g}> <{t('schema')}> ?schema . "
            f"OPTIONAL {{ <{g}> <{t('metadata')}> ?meta }} OPTIONAL {{ <{g}> <{t('columns')}> ?cols }} "
            f"OPTIONAL {{ <{g}> <{t('state')}> ?state }} OPTIONAL {{ <{g}> <{t('formatVersion')}> ?format }} }}")


def delete_graph_record(vocab: Vocabulary, name: str) -> str:
    """Delete the graph resource and the schema resources (everything not a node or an edge)."""
    g = vocab.graph_iri(name)
    return (f"DELETE {{ GRAPH <{g}> {{ ?s ?p ?o }} }} WHERE {{ GRAPH <{g}> {{ ?s ?p ?o "
            f'FILTER(STRSTARTS(STR(?s), "{vocab.schema_ns}") || ?s = <{g}>) }} }}')


def set_state(vocab: Vocabulary, name: str, state: str) -> str:
    """Replace the graph's write state."""
    g, p = vocab.graph_iri(name), vocab.term("state")
    return (f"DELETE {{ GRAPH <{g}> {{ <{g}> <{p}> ?s }} }} WHERE {{ GRAPH <{g}> {{ <{g}> <{p}> ?s }} }} ;\n"
            f"INSERT DATA {{ GRAPH <{g}> {{ <{g}> <{p}> {nt_literal(state)} }} }}")


# -- deletes -------------------------------------------------------------------------------------
def delete_values(vocab: Vocabulary, name: str, subjects: Sequence[str], predicates: Sequence[str]) -> str:
    """Delete every ``(s, p, *)`` for ``s`` in ``subjects`` and ``p`` in ``predicates``, one operation
    per predicate (a constant predicate lets Oxigraph look each subject up in its index)."""
    g, subs = vocab.graph_iri(name), iris(subjects)
    return " ;\n".join(f"DELETE {{ GRAPH <{g}> {{ ?s <{p}> ?o }} }} WHERE {{ VALUES ?s {{ {subs} }} "
                       f"GRAPH <{g}> {{ ?s <{p}> ?o }} }}" for p in predicates)


def edge_pattern(vocab: Vocabulary, edge_type: EdgeType) -> str:
    """``?s <REL> ?o`` restricted to the edge type's labels (read from the endpoints' IRIs)."""
    src_label, relation, dst_label = edge_type
    return (f"?s <{vocab.relation_iri(relation)}> ?o "
            f'FILTER(STRSTARTS(STR(?s), "{vocab.node_prefix(src_label)}") && '
            f'STRSTARTS(STR(?o), "{vocab.node_prefix(dst_label)}"))')


def count_edges(vocab: Vocabulary, edge_type: EdgeType, sources: Sequence[str] | None = None) -> str:
    """How many edges of one type there are (from the ``sources`` node IRIs only, when given)."""
    values = f"VALUES ?s {{ {iris(sources)} }} " if sources is not None else ""
    return f"SELECT (COUNT(*) AS ?n) WHERE {{ {values}{edge_pattern(vocab, edge_type)} }}"


def delete_edges(vocab: Vocabulary, name: str, edge_type: EdgeType, sources: Sequence[str] | None = None) -> str:
    """Delete the edges of one type (from ``sources`` only, when given) and their property resources."""
    g, rel = vocab.graph_iri(name), vocab.relation_iri(edge_type[1])
    values = f"VALUES ?s {{ {iris(sources)} }} " if sources is not None else ""
    return (f"DELETE {{ GRAPH <{g}> {{ ?s <{rel}> ?o . ?e ?p ?v }} }} WHERE {{ {values}GRAPH <{g}> {{ "
            f"{edge_pattern(vocab, edge_type)} OPTIONAL {{ ?e <{RDF_SUBJECT}> ?s ; <{RDF_PREDICATE}> <{rel}> ; "
            f"<{RDF_OBJECT}> ?o ; ?p ?v }} }} }}")


def delete_nodes(vocab: Vocabulary, name: str, node_iris: Sequence[str]) -> str:
    """Delete nodes, every edge touching them and those edges' property resources."""
    g, nodes = vocab.graph_iri(name), iris(node_iris)
    return (f"DELETE {{ GRAPH <{g}> {{ ?e ?p ?v }} }} WHERE {{ VALUES ?n {{ {nodes} }} GRAPH <{g}> {{ "
            f"{{ ?e <{RDF_SUBJECT}> ?n }} UNION {{ ?e <{RDF_OBJECT}> ?n }} ?e ?p ?v }} }} ;\n"
            f"DELETE {{ GRAPH <{g}> {{ ?n ?p ?o }} }} WHERE {{ VALUES ?n {{ {nodes} }} "
            f"GRAPH <{g}> {{ ?n ?p ?o }} }} ;\n"
            f"DELETE {{ GRAPH <{g}> {{ ?x ?p ?n }} }} WHERE {{ VALUES ?n {{ {nodes} }} GRAPH <{g}> {{ ?x ?p ?n }} }}")


# -- counts --------------------------------------------------------------------------------------
CLASS_COUNTS = f"SELECT ?c (COUNT(*) AS ?n) WHERE {{ ?s <{RDF_TYPE}> ?c }} GROUP BY ?c"
"""Nodes per class (a single-pattern scan)."""


def relation_counts(vocab: Vocabulary, relations: Sequence[str]) -> str:
    """Edges per relation and label pair (labels read from the endpoints' IRIs)."""
    rels = iris(vocab.relation_iri(r) for r in relations)
    return (f"SELECT ?p ?sl ?ol (COUNT(*) AS ?n) WHERE {{ VALUES ?p {{ {rels} }} ?s ?p ?o "
            f'BIND(STRBEFORE(STRAFTER(STR(?s), "{vocab.node_ns}"), "/") AS ?sl) '
            f'BIND(STRBEFORE(STRAFTER(STR(?o), "{vocab.node_ns}"), "/") AS ?ol) }} GROUP BY ?p ?sl ?ol')


# -- analysts' queries ---------------------------------------------------------------------------
def values_clause(params: Mapping[str, Any]) -> str:
    """A trailing ``VALUES (?a ?b) { (...) }`` clause binding each parameter to an escaped literal
    (SPARQL 1.1 joins it with the WHERE pattern before projection)."""
    names, values = [], []
    for key, value in params.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise InputError(f"query parameter name {key!r} is not an identifier")
        try:
            values.append(python_literal(value))
        except InputError as e:
            raise InputError(f"query parameter {key!r}: {e}") from e
        names.append(f"?{key}")
    return f"VALUES ({' '.join(names)}) {{ ({' '.join(values)}) }}"


def _walk(node: Any) -> Iterable[Any]:
    """Every element of an rdflib SPARQL parse tree (CompValues, ParseResults, lists)."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):  # CompValue is an OrderedDict
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)) or type(item).__name__ == "ParseResults":
            stack.extend(list(item))


def check_analyst_sparql(query: str, prefixes: Mapping[str, str]) -> None:
    """Parse ``query`` with rdflib's SPARQL grammar; only SELECT/ASK/CONSTRUCT/DESCRIBE pass.

    Raises:
        ForbiddenQueryError: ``SERVICE`` (a federated fetch from another endpoint), ``LOAD`` (fetches
            a document), ``FROM``/``FROM NAMED`` (the store chooses the graph).
        ReadOnlyQueryError: any other update (INSERT, DELETE, CLEAR, DROP, CREATE ...).
        StoreError: empty or not SPARQL.
    """
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

    if not isinstance(query, str) or not query.strip():
        raise StoreError("the SPARQL query is empty")
    prologue = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in prefixes.items())
    try:
        parsed = parseQuery(prologue + query)
    except Exception as e:  # pyparsing's ParseException, or rdflib's errors on bad prefixes
        try:
            update = parseUpdate(prologue + query)
        except Exception:
            raise StoreError(f"not a valid SPARQL query: {e}") from e
        if any(getattr(item, "name", None) == "Load" for item in _walk(update)):
            raise ForbiddenQueryError("SPARQL LOAD is not allowed: it makes the store fetch a document "
                                      "(a way out of the database)") from None
        raise ReadOnlyQueryError("SPARQL updates (INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ...) are not "
                                 "allowed through sparql(); it runs read-only queries only") from None
    form = getattr(parsed[1], "name", None)
    if form not in READ_FORMS:
        raise ReadOnlyQueryError(f"only SELECT, ASK, CONSTRUCT and DESCRIBE queries are allowed, not {form}")
    for item in _walk(parsed):
        name = getattr(item, "name", None)
        if name == "ServiceGraphPattern":
            raise ForbiddenQueryError("SERVICE (a federated query to another endpoint) is not allowed: it makes "
                                      "the store fetch from outside")
        if name == "DatasetClause":
            raise ForbiddenQueryError("FROM / FROM NAMED are not allowed: the store chooses the graph (graph=...)")


__all__ = ["CLASS_COUNTS", "check_analyst_sparql", "count_edges", "delete_edges", "delete_graph_record",
           "delete_nodes", "delete_values", "edge_pattern", "graph_record", "iris", "relation_counts", "set_state",
           "values_clause"]
