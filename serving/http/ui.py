"""The explanation page served by ``kgrec serve``: ``GET /ui``.

Plain HTML, CSS and JavaScript from ``serving/static/`` (no build step, no third-party code): pick
a user, see the recommendations with their scores, each explanation path drawn as a small SVG
graph, and its Cypher query with the ``:params`` line for Neo4j Browser in copyable boxes. The page
reads the JSON API (``/v1/users/{id}/recommendations``, ``/healthz``) and one helper route of its
own:

==========================  ======================================================================
``GET /ui``                 the page
``GET /ui/static/{name}``   its script and stylesheet (only the files shipped in ``static/``)
``GET /ui/users``           user ids that can get recommendations (``q`` prefix, ``limit``)
==========================  ======================================================================

The app built by :func:`kgrec.serving.http.create_app` includes :data:`router`; the recommender is
read from ``request.app.state.recommender``. (The OpenAPI page ``/docs`` is served from local
files as well: see :mod:`kgrec.serving.http.app`.)
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(tags=["ui"])


class UsersOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[str]
    total: int
    graph: str
    user_label: str
    item_label: str


def _static(name: str) -> FileResponse:
    """A file shipped in ``static/`` (a plain name: no folders, no hidden files), else 404."""
    path = STATIC_DIR / name
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix not in _MEDIA_TYPES or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no such file: {name}")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/ui", include_in_schema=False)
def page() -> FileResponse:
    """The explanation page."""
    return _static("index.html")


@router.get("/ui/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    return _static(name)


@router.get("/ui/users", response_model=UsersOut, summary="User ids for the explanation page")
def users(request: Request, q: str = Query("", max_length=256, description="keep ids that start with this"),
          limit: int = Query(500, ge=1, le=10_000)) -> UsersOut:
    """User ids that can get recommendations, in natural order (``"2"`` before ``"10"``)."""
    rec = request.app.state.recommender
    ids = sorted(rec.users(), key=lambda s: (len(s), s))
    if q:
        ids = [u for u in ids if u.startswith(q)]
    return UsersOut(users=ids[:limit], total=len(ids), graph=rec.graph_name, user_label=rec.user_label,
                    item_label=rec.item_label)


__all__ = ["STATIC_DIR", "router"]
