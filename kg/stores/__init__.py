"""Stores: where a :class:`~kgrec.kg.KnowledgeGraph` lives, behind one interface.

``open_store(url)`` picks the backend from the URL and returns it opened; each backend's library
is imported only when its URL is used.

==========================================  ==========================================================
URL                                         store
==========================================  ==========================================================
``embedded`` (default)                      :class:`EmbeddedStore`: FalkorDB that kgrec starts in
                                            ``KGREC_HOME/store`` (or ``embedded:/path/to/dir``)
``falkordb://host:port``                    :class:`FalkorDBStore`: a running FalkorDB server
``unix:///path/to/redis.sock``              the same over a unix socket
``bolt://host:port``, ``neo4j://host:port`` :class:`Neo4jStore`: Neo4j 5 through the official driver
(``+s`` / ``+ssc`` variants), ``neo4j``     (``neo4j`` alone: the URI in ``KGREC_NEO4J_URI``)
``rdf:PATH``                                ``RdfStore``: rdflib over an Oxigraph store in ``PATH``
==========================================  ==========================================================
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from kgrec.config import default_store_url
from kgrec.errors import ConfigError

from .base import QueryResult, Store, StoreCapabilities, WriteReport, check_graph_name, choose_graph

__all__ = [
    "QueryResult", "Store", "StoreCapabilities", "WriteReport", "check_graph_name", "choose_graph", "make_store",
    "open_store", "store_class", "URL_FORMS",
]

URL_FORMS = (
    "embedded",
    "embedded:/path/to/dir",
    "falkordb://[user:password@]host[:port]",
    "unix:///path/to/redis.sock",
    "bolt://host:port (also bolt+s://, bolt+ssc://)",
    "neo4j://host:port (also neo4j+s://, neo4j+ssc://; 'neo4j' alone uses KGREC_NEO4J_URI)",
    "rdf:/path/to/dir",
)

_FALKORDB_SCHEMES = ("falkordb", "falkor", "redis", "unix", "falkordb+unix")
_NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def store_class(url: str) -> type[Store]:
    """The :class:`Store` class that serves ``url`` (its module imported on demand)."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"store URL {url!r} is empty; accepted forms: {'; '.join(URL_FORMS)}")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.split(":", 1)[0].lower()
    if scheme == "embedded":
        module, name = "kgrec.kg.stores.embedded", "EmbeddedStore"
    elif scheme in _FALKORDB_SCHEMES and "://" in url:
        module, name = "kgrec.kg.stores.falkordb", "FalkorDBStore"
    elif scheme in _NEO4J_SCHEMES and ("://" in url or url.lower() == "neo4j"):
        module, name = "kgrec.kg.stores.neo4j", "Neo4jStore"
    elif scheme == "rdf":
        module, name = "kgrec.kg.stores.rdf", "RdfStore"
    else:
        raise ConfigError(f"store URL {url!r} is not one kgrec knows; accepted forms: {'; '.join(URL_FORMS)}")
    return getattr(importlib.import_module(module), name)


def make_store(url: str | None = None, *, graph: str | None = None, **options: Any) -> Store:
    """The store for ``url`` (default: ``KGREC_STORE``, else ``embedded``), constructed but not opened.

    Options go to the backend's constructor (``batch_size``, ``appendfsync``, ``auth``, ``driver``,
    ``database`` ...); an option the backend does not take is a :class:`ConfigError` naming it.
    """
    url = (url or default_store_url()).strip()
    cls = store_class(url)
    accepted = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            allowed = ", ".join(k for k in accepted if k not in ("self", "url", "graph"))
            raise ConfigError(f"{cls.__name__} does not take option(s) {', '.join(unknown)}; it takes: {allowed}")
    if graph is not None:
        check_graph_name(graph)
    return cls(url, graph=graph, **options)


def open_store(url: str | None = None, *, graph: str | None = None, **options: Any) -> Store:
    """Open the store at ``url`` and return it (a context manager; ``close()`` when done).

    Args:
        url: one of :data:`URL_FORMS` (default: ``KGREC_STORE``, else ``embedded``).
        graph: the default graph of every call (default: ``KGREC_GRAPH``, else the only graph).
        **options: the backend's settings, e.g. ``batch_size=5000``.

    Example::

        store = open_store()                        # embedded FalkorDB in KGREC_HOME/store
        store = open_store("bolt://localhost:7687", auth=("neo4j", "secret"))
    """
    return make_store(url, graph=graph, **options).open()
