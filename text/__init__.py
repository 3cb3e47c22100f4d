"""The text layer: node documents → transformer vectors (cached) → interest-tag user profiles.

Parts::

    TextConfig        the text section of the config: encoder, documents (full | short), labels
                      (all | items | a list); TextConfig(documents="short", labels="items") is
                      the quick path
    TextEncoder       texts → unit float32 vectors (any Hugging Face encoder; the packaged MiniLM
                      by default, offline)
    node_documents    each node and its neighbourhood → a short text, from the graph's schema
    VectorCache       content-addressed vectors on disk (model fingerprint + text → vector)
    embed_graph       a KnowledgeGraph → NodeVectors (one matrix per label, rows = kg.nodes[label])
    embed_features    the vectors a model trains on: embed_graph of every label but users'
    interest_tags     each user's closest attribute nodes; write_profiles stores them as
                      (:User)-[:INTERESTED_IN {score}]->(...)
    write_vectors     vectors as node properties in a store, with a vector index
"""

from .cache import VectorCache
from .config import DOCUMENTS, SHORT_DOCUMENTS, TextConfig
from .documents import DocumentTemplates, node_documents
from .embed import EmbedReport, NodeVectors, embed_features, embed_graph
from .encoder import TextEncoder
from .profiles import InterestTag, interest_tags, profile_vectors, read_profiles, write_profiles
from .vectors import similar_nodes, write_vectors

__all__ = [
    "DOCUMENTS", "SHORT_DOCUMENTS", "DocumentTemplates", "EmbedReport", "InterestTag", "NodeVectors", "TextConfig",
    "TextEncoder", "VectorCache", "embed_features", "embed_graph",
    "interest_tags", "node_documents", "profile_vectors", "read_profiles", "similar_nodes", "write_profiles",
    "write_vectors",
]
