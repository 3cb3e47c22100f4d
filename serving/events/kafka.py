"""Kafka as the event transport (:class:`KafkaTransport`), over ``confluent-kafka``
(``pip install kgrec[kafka]``), for users who have a broker. The events are the same JSON as on
Redis Streams (:mod:`.schema`).

Mapping: the stream is the topic ``kgrec.events.<graph>`` (events keyed by user, so one user's
events keep their order in one partition), the dead letters ``kgrec.events.<graph>.dead``, a
consumer group is Kafka's ``group.id``. Offsets are committed only after a batch is applied, and
only up to the first entry of a partition that is not done yet, so nothing is skipped; what is not
committed is delivered again after a crash or a rebalance (Kafka's counterpart of ``XAUTOCLAIM``).
An entry left to retry (an unknown item) is delivered again after the consumer restarts or the
partition moves. Kafka cannot delete single entries: a forget leaves the user's events in the
topic until its retention.

No broker can be installed where kgrec is built and tested; the tests of this module run only when
``KGREC_KAFKA_BOOTSTRAP`` names one (``tests/integration/test_live_kafka.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from kgrec.errors import ConfigError, MissingExtraError

from .schema import Event, ForgetEvent, InteractionEvent, UserEvent
from .streams import StreamError, StreamUnavailableError
from .transport import DeadLetter, Entry, GroupStatus

logger = logging.getLogger(__name__)


def _kafka():
    try:
        import confluent_kafka
    except ImportError as e:
        raise MissingExtraError("the Kafka transport needs confluent-kafka: pip install 'kgrec[kafka]'") from e
    return confluent_kafka


def topic_name(graph: str) -> str:
    return f"kgrec.events.{graph}"


class KafkaTransport:
    """kgrec's events on a Kafka topic.

    Args:
        bootstrap: the brokers, ``host:port[,host:port]``.
        topic: the topic (default: ``kgrec.events.default``).
        options: more ``confluent-kafka`` settings (security, ...), for producer and consumers.
        timeout_s: how long a publish waits for the brokers' acknowledgement (default: 30).
    """

    def __init__(self, bootstrap: str, *, topic: str = topic_name("default"), options: dict[str, Any] | None = None,
                 timeout_s: float = 30.0):
        if not bootstrap:
            raise ConfigError("a Kafka transport needs bootstrap servers (host:port)")
        self.bootstrap = bootstrap
        self.name = topic
        self.dead = topic + ".dead"
        self.options = dict(options or {})
        self.timeout_s = timeout_s
        self._producer = None
        self._consumers: dict[tuple[str, str], Any] = {}
        self._held: dict[tuple[str, str], dict[str, Any]] = {}  # entry id -> message, until acked
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, graph: str) -> KafkaTransport:
        """``kafka://host:port[,host:port]`` → a transport for ``graph``."""
        parts = urlsplit(url)
        return cls(parts.netloc, topic=topic_name(graph))

    # -- producing -------------------------------------------------------------------------------
    def _producer_(self):
        if self._producer is None:
            kafka = _kafka()
            self._producer = kafka.Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                                             "acks": "all", **self.options})
        return self._producer

    def publish(self, events: Sequence[Event | str | bytes]) -> list[str]:
        producer = self._producer_()
        ids: list[str | None] = [None] * len(events)
        errors: list[str] = []

        def delivered(n: int) -> Callable:
            def callback(err, msg) -> None:
                if err is not None:
                    errors.append(str(err))
                else:
                    ids[n] = f"{msg.partition()}-{msg.offset()}"
            return callback

        for n, e in enumerate(events):
            text = e.to_json() if isinstance(e, Event) else e
            key = e.user.encode() if isinstance(e, (InteractionEvent, UserEvent, ForgetEvent)) else None
            producer.produce(self.name, value=text, key=key, on_delivery=delivered(n))
            producer.poll(0)
        left = producer.flush(self.timeout_s)
        if left or errors or any(i is None for i in ids):
            raise StreamUnavailableError(f"Kafka at {self.bootstrap} did not take {left or len(errors)} events "
                                         f"within {self.timeout_s:.0f}s: {'; '.join(errors[:3])}")
        return [i for i in ids if i is not None]

    # -- consuming -------------------------------------------------------------------------------
    def _consumer(self, group: str, consumer: str):
        key = (group, consumer)
        if key not in self._consumers:
            kafka = _kafka()
            c = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "client.id": consumer,
                                "enable.auto.commit": False, "auto.offset.reset": "earliest", **self.options})
            c.subscribe([self.name])
            self._consumers[key] = c
            self._held[key] = {}
        return self._consumers[key]

    def ensure_group(self, group: str) -> None:
        """Kafka creates a group on its first consumer."""

    def read(self, group: str, consumer: str, *, count: int, block_ms: int, pending: bool = False) -> list[Entry]:
        if pending:
            return []  # what was not committed comes again after a restart or a rebalance
        c = self._consumer(group, consumer)
        try:
            messages = c.consume(num_messages=count, timeout=block_ms / 1000)
        except Exception as e:  # noqa: BLE001 (confluent_kafka.KafkaException, wrapped)
            raise StreamUnavailableError(f"Kafka at {self.bootstrap}: {e}") from e
        out = []
        held = self._held[(group, consumer)]
        for m in messages:
            if m.error() is not None:
                logger.warning("Kafka: %s", m.error())
                continue
            entry_id = f"{m.partition()}-{m.offset()}"
            held[entry_id] = m
            out.append(Entry(entry_id, m.value() or b"", 0))
        return out

    def ack(self, group: str, ids: Sequence[str]) -> int:
        done = 0
        kafka = _kafka()
        for (g, consumer), held in self._held.items():
            if g != group:
                continue
            for i in ids:
                if i in held:
                    held[i] = None
                    done += 1
            commits = []
            for partition in {m.partition() for m in held.values() if m is not None} | \
                    {int(k.split("-")[0]) for k in held}:
                offsets = sorted(int(k.split("-")[1]) for k in held if int(k.split("-")[0]) == partition)
                upto = None
                for off in offsets:
                    if held[f"{partition}-{off}"] is not None:
                        break
                    upto = off
                    del held[f"{partition}-{off}"]
                if upto is not None:
                    commits.append(kafka.TopicPartition(self.name, partition, upto + 1))
            if commits:
                self._consumers[(g, consumer)].commit(offsets=commits, asynchronous=False)
        return done

    def claim(self, group: str, consumer: str, *, min_idle_ms: int, count: int) -> list[Entry]:
        return []  # Kafka moves a dead consumer's partitions to the others (a rebalance)

    # -- dead letters ------------------------------------------------------------------------------
    def dead_letter(self, letters: Sequence[tuple[Entry, str]], *, group: str, consumer: str) -> list[str]:
        import json

        producer = self._producer_()
        for entry, reason in letters:
            producer.produce(self.dead, value=entry.raw, headers={"source": entry.id, "reason": reason[:2000],
                                                                  "group": group, "consumer": consumer,
                                                                  "ts": json.dumps(time.time())})
        if producer.flush(self.timeout_s):
            raise StreamUnavailableError(f"Kafka at {self.bootstrap} did not take the dead letters")
        return [e.id for e, _ in letters]

    def dead_letters(self, *, count: int = 100) -> list[DeadLetter]:
        kafka = _kafka()
        c = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"kgrec-dead-reader-{time.time()}",
                            "enable.auto.commit": False, "auto.offset.reset": "earliest", **self.options})
        try:
            c.subscribe([self.dead])
            out: list[DeadLetter] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                for m in c.consume(num_messages=1000, timeout=0.5):
                    if m.error() is None:
                        h = {k: (v or b"").decode() for k, v in (m.headers() or [])}
                        out.append(DeadLetter(f"{m.partition()}-{m.offset()}", h.get("source", ""), m.value() or b"",
                                              h.get("reason", ""), h.get("group", ""), h.get("consumer", ""),
                                              float(h.get("ts") or 0)))
            return out[-count:]
        finally:
            c.close()

    def status(self, group: str) -> GroupStatus:
        kafka = _kafka()
        c = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False,
                            **self.options})
        try:
            meta = c.list_topics(self.name, timeout=10).topics.get(self.name)
            if meta is None or meta.error is not None:
                raise StreamError(f"Kafka topic {self.name} is not there")
            parts = [kafka.TopicPartition(self.name, p) for p in meta.partitions]
            committed = c.committed(parts, timeout=10)
            length = lag = 0
            for tp in committed:
                low, high = c.get_watermark_offsets(tp, timeout=10)
                length += high - low
                lag += high - (tp.offset if tp.offset >= 0 else low)
            return GroupStatus(group, 0, lag, 0, length)
        finally:
            c.close()

    def scrub(self, needle) -> int:
        return 0  # Kafka keeps events until the topic's retention

    def delete(self) -> None:
        """Delete the topic and its dead letters."""
        kafka = _kafka()
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, **self.options})
        for future in admin.delete_topics([self.name, self.dead], operation_timeout=30).values():
            try:
                future.result()
            except kafka.KafkaException as e:
                logger.info("Kafka: %s", e)

    def close(self) -> None:
        for c in self._consumers.values():
            c.close()
        self._consumers.clear()
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None


__all__ = ["KafkaTransport", "topic_name"]
