"""The knowledge graph: schema, the in-memory graph, dataset sources, stores and exports."""

from .graph import DegreeSummary, GraphStats, KnowledgeGraph
from .schema import EdgeType, NodeType, RelationType, Schema
from .stream import GraphChunk, GraphStream

__all__ = ["DegreeSummary", "EdgeType", "GraphChunk", "GraphStats", "GraphStream", "KnowledgeGraph", "NodeType",
           "RelationType", "Schema"]
