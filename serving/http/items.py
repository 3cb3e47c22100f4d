"""Items: ``GET /v1/items/{item}/similar`` and ``POST /v1/items`` (a new item from text and KG links;
needs the token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ..config import ServeConfig
from ..recommender import Recommender
from . import deps
from .errors import HttpError
from .models import ERRORS, WRITE_ERRORS, ItemAddedOut, ItemIn, ItemOut, SimilarItemOut, SimilarOut

router = APIRouter(tags=["items"])


@router.get("/v1/items/{item}/similar", response_model=SimilarOut, responses=ERRORS,
            summary="Items whose trained vectors are closest to this one's")
def similar(item: str = Path(min_length=1, max_length=256), k: int = Query(10, ge=1),
            rec: Recommender = Depends(deps.recommender), config: ServeConfig = Depends(deps.settings)) -> SimilarOut:
    if k > config.max_k:
        raise HttpError(422, f"k = {k} is over this service's limit of {config.max_k}")
    sims = rec.similar_items(item, k)
    ref = rec.item(item)
    return SimilarOut(item=ItemOut(id=ref.id, name=ref.name),
                      similar=[SimilarItemOut(item=ItemOut(id=s.item.id, name=s.item.name), score=s.score)
                               for s in sims])


@router.post("/v1/items", response_model=ItemAddedOut, status_code=201, responses=WRITE_ERRORS,
             dependencies=[Depends(deps.authorised)], summary="Add an item from its text and KG links (cold start)")
def add_item(body: ItemIn, rec: Recommender = Depends(deps.recommender)) -> ItemAddedOut:
    r = rec.add_item(body.id, body.name, body.text, body.attributes)
    return ItemAddedOut(item=ItemOut(id=r.item.id, name=r.item.name), links=r.links, stored=r.stored)


__all__ = ["router"]
