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

The schemes are registered once, in :data:`BACKENDS` (a :class:`~kgrec.resolver.Registry`); a new
backend is one ``BACKENDS.register(...)`` line and one module with a :class:`Store` subclass.

Every store answers analyst queries within limits (:meth:`Store.query`, ``Store.sparql``: a time
limit, a row limit, no reaching outside the database: :mod:`kgrec.kg.stores.guard`); opens a second,
independent connection for them with :meth:`Store.reader`; refuses to ``read()`` a graph whose last
write did not finish; and, where ``capabilities.compactable``, removes deleted data from disk with
``compact()``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from kgrec.config import default_store_url
from kgrec.errors import ConfigError
from kgrec.resolver import Registry

from .base import QueryResult, Store, StoreCapabilities, WriteReport, check_graph_name, choose_graph
from .meta import GraphMeta

__all__ = [
    "BACKENDS", "Backend", "GraphMeta", "QueryResult", "Store", "StoreCapabilities", "WriteReport", "check_graph_name",
    "choose_graph", "make_store", "open_store", "store_class", "URL_FORMS",
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


@dataclass(frozen=True)
class Backend:
    """A store backend: the class serving it (imported on demand) and the URL shape it takes.

    Args:
        module, name: where the :class:`Store` subclass lives.
        authority: its URLs are ``scheme://...`` (else ``scheme`` or ``scheme:path``).
        bare: the scheme alone is a whole URL (``embedded``; ``neo4j`` with ``KGREC_NEO4J_URI``).
    """

    module: str
    name: str
    authority: bool
    bare: bool = False

    def load(self) -> type[Store]:
        return getattr(importlib.import_module(self.module), self.name)


BACKENDS: Registry[Backend] = Registry("store URL scheme")
"""URL schemes (and aliases) -> backends: the one place a store is named. A new backend is one
``register`` call here and one module."""
BACKENDS.register("embedded", Backend("kgrec.kg.stores.embedded", "EmbeddedStore", authority=False, bare=True))
BACKENDS.register("falkordb", Backend("kgrec.kg.stores.falkordb", "FalkorDBStore", authority=True),
                  aliases=("falkor", "redis", "unix", "falkordb+unix"))
BACKENDS.register("neo4j", Backend("kgrec.kg.stores.neo4j", "Neo4jStore", authority=True, bare=True),
                  aliases=("bolt", "bolt+s", "bolt+ssc", "neo4j+s", "neo4j+ssc"))
BACKENDS.register("rdf", Backend("kgrec.kg.stores.rdf", "RdfStore", authority=False))


def store_class(url: str) -> type[Store]:
    """The :class:`Store` class that serves ``url`` (its module imported on demand)."""
    forms = "; ".join(URL_FORMS)
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"store URL {url!r} is empty; accepted forms: {forms}")
    url = url.strip()
    has_authority = "://" in url
    scheme = url.split("://", 1)[0] if has_authority else url.split(":", 1)[0]
    bare = ":" not in url
    try:
        backend = BACKENDS.resolve(scheme)  # case-insensitive, as URL schemes are
    except ConfigError as e:
        raise ConfigError(f"store URL {url!r} is not one kgrec knows ({e}); accepted forms: {forms}") from None
    if (bare and not backend.bare) or (not bare and has_authority != backend.authority):
        raise ConfigError(f"store URL {url!r} does not have the shape of a {BACKENDS.canonical(scheme)} URL; "
                          f"accepted forms: {forms}")
    return backend.load()


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
