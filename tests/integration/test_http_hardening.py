"""The service under a runaway analyst query, invisible characters in ids, and offline docs
(issue 14 B1, B8, A2 on the serving side): real uvicorn, the real embedded store, real data."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from kgrec.serving import ServeConfig
from kgrec.serving.http import BackgroundServer, create_app

TOKEN = "hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CARTESIAN = "MATCH (a), (b), (c) RETURN count(*) AS n"


@pytest.fixture()
def user(fresh_recommender) -> str:
    return sorted(fresh_recommender.users(), key=lambda s: (len(s), s))[5]


def test_a_cartesian_query_times_out_while_the_service_keeps_serving(fresh_recommender, user, capsys):
    """The query is answered 504 (JSON) at its deadline; recommendations, the health check and a
    feedback issued while it runs all succeed; the p99 of the recommendations is printed."""
    rec = fresh_recommender
    timeout = 3.0
    config = ServeConfig(token=TOKEN, query_timeout_s=timeout, feedback_fsync="store")
    with BackgroundServer(create_app(rec, config)) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        c.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": False})  # warm
        outcome: dict = {}

        def analyst() -> None:
            t = time.perf_counter()
            with httpx.Client(base_url=server.url, timeout=120) as c2:
                outcome["response"] = c2.post("/v1/query", json={"cypher": CARTESIAN}, headers=AUTH)
            outcome["seconds"] = time.perf_counter() - t

        thread = threading.Thread(target=analyst)
        thread.start()
        time.sleep(0.3)  # the query is running in the store
        latencies, health, statuses = [], [], []
        feedback: dict = {}

        def write() -> None:
            t = time.perf_counter()
            seen = {i.id for i in rec.seen(user)}
            item = next(i for i in rec.items() if i not in seen)
            with httpx.Client(base_url=server.url, timeout=60) as c3:
                feedback["response"] = c3.post("/v1/feedback", json={"user": "hardening-new-user", "item": item},
                                               headers=AUTH)
            feedback["seconds"] = time.perf_counter() - t

        def check_health() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as c4:
                while thread.is_alive():
                    t = time.perf_counter()
                    statuses.append(c4.get("/healthz").status_code)
                    health.append(time.perf_counter() - t)
                    time.sleep(0.1)

        writer, prober = threading.Thread(target=write), threading.Thread(target=check_health)
        writer.start()
        prober.start()
        while thread.is_alive():
            t = time.perf_counter()
            r = c.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": False})
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["recommendations"]) == 10
        thread.join()
        writer.join(timeout=60)
        prober.join(timeout=60)
    response = outcome["response"]
    assert response.status_code == 504, response.text
    assert "time limit" in response.json()["detail"]
    assert timeout * 0.8 <= outcome["seconds"] < timeout + 5, outcome["seconds"]
    assert feedback["response"].status_code == 200, feedback["response"].text
    assert feedback["seconds"] < timeout + 5  # a write on the graph waits for the read the store then stops
    p99 = float(np.percentile(latencies, 99))
    assert len(latencies) >= 5 and p99 < 1.0, latencies
    assert health and max(health) < 1.0 and set(statuses) == {200}, (health, statuses)
    with capsys.disabled():
        print(f"\ncartesian query: {response.status_code} after {outcome['seconds']:.2f} s (limit {timeout} s); "
              f"{len(latencies)} recommendations meanwhile: p50 {np.percentile(latencies, 50) * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms; /healthz max {max(health) * 1000:.1f} ms; "
              f"feedback {feedback['seconds']:.2f} s")


def test_query_time_limits_are_bounded(fresh_recommender):
    config = ServeConfig(token=TOKEN, query_timeout_s=5, query_timeout_max_s=10)
    with BackgroundServer(create_app(fresh_recommender, config)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/query", json={"cypher": "MATCH (n) RETURN count(n)", "timeout_s": 11}, headers=AUTH)
        assert r.status_code == 422 and "maximum" in r.json()["detail"]
        r = c.post("/v1/query", json={"cypher": "MATCH (n) RETURN count(n) AS n", "timeout_s": 9}, headers=AUTH)
        assert r.status_code == 200 and r.json()["rows"][0][0] > 0


def test_invisible_characters_in_ids_name_the_same_user(fresh_recommender, user):
    rec = fresh_recommender
    plain = [r.item.id for r in rec.recommend(user, 5, explain=False)]
    assert [r.item.id for r in rec.recommend("\ufeff" + user + "\u200b", 5, explain=False)] == plain
    assert [i.id for i in rec.seen(" " + user)] == [i.id for i in rec.seen(user)]
    config = ServeConfig(token=TOKEN, feedback_fsync="store")
    with BackgroundServer(create_app(rec, config)) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.get(f"/v1/users/%EF%BB%BF{user}/recommendations", params={"k": 5, "explain": False})
        assert r.status_code == 200 and r.json()["user"] == user
        assert [x["item"]["id"] for x in r.json()["recommendations"]] == plain
        r = c.get("/v1/users/%E2%80%8B%EF%BB%BF/recommendations")  # nothing left after cleaning
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        item = rec.items()[0]
        r = c.post("/v1/feedback", json={"user": "\u200b\ufeff", "item": item}, headers=AUTH)
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        seen = {i.id for i in rec.seen(user)}
        new_item = next(i for i in rec.items() if i not in seen)
        r = c.post("/v1/feedback", json={"user": "\ufeff" + user, "item": new_item + "\u2060"}, headers=AUTH)
        assert r.status_code == 200 and not r.json()["new_user"] and r.json()["user"] == user
    assert new_item in {i.id for i in rec.seen(user)}
    assert rec.index.row("User", "\ufeff" + user) is None  # no second user was made


def test_analyst_queries_beyond_the_pool_are_refused_at_once(fresh_recommender):
    config = ServeConfig(token=TOKEN, query_timeout_s=2.0, query_workers=1, query_queue=0)
    with BackgroundServer(create_app(fresh_recommender, config)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        first: dict = {}

        def run_first() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as c2:
                first["response"] = c2.post("/v1/query", json={"cypher": CARTESIAN}, headers=AUTH)

        thread = threading.Thread(target=run_first)
        thread.start()
        time.sleep(0.5)
        t = time.perf_counter()
        second = c.post("/v1/query", json={"cypher": CARTESIAN}, headers=AUTH)
        refused_after = time.perf_counter() - t
        thread.join()
    assert second.status_code == 503 and "too many analyst queries" in second.json()["detail"]
    assert refused_after < 1.0
    assert first["response"].status_code == 504
