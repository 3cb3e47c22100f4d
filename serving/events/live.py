"""The event stream inside a running service (``kgrec serve --consume``): :class:`LiveService`.

It holds the service's :class:`~kgrec.serving.events.transport.Transport` (``POST /v1/events``
publishes through it) and, with ``consume``, runs consumers of a group in threads that apply every
event to the store and to the recommenders in memory, so the next HTTP answer reflects it. With an
A/B experiment (:mod:`kgrec.serving.experiments`) every arm's recommender takes in the events (the
store is written once), and the experiment's outcomes are logged after each batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .apply import EventApplier, Outcome
from .consumer import Consumer, ConsumerConfig, default_name
from .schema import Event
from .transport import GroupStatus, Transport

if TYPE_CHECKING:
    from ..recommender import Recommender

logger = logging.getLogger(__name__)


class MirroredApplier(EventApplier):
    """An applier that also brings other recommenders' memory up to date (the arms of an
    experiment share the store; each keeps its own vectors)."""

    def __init__(self, recommender: Recommender, mirrors: Sequence[Recommender] = ()):
        super().__init__(recommender, forget=self._forget_everywhere)
        self.mirrors = [m for m in mirrors if m is not recommender]

    def apply(self, batch):
        out = super().apply(batch)
        if self.mirrors and (out.interactions or any(e.type in ("item", "interaction") for _, e in batch)):
            pairs = [(e.user, e.item) for e in out.interactions]
            for rec in self.mirrors:
                rec.observe(pairs)
                for _, e in batch:
                    if e.type == "item" and rec.item_rows([e.item])[0] < 0:
                        self._mirror_item(rec, e)
                    elif e.type == "interaction" and e.kind == "negative":
                        try:
                            rec.feedback(e.user, e.item, "negative")
                        except KeyError:
                            pass
        return out

    @staticmethod
    def _mirror_item(rec: Recommender, e) -> None:
        from kgrec.errors import KgrecError

        try:
            rec.add_item(e.item, e.name or e.item, e.text, e.attributes)  # the store write is an idempotent upsert
        except KgrecError as err:
            logger.warning("arm %s could not add item %r: %s", rec.run.config.model, e.item, err)

    def _forget_everywhere(self, user: str) -> None:
        from ..privacy import forget_user

        run_dirs = [r.run.path for r in (self.rec, *self.mirrors) if r.run.path is not None]
        forget_user(user, store=self.store, graph=self.graph, recommender=self.rec, run_dirs=run_dirs)
        for rec in self.mirrors:
            rec.forget(user)


class LiveService:
    """A service's event stream: publishing, and (with ``consume``) consumers in threads.

    Args:
        recommender: the service's recommender (the first arm's, in an experiment).
        transport: the event stream.
        consume: run consumers in this process (default: False: publish only).
        config: how they read (default: ``ConsumerConfig()``).
        workers: consumer threads (default: 1).
        mirrors: other recommenders that take in the events too (an experiment's other arms).
        on_applied: called with each applied batch (default: None).
        name: the consumers' name prefix in the group (default: ``<host>-<pid>``).
    """

    def __init__(self, recommender: Recommender, transport: Transport, *, consume: bool = False,
                 config: ConsumerConfig | None = None, workers: int = 1, mirrors: Sequence[Recommender] = (),
                 on_applied: Callable[[Outcome], None] | None = None, name: str | None = None):
        self.recommender = recommender
        self.transport = transport
        self.consume = consume
        self.config = config or ConsumerConfig()
        self.workers = workers
        self.on_applied = on_applied
        self.applier = MirroredApplier(recommender, mirrors)
        prefix = name or default_name()
        self.consumers = [Consumer(transport, self.applier, config=self.config,
                                   name=prefix if workers == 1 else f"{prefix}-{i}", on_applied=self._after)
                          for i in range(workers)] if consume else []
        self._listeners: list[Callable[[Outcome], None]] = []
        self._lock = threading.Lock()

    def _after(self, outcome: Outcome) -> None:
        if self.on_applied is not None:
            self.on_applied(outcome)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(outcome)

    def listen(self, listener: Callable[[Outcome], None]) -> None:
        """Also call ``listener`` after each applied batch."""
        with self._lock:
            self._listeners.append(listener)

    def publish(self, events: Sequence[Event]) -> list[str]:
        return self.transport.publish(list(events))

    def start(self) -> LiveService:
        for c in self.consumers:
            c.start()
        if self.consumers:
            logger.info("consuming %s in group %r with %d worker(s)", self.transport.name, self.config.group,
                        len(self.consumers))
        return self

    def stop(self) -> None:
        for c in self.consumers:
            c.request_stop()
        for c in self.consumers:
            c.stop()

    def status(self) -> GroupStatus:
        return self.transport.status(self.config.group)

    def close(self) -> None:
        self.stop()
        self.transport.close()


__all__ = ["LiveService", "MirroredApplier"]
