"""kgrec: knowledge-graph-augmented recommendations with text-featured GNNs and explanations."""

from importlib.metadata import PackageNotFoundError, version

from kgrec.errors import KgrecError
from kgrec.kg import KnowledgeGraph, Schema

try:
    __version__ = version("kgrec")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = ["KgrecError", "KnowledgeGraph", "Schema", "__version__"]
