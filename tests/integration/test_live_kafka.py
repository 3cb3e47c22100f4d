"""The Kafka transport against a real broker. No broker can be installed on the machines kgrec is
built and tested on, so these tests run only where ``KGREC_KAFKA_BOOTSTRAP=host:port`` names one
(and ``confluent-kafka`` is installed: ``pip install kgrec[kafka]``); everything else about live
events is tested against the real embedded redis-server."""

from __future__ import annotations

import os
import uuid

import pytest

BOOTSTRAP = os.environ.get("KGREC_KAFKA_BOOTSTRAP")
pytestmark = pytest.mark.skipif(not BOOTSTRAP, reason="no Kafka broker: set KGREC_KAFKA_BOOTSTRAP=host:port")


@pytest.fixture()
def kafka():
    pytest.importorskip("confluent_kafka", reason="pip install 'kgrec[kafka]'")
    from kgrec.serving.events.kafka import KafkaTransport

    transport = KafkaTransport(BOOTSTRAP, topic=f"kgrec.events.test-{uuid.uuid4().hex[:8]}")
    yield transport
    transport.delete()
    transport.close()


def test_events_round_trip_through_a_group_with_commits_after_applying(kafka):
    from kgrec.serving.events import InteractionEvent, parse_event

    events = [InteractionEvent(user=f"u{n % 3}", item=f"i{n}") for n in range(20)]
    ids = kafka.publish(events)
    assert len(ids) == 20
    got = []
    for _ in range(50):
        got += kafka.read("g1", "c1", count=100, block_ms=500)
        if len(got) >= 20:
            break
    assert sorted(parse_event(e.raw).id for e in got) == sorted(e.id for e in events)
    assert kafka.ack("g1", [e.id for e in got]) == 20
    assert kafka.status("g1").lag == 0


def test_dead_letters_keep_the_entry_and_the_reason(kafka):
    from kgrec.serving.events import Entry

    kafka.dead_letter([(Entry("0-7", b"{not json", 1), "event is not JSON")], group="g", consumer="c")
    letters = kafka.dead_letters()
    assert letters and letters[-1].reason == "event is not JSON" and letters[-1].raw == b"{not json"
