"""Live events through the real embedded redis-server (Redis Streams in the store's own server):
round trip to a changed recommendation, dead letters, kill -9 mid-batch, two consumers sharing the
work, forget. Real store, real lastfm subgraph, real trained run; no mocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kgrec.errors import UnknownUserError

pytestmark = pytest.mark.timeout(600)


def _short_dir(prefix: str) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


@pytest.fixture(scope="module")
def live_store(lastfm_small_kg):
    """An embedded FalkorDB of its own, holding the lastfm subgraph as graph ``live``."""
    from kgrec.kg.stores import open_store

    folder = _short_dir("kgrec-live-")
    store = open_store(f"embedded:{folder}")
    try:
        store.write(lastfm_small_kg, graph="live")
        yield store
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def live(live_store, lastfm_small_kg, serving_run, tmp_path):
    """A fresh graph ``live`` (dropped and written again), a copy of the run, a recommender and a
    clean stream."""
    from kgrec.gnn.run import copy_run
    from kgrec.serving import Recommender
    from kgrec.serving.events import open_transport

    live_store.drop("live")
    live_store.write(lastfm_small_kg, graph="live")
    run_dir = copy_run(serving_run.path, tmp_path / "run")
    rec = Recommender.load(run_dir, store=live_store, graph="live")
    transport = open_transport(live_store, graph="live")
    transport.delete()
    yield rec, transport
    transport.delete()
    transport.close()


def _edge_count(store, user: str | None = None) -> int:
    q = "MATCH (u:User)-[r:LISTENED_TO]->(:Artist) WHERE r.event_id IS NOT NULL"
    params = {}
    if user is not None:
        q += " AND u.id = $user"
        params["user"] = user
    return int(store.query(q + " RETURN count(r)", params, graph="live").scalar())


def _consumer(rec, transport, name="c1", **config):
    from kgrec.serving.events import Consumer, ConsumerConfig, EventApplier

    return Consumer(transport, EventApplier(rec), config=ConsumerConfig(**{"block_ms": 50, **config}), name=name)


def _unseen_items(rec, user: str, n: int) -> list[str]:
    """Items the user has not seen, from the middle of their ranking (not already on top)."""
    recs = rec.recommend(user, 60, explain=False)
    return [r.item.id for r in recs[30:30 + n]]


def test_round_trip_changes_the_next_recommendation(live, live_store):
    from kgrec.serving.events import InteractionEvent, publish

    rec, transport = live
    user = rec.users()[3]
    before = [r.item.id for r in rec.recommend(user, 10, explain=False)]
    vector_before = rec.user_vector(user)
    top = before[0]
    ids = publish([InteractionEvent(user=user, item=top, weight=7)], to=transport)
    assert len(ids) == 1 and "-" in ids[0]
    consumer = _consumer(rec, transport)
    consumer.run(until_idle=True, max_seconds=30)
    after = [r.item.id for r in rec.recommend(user, 10, explain=False)]
    assert top not in after, "the item the user just played is still recommended"
    assert after != before
    assert not (rec.user_vector(user) == vector_before).all(), "the user's vector was not folded in"
    row = live_store.query("MATCH (u:User {id: $u})-[r:LISTENED_TO]->(a:Artist {id: $a}) RETURN r.event_id, r.weight",
                           {"u": user, "a": top}, graph="live").rows
    assert len(row) == 1 and row[0][1] == 7 and len(row[0][0]) == 32
    status = transport.status("kgrec")
    assert status.pending == 0 and status.lag == 0


def test_a_new_user_gets_recommendations_from_the_stream(live):
    from kgrec.serving.events import InteractionEvent, publish

    rec, transport = live
    items = rec.items()[:3]
    with pytest.raises(UnknownUserError):
        rec.recommend("stream-newcomer", 5, explain=False)
    publish([InteractionEvent(user="stream-newcomer", item=i) for i in items], to=transport)
    _consumer(rec, transport).run(until_idle=True, max_seconds=30)
    got = [r.item.id for r in rec.recommend("stream-newcomer", 5, explain=False)]
    assert len(got) == 5 and not set(got) & set(items)


def test_malformed_events_go_to_dead_letters_with_the_reason(live, live_store):
    from kgrec.serving.events import InteractionEvent

    rec, transport = live
    user = rec.users()[5]
    good = InteractionEvent(user=user, item=_unseen_items(rec, user, 1)[0])
    raw = ['{"type": "interaction", "user": "x"', '{"v": 9, "type": "interaction", "user": "a", "item": "b"}',
           '{"type": "interaction", "user": "a", "item": "b", "weight": -3}', '{"type": "teleport"}',
           good.to_json(), '{"type": "interaction", "user": "a", "item": "no-such-artist"}']
    transport.publish(raw)
    consumer = _consumer(rec, transport, max_deliveries=2, retry_backoff_s=0.05)
    consumer.run(until_idle=True, max_seconds=60)
    letters = transport.dead_letters()
    reasons = [d.reason for d in letters]
    assert len(letters) == 5, reasons
    assert "not JSON" in reasons[0]
    assert "unknown event version 9" in reasons[1]
    assert "weight must be a finite non-negative number" in reasons[2]
    assert "unknown event type 'teleport'" in reasons[3]
    assert "unknown Artist 'no-such-artist'" in reasons[4] and "gave up after 2 deliveries" in reasons[4]
    assert letters[0].raw == raw[0].encode()
    # the good one between them was applied, and nothing is left pending
    assert _edge_count(live_store, user) == 1
    assert transport.status("kgrec").pending == 0


def test_an_unknown_item_waits_for_its_item_event(live, live_store):
    """An interaction that arrives before the item event that creates its item is retried, not lost."""
    from kgrec.serving.events import InteractionEvent, ItemEvent, publish

    rec, transport = live
    user = rec.users()[7]
    publish([InteractionEvent(user=user, item="fresh-artist-1")], to=transport)
    consumer = _consumer(rec, transport, retry_backoff_s=0.05, max_deliveries=50)
    consumer.poll()
    assert consumer.stats.retried == 1 and transport.status("kgrec").pending == 1
    publish([ItemEvent(item="fresh-artist-1", name="Fresh Artist", text="indie folk band",
                       attributes={"Tag": ["rock"]} if rec.index.row("Tag", "rock") is not None else {})], to=transport)
    consumer.run(until_idle=True, max_seconds=60)
    assert transport.status("kgrec").pending == 0
    assert _edge_count(live_store, user) == 1
    assert "fresh-artist-1" in [i.id for i in rec.seen(user)]
    assert rec.item("fresh-artist-1").name == "Fresh Artist"


KILLED_CONSUMER = textwrap.dedent("""
    import os, signal, sys
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender
    from kgrec.serving.events import Consumer, ConsumerConfig, EventApplier, open_transport

    store = open_store(sys.argv[1])
    rec = Recommender.load(sys.argv[2], store=store, graph="live")

    class DiesAfterApplying(EventApplier):
        def apply(self, batch):
            out = super().apply(batch)           # the store has the whole batch now ...
            print("applied", len(out.applied), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # ... and the consumer dies before it acknowledges
            return out

    transport = open_transport(store, graph="live")
    Consumer(transport, DiesAfterApplying(rec), config=ConsumerConfig(batch=10_000), name="doomed").run()
""")


def test_consumer_killed_mid_batch_applies_each_event_exactly_once(live, live_store, tmp_path):
    from kgrec.serving.events import InteractionEvent, publish

    rec, transport = live
    users = rec.users()[:20]
    events = [InteractionEvent(user=u, item=i) for u in users for i in _unseen_items(rec, u, 10)]
    publish(events, to=transport)
    publish(events[:50], to=transport)  # a producer that retried: the same events twice on the stream
    before = _edge_count(live_store)
    script = tmp_path / "doomed.py"
    script.write_text(KILLED_CONSUMER)
    done = subprocess.run([sys.executable, str(script), f"embedded:{live_store.data_dir}", str(rec.run.path)],
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert "applied 200" in done.stdout
    assert _edge_count(live_store) - before == 200  # the store has the batch ...
    assert transport.status("kgrec").pending == 250  # ... which nobody acknowledged
    survivor = _consumer(rec, transport, name="survivor", claim_idle_s=0.2)
    time.sleep(0.3)
    survivor.run(until_idle=True, max_seconds=60)
    assert survivor.stats.claimed == 250
    assert transport.status("kgrec").pending == 0
    assert _edge_count(live_store) - before == 200, "an event was applied twice or lost"
    for u in users:  # the survivor's serving state has every interaction
        seen = {i.id for i in rec.seen(u)}
        assert {e.item for e in events if e.user == u} <= seen


def test_two_consumers_in_one_group_share_the_work(live, live_store):
    import threading

    from kgrec.serving.events import InteractionEvent, publish

    rec, transport = live
    users = rec.users()[20:40]
    events = [InteractionEvent(user=u, item=i) for u in users for i in _unseen_items(rec, u, 15)]
    before = _edge_count(live_store)
    a = _consumer(rec, transport, name="a", batch=20)
    b = _consumer(rec, transport, name="b", batch=20)
    transport.ensure_group("kgrec")
    publish(events, to=transport)
    threads = [threading.Thread(target=c.run, kwargs={"until_idle": True, "max_seconds": 60}) for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert a.stats.applied > 0 and b.stats.applied > 0, (a.stats, b.stats)
    assert a.stats.applied + b.stats.applied == len(events) == 300
    assert _edge_count(live_store) - before == 300
    assert transport.status("kgrec").pending == 0


def test_forget_event_removes_the_user_everywhere(live, live_store):
    from kgrec.serving.events import ForgetEvent, InteractionEvent, publish

    rec, transport = live
    user = rec.users()[11]
    publish([InteractionEvent(user=user, item=i) for i in _unseen_items(rec, user, 3)], to=transport)
    _consumer(rec, transport).run(until_idle=True, max_seconds=30)
    assert _edge_count(live_store, user) == 3
    publish([ForgetEvent(user=user)], to=transport)
    _consumer(rec, transport).run(until_idle=True, max_seconds=60)
    assert live_store.query("MATCH (u:User {id: $u}) RETURN count(u)", {"u": user}, graph="live").scalar() == 0
    with pytest.raises(UnknownUserError):
        rec.recommend(user, 5, explain=False)
    from kgrec.gnn import Run

    assert user not in Run.load(rec.run.path).id_maps["User"]
    # the stream no longer holds the user's events either
    assert not [e for e in transport.entries() if user.encode() in e.raw]
