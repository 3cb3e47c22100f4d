"""How errors become HTTP answers: always JSON ``{"detail": ...}`` with a status that names the
situation (see the table in :mod:`kgrec.serving.http`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kgrec.errors import (
    ForbiddenQueryError,
    InputError,
    KgrecError,
    QueryTimeoutError,
    ReadOnlyQueryError,
    StoreError,
    StoreUnavailableError,
    UnknownGraphError,
    UnknownItemError,
    UnknownUserError,
)

logger = logging.getLogger(__name__)


class HttpError(Exception):
    """An answer with a status and a message, raised by a route or a dependency."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def status_of(exc: KgrecError) -> int:
    """The HTTP status of a kgrec error."""
    if isinstance(exc, (UnknownUserError, UnknownItemError)):
        return 404
    if isinstance(exc, StoreUnavailableError):
        return 503
    if isinstance(exc, QueryTimeoutError):
        return 504
    if isinstance(exc, (ReadOnlyQueryError, ForbiddenQueryError)):
        return 403
    if isinstance(exc, (InputError, UnknownGraphError)):
        return 422
    if isinstance(exc, StoreError):
        return 400
    return 500


def install(app: FastAPI) -> None:
    """Register the exception handlers (the store keeper is read from ``app.state.keeper``)."""

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the bad input, which may be unencodable (inf, lone
        # surrogates) and then fails with a 500: report where and what, never the value itself
        errors = [{"loc": [printable(x) if isinstance(x, str) else x for x in e.get("loc", ())],
                   "msg": printable(str(e.get("msg", ""))), "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(KgrecError)
    async def _kgrec_error(request: Request, exc: KgrecError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            logger.exception("request failed: %s", exc)
        detail = str(exc)
        headers = None
        if status == 503:
            detail = f"the graph store is unavailable ({request.app.state.keeper.store_down()}): {detail}"
            headers = {"Retry-After": "2"}
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def jsonable(value: Any) -> Any:
    """A query result value as JSON can carry it (non-finite floats and other types as text)."""
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):  # numpy scalars
        return jsonable(value.item())
    return str(value)


__all__ = ["HttpError", "install", "jsonable", "printable", "status_of"]
