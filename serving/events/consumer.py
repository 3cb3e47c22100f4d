"""The consumer: reads events in a consumer group, applies them, acknowledges them.

One :class:`Consumer` is one member of a group. Its loop:

1. on start, and after a failure, it first reads the entries it was given before but did not
   acknowledge (a restart after ``kill -9`` under the same name picks up its own work);
2. otherwise it reads new entries (``XREADGROUP ... >``), blocking up to ``block_ms``;
3. every ``claim_idle_s / 2`` it takes over entries that other consumers of the group read but
   did not acknowledge for ``claim_idle_s`` (``XAUTOCLAIM``: they were killed);
4. it parses each entry (:func:`~kgrec.serving.events.schema.parse_event`): a malformed event or an
   unknown version goes to the dead-letter stream with the reason at once;
5. it applies the batch (:class:`~kgrec.serving.events.apply.EventApplier`), then writes dead
   letters, then acknowledges. An event that waits on something not there yet (an unknown item)
   stays pending and is retried after ``retry_backoff_s``, up to ``max_deliveries`` deliveries,
   then goes to the dead letters. While the store or the stream is down nothing is acknowledged;
   the consumer backs off (restarting an embedded store, which kgrec owns) and tries again.

Nothing is acknowledged before it is applied, and applying is idempotent, so every event has its
effect exactly once, however often consumers are killed. :func:`run_workers` runs several
consumers of one group in threads (``kgrec events consume --workers N``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationError

from kgrec.config import Section
from kgrec.errors import ConfigError, KgrecError, StoreUnavailableError

from .apply import EventApplier, Outcome, user_needle
from .schema import Event, EventError, parse_event
from .transport import Entry, Transport

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "kgrec"


class ConsumerConfig(Section):
    """How a consumer reads.

    Args:
        group: the consumer group (default: ``kgrec``). Consumers of one group share the work;
            every group sees every event.
        batch: entries read at most per batch (default: 5000: the fold-in of a user runs once per batch).
        block_ms: how long a read waits for new entries (default: 100).
        claim_idle_s: take over another consumer's entries pending this long (default: 10).
        max_deliveries: deliveries of an event that waits on something (an unknown item) before it
            goes to the dead letters (default: 5).
        retry_backoff_s: the wait before pending entries are read again, and after a failure
            (default: 1).
    """

    group: str = Field(DEFAULT_GROUP, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    batch: int = Field(5000, ge=1, le=100_000)
    block_ms: int = Field(100, ge=1, le=60_000)
    claim_idle_s: float = Field(10.0, gt=0)
    max_deliveries: int = Field(5, ge=1)
    retry_backoff_s: float = Field(1.0, ge=0)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError("consumer config: " + "; ".join(
                f"{'.'.join(map(str, err['loc']))}: {err['msg']}" + (f" (got {err['input']!r})" if "input" in err else "")
                for err in e.errors())) from None


@dataclass
class ConsumerStats:
    """What a consumer did so far."""

    batches: int = 0
    applied: int = 0
    dead: int = 0
    retried: int = 0
    duplicates: int = 0
    claimed: int = 0
    failures: int = 0
    last_error: str | None = None
    changed_users: int = 0
    started: float = field(default_factory=time.time)


def default_name() -> str:
    """``<host>-<pid>``: a consumer name no other process uses."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Consumer:
    """One consumer of a group.

    Args:
        transport: the stream (:class:`~kgrec.serving.events.streams.RedisStreams` ...).
        applier: applies the events (store + serving state).
        config: how to read (default: ``ConsumerConfig()``).
        name: the consumer's name in the group (default: ``<host>-<pid>``).
        on_applied: called with each batch's :class:`Outcome` after it is applied and before it is
            acknowledged (the A/B experiments log outcomes from it, with ids derived from the
            events', so a repeat after a crash logs nothing new) (default: None).
    """

    def __init__(self, transport: Transport, applier: EventApplier, *, config: ConsumerConfig | None = None,
                 name: str | None = None, on_applied: Callable[[Outcome], None] | None = None):
        self.transport = transport
        self.applier = applier
        self.config = config or ConsumerConfig()
        self.name = name or default_name()
        self.on_applied = on_applied
        self.stats = ConsumerStats()
        self._pending_at: float | None = 0.0  # when to read own pending entries next (0: now; None: none)
        self._failing = False
        self._claim_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False

    # -- one step ----------------------------------------------------------------------------------
    def poll(self) -> int:
        """Read and apply one batch; returns how many entries it handled (0 when there were none).

        Raises nothing kgrec knows: a failure is logged, counted and backed off.
        """
        cfg = self.config
        try:
            if not self._ready:
                self.transport.ensure_group(cfg.group)
                self._ready = True
            now = time.monotonic()
            entries: list[Entry] = []
            if self._pending_at is not None and now >= self._pending_at:
                entries = self.transport.read(cfg.group, self.name, count=cfg.batch, block_ms=cfg.block_ms,
                                              pending=True)
                self._pending_at = None if not entries else now + cfg.retry_backoff_s
            if not entries and now >= self._claim_at:
                self._claim_at = now + cfg.claim_idle_s / 2
                entries = self.transport.claim(cfg.group, self.name, min_idle_ms=int(cfg.claim_idle_s * 1000),
                                               count=cfg.batch)
                self.stats.claimed += len(entries)
            if not entries:
                entries = self.transport.read(cfg.group, self.name, count=cfg.batch, block_ms=cfg.block_ms)
            if entries:
                self.handle(entries)
            self._failing = False
            return len(entries)
        except KgrecError as e:
            self._failed(e)
            return 0

    def handle(self, entries: Sequence[Entry]) -> Outcome:
        """Parse, apply, dead-letter and acknowledge a batch of entries (in stream order)."""
        cfg = self.config
        dead: list[tuple[Entry, str]] = []
        good: list[tuple[Entry, Event]] = []
        seen: set[str] = set()
        duplicates: list[str] = []
        for entry in entries:
            if not entry.raw:
                duplicates.append(entry.id)  # deleted from the stream (scrubbed): nothing to apply
                continue
            try:
                event = parse_event(entry.raw)
            except EventError as e:
                dead.append((entry, str(e)))
                continue
            if event.id in seen:
                duplicates.append(entry.id)  # the same event twice in one batch (a retried publish)
                continue
            seen.add(event.id)
            good.append((entry, event))
        outcome = self.applier.apply(good)
        retry = []
        for entry, reason in outcome.retry:
            if entry.deliveries >= cfg.max_deliveries:
                dead.append((entry, f"{reason}; gave up after {entry.deliveries} deliveries"))
            else:
                retry.append(entry.id)
        outcome.dead += dead
        if self.on_applied is not None:  # before the acknowledgement: a crash here repeats it (idempotent ids)
            self.on_applied(outcome)
        if outcome.dead:
            self.transport.dead_letter(outcome.dead, group=cfg.group, consumer=self.name)
        self.transport.ack(cfg.group, [*outcome.applied, *duplicates, *(e.id for e, _ in outcome.dead)])
        for user in outcome.forgotten:
            removed = self.transport.scrub(user_needle(user))
            logger.info("forgot user %r: %d stream entries removed", user, removed)
        if retry:
            self._pending_at = time.monotonic() + cfg.retry_backoff_s
        stats = self.stats
        stats.batches += 1
        stats.applied += len(outcome.applied)
        stats.dead += len(outcome.dead)
        stats.retried += len(retry)
        stats.duplicates += len(duplicates)
        stats.changed_users += len(outcome.changed_users)
        return outcome

    def _failed(self, error: Exception) -> None:
        self._failing = True
        self.stats.failures += 1
        self.stats.last_error = str(error)
        self._pending_at = 0.0  # what was read but not acknowledged is read again first
        self._ready = False
        logger.warning("consumer %s: %s; retrying in %.1fs", self.name, error, self.config.retry_backoff_s)
        store = self.applier.store
        if isinstance(error, StoreUnavailableError) and store is not None and store.capabilities.restartable:
            try:
                store.ensure_running()  # type: ignore[attr-defined]  (capabilities.restartable)
            except KgrecError as e:
                logger.warning("the embedded store did not restart yet: %s", e)
        self._stop.wait(self.config.retry_backoff_s)

    # -- loops -------------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = False, max_seconds: float | None = None) -> ConsumerStats:
        """Poll until :meth:`stop` (or, with ``until_idle``, until a read finds nothing new and
        nothing of this consumer is pending; or ``max_seconds``)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not self._stop.is_set():
            handled = self.poll()
            if until_idle and not handled and self._pending_at is None and not self._failing:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
        return self.stats

    def start(self) -> Consumer:
        """Run in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"kgrec-consumer-{self.name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to end after the batch in hand."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End the loop and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def run_workers(make: Callable[[int], Consumer], workers: int, *, stop: threading.Event | None = None,
                until_idle: bool = False) -> list[Consumer]:
    """Run ``workers`` consumers (``make(i)`` builds the i-th) in threads until ``stop`` is set (or
    they are all idle with ``until_idle``); returns them with their stats."""
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    consumers = [make(i) for i in range(workers)]
    threads = [threading.Thread(target=c.run, kwargs={"until_idle": until_idle}, name=f"kgrec-consumer-{i}",
                                daemon=True) for i, c in enumerate(consumers)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            if stop is not None and stop.wait(0.2):
                break
            for t in threads:
                t.join(0.2 if stop is None else 0)
    finally:
        for c in consumers:
            c.request_stop()
        for t in threads:
            t.join(10)
    return consumers


__all__ = ["DEFAULT_GROUP", "Consumer", "ConsumerConfig", "ConsumerStats", "default_name", "run_workers"]
