"""What users do and undo: ``POST /v1/feedback`` (an interaction, acknowledged once the store has it
durably) and ``DELETE /v1/users/{user}`` (forget the user everywhere). Both need the token."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from ..recommender import Recommender, clean
from . import deps
from .keeper import StoreKeeper
from .models import ERRORS, WRITE_ERRORS, FeedbackIn, FeedbackOut, ForgetOut, ItemOut

router = APIRouter(tags=["users"])


@router.post("/v1/feedback", response_model=FeedbackOut, responses=WRITE_ERRORS, dependencies=[Depends(deps.authorised)],
             summary="Record an interaction; acknowledged once the store has it durably")
def feedback(body: FeedbackIn, rec: Recommender = Depends(deps.recommender),
             keeper: StoreKeeper = Depends(deps.keeper)) -> FeedbackOut:
    if body.kind == "positive" and rec.store is not None:
        keeper.ensure_durable()
    r = rec.feedback(body.user, body.item, body.kind, body.weight)
    return FeedbackOut(user=r.user, item=ItemOut(id=r.item.id, name=r.item.name), kind=r.kind,
                       new_user=r.new_user, interactions=r.interactions, stored=r.stored)


@router.delete("/v1/users/{user}", response_model=ForgetOut, responses=ERRORS, dependencies=[Depends(deps.authorised)],
               summary="Forget a user: node, interactions, profile and vectors in the store (whose files are then "
                       "rewritten), the run directory, the text cache and this service")
def forget(user: str = Path(min_length=1, max_length=256), rec: Recommender = Depends(deps.recommender)) -> ForgetOut:
    from ..privacy import forget_user

    run_dir = rec.run.path
    r = forget_user(clean(user, "user"), store=rec.store, graph=rec.graph_name, recommender=rec,
                    run_dirs=[run_dir] if run_dir is not None else [])
    return ForgetOut(user=r.user, nodes=r.nodes, edges=r.edges, in_memory=r.in_memory, compacted=r.compacted)


__all__ = ["router"]
