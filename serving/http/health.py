"""``GET /healthz``: liveness, the store's status and sizes, within a second whatever the store does.

The handler runs on the event loop (not in the request thread pool, which busy requests may fill)
and waits at most ``health_timeout_s`` for the store's answer to a light question; a store that
does not answer in time is reported ``slow``, one that fails ``down`` (and an embedded store is
restarted in the background).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request

from kgrec.errors import KgrecError

from .models import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness and the store's status")
async def healthz(request: Request) -> HealthOut:
    state = request.app.state
    rec, keeper, config = state.recommender, state.keeper, state.config
    store: Literal["up", "down", "slow", "none"] = "none"
    if rec.store is not None:
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(keeper.probe())), config.health_timeout_s)
            store = "up"
        except asyncio.TimeoutError:
            store = "slow"
        except KgrecError:
            store = "down"
            keeper.store_down()
    return HealthOut(status="ok" if store in ("up", "none") else "degraded", store=store, graph=rec.graph_name,
                     model=rec.run.config.model, users=rec.num_users, items=rec.num_items)


__all__ = ["router"]
