"""The event schema: versioned, validated pydantic models, one per event type.

Every event is one JSON object with an envelope (``v``, ``type``, ``id``, ``ts``) and the fields of
its type. ``v`` is the schema version (this kgrec reads :data:`SCHEMA_VERSION`); ``id`` is the
event's identity for exactly-once effects (a producer that retries sends the same ``id`` again;
the default is a random UUID); ``ts`` is when it happened (unix seconds, default: now).

=============  ===================================================================================
type           fields
=============  ===================================================================================
interaction    ``user``, ``item``, ``kind`` (``positive`` | ``negative`` | ``rating``), ``weight``
               (a non-negative number or null: the interaction's value, e.g. a play count or a
               rating; it *states* the value, it does not add to it)
item           ``item`` (a new item's id), ``name``, ``text``, ``attributes`` (relation or label →
               ids or names of existing nodes, e.g. ``{"HAS_TAG": ["rock"]}``)
user           ``user`` (a new user's id), ``name``, ``attributes`` (as for items)
forget         ``user``: remove the user everywhere (store, run directory, serving state, stream)
exposure       ``experiment``, ``arm``, ``user``, ``items`` (the list shown, best first), ``k``
               (written by the A/B service; see :mod:`kgrec.serving.experiments`)
outcome        ``experiment``, ``arm``, ``user``, ``item``, ``rank`` (the item's place in the
               exposure, or null: an item the list did not show), ``exposure`` (the exposure's
               event id), ``source`` (the interaction event's id)
=============  ===================================================================================

Ids are cleaned by the one id rule (:func:`kgrec.kg.ids.clean_id`). :func:`parse_event` turns a raw
JSON text (or dict) into an event or raises :class:`EventError` with the reason, which the
consumer writes to the dead-letter stream; nothing here raises anything else.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from kgrec.errors import InputError
from kgrec.kg.ids import clean_id

SCHEMA_VERSION = 1
MAX_ID_LENGTH = 256
MAX_EVENT_BYTES = 64 * 1024
EVENT_TYPES = ("interaction", "item", "user", "forget", "exposure", "outcome")
InteractionKind = Literal["positive", "negative", "rating"]


class EventError(InputError):
    """An event that cannot be applied as it is (malformed, unknown version or type); its message
    is the reason written to the dead-letter stream."""


def new_event_id() -> str:
    """A random event id (32 hex digits)."""
    return uuid.uuid4().hex


def _id(value: Any, what: str = "id") -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    text = clean_id(value)
    if not text:
        raise ValueError(f"{what} {str(value)!r} is empty (after removing spaces and invisible characters)")
    if len(text) > MAX_ID_LENGTH or "\x00" in text:
        raise ValueError(f"{what} is longer than {MAX_ID_LENGTH} characters or holds NUL")
    return text


class Event(BaseModel):
    """The envelope every event shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    id: str = Field(default_factory=new_event_id)
    ts: float = Field(default_factory=time.time)

    @field_validator("id", mode="before")
    @classmethod
    def _event_id(cls, value: Any) -> str:
        return _id(value, "event id")

    @field_validator("ts")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"ts must be finite unix seconds, got {value}")
        return value

    def to_json(self) -> str:
        """The event as one compact JSON text (what travels on the stream)."""
        return self.model_dump_json()


Attributes = dict[str, list[str]]


def _attributes(value: Any) -> Attributes:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("attributes must be an object of relation or label -> ids")
    out: Attributes = {}
    for key, ids in value.items():
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list):
            raise ValueError(f"attributes[{key!r}] must be an id or a list of ids")
        out[_id(key, "attribute key")] = [_id(i, f"attributes[{key!r}] id") for i in ids]
    return out


class InteractionEvent(Event):
    """A user interacted with an item."""

    type: Literal["interaction"] = "interaction"
    user: str
    item: str
    kind: InteractionKind = "positive"
    weight: float | None = None

    _user = field_validator("user", mode="before")(lambda cls, v: _id(v, "user"))
    _item = field_validator("item", mode="before")(lambda cls, v: _id(v, "item"))

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError(f"weight must be a finite non-negative number, got {value}")
        return value


class ItemEvent(Event):
    """A new item, from its text and links to existing nodes."""

    type: Literal["item"] = "item"
    item: str
    name: str = ""
    text: str = Field("", max_length=20_000)
    attributes: Attributes = Field(default_factory=dict)

    _item = field_validator("item", mode="before")(lambda cls, v: _id(v, "item"))
    _attrs = field_validator("attributes", mode="before")(lambda cls, v: _attributes(v))


class UserEvent(Event):
    """A new user (optionally with links, e.g. tags they follow)."""

    type: Literal["user"] = "user"
    user: str
    name: str = ""
    attributes: Attributes = Field(default_factory=dict)

    _user = field_validator("user", mode="before")(lambda cls, v: _id(v, "user"))
    _attrs = field_validator("attributes", mode="before")(lambda cls, v: _attributes(v))


class ForgetEvent(Event):
    """Forget a user everywhere."""

    type: Literal["forget"] = "forget"
    user: str

    _user = field_validator("user", mode="before")(lambda cls, v: _id(v, "user"))


class ExposureEvent(Event):
    """A list an experiment's arm showed a user."""

    type: Literal["exposure"] = "exposure"
    experiment: str
    arm: str
    user: str
    items: list[str]
    k: int = Field(ge=1)

    _user = field_validator("user", mode="before")(lambda cls, v: _id(v, "user"))


class OutcomeEvent(Event):
    """An interaction with an item of a recent exposure."""

    type: Literal["outcome"] = "outcome"
    experiment: str
    arm: str
    user: str
    item: str
    rank: int | None = Field(None, ge=1)
    exposure: str
    source: str

    _user = field_validator("user", mode="before")(lambda cls, v: _id(v, "user"))


AnyEvent = Annotated[Union[InteractionEvent, ItemEvent, UserEvent, ForgetEvent, ExposureEvent, OutcomeEvent],
                     Field(discriminator="type")]
_ADAPTER: TypeAdapter = TypeAdapter(AnyEvent)


def parse_event(raw: str | bytes | Mapping[str, Any]) -> Event:
    """An event from its JSON text (or a dict), validated.

    Raises:
        EventError: not JSON, not an object, too big, an unknown version or type, or a field that
            is missing or wrong; the message says which.
    """
    if isinstance(raw, (bytes, bytearray, str)) and len(raw) <= MAX_EVENT_BYTES:
        try:  # the fast path: a well-formed event, parsed and validated in one step
            return _ADAPTER.validate_json(raw)
        except ValidationError:
            pass  # find out why, below, to give the reason
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_EVENT_BYTES:
            raise EventError(f"event is {len(raw)} bytes; at most {MAX_EVENT_BYTES}")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise EventError(f"event is not UTF-8: {e}") from None
    if isinstance(raw, str):
        if len(raw) > MAX_EVENT_BYTES:
            raise EventError(f"event is {len(raw)} characters; at most {MAX_EVENT_BYTES}")
        try:
            raw = json.loads(raw)
        except ValueError as e:
            raise EventError(f"event is not JSON: {e}") from None
    if not isinstance(raw, Mapping):
        raise EventError(f"event must be a JSON object, got {type(raw).__name__}")
    version = raw.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise EventError(f"unknown event version {version!r}; this kgrec reads version {SCHEMA_VERSION}")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise EventError(f"unknown event type {kind!r}; types: {', '.join(EVENT_TYPES)}")
    try:
        return _ADAPTER.validate_python(dict(raw))
    except ValidationError as e:
        raise EventError(f"{kind} event: " + "; ".join(_describe(err) for err in e.errors())) from None


def _describe(err: Mapping[str, Any]) -> str:
    where = ".".join(str(x) for x in err["loc"][1:] if x != err["loc"][0]) or ".".join(map(str, err["loc"]))
    shown = f" (got {err['input']!r:.80})" if "input" in err and not isinstance(err["input"], Mapping) else ""
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}{shown}"


__all__ = ["EVENT_TYPES", "SCHEMA_VERSION", "Event", "EventError", "ExposureEvent", "ForgetEvent", "InteractionEvent",
           "ItemEvent", "OutcomeEvent", "UserEvent", "new_event_id", "parse_event"]
