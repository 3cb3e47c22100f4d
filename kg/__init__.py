"""The knowledge graph: schema, the in-memory graph, dataset sources, stores and exports."""

from .graph import DegreeSummary, GraphStats, KnowledgeGraph
from .schema import EdgeType, NodeType, RelationType, Schema

__all__ = ["DegreeSummary", "EdgeType", "GraphStats", "KnowledgeGraph", "NodeType", "RelationType", "Schema"]
