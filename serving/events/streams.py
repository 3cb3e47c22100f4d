"""Redis Streams as kgrec's event transport (:class:`RedisStreams`).

One stream per graph (``kgrec:events:<graph>``) holds every event as one field, ``event`` = its
JSON text (:mod:`.schema`); its dead letters go to ``kgrec:events:<graph>:dead`` with the reason.
Consumers read in **consumer groups** (``XREADGROUP``): each entry of the stream goes to one
consumer of a group, stays *pending* until that consumer acknowledges it (``XACK``) after
applying it, and is taken over by another consumer of the group (``XAUTOCLAIM``) when it has been
pending longer than the claim time (its consumer was killed). Every group sees every entry.

The default server is the embedded store's own ``redis-server`` (FalkorDB is a Redis module), so
the stream is persisted in the same append-only file as the graphs; any Redis or Valkey server
works too (``redis://host:port/db``, ``rediss://``, ``unix:///path/to/redis.sock``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from kgrec.errors import ConfigError, KgrecError, StoreUnavailableError

from .schema import Event
from .transport import DeadLetter, Entry, GroupStatus

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

STREAM_PREFIX = "kgrec:events:"
DEAD_SUFFIX = ":dead"
FIELD = b"event"
T = TypeVar("T")


class StreamError(KgrecError):
    """The stream engine refused a command."""


class StreamUnavailableError(StreamError, StoreUnavailableError):
    """The stream's server cannot be reached (retry when it is back)."""


def stream_name(graph: str) -> str:
    """``kgrec:events:<graph>``: the event stream of one graph."""
    return f"{STREAM_PREFIX}{graph}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


class RedisStreams:
    """kgrec's events on a Redis stream.

    Args:
        client: a ``redis.Redis`` client (bytes replies), e.g. :meth:`FalkorDBStore.redis_client`
            of the store, or ``redis.Redis.from_url(url)``.
        stream: the stream's key (default: ``kgrec:events:default``; :func:`stream_name` of a graph).
        maxlen: keep about this many entries, trimming the oldest *acknowledged by every group*
            when publishing (default: None, keep all; needs Redis 8.2 for the ``ACKED`` policy,
            older servers trim regardless).
        url: where the server is, for messages (default: the client's).
    """

    def __init__(self, client: redis.Redis, *, stream: str = stream_name("default"), maxlen: int | None = None,
                 url: str | None = None):
        if maxlen is not None and maxlen < 1:
            raise ConfigError(f"maxlen must be at least 1, got {maxlen}")
        self.client = client
        self.name = stream
        self.dead = stream + DEAD_SUFFIX
        self.maxlen = maxlen
        self.url = url or _describe(client)

    # -- errors ----------------------------------------------------------------------------------
    def call(self, doing: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (Redis commands on :attr:`client`) with this stream's error mapping:
        :class:`StreamUnavailableError` when the server cannot be reached, :class:`StreamError`
        when it refuses."""
        import redis

        try:
            return fn()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            raise StreamUnavailableError(f"the event stream's server {self.url} is not reachable ({doing}): {e}") from e
        except redis.exceptions.ResponseError as e:
            raise StreamError(f"the event stream's server {self.url} refused {doing}: {e}") from e

    # -- producing -------------------------------------------------------------------------------
    def publish(self, events: Sequence[Event | str | bytes]) -> list[str]:
        if not events:
            return []
        texts = [e.to_json() if isinstance(e, Event) else e for e in events]

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for text in texts:
                if self.maxlen is None:
                    pipe.xadd(self.name, {FIELD: text})
                else:
                    pipe.xadd(self.name, {FIELD: text}, maxlen=self.maxlen, approximate=True)
            return pipe.execute()

        return [_text(i) for i in self.call(f"XADD to {self.name}", run)]

    # -- consuming -------------------------------------------------------------------------------
    def ensure_group(self, group: str) -> None:
        import redis

        try:
            self.call(f"XGROUP CREATE {group}", lambda: self.client.xgroup_create(self.name, group, id="0",
                                                                                      mkstream=True))
            logger.info("created consumer group %r on %s", group, self.name)
        except StreamError as e:
            if not isinstance(e.__cause__, redis.exceptions.ResponseError) or "BUSYGROUP" not in str(e):
                raise

    def read(self, group: str, consumer: str, *, count: int, block_ms: int, pending: bool = False) -> list[Entry]:
        start = "0" if pending else ">"
        reply = self.call("XREADGROUP", lambda: self.client.xreadgroup(
            group, consumer, {self.name: start}, count=count, block=None if pending else max(1, block_ms)))
        entries = _entries(reply)
        if pending and entries:
            counts = self._deliveries(group, consumer, entries)
            entries = [Entry(e.id, e.raw, counts.get(e.id, 1)) for e in entries]
        return entries

    def _deliveries(self, group: str, consumer: str, entries: list[Entry]) -> dict[str, int]:
        rows = self.call("XPENDING", lambda: self.client.xpending_range(
            self.name, group, min=entries[0].id, max=entries[-1].id, count=len(entries) + 100,
            consumername=consumer))
        return {_text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def ack(self, group: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return int(self.call("XACK", lambda: self.client.xack(self.name, group, *ids)))

    def claim(self, group: str, consumer: str, *, min_idle_ms: int, count: int) -> list[Entry]:
        reply = self.call("XAUTOCLAIM", lambda: self.client.xautoclaim(
            self.name, group, consumer, min_idle_time=max(0, int(min_idle_ms)), start_id="0-0", count=count))
        claimed = [(i, f) for i, f in (reply[1] if len(reply) > 1 else []) if f is not None]
        entries = [Entry(_text(i), f.get(FIELD, b"")) for i, f in claimed]
        if entries:
            counts = self._deliveries(group, consumer, entries)
            entries = [Entry(e.id, e.raw, counts.get(e.id, 1)) for e in entries]
            logger.info("claimed %d pending events of %s for %s", len(entries), self.name, consumer)
        return entries

    # -- dead letters ------------------------------------------------------------------------------
    def dead_letter(self, letters: Sequence[tuple[Entry, str]], *, group: str, consumer: str) -> list[str]:
        if not letters:
            return []

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for entry, reason in letters:
                pipe.xadd(self.dead, {"source": entry.id, FIELD: entry.raw, "reason": reason[:2000], "group": group,
                                      "consumer": consumer, "ts": repr(time.time())})
            return pipe.execute()

        ids = [_text(i) for i in self.call(f"XADD to {self.dead}", run)]
        for entry, reason in letters:
            logger.warning("dead letter: %s entry %s: %s", self.name, entry.id, reason)
        return ids

    def dead_letters(self, *, count: int = 100) -> list[DeadLetter]:
        rows = self.call("XREVRANGE", lambda: self.client.xrevrange(self.dead, count=count))
        out = []
        for i, f in reversed(rows):
            out.append(DeadLetter(_text(i), _text(f.get(b"source", b"")), f.get(FIELD, b""),
                                  _text(f.get(b"reason", b"")), _text(f.get(b"group", b"")),
                                  _text(f.get(b"consumer", b"")), float(_text(f.get(b"ts", b"0")) or 0)))
        return out

    # -- state -----------------------------------------------------------------------------------
    def status(self, group: str) -> GroupStatus:
        length = int(self.call("XLEN", lambda: self.client.xlen(self.name)))
        try:
            groups = self.call("XINFO GROUPS", lambda: self.client.xinfo_groups(self.name))
        except StreamError:
            groups = []
        for g in groups:
            if _text(g.get("name")) == group:
                lag = g.get("lag")
                return GroupStatus(group, int(g.get("pending") or 0), None if lag is None else int(lag),
                                   int(g.get("consumers") or 0), length)
        return GroupStatus(group, 0, length, 0, length)

    def length(self) -> int:
        return int(self.call("XLEN", lambda: self.client.xlen(self.name)))

    def entries(self, *, start: str = "-", count: int = 1000) -> list[Entry]:
        """Entries from ``start`` (inclusive) in stream order, at most ``count`` (for replays and reports)."""
        return [Entry(_text(i), (f or {}).get(FIELD, b""))
                for i, f in self.call("XRANGE", lambda: self.client.xrange(self.name, min=start, count=count))]

    def scrub(self, needle: Callable[[bytes], bool], *, chunk: int = 2000) -> int:
        """Delete every entry of the stream and of its dead letters whose raw event ``needle``
        accepts (forgetting a user removes their events too). Returns how many."""
        removed = 0
        for key in (self.name, self.dead):
            start = "-"
            while True:
                rows = self.call("XRANGE", lambda: self.client.xrange(key, min=start, count=chunk))
                if not rows:
                    break
                doomed = [i for i, f in rows if f and needle(f.get(FIELD, b""))]
                if doomed:
                    removed += int(self.call("XDEL", lambda: self.client.xdel(key, *doomed)))
                if len(rows) < chunk:
                    break
                start = "(" + _text(rows[-1][0])
        return removed

    def delete(self) -> None:
        """Delete the stream, its groups and its dead letters."""
        self.call("DEL", lambda: self.client.delete(self.name, self.dead))

    def close(self) -> None:
        self.client.close()


def _entries(reply: Any) -> list[Entry]:
    """Entries of an XREADGROUP reply (RESP2 list or RESP3 dict); deleted entries have no fields."""
    if not reply:
        return []
    streams = reply.items() if isinstance(reply, dict) else reply
    out = []
    for _, rows in streams:
        if rows and isinstance(rows[0], list) and rows and not isinstance(rows[0][0], (bytes, str)):
            rows = rows[0]
        for i, fields in rows:
            out.append(Entry(_text(i), (fields or {}).get(FIELD, b"")))
    return out


def _describe(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


__all__ = ["DEAD_SUFFIX", "STREAM_PREFIX", "RedisStreams", "StreamError", "StreamUnavailableError", "stream_name"]
