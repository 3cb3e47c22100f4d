"""What the consumer needs from a stream engine: :class:`Transport`, and the entries it hands out.

Two engines implement it: :class:`~kgrec.serving.events.streams.RedisStreams` (the default: the
embedded store's own ``redis-server``, or any ``redis://`` URL) and
:class:`~kgrec.serving.events.kafka.KafkaTransport` (``confluent-kafka``, where a broker exists).
Both carry the same event JSON (:mod:`.schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .schema import Event


@dataclass(frozen=True)
class Entry:
    """One stream entry: its position in the stream, the raw event text, and how often it has
    been delivered to a consumer of the group (1 on the first delivery; 0 when the engine does
    not count)."""

    id: str
    raw: bytes
    deliveries: int = 1


@dataclass(frozen=True)
class DeadLetter:
    """An entry that was not applied, with the reason."""

    id: str
    source: str
    raw: bytes
    reason: str
    group: str
    consumer: str
    ts: float


@dataclass(frozen=True)
class GroupStatus:
    """Where a consumer group stands: entries read but not acknowledged (``pending``), entries not
    read yet (``lag``; None when the engine cannot say), and its consumers."""

    group: str
    pending: int
    lag: int | None
    consumers: int
    length: int


@runtime_checkable
class Transport(Protocol):
    """A stream of events with consumer groups, acknowledgements and a dead-letter stream."""

    name: str

    def publish(self, events: Sequence[Event | str | bytes]) -> list[str]:
        """Append events (validated models, or raw JSON texts as they came); returns their ids in
        the stream, in order."""

    def ensure_group(self, group: str) -> None:
        """Create the consumer group (reading from the start of the stream) unless it exists."""

    def read(self, group: str, consumer: str, *, count: int, block_ms: int, pending: bool = False) -> list[Entry]:
        """New entries for ``consumer`` (or, with ``pending``, those it read but did not acknowledge)."""

    def ack(self, group: str, ids: Sequence[str]) -> int:
        """Acknowledge applied (or dead-lettered) entries."""

    def claim(self, group: str, consumer: str, *, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries other consumers read but did not acknowledge for ``min_idle_ms``."""

    def dead_letter(self, letters: Sequence[tuple[Entry, str]], *, group: str, consumer: str) -> list[str]:
        """Write entries that cannot be applied to the dead-letter stream, with their reasons."""

    def dead_letters(self, *, count: int = 100) -> list[DeadLetter]:
        """The latest dead letters, newest last."""

    def status(self, group: str) -> GroupStatus:
        """The group's pending entries and lag."""

    def scrub(self, needle: Callable[[bytes], bool]) -> int:
        """Delete the entries whose raw event ``needle`` accepts (after a forget); returns how many
        (0 where the engine cannot delete: Kafka keeps events until its retention)."""

    def close(self) -> None:
        """Release connections."""


__all__ = ["DeadLetter", "Entry", "GroupStatus", "Transport"]
