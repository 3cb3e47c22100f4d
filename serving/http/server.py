"""Running the app: :func:`serve` (uvicorn in the foreground, for ``kgrec serve``) and
:class:`BackgroundServer` (uvicorn in a thread, for tests, notebooks and benchmarks)."""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI

from kgrec.errors import KgrecError

from ..config import TOKEN_ENV, ServeConfig
from ..recommender import Recommender
from .app import create_app

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(recommender: Recommender, config: ServeConfig | None = None, *, log_level: str = "info", live=None,
          experiment=None) -> None:
    """Serve the app with uvicorn until interrupted (binds 127.0.0.1 unless the config says otherwise);
    ``live`` and ``experiment`` as for :func:`create_app`."""
    import uvicorn

    config = config or ServeConfig()
    app = create_app(recommender, config, live=live, experiment=experiment)
    if config.host not in LOOPBACK and config.secret is None:
        logger.warning("serving on %s without a token (%s): write and query endpoints refuse every call",
                       config.host, TOKEN_ENV)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level)


class BackgroundServer:
    """uvicorn in a background thread, for tests, notebooks and benchmarks.

    Example::

        with BackgroundServer(create_app(rec), port=0) as server:
            httpx.get(server.url + "/healthz")
    """

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 start_timeout: float = 30.0):
        import uvicorn

        self.app = app
        self.host = host
        self._config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.start_timeout = start_timeout
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise KgrecError("the server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(target=self._server.run, name="kgrec-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise KgrecError(f"the HTTP server did not start on {self.host}")
            time.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        logger.info("serving on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["LOOPBACK", "BackgroundServer", "serve"]
