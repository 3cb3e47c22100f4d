"""Live events over HTTP: ``POST /v1/events`` (a batch of events onto the stream; token) and
``GET /v1/events/status`` (the consumer group's pending entries, lag and latest dead letters).

The events are validated whole before any is published (one bad event: 422 naming its position and
the reason, nothing published); the answer is 202 with the stream ids: the events are on the stream
(durably, in the store's append-only file), and a consumer (``kgrec serve --consume`` or
``kgrec events consume``) applies them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ..events.live import LiveService
from ..events.schema import EventError, parse_event
from . import deps
from .errors import HttpError
from .models import ERRORS, WRITE_ERRORS

router = APIRouter(tags=["events"])
MAX_EVENTS = 10_000


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS, description=(
        "events of the schema in docs/events.md, e.g. {\"type\": \"interaction\", \"user\": \"2\", "
        "\"item\": \"289\"}"))


class EventsOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: list[str] = Field(description="the events' ids in the stream, in order")
    events: list[str] = Field(description="the events' own ids (event.id), in order")
    stream: str


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    reason: str
    ts: float


class EventsStatusOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: str
    group: str
    length: int
    pending: int
    lag: int | None
    consumers: int
    consuming: bool
    applied: int
    dead_letters: list[DeadLetterOut]


def live(request: Request) -> LiveService:
    service = request.app.state.live
    if service is None:
        # not a passing outage (503): this deployment has no stream, so the resource is not here
        raise HttpError(404, "this service has no event stream (serve over a FalkorDB or embedded store, or "
                             "give kgrec serve --events URL)")
    return service


@router.post("/v1/events", status_code=202, response_model=EventsOut, responses=WRITE_ERRORS,
             dependencies=[Depends(deps.authorised)], summary="Put a batch of events on the stream")
def publish(body: EventsIn, service: LiveService = Depends(live)) -> EventsOut:
    events = []
    for n, raw in enumerate(body.events):
        try:
            events.append(parse_event(raw))
        except EventError as e:
            raise HttpError(422, f"events[{n}]: {e}; nothing was published") from None
    ids = service.publish(events)
    return EventsOut(ids=ids, events=[e.id for e in events], stream=service.transport.name)


@router.get("/v1/events/status", response_model=EventsStatusOut, responses=ERRORS,
            summary="The event stream and its consumers")
def status(service: LiveService = Depends(live)) -> EventsStatusOut:
    s = service.status()
    letters = service.transport.dead_letters(count=10)
    return EventsStatusOut(stream=service.transport.name, group=s.group, length=s.length, pending=s.pending,
                           lag=s.lag, consumers=s.consumers, consuming=bool(service.consumers),
                           applied=sum(c.stats.applied for c in service.consumers),
                           dead_letters=[DeadLetterOut(source=d.source, reason=d.reason, ts=d.ts) for d in letters])


__all__ = ["router"]
