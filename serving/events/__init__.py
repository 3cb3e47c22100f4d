"""Live events: interactions, new items and users, and forgets arrive on a stream and reach the
next recommendation within a second, each applied exactly once (``kgrec.events``).

::

    import kgrec
    kgrec.events.publish([{"type": "interaction", "user": "2", "item": "289"}], graph="lastfm")
    # kgrec serve RUN_DIR --consume     (or: kgrec events consume RUN_DIR --workers 2)

Parts, one job each:

=====================  =========================================================================
:mod:`.schema`         the versioned event models and :func:`parse_event` (reasons for dead letters)
:mod:`.transport`      what a stream engine gives the consumer (:class:`Transport`, :class:`Entry`)
:mod:`.streams`        :class:`RedisStreams`: the default engine (the embedded store's redis-server)
:mod:`.kafka`          :class:`KafkaTransport` over ``confluent-kafka`` (``pip install kgrec[kafka]``)
:mod:`.apply`          :class:`EventApplier`: batched idempotent store upserts + the serving state
:mod:`.consumer`       :class:`Consumer`: groups, acknowledgements, claims, retries, dead letters
:mod:`.live`           the consumer inside a running service (``kgrec serve --consume``)
=====================  =========================================================================

The schema, the guarantees and the retrain policy are described in ``docs/events.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kgrec.errors import ConfigError
from kgrec.resolver import Registry

from .apply import EVENT_ID_PROPERTY, EventApplier, Outcome
from .consumer import DEFAULT_GROUP, Consumer, ConsumerConfig, ConsumerStats, run_workers
from .schema import (SCHEMA_VERSION, Event, EventError, ExposureEvent, ForgetEvent, InteractionEvent, ItemEvent,
                     OutcomeEvent, UserEvent, new_event_id, parse_event)
from .streams import RedisStreams, StreamError, StreamUnavailableError, stream_name
from .transport import DeadLetter, Entry, GroupStatus, Transport

if TYPE_CHECKING:
    from kgrec.kg.stores import Store


def _redis_url(url: str, *, graph: str, maxlen: int | None) -> Transport:
    import redis

    return RedisStreams(redis.Redis.from_url(url), stream=stream_name(graph), maxlen=maxlen, url=url)


def _kafka_url(url: str, *, graph: str, maxlen: int | None) -> Transport:
    from .kafka import KafkaTransport

    return KafkaTransport.from_url(url, graph=graph)


SCHEMES: Registry = Registry("event stream URL scheme")
SCHEMES.register("redis", _redis_url)
SCHEMES.register("rediss", _redis_url)
SCHEMES.register("unix", _redis_url)
SCHEMES.register("kafka", _kafka_url)


def open_transport(where: Store | str | None = None, *, graph: str | None = None,
                   maxlen: int | None = None) -> Transport:
    """The event stream of a graph.

    Args:
        where: a FalkorDB or embedded store (its own redis-server: the default), a store URL
            (``embedded``, ``embedded:/dir``, ``falkordb://host:port``), a Redis URL
            (``redis://host:port/db``, ``rediss://``, ``unix:///path/redis.sock``) or a Kafka URL
            (``kafka://host:port[,host:port]``) (default: None = the embedded store).
        graph: the graph whose events these are (default: the store's only graph; required with
            a Redis or Kafka URL).
        maxlen: keep about this many entries (Redis only; default: all).
    """
    from kgrec.kg.stores import open_store
    from kgrec.kg.stores.base import choose_graph
    from kgrec.kg.stores.falkordb import FalkorDBStore

    opened = None
    if isinstance(where, str):
        scheme = where.partition(":")[0]
        if scheme in ("redis", "rediss", "unix", "kafka"):
            if graph is None:
                raise ConfigError(f"open_transport({where!r}): name the graph (graph=...) whose events these are")
            return SCHEMES.resolve(scheme)(where, graph=graph, maxlen=maxlen)
        where = opened = open_store(where)
    if where is None:
        where = opened = open_store()
    try:
        if not isinstance(where, FalkorDBStore):
            raise ConfigError(f"the event stream lives on a Redis server; {type(where).__name__} is not one: give a "
                              "redis:// URL (or kafka://) to open_transport")
        if graph is None:
            graph = choose_graph(None, where.default_graph, where.graphs(), where=where.url)
        return RedisStreams(where.redis_client(), stream=stream_name(graph), maxlen=maxlen)
    finally:
        if opened is not None:
            opened.close()  # the server stays up; the stream has its own client


def as_event(value: Event | Mapping[str, Any] | str) -> Event:
    """An event model from a model, a dict or a JSON text (validated: :class:`EventError`)."""
    return value if isinstance(value, Event) else parse_event(value)


def publish(events: Iterable[Event | Mapping[str, Any] | str], *, to: Transport | Store | str | None = None,
            graph: str | None = None) -> list[str]:
    """Validate events and append them to the stream; returns their stream ids, in order.

    Args:
        events: event models, dicts or JSON texts (``{"type": "interaction", "user": "2", "item": "289"}``).
        to: a transport, or where to open one (:func:`open_transport`) (default: the embedded store).
        graph: the graph (default: the store's only graph).

    Raises:
        EventError: an event is malformed (nothing is published then).
    """
    checked = [as_event(e) for e in events]
    transport = to if isinstance(to, Transport) else open_transport(to, graph=graph)
    try:
        return transport.publish(checked)
    finally:
        if transport is not to:
            transport.close()


def read_jsonl(lines: Iterable[str], *, source: str = "<events>") -> Sequence[Event]:
    """Events from JSON lines (blank lines skipped); :class:`EventError` names the line."""
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(parse_event(line))
        except EventError as e:
            raise EventError(f"{source}:{n}: {e}") from None
    return out


__all__ = [
    "DEFAULT_GROUP", "EVENT_ID_PROPERTY", "SCHEMA_VERSION", "SCHEMES", "Consumer", "ConsumerConfig", "ConsumerStats",
    "DeadLetter", "Entry", "Event", "EventApplier", "EventError", "ExposureEvent", "ForgetEvent", "GroupStatus",
    "InteractionEvent", "ItemEvent", "Outcome", "OutcomeEvent", "RedisStreams", "StreamError",
    "StreamUnavailableError", "Transport", "UserEvent", "as_event", "new_event_id", "open_transport", "parse_event",
    "publish", "read_jsonl", "run_workers", "stream_name",
]
