"""Recommendations and explanations: ``GET /v1/users/{user}/recommendations``,
``GET /v1/users/{user}/explain/{item}``.

Handlers are plain functions: FastAPI runs them in its thread pool, and they only read memory (the
recommender's lock is never held while waiting on the store), so they answer while the store is
busy or down.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from ..config import ServeConfig
from ..recommender import Recommender, clean
from . import deps
from .errors import HttpError
from .intent import MAX_QUERY_CHARS, intent_summary, session_list
from .models import ERRORS, ExplainOut, ExplanationOut, ItemOut, RecommendationOut, RecommendationsOut

router = APIRouter(tags=["recommendations"])


@router.get("/v1/users/{user}/recommendations", response_model=RecommendationsOut, responses=ERRORS,
            summary="Top-k items for a user, with explanation paths")
def recommendations(request: Request, user: str = Path(min_length=1, max_length=256),
                    k: int = Query(10, ge=1, description="how many items (at most the service's max_k, 1000 by default)"),
                    explain: bool = True, exclude_seen: bool = True, diversity: float = Query(0.0, ge=0.0, le=1.0),
                    max_paths: int = Query(3, ge=1, le=20),
                    filter_: list[str] = Query(default_factory=list, alias="filter",
                                               description="LABEL_OR_RELATION:value, e.g. Tag:rock (repeatable)"),
                    query: str | None = Query(None, min_length=1, max_length=MAX_QUERY_CHARS,
                                              description="free text the list should follow (intent)"),
                    session: str | None = Query(None, max_length=100_000,
                                                description="comma-separated item ids of the current visit"),
                    fusion: str | None = Query(None, description="weighted, rerank or union"),
                    fusion_weight: float | None = Query(None, ge=0.0, le=1.0),
                    rec: Recommender = Depends(deps.recommender), config: ServeConfig = Depends(deps.settings),
                    ) -> RecommendationsOut:
    if k > config.max_k:
        raise HttpError(422, f"k = {k} is over this service's limit of {config.max_k}")
    filters: dict[str, list[str]] = {}
    for f in filter_:
        key, sep, value = f.partition(":")
        if not sep or not key or not value:
            raise HttpError(422, f"filter {f!r} is not LABEL_OR_RELATION:value")
        filters.setdefault(key, []).append(value)
    ids = session_list(session)
    recs = rec.recommend(user, k, explain=explain, exclude_seen=exclude_seen, filters=filters or None,
                         diversity=diversity, max_paths=max_paths, query=query, session=ids or None, fusion=fusion,
                         fusion_weight=fusion_weight)
    deps.expose(request, clean(user, "user"), [r.item.id for r in recs], k)  # A/B experiments log exposures
    return RecommendationsOut(user=clean(user, "user"), k=k, recommendations=[RecommendationOut.of(r) for r in recs],
                              intent=intent_summary(rec, query, ids, fusion))


@router.get("/v1/users/{user}/explain/{item}", response_model=ExplainOut, responses=ERRORS,
            summary="Paths in the graph from a user to an item")
def explain(user: str = Path(min_length=1, max_length=256), item: str = Path(min_length=1, max_length=256),
            max_paths: int = Query(3, ge=1, le=20), rec: Recommender = Depends(deps.recommender)) -> ExplainOut:
    exps = rec.explain(user, item, max_paths=max_paths)
    ref = rec.item(item)
    return ExplainOut(user=clean(user, "user"), item=ItemOut(id=ref.id, name=ref.name),
                      explanations=[ExplanationOut.of(e) for e in exps])


__all__ = ["router"]
