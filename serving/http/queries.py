"""Analyst queries: ``POST /v1/query`` runs a read-only Cypher query on the graph store, on a
connection of its own, with a time limit (:mod:`.analyst`); needs the token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..config import ServeConfig
from . import deps
from .analyst import AnalystQueries
from .errors import HttpError, jsonable
from .models import WRITE_ERRORS, ErrorOut, QueryIn, QueryOut

router = APIRouter(tags=["analysts"])


@router.post("/v1/query", response_model=QueryOut,
             responses={**WRITE_ERRORS, 400: {"model": ErrorOut}, 403: {"model": ErrorOut}, 504: {"model": ErrorOut}},
             dependencies=[Depends(deps.authorised)],
             summary="Run a read-only Cypher query on the graph store (time-limited; 504 past the limit)")
async def query(body: QueryIn, analyst: AnalystQueries | None = Depends(deps.analyst),
                config: ServeConfig = Depends(deps.settings)) -> QueryOut:
    if analyst is None:
        raise HttpError(503, "this server has no graph store attached")
    timeout = body.timeout_s if body.timeout_s is not None else config.query_timeout_s
    if timeout > config.query_timeout_max_s:
        raise HttpError(422, f"timeout_s = {timeout:g} is over this service's maximum of {config.query_timeout_max_s:g}")
    result = await analyst.run(body.cypher, body.parameters, timeout=timeout)
    rows = [list(r) for r in result.rows[:config.max_rows]]
    return QueryOut(columns=list(result.columns), rows=jsonable(rows),
                    truncated=bool(result.truncated) or len(result.rows) > config.max_rows)


__all__ = ["router"]
