"""What the routes take from the app: the recommender, the settings, the token check."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import TOKEN_ENV, ServeConfig
from .errors import HttpError

if TYPE_CHECKING:
    from ..recommender import Recommender
    from .analyst import AnalystQueries
    from .keeper import StoreKeeper

_bearer = HTTPBearer(auto_error=False)


def recommender(request: Request) -> Recommender:
    return request.app.state.recommender


def settings(request: Request) -> ServeConfig:
    return request.app.state.config


def keeper(request: Request) -> StoreKeeper:
    return request.app.state.keeper


def analyst(request: Request) -> AnalystQueries | None:
    """The analyst queries' runner (None when the service has no store)."""
    return request.app.state.analyst


def authorised(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """The bearer token of the write and query endpoints, compared in constant time."""
    secret = request.app.state.config.secret
    if secret is None:
        raise HttpError(401, "this server has no API token configured, so write and query endpoints are off "
                             f"(`kgrec serve` reads it from {TOKEN_ENV})")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise HttpError(401, "missing or wrong bearer token" if given else "missing bearer token "
                             "(Authorization: Bearer <token>)")


__all__ = ["analyst", "authorised", "keeper", "recommender", "settings"]
