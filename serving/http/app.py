"""The app factory: one FastAPI app over a :class:`~kgrec.serving.Recommender`, one router per area.

To add an endpoint area (events, intent, reports), write a module with an ``APIRouter`` beside
these and include it in :data:`ROUTERS`.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from kgrec.errors import ConfigError

from ..config import TOKEN_ENV, ServeConfig
from ..recommender import Recommender
from . import errors, events, fidelity, health, intent, items, queries, recommendations, ui, users
from .analyst import AnalystQueries
from .keeper import StoreKeeper
from .limits import BodyLimit

if TYPE_CHECKING:
    from ..events.live import LiveService
    from ..experiments import Experiment

logger = logging.getLogger(__name__)

ROUTERS = (recommendations.router, items.router, users.router, queries.router, health.router, ui.router,
           events.router, intent.router, fidelity.router)


def create_app(recommender: Recommender, config: ServeConfig | None = None, *, token: str | None = None,
               feedback_fsync: str | None = None, max_body_bytes: int | None = None,
               max_query_rows: int | None = None, live: LiveService | None = None,
               experiment: Experiment | None = None) -> FastAPI:
    """The FastAPI app (docs at ``/docs``, served from local files: it works offline).

    Args:
        recommender: a loaded recommender.
        config: the service's settings (default: ``ServeConfig()``: no token, so write and query
            endpoints refuse every call).
        token, feedback_fsync, max_body_bytes, max_query_rows: shortcuts for those fields of
            ``config`` (``max_query_rows`` is ``max_rows``).
        live: the event stream (``POST /v1/events``) and its consumers, started and stopped with
            the app (default: None: the events endpoints answer 503).
        experiment: an A/B experiment: user-scoped requests are served by the user's arm, and
            every response says which (default: None).

    Nothing here reads environment variables: ``kgrec serve`` builds the config from them.
    """
    from fastapi_offline import FastAPIOffline

    changes: dict[str, Any] = {"token": token, "feedback_fsync": feedback_fsync, "max_body_bytes": max_body_bytes,
                               "max_rows": max_query_rows}
    changes = {k: v for k, v in changes.items() if v is not None}
    config = config or ServeConfig()
    if changes:
        try:
            config = ServeConfig(**{**config.model_dump(), **changes})
        except ConfigError as e:
            raise ConfigError(f"create_app: {e}") from None
    keeper = StoreKeeper(recommender.store, feedback_fsync=None if config.feedback_fsync == "store"
                         else config.feedback_fsync)
    analyst = None if recommender.store is None else AnalystQueries(
        recommender.store, graph=recommender.graph_name, workers=config.query_workers, queue=config.query_queue,
        max_rows=config.max_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio

        await anyio.to_thread.run_sync(keeper.prepare)
        if live is not None:
            live.start()
        try:
            yield
        finally:
            if live is not None:
                live.stop()
            keeper.close()
            if analyst is not None:
                analyst.close()

    app = FastAPIOffline(title="kgrec", version=_package_version(), lifespan=lifespan, redoc_url=None,
                         description="Explained recommendations over a knowledge graph. Write endpoints and the "
                                     f"query endpoint need `Authorization: Bearer <token>` ({TOKEN_ENV} of "
                                     "`kgrec serve`).")
    app.state.recommender = recommender
    app.state.config = config
    app.state.keeper = keeper
    app.state.analyst = analyst
    app.state.live = live
    app.state.experiment = experiment
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _package_version() -> str:
    """kgrec's installed version (the layers never import the top package ``kgrec``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kgrec")
    except PackageNotFoundError:  # a source tree without an install
        return "0+unknown"


__all__ = ["ROUTERS", "create_app"]
