"""The HTTP service: a FastAPI app over a :class:`~kgrec.serving.recommender.Recommender`.

==========================================  =====================================================
``GET  /v1/users/{id}/recommendations``     top-k (``k`` 1..1000, ``explain``, ``diversity``,
                                            ``exclude_seen``, ``filter=Label:value`` repeated)
``GET  /v1/items/{id}/similar``             similar items (``k``)
``GET  /v1/users/{id}/explain/{item}``      explanation paths (``max_paths``)
``POST /v1/feedback``                       an interaction (token)
``POST /v1/items``                          a new item from text and KG links (token)
``POST /v1/query``                          an analyst's read-only Cypher query (token)
``DELETE /v1/users/{id}``                   forget a user everywhere (token)
``GET  /healthz``                           liveness, store status, sizes
``GET  /docs``, ``/openapi.json``           the OpenAPI documentation
==========================================  =====================================================

Write endpoints and the query endpoint need ``Authorization: Bearer <token>``, the token coming
from ``KGREC_API_TOKEN`` (or ``create_app(token=...)``); it is compared in constant time. Without a
configured token those endpoints refuse every call. Errors are JSON ``{"detail": message}``: 401
(token), 403 (a write through the read-only query endpoint), 404 (unknown user or item), 422 (bad
body or parameter, JSON nested deeper than 32 levels), 413 (a body over 1 MiB), 400 (a query the
store rejects), 503 (store down).

Reliability:

- **Durability.** Feedback is acknowledged only after the store has it: the write returns once
  the store replied, and the embedded store is asked to fsync its append-only file before each
  reply (``appendfsync always``; ``KGREC_FEEDBACK_FSYNC`` or ``create_app(feedback_fsync=...)``
  chooses ``always``, ``everysec`` or ``no``; see :data:`kgrec.kg.stores.embedded.APPEND_FSYNC` for
  what each can lose). Neo4j commits are durable by default; other stores keep their own setting.
- **Faults.** While the store is down, the endpoints that need it answer 503 with a message that
  says so; recommendations, similar items and explanations are served from memory meanwhile. An
  embedded store is restarted by the service in the background (it replays its AOF), so the
  service recovers by itself; a remote store is reconnected to as soon as it answers again.
- **Limits.** Request bodies over ``max_body_bytes`` (default 1 MiB) are refused with 413 before
  they are parsed; JSON nested deeper than 32 levels with 422.

The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import threading
import time
from typing import Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from kgrec.errors import (
    ConfigError,
    InputError,
    KgrecError,
    ReadOnlyQueryError,
    StoreError,
    StoreUnavailableError,
    UnknownGraphError,
    UnknownItemError,
    UnknownUserError,
)

from .explain import Explanation
from .recommender import Recommendation, Recommender
from .ui import router as ui_router

logger = logging.getLogger(__name__)

TOKEN_ENV = "KGREC_API_TOKEN"
FSYNC_ENV = "KGREC_FEEDBACK_FSYNC"
DEFAULT_FEEDBACK_FSYNC = "always"
MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_K = 1000
MAX_QUERY_ROWS = 10_000
_ID = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$",
            description="1 to 256 characters, no control characters")


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


class ForgetOut(_Model):
    user: str
    nodes: int = Field(description="user nodes deleted from the store (0 or 1)")
    edges: int = Field(description="edges of the user deleted from the store (interactions, profile, ...)")
    in_memory: bool = Field(description="whether the running recommender knew the user")


_ERRORS = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"description": "bad parameters or body"},
           503: {"model": ErrorOut}}
_WRITE_ERRORS = {**_ERRORS, 413: {"model": ErrorOut}}


# -- the store's keeper ------------------------------------------------------------------------
class StoreKeeper:
    """Keeps the service's store usable: asks for the feedback durability once it answers, and
    restarts an embedded store in the background after a request found it down.

    Args:
        store: the recommender's store (or None).
        feedback_fsync: ``always``, ``everysec``, ``no`` or None (leave the store's setting).
        retry_every: seconds between restart attempts (default: 1).
    """

    def __init__(self, store: Any, *, feedback_fsync: str | None, retry_every: float = 1.0):
        self.store = store
        self.feedback_fsync = feedback_fsync
        self.retry_every = retry_every
        self.restarts = 0
        self._busy = threading.Lock()
        self._last = 0.0
        self._durable = False
        self._server_pid: int | None = None  # the embedded server the setting was applied to

    @property
    def can_restart(self) -> bool:
        return self.store is not None and callable(getattr(self.store, "ensure_running", None))

    def prepare(self) -> None:
        """Apply the durability setting (on startup, and after a restart); never raises."""
        if self.store is None or self.feedback_fsync is None:
            return
        require = getattr(self.store, "require_appendfsync", None)
        if require is None:
            logger.info("store %s keeps its own durability setting (%s=%s applies to the embedded store)",
                        getattr(self.store, "url", self.store), FSYNC_ENV, self.feedback_fsync)
            self._durable = True
            return
        try:
            mode = require(self.feedback_fsync)
            self._server_pid = self._pid()
            self._durable = True
            logger.info("feedback durability: appendfsync %s", mode)
        except KgrecError as e:
            logger.warning("could not set appendfsync %s on the store yet: %s", self.feedback_fsync, e)

    def _pid(self) -> int | None:
        pid = getattr(self.store, "pid", None)
        return pid() if callable(pid) else None

    def ensure_durable(self) -> None:
        """Before a write: the durability setting is in force (re-applied after a restart, also one
        made by another process: the embedded server's pid file names a new server)."""
        if self._durable and self._server_pid is not None and self._pid() != self._server_pid:
            self._durable = False
        if not self._durable:
            self.prepare()
            if not self._durable and self.feedback_fsync is not None:
                raise StoreUnavailableError(f"the store's durability (appendfsync {self.feedback_fsync}) could not "
                                            "be set; feedback is not accepted until it is")

    def store_down(self) -> str:
        """A request found the store down: start a restart in the background when kgrec owns the
        server. Returns what to tell the client."""
        if not self.can_restart:
            return "retry when the store is back"
        now = time.monotonic()
        if now - self._last >= self.retry_every and self._busy.acquire(blocking=False):
            self._last = now
            threading.Thread(target=self._restart, name="kgrec-store-restart", daemon=True).start()
        return "kgrec is restarting the embedded store; retry in a few seconds"

    def _restart(self) -> None:
        try:
            self._durable = False
            self.store.ensure_running()
            self.restarts += 1
            logger.warning("restarted the embedded store in %s", getattr(self.store, "data_dir", "?"))
            self.prepare()
        except KgrecError as e:
            logger.warning("the embedded store did not restart: %s", e)
        finally:
            self._busy.release()


# -- request limits ----------------------------------------------------------------------------
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes, *, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``body``'s JSON arrays and objects nest (counting stops past ``limit``)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return min(body.count(b"[") + body.count(b"{"), limit)
    depth = deepest = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub(b"", body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` (413) before anything parses it,
    and JSON nested deeper than ``max_depth`` (422); the body is read once and handed on."""

    def __init__(self, app: Any, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_error(send, 400, "Content-Length is not a number")
                return
            if declared > self.max_bytes:
                await _send_error(send, 413, f"request body of {declared} bytes is over the limit of "
                                             f"{self.max_bytes} bytes")
                return
        elif b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, f"request body is over the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and json_depth(body, limit=self.max_depth) > self.max_depth:
            await _send_error(send, 422, f"JSON body nested deeper than {self.max_depth} levels")
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _send_error(send: Any, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


# -- the app -----------------------------------------------------------------------------------
def create_app(recommender: Recommender, *, token: str | None = None, max_query_rows: int = MAX_QUERY_ROWS,
               feedback_fsync: str | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app.

    Args:
        recommender: a loaded recommender.
        token: the bearer token of the write and query endpoints (default: ``KGREC_API_TOKEN``;
            without one, those endpoints refuse every call).
        max_query_rows: rows returned by ``/v1/query`` at most (default: 10,000).
        feedback_fsync: the embedded store's ``appendfsync`` while serving: ``"always"`` (feedback
            is fsynced before it is acknowledged), ``"everysec"``, ``"no"`` or ``"store"`` (leave
            it) (default: ``KGREC_FEEDBACK_FSYNC``, else ``"always"``). Applied on startup.
        max_body_bytes: the largest request body accepted (default: 1 MiB); larger ones get 413.
    """
    from contextlib import asynccontextmanager

    import kgrec

    secret = token if token is not None else os.environ.get(TOKEN_ENV) or None
    fsync = feedback_fsync or os.environ.get(FSYNC_ENV) or DEFAULT_FEEDBACK_FSYNC
    if fsync not in ("always", "everysec", "no", "store"):
        raise ConfigError(f"feedback_fsync ({FSYNC_ENV}) {fsync!r} is not one of always, everysec, no, store")
    keeper = StoreKeeper(recommender.store, feedback_fsync=None if fsync == "store" else fsync)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio

        await anyio.to_thread.run_sync(keeper.prepare)
        yield

    app = FastAPI(title="kgrec", version=kgrec.__version__, lifespan=lifespan,
                  description="Explained recommendations over a knowledge graph. Write endpoints and the "
                              f"query endpoint need `Authorization: Bearer <{TOKEN_ENV}>`.")
    app.state.recommender = recommender
    app.state.keeper = keeper
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.include_router(ui_router)
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

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the bad input, which may be unencodable (inf, lone
        # surrogates) and then fails with a 500: report where and what, never the value itself
        errors = [{"loc": [_printable(x) if isinstance(x, str) else x for x in e.get("loc", ())],
                   "msg": _printable(str(e.get("msg", ""))), "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

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
            detail = f"the graph store is unavailable ({keeper.store_down()}): {detail}"
        return JSONResponse({"detail": detail}, status_code=status, headers={"Retry-After": "2"} if status == 503
                            else None)

    # Handlers are plain functions: FastAPI runs them in its thread pool, so a request waiting on the
    # recommender's lock (held during a feedback's fsynced store write) or on a slow store never
    # blocks the event loop; /healthz keeps answering.
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

    @app.post("/v1/feedback", response_model=FeedbackOut, responses=_WRITE_ERRORS, dependencies=[Depends(authorised)],
              summary="Record an interaction; acknowledged once the store has it durably")
    def feedback(body: FeedbackIn) -> FeedbackOut:
        if body.kind == "positive" and recommender.store is not None:
            keeper.ensure_durable()
        r = recommender.feedback(body.user, body.item, body.kind, body.weight)
        return FeedbackOut(user=r.user, item=ItemOut(id=r.item.id, name=r.item.name), kind=r.kind,
                           new_user=r.new_user, interactions=r.interactions, stored=r.stored)

    @app.post("/v1/items", response_model=ItemAddedOut, status_code=201, responses=_WRITE_ERRORS,
              dependencies=[Depends(authorised)], summary="Add an item from its text and KG links (cold start)")
    def add_item(body: ItemIn) -> ItemAddedOut:
        r = recommender.add_item(body.id, body.name, body.text, body.attributes)
        return ItemAddedOut(item=ItemOut(id=r.item.id, name=r.item.name), links=r.links, stored=r.stored)

    @app.post("/v1/query", response_model=QueryOut,
              responses={**_WRITE_ERRORS, 400: {"model": ErrorOut}, 403: {"model": ErrorOut}},
              dependencies=[Depends(authorised)], summary="Run a read-only Cypher query on the graph store")
    def query(body: QueryIn) -> QueryOut:
        store = recommender.store
        if store is None:
            raise _HttpError(503, "this server has no graph store attached")
        result = store.query(body.cypher, body.parameters, graph=recommender.graph_name)
        rows = [list(r) for r in result.rows[:max_query_rows]]
        return QueryOut(columns=list(result.columns), rows=_jsonable(rows), truncated=len(result.rows) > max_query_rows)

    @app.delete("/v1/users/{user}", response_model=ForgetOut, responses=_ERRORS, dependencies=[Depends(authorised)],
                summary="Forget a user: node, interactions, profile and vectors in the store, the run "
                        "directory, the text cache and this service")
    def forget(user: str = Path(min_length=1, max_length=256)) -> ForgetOut:
        from .privacy import forget_user

        run_dir = getattr(recommender.run, "path", None)
        r = forget_user(user, store=recommender.store, graph=recommender.graph_name, recommender=recommender,
                        run_dirs=[run_dir] if run_dir is not None else [])
        return ForgetOut(user=r.user, nodes=r.nodes, edges=r.edges, in_memory=r.in_memory)

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
                keeper.store_down()
        model = getattr(getattr(recommender.run, "config", None), "model", None)
        return HealthOut(status="degraded" if state == "down" else "ok", store=state, graph=recommender.graph_name,
                         model=model, users=recommender.num_users, items=recommender.num_items)

    return app


class _HttpError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
