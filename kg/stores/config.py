"""`StoreConfig`: the store section of the one config — which store, which graph, its settings.

::

    StoreConfig()                                            # the embedded FalkorDB under KGREC_HOME
    StoreConfig(url="bolt://localhost:7687", options={"auth": ["neo4j", "secret"]})
    StoreConfig(url="rdf:/data/kg", graph="lastfm").open()   # an opened Store

The ``kgrec`` command fills ``url`` from ``KGREC_STORE`` when it is set (the environment is read at
the edge, not here).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from kgrec.config import Section
from kgrec.errors import ConfigError, UnknownGraphError

from .base import Store, check_graph_name


class StoreConfig(Section):
    """Where the graph lives.

    Args:
        url: a store URL (:data:`kgrec.kg.stores.URL_FORMS`): ``embedded``, ``embedded:/dir``,
            ``falkordb://host:port``, ``unix:///path.sock``, ``bolt://`` / ``neo4j://``, ``rdf:/dir``
            (default: ``embedded``).
        graph: the graph's name in the store (default: None: the dataset's name when writing, the
            store's only graph when reading).
        options: the backend's own settings, passed to its constructor (``batch_size``,
            ``appendfsync``, ``auth``, ``database`` ...); a setting the backend does not take is an
            error when the store is made (default: none).
    """

    url: str = "embedded"
    graph: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        from . import store_class

        store_class(value)  # a ConfigError listing the accepted forms
        return value.strip()

    @field_validator("graph")
    @classmethod
    def _graph_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_graph_name(value)
        except UnknownGraphError as e:
            raise ConfigError(str(e)) from e

    def redacted(self) -> StoreConfig:
        """This config without secrets, for files: a password in the URL becomes ``***`` and
        ``auth`` / ``password`` options are dropped (secrets come from the environment, never files)."""
        from urllib.parse import urlsplit, urlunsplit

        url = self.url
        parts = urlsplit(url) if "://" in url else None
        if parts is not None and parts.password:
            netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
            url = urlunsplit(parts._replace(netloc=netloc))
        options = {k: v for k, v in self.options.items() if k not in ("auth", "password")}
        return self.model_copy(update={"url": url, "options": options})

    def make(self) -> Store:
        """The store, constructed but not opened."""
        from . import make_store

        return make_store(self.url, graph=self.graph, **self.options)

    def open(self) -> Store:
        """The store, opened (a context manager; ``close()`` when done)."""
        return self.make().open()


__all__ = ["StoreConfig"]
