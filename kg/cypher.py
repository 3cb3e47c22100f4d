"""Every Cypher text the stores send, as named constants and small builders.

Values always travel as ``$parameters``. Cypher has no parameters for labels and relationship
types, so every label, relation and property name is checked with :mod:`kgrec.kg.schema`'s
strict patterns before a builder puts it into query text.

The graph model shared by the FalkorDB, embedded and Neo4j stores:

- a node ``(:Label {id, name, text, <properties>})``, unique by ``(Label, id)``;
- an edge ``(:Src)-[:RELATION {<properties>}]->(:Dst)``, unique by its type and ``(src, dst)``;
- one meta node ``(:KgrecMeta {graph, schema, metadata, columns, state, format, kgrec_version})``
  that carries the schema (JSON) with the graph, so that a read rebuilds the same
  :class:`~kgrec.kg.KnowledgeGraph`. Analysts counting *all* nodes see it; every kgrec count
  and read names its labels and so never does.

A missing value is never stored: ``SET n.p = null`` removes ``p``, which makes a re-write replace
properties exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from .schema import EdgeType, check_label, check_property, check_relation

META_LABEL = "KgrecMeta"
META_FORMAT = 1

# -- meta node ---------------------------------------------------------------------------------
META_READ = (
    f"MATCH (m:{META_LABEL}) "
    "RETURN m.graph AS graph, m.schema AS schema, m.metadata AS metadata, m.columns AS columns, "
    "m.state AS state, m.format AS format, m.kgrec_version AS kgrec_version"
)
META_GRAPH = f"MATCH (m:{META_LABEL}) RETURN m.graph AS graph LIMIT 1"
META_WRITE = (
    f"MERGE (m:{META_LABEL} {{graph: $graph}}) "
    "SET m.schema = $schema, m.metadata = $metadata, m.columns = $columns, m.state = $state, "
    "m.format = $format, m.kgrec_version = $kgrec_version"
)
META_SET_STATE = f"MATCH (m:{META_LABEL} {{graph: $graph}}) SET m.state = $state"
# For servers that take small requests only: the long JSON fields are appended in parts.
META_APPEND = {
    field: f"MATCH (m:{META_LABEL} {{graph: $graph}}) SET m.{field} = m.{field} + $part"
    for field in ("schema", "metadata", "columns")
}

# -- whole-graph deletes (batched with LIMIT so a big graph never needs one huge transaction) --
META_DELETE = f"MATCH (m:{META_LABEL} {{graph: $graph}}) DELETE m RETURN count(*) AS n"


def delete_label_batch(label: str) -> str:
    """Delete up to ``$limit`` nodes of ``label`` with their edges."""
    return f"MATCH (n:{check_label(label)}) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS n"

# -- Neo4j system database (Enterprise: one database per graph) --------------------------------
NEO4J_EDITION = "CALL dbms.components() YIELD edition RETURN edition"
NEO4J_SHOW_DATABASES = "SHOW DATABASES YIELD name, type WHERE type <> 'system' RETURN DISTINCT name"
NEO4J_CREATE_DATABASE = "CREATE DATABASE $name IF NOT EXISTS WAIT"
NEO4J_DROP_DATABASE = "DROP DATABASE $name IF EXISTS WAIT"


# -- indexes -----------------------------------------------------------------------------------
def falkordb_index(label: str) -> str:
    """A range index on ``id`` (FalkorDB refuses a second one with 'already indexed')."""
    return f"CREATE INDEX FOR (n:{check_label(label)}) ON (n.id)"


def neo4j_constraint(label: str) -> str:
    """A Neo4j 5 uniqueness constraint on ``id`` (it brings its own index)."""
    check_label(label)
    return f"CREATE CONSTRAINT kgrec_{label}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"


def neo4j_index(label: str) -> str:
    """A plain Neo4j 5 range index on ``id``: the fallback where constraints are not available."""
    check_label(label)
    return f"CREATE INDEX kgrec_{label}_id IF NOT EXISTS FOR (n:{label}) ON (n.id)"


# -- upserts -----------------------------------------------------------------------------------
def upsert_nodes(label: str, columns: Sequence[str]) -> str:
    """``UNWIND $rows`` and MERGE each row's node by ``(label, id)``; SET the other ``columns``.

    ``columns`` are the row keys besides ``id``: ``name``, ``text`` and property names. A node
    created without a ``name`` gets its id as name (as :class:`KnowledgeGraph` does).
    """
    check_label(label)
    sets = [f"n.{_column(c)} = row.{c}" for c in columns if c != "id"]
    text = f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}})"
    if "name" not in columns:
        text += " ON CREATE SET n.name = row.id"
    if sets:
        text += " SET " + ", ".join(sets)
    return text


def upsert_edges(edge_type: EdgeType, columns: Sequence[str]) -> str:
    """``UNWIND $rows`` and MERGE one edge per ``(src, dst)``; SET the property ``columns``."""
    src, rel, dst = _edge_type(edge_type)
    sets = [f"r.{check_property(c)} = row.{c}" for c in columns if c not in ("src", "dst")]
    text = (f"UNWIND $rows AS row MATCH (a:{src} {{id: row.src}}) MATCH (b:{dst} {{id: row.dst}}) "
            f"MERGE (a)-[r:{rel}]->(b)")
    if sets:
        text += " SET " + ", ".join(sets)
    return text


def missing_nodes(label: str) -> str:
    """Which of ``$ids`` are not ``label`` nodes (at most ``$limit`` of them)."""
    check_label(label)
    return (f"UNWIND $ids AS id OPTIONAL MATCH (n:{label} {{id: id}}) "
            "WITH id, n WHERE n IS NULL RETURN id LIMIT $limit")


# -- deletes -----------------------------------------------------------------------------------
def delete_edges_batch(edge_type: EdgeType, *, by_src: bool) -> str:
    """Delete up to ``$limit`` edges of one type (only from ``$src`` ids when ``by_src``)."""
    src, rel, dst = _edge_type(edge_type)
    where = " WHERE a.id IN $src" if by_src else ""
    return f"MATCH (a:{src})-[r:{rel}]->(:{dst}){where} WITH r LIMIT $limit DELETE r RETURN count(r) AS n"


def delete_nodes(label: str) -> str:
    """Delete the ``label`` nodes with ids in ``$ids`` and every edge touching them."""
    check_label(label)
    return f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) DETACH DELETE n RETURN count(*) AS n"


# -- reads -------------------------------------------------------------------------------------
def count_nodes(label: str) -> str:
    return f"MATCH (n:{check_label(label)}) RETURN count(n) AS n"


def count_edges(edge_type: EdgeType) -> str:
    src, rel, dst = _edge_type(edge_type)
    return f"MATCH (:{src})-[r:{rel}]->(:{dst}) RETURN count(r) AS n"


def count_relation(relation: str) -> str:
    """All edges of one relation type, whatever their labels: a constant-time count in FalkorDB,
    where the labelled pattern of :func:`count_edges` scans. Right when the schema has the
    relation between one pair of labels only."""
    return f"MATCH ()-[r:{check_relation(relation)}]->() RETURN count(r) AS n"


def read_nodes(label: str, properties: Sequence[str]) -> str:
    """Every ``label`` node as ``id, name, text, <properties>`` columns."""
    check_label(label)
    cols = ["n.id AS id", "n.name AS name", "n.text AS text",
            *(f"n.{check_property(p)} AS {p}" for p in properties)]
    return f"MATCH (n:{label}) RETURN " + ", ".join(cols)


def read_edges(edge_type: EdgeType, properties: Sequence[str]) -> str:
    """Every edge of one type as ``src, dst, <properties>`` columns."""
    src, rel, dst = _edge_type(edge_type)
    return f"MATCH (a:{src})-[r:{rel}]->(b:{dst}) RETURN " + _edge_columns(properties)


def node_id_range(label: str) -> str:
    """The smallest and largest internal id of the ``label`` nodes (FalkorDB pages bulk reads by it)."""
    return f"MATCH (n:{check_label(label)}) RETURN min(id(n)) AS lo, max(id(n)) AS hi"


def read_edges_page(edge_type: EdgeType, properties: Sequence[str]) -> str:
    """:func:`read_edges` of the sources whose internal id is in ``[$lo, $hi)``: FalkorDB scans just
    that range of the label (its "Node By Label and ID Scan"), so a page costs its own edges."""
    src, rel, dst = _edge_type(edge_type)
    return (f"MATCH (a:{src})-[r:{rel}]->(b:{dst}) WHERE id(a) >= $lo AND id(a) < $hi "
            f"RETURN {_edge_columns(properties)}")


# -- helpers -----------------------------------------------------------------------------------
def _edge_columns(properties: Sequence[str]) -> str:
    """The columns of a bulk edge read: ``src, dst, <properties>``."""
    return ", ".join(["a.id AS src", "b.id AS dst", *(f"r.{check_property(p)} AS {p}" for p in properties)])


def _edge_type(edge_type: EdgeType) -> tuple[str, str, str]:
    src, rel, dst = edge_type
    return check_label(src), check_relation(rel), check_label(dst)


def _column(name: str) -> str:
    return name if name in ("name", "text") else check_property(name)
