"""The HTTP service: a FastAPI app over a :class:`~kgrec.serving.recommender.Recommender`.

==========================================  =====================================================
``GET  /v1/users/{id}/recommendations``     top-k (``k`` 1..1000, ``explain``, ``diversity``,
                                            ``exclude_seen``, ``filter=Label:value`` repeated)
``GET  /v1/items/{id}/similar``             similar items (``k``)
``GET  /v1/users/{id}/explain/{item}``      explanation paths (``max_paths``)
``POST /v1/feedback``                       an interaction (token)
``POST /v1/items``                          a new item from text and KG links (token)
``POST /v1/query``                          an analyst's read-only Cypher query (token)
``GET  /healthz``                           liveness, store status, sizes
``GET  /docs``, ``/openapi.json``           the OpenAPI documentation
==========================================  =====================================================

Write endpoints and the query endpoint need ``Authorization: Bearer <token>``, the token coming
from ``KGREC_API_TOKEN`` (or ``create_app(token=...)``); it is compared in constant time. Without a
configured token those endpoints refuse every call. Errors are JSON ``{"detail": message}``: 401
(token), 403 (a write through the read-only query endpoint), 404 (unknown user or item), 422 (bad
body or parameter), 400 (a query the store rejects), 503 (store down).

The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from typing import Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from kgrec.errors import (InputError, KgrecError, ReadOnlyQueryError, StoreError, StoreUnavailableError,
                          UnknownGraphError, UnknownItemError, UnknownUserError)

from .explain import Explanation
from .recommender import Recommendation, Recommender

logger = logging.getLogger(__name__)

TOKEN_ENV = "KGREC_API_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_K = 1000
MAX_QUERY_ROWS = 10_000
_ID = Field(min_length=1, max_length=256)


# -- response and request models ---------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemOut(_Model):
    id: str
    name: str


class NodeOut(_Model):
    label: str
    id: str
    name: str


class RelationOut(_Model):
    type: str
    direction: Literal["out", "in"] = Field(description="'out': nodes[i] -[type]-> nodes[i+1]; 'in': the reverse")


class PathOut(_Model):
    nodes: list[NodeOut]
    relations: list[RelationOut]


class ExplanationOut(_Model):
    path: PathOut
    score: float = Field(description="geometric mean of the hop supports, in (0, 1]")
    sentence: str
    cypher: str = Field(description="a Cypher query that returns exactly this path; values in 'parameters'")
    parameters: dict[str, str]
    hop_supports: list[float]
    sparql: str | None = None

    @classmethod
    def of(cls, e: Explanation) -> ExplanationOut:
        return cls(path=PathOut(nodes=[NodeOut(label=n.label, id=n.id, name=n.name) for n in e.path.nodes],
                                relations=[RelationOut(type=r.type, direction=r.direction) for r in e.path.relations]),
                   score=e.score, sentence=e.sentence, cypher=e.cypher, parameters=dict(e.parameters),
                   hop_supports=list(e.hop_supports), sparql=e.sparql)


class RecommendationOut(_Model):
    item: ItemOut
    score: float
    rank: int
    explanations: list[ExplanationOut]

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(item=ItemOut(id=r.item.id, name=r.item.name), score=r.score, rank=r.rank,
                   explanations=[ExplanationOut.of(e) for e in r.explanations])


class RecommendationsOut(_Model):
    user: str
    k: int
    recommendations: list[RecommendationOut]


class SimilarItemOut(_Model):
    item: ItemOut
    score: float


class SimilarOut(_Model):
    item: ItemOut
    similar: list[SimilarItemOut]


class ExplainOut(_Model):
    user: str
    item: ItemOut
    explanations: list[ExplanationOut]


class FeedbackIn(_Model):
    user: str = _ID
    item: str = _ID
    kind: Literal["positive", "negative"] = "positive"
    weight: float | None = Field(None, ge=0, allow_inf_nan=False)


class FeedbackOut(_Model):
    user: str
    item: ItemOut
    kind: Literal["positive", "negative"]
    new_user: bool
    interactions: int
    stored: bool


class ItemIn(_Model):
    id: str = _ID
    name: str = Field(min_length=1, max_length=1024)
    text: str = Field("", max_length=65_536)
    attributes: dict[str, list[str]] = Field(default_factory=dict,
                                             description="relation or label → ids or names of existing nodes")


class ItemAddedOut(_Model):
    item: ItemOut
    links: dict[str, int]
    stored: bool


class QueryIn(_Model):
    cypher: str = Field(min_length=1, max_length=100_000)
    parameters: dict[str, Any] = Field(default_factory=dict)


class QueryOut(_Model):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class HealthOut(_Model):
    status: Literal["ok", "degraded"]
    store: Literal["up", "down", "none"]
    graph: str
    model: str | None
    users: int
    items: int


class ErrorOut(_Model):
    detail: str


_ERRORS = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"description": "bad parameters or body"},
           503: {"model": ErrorOut}}


# -- the app -----------------------------------------------------------------------------------
def create_app(recommender: Recommender, *, token: str | None = None, max_query_rows: int = MAX_QUERY_ROWS) -> FastAPI:
    """The FastAPI app.

    Args:
        recommender: a loaded recommender.
        token: the bearer token of the write and query endpoints (default: ``KGREC_API_TOKEN``;
            without one, those endpoints refuse every call).
        max_query_rows: rows returned by ``/v1/query`` at most (default: 10,000).
    """
    import kgrec

    secret = token if token is not None else os.environ.get(TOKEN_ENV) or None
    app = FastAPI(title="kgrec", version=kgrec.__version__,
                  description="Explained recommendations over a knowledge graph. Write endpoints and the "
                              f"query endpoint need `Authorization: Bearer <{TOKEN_ENV}>`.")
    app.state.recommender = recommender
    bearer = HTTPBearer(auto_error=False)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if secret is None:
            raise _HttpError(401, f"this server has no API token configured; set {TOKEN_ENV} to enable "
                                  "write and query endpoints")
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            raise _HttpError(401, "missing or wrong bearer token" if given else "missing bearer token "
                                  "(Authorization: Bearer <token>)")

    @app.exception_handler(_HttpError)
    async def _http_error(request: Request, exc: _HttpError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(KgrecError)
    async def _kgrec_error(request: Request, exc: KgrecError) -> JSONResponse:
        if isinstance(exc, (UnknownUserError, UnknownItemError)):
            status = 404
        elif isinstance(exc, StoreUnavailableError):
            status = 503
        elif isinstance(exc, ReadOnlyQueryError):
            status = 403
        elif isinstance(exc, (InputError, UnknownGraphError)):
            status = 422
        elif isinstance(exc, StoreError):
            status = 400
        else:
            logger.exception("request failed: %s", exc)
            status = 500
        detail = str(exc)
        if status == 503:
            detail = f"the graph store is unavailable: {detail}"
        return JSONResponse({"detail": detail}, status_code=status)

    @app.get("/v1/users/{user}/recommendations", response_model=RecommendationsOut, responses=_ERRORS,
             summary="Top-k items for a user, with explanation paths")
    def recommendations(user: str = Path(min_length=1, max_length=256),
                        k: int = Query(10, ge=1, le=MAX_K), explain: bool = True,
                        exclude_seen: bool = True, diversity: float = Query(0.0, ge=0.0, le=1.0),
                        max_paths: int = Query(3, ge=1, le=20),
                        filter_: list[str] = Query(default_factory=list, alias="filter",
                                                   description="LABEL_OR_RELATION:value, e.g. Tag:rock (repeatable)"),
                        ) -> RecommendationsOut:
        filters: dict[str, list[str]] = {}
        for f in filter_:
            key, sep, value = f.partition(":")
            if not sep or not key or not value:
                raise _HttpError(422, f"filter {f!r} is not LABEL_OR_RELATION:value")
            filters.setdefault(key, []).append(value)
        recs = recommender.recommend(user, k, explain=explain, exclude_seen=exclude_seen, filters=filters or None,
                                     diversity=diversity, max_paths=max_paths)
        return RecommendationsOut(user=user, k=k, recommendations=[RecommendationOut.of(r) for r in recs])

    @app.get("/v1/items/{item}/similar", response_model=SimilarOut, responses=_ERRORS,
             summary="Items whose trained vectors are closest to this one's")
    def similar(item: str = Path(min_length=1, max_length=256), k: int = Query(10, ge=1, le=MAX_K)) -> SimilarOut:
        sims = recommender.similar_items(item, k)
        ref = recommender.item_ref(recommender.index.row(recommender.item_label, item))
        return SimilarOut(item=ItemOut(id=ref.id, name=ref.name),
                          similar=[SimilarItemOut(item=ItemOut(id=s.item.id, name=s.item.name), score=s.score)
                                   for s in sims])

    @app.get("/v1/users/{user}/explain/{item}", response_model=ExplainOut, responses=_ERRORS,
             summary="Paths in the graph from a user to an item")
    def explain(user: str = Path(min_length=1, max_length=256), item: str = Path(min_length=1, max_length=256),
                max_paths: int = Query(3, ge=1, le=20)) -> ExplainOut:
        exps = recommender.explain(user, item, max_paths=max_paths)
        ref = recommender.item_ref(recommender.index.row(recommender.item_label, item))
        return ExplainOut(user=user, item=ItemOut(id=ref.id, name=ref.name),
                          explanations=[ExplanationOut.of(e) for e in exps])

    @app.post("/v1/feedback", response_model=FeedbackOut, responses=_ERRORS, dependencies=[Depends(authorised)],
              summary="Record an interaction; the user's next recommendations reflect it at once")
    def feedback(body: FeedbackIn) -> FeedbackOut:
        r = recommender.feedback(body.user, body.item, body.kind, body.weight)
        return FeedbackOut(user=r.user, item=ItemOut(id=r.item.id, name=r.item.name), kind=r.kind,
                           new_user=r.new_user, interactions=r.interactions, stored=r.stored)

    @app.post("/v1/items", response_model=ItemAddedOut, status_code=201, responses=_ERRORS,
              dependencies=[Depends(authorised)], summary="Add an item from its text and KG links (cold start)")
    def add_item(body: ItemIn) -> ItemAddedOut:
        r = recommender.add_item(body.id, body.name, body.text, body.attributes)
        return ItemAddedOut(item=ItemOut(id=r.item.id, name=r.item.name), links=r.links, stored=r.stored)

    @app.post("/v1/query", response_model=QueryOut, responses={**_ERRORS, 403: {"model": ErrorOut}},
              dependencies=[Depends(authorised)], summary="Run a read-only Cypher query on the graph store")
    def query(body: QueryIn) -> QueryOut:
        store = recommender.store
        if store is None:
            raise _HttpError(503, "this server has no graph store attached")
        result = store.query(body.cypher, body.parameters, graph=recommender.graph_name)
        rows = [list(r) for r in result.rows[:max_query_rows]]
        return QueryOut(columns=list(result.columns), rows=_jsonable(rows), truncated=len(result.rows) > max_query_rows)

    @app.get("/healthz", response_model=HealthOut, summary="Liveness and the store's status")
    def healthz() -> HealthOut:
        store = recommender.store
        state: Literal["up", "down", "none"] = "none"
        if store is not None:
            try:
                store.graphs()
                state = "up"
            except KgrecError:
                state = "down"
        model = getattr(getattr(recommender.run, "config", None), "model", None)
        return HealthOut(status="degraded" if state == "down" else "ok", store=state, graph=recommender.graph_name,
                         model=model, users=recommender.num_users, items=recommender.num_items)

    return app


class _HttpError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


# -- running -----------------------------------------------------------------------------------
def serve(recommender: Recommender, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
          log_level: str = "info") -> None:
    """Serve the app with uvicorn until interrupted (binds 127.0.0.1 by default)."""
    import uvicorn

    app = create_app(recommender, token=token)
    if host not in ("127.0.0.1", "localhost", "::1") and not (token or os.environ.get(TOKEN_ENV)):
        logger.warning("serving on %s without %s: write and query endpoints refuse every call", host, TOKEN_ENV)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class BackgroundServer:
    """uvicorn in a background thread, for tests, notebooks and benchmarks.

    Example::

        with BackgroundServer(create_app(rec), port=0) as server:
            httpx.get(server.url + "/healthz")
    """

    def __init__(self, app: FastAPI, *, host: str = DEFAULT_HOST, port: int = 0, log_level: str = "warning",
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
