"""What the routes take from the app: the recommender, the settings, the token check."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import TOKEN_ENV, ServeConfig
from .errors import HttpError

if TYPE_CHECKING:
    from ..recommender import Recommender
    from .analyst import AnalystQueries
    from .keeper import StoreKeeper

_bearer = HTTPBearer(auto_error=False)


ARM_HEADER = "X-Kgrec-Arm"
EXPERIMENT_HEADER = "X-Kgrec-Experiment"


def recommender(request: Request, response: Response) -> Recommender:
    """The service's recommender; in an A/B experiment, the arm of the user the path names (the
    control arm for requests that name none), said in the ``X-Kgrec-Arm`` response header."""
    experiment = request.app.state.experiment
    if experiment is None:
        return request.app.state.recommender
    user = request.path_params.get("user")
    if user is None:
        arm, rec = experiment.assignment.arms[0], experiment.control
    else:
        from ..recommender import clean

        arm, rec = experiment.for_user(clean(user, "user"))
    request.state.arm = arm
    response.headers[ARM_HEADER] = arm
    response.headers[EXPERIMENT_HEADER] = experiment.name
    return rec


def expose(request: Request, user: str, items: list[str], k: int) -> None:
    """In an A/B experiment: log that the user's arm showed them these items."""
    experiment = request.app.state.experiment
    if experiment is not None and items:
        experiment.expose(user, request.state.arm, items, k)


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


__all__ = ["ARM_HEADER", "EXPERIMENT_HEADER", "analyst", "authorised", "expose", "keeper", "recommender", "settings"]
