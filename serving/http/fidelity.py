"""Explanation fidelity: ``GET /v1/users/{user}/fidelity``.

For a user's current list, how much each explanation's path weighs in its item's score: the path is
taken out of the user's vector through the run's fold-in and the item scored again
(:mod:`kgrec.serving.fidelity`). The ``/ui`` page draws each item's bar from it.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ..config import ServeConfig
from ..fidelity import Fidelity, PathEffect
from ..recommender import Recommender, clean
from . import deps
from .errors import HttpError
from .models import ERRORS, ItemOut

router = APIRouter(tags=["recommendations"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathEffectOut(_Model):
    kind: str = Field(description="how the path leaves the user: 'interaction' (one the model was trained on), "
                                  "'held-out interaction' (one it was not: drop 0), 'other relation' (not measured)")
    anchor: str = Field(description="the id of the path's node after the user")
    measured: bool
    score_drop: float | None = Field(description="the item's score minus its score with the path taken out")
    rank_after: int | None = Field(description="the item's rank with the path taken out")
    left_top_k: bool
    lead_share: float | None = Field(description="share of the item's lead over the first item outside the list "
                                                 "that taking the path out costs (1 or more: it leaves the list)")
    kept_in_top_k: bool | None = Field(description="with only the path's interaction kept, the item stays in the list")

    @classmethod
    def of(cls, e: PathEffect) -> PathEffectOut:
        def finite(x: float) -> float | None:
            return None if math.isnan(x) else x

        return cls(kind=e.kind, anchor=e.anchor, measured=e.measured, score_drop=finite(e.drop),
                   rank_after=e.rank_after if e.measured else None, left_top_k=e.left_top_k,
                   lead_share=finite(e.lead_share), kept_in_top_k=e.kept_in_top_k)


class ItemFidelityOut(_Model):
    item: ItemOut
    rank: int
    score: float
    explanations: list[PathEffectOut] = Field(description="one per explanation, in the order they are shown")


class FidelityOut(_Model):
    user: str
    k: int
    items: list[ItemFidelityOut]


@router.get("/v1/users/{user}/fidelity", response_model=FidelityOut, responses=ERRORS,
            summary="How much each explanation's path weighs in its item's score")
def fidelity(user: str = Path(min_length=1, max_length=256), k: int = Query(10, ge=1),
             max_paths: int = Query(3, ge=1, le=20), rec: Recommender = Depends(deps.recommender),
             config: ServeConfig = Depends(deps.settings)) -> FidelityOut:
    if k > config.max_k:
        raise HttpError(422, f"k = {k} is over this service's limit of {config.max_k}")
    recs = rec.recommend(user, k, explain=True, max_paths=max_paths)
    found = Fidelity(rec).measure(clean(user, "user"), recs, k=k, controls=False)
    return FidelityOut(user=clean(user, "user"), k=k, items=[
        ItemFidelityOut(item=ItemOut(id=r.item.id, name=r.item.name), rank=r.rank, score=r.score,
                        explanations=[PathEffectOut.of(f.effect) for f in fs]) for r, fs in zip(recs, found)])


__all__ = ["router"]
