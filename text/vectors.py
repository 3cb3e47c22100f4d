"""Text vectors as node properties in a store, so analysts can run similarity queries in Cypher.

:func:`write_vectors` hands each label's matrix to the store's ``write_vectors`` method, which
sets the property (FalkorDB: ``vecf32($v)``; Neo4j: ``db.create.setNodeVectorProperty``) and
creates a cosine vector index over it. Then, in FalkorDB (the embedded store)::

    MATCH (a:Artist {id: $id})
    CALL db.idx.vector.queryNodes('Artist', 'embedding', 10, a.embedding) YIELD node, score
    RETURN node.name, score ORDER BY score           // score: cosine distance, 0 = same direction

and in Neo4j (index ``kgrec_Artist_embedding``)::

    MATCH (a:Artist {id: $id})
    CALL db.index.vector.queryNodes('kgrec_Artist_embedding', 10, a.embedding) YIELD node, score
    RETURN node.name, score ORDER BY score DESC      // score: (1 + cosine) / 2, 1 = same direction

:func:`similar_nodes` runs the right one of those through the store's read-only query path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kgrec.errors import SchemaError, StoreError
from kgrec.kg import KnowledgeGraph
from kgrec.kg.schema import check_label, check_property

from .embed import NodeVectors

logger = logging.getLogger(__name__)

FALKORDB_SIMILAR = (
    "MATCH (a:{label} {{id: $id}}) "
    "CALL db.idx.vector.queryNodes('{label}', '{property}', $k, a.{property}) YIELD node, score "
    "WHERE node.id <> $id "
    "RETURN node.id AS id, node.name AS name, 1.0 - score AS similarity ORDER BY similarity DESC"
)
"""Nearest nodes of one label to a given node (FalkorDB; cosine distance turned into similarity)."""

NEO4J_SIMILAR = (
    "MATCH (a:{label} {{id: $id}}) "
    "CALL db.index.vector.queryNodes($index, $k, a.{property}) YIELD node, score "
    "WHERE node.id <> $id "
    "RETURN node.id AS id, node.name AS name, 2.0 * score - 1.0 AS similarity ORDER BY similarity DESC"
)
"""The same in Neo4j (its cosine score is (1 + cos) / 2, turned back into the cosine)."""


@dataclass(frozen=True)
class SimilarNode:
    """A node found by a vector query, with its cosine similarity to the query node."""

    id: str
    name: str
    similarity: float


def write_vectors(store, kg: KnowledgeGraph, vectors: NodeVectors, *, labels: Iterable[str] | None = None,
                  property: str = "embedding", graph: str | None = None) -> dict[str, int]:
    """Write ``vectors`` as the node property ``property`` (with a vector index) for ``labels``.

    Args:
        store: an open store whose ``capabilities.vectors`` is True.
        kg: the graph the vectors were made from (its rows give the ids).
        vectors: :func:`~kgrec.text.embed_graph`'s output.
        labels: the labels to write (default: every label in ``vectors``).
        property: the node property (default: ``"embedding"``).
        graph: the store's graph (default: the store's default graph).

    Returns:
        label → nodes written.
    """
    if not getattr(store.capabilities, "vectors", False) or not hasattr(store, "write_vectors"):
        raise StoreError(f"{type(store).__name__} does not store vectors; use the embedded, falkordb or neo4j store")
    check_property(property)
    vectors.check_aligned(kg)
    written = {}
    for label in (vectors.labels if labels is None else list(labels)):
        check_label(label)
        if label not in vectors.vectors:
            raise SchemaError(f"no vectors for label {label!r}; have: {', '.join(vectors.vectors)}")
        ids = kg.nodes[label]["id"].astype(str).tolist()
        written[label] = int(store.write_vectors(label, ids, np.asarray(vectors[label], dtype=np.float32),
                                                 property=property, graph=graph))
        logger.info("wrote %d %s vectors as %s.%s", written[label], label, label, property)
    return written


def _dialect(store) -> str:
    names = {cls.__name__ for cls in type(store).__mro__}
    if "Neo4jStore" in names:
        return "neo4j"
    if "FalkorDBStore" in names:
        return "falkordb"
    raise StoreError(f"{type(store).__name__} has no vector index to query")


def vector_index_name(label: str, property: str = "embedding") -> str:
    """The name kgrec gives a vector index in Neo4j (FalkorDB's are named by label and property)."""
    return f"kgrec_{check_label(label)}_{check_property(property)}"


def similar_nodes(store, label: str, node_id: str, *, k: int = 10, property: str = "embedding",
                  graph: str | None = None) -> list[SimilarNode]:
    """The ``k`` nodes of ``label`` whose stored vectors are closest to node ``node_id``'s, best first,
    through the store's vector index (written by :func:`write_vectors`)."""
    check_label(label)
    check_property(property)
    dialect = _dialect(store)
    params = {"id": str(node_id), "k": int(k) + 1}
    if dialect == "neo4j":
        query = NEO4J_SIMILAR.format(label=label, property=property)
        params["index"] = vector_index_name(label, property)
    else:
        query = FALKORDB_SIMILAR.format(label=label, property=property)
    result = store.query(query, params, graph=graph)
    return [SimilarNode(str(i), str(n) if n is not None else str(i), float(s)) for i, n, s in result.rows][:k]
