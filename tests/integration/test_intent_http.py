"""Intent over HTTP (issue 19): query and session on the recommendations endpoints (GET and POST, a
user or an anonymous visitor), text feedback, preferences and undo — real uvicorn, real store."""

from __future__ import annotations

import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

TOKEN = "intent-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.timeout(1800)  # the first intent call of a session may build the intent vectors


@pytest.fixture()
def client(fresh_recommender):
    with BackgroundServer(create_app(fresh_recommender, token=TOKEN)) as server:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            yield c


@pytest.fixture()
def user(fresh_recommender) -> str:
    return sorted(fresh_recommender.users(), key=lambda s: (len(s), s))[-1]


def items(body) -> list[str]:
    return [r["item"]["id"] for r in body["recommendations"]]


def test_a_query_on_the_recommendations_endpoint_get_and_post(client, user, fresh_recommender):
    r = client.get(f"/v1/users/{user}/recommendations", params={"k": 5, "query": "female vocalists"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == user and len(body["recommendations"]) == 5
    intent = body["intent"]
    assert intent["query"] == "female vocalists" and intent["fusion"] == "weighted" and intent["session"] == []
    assert intent["matches"] and intent["matches"][0]["name"].casefold() == "female vocalists"
    assert intent["matches"][0]["similarity"] == pytest.approx(1.0)
    sentences = [e["sentence"] for rec in body["recommendations"] for e in rec["explanations"]]
    assert any(s.startswith("You asked for 'female vocalists'") for s in sentences)
    expected = [x.item.id for x in fresh_recommender.recommend(user, 5, query="female vocalists", explain=False)]
    assert items(body) == expected
    r = client.post(f"/v1/users/{user}/recommendations",
                    json={"query": "female vocalists", "k": 5, "fusion": "rerank", "explain": False})
    assert r.status_code == 200, r.text
    assert r.json()["intent"]["fusion"] == "rerank"
    assert items(r.json()) == [x.item.id for x in fresh_recommender.recommend(
        user, 5, query="female vocalists", fusion="rerank", explain=False)]
    plain = client.get(f"/v1/users/{user}/recommendations", params={"k": 5}).json()
    assert plain["intent"] is None and items(plain) != items(body)


def test_an_anonymous_session_get_and_post(client, user, fresh_recommender):
    session = [i.id for i in fresh_recommender.seen(user)][:3]
    r = client.get("/v1/recommendations", params={"session": ",".join(session), "k": 8})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] is None and body["intent"]["session"] == session and len(body["recommendations"]) == 8
    assert not set(items(body)) & set(session)
    r = client.post("/v1/recommendations", json={"session": session, "query": "rock", "k": 8})
    assert r.status_code == 200 and r.json()["intent"]["query"] == "rock"
    r = client.post("/v1/recommendations", json={"user": user, "query": "rock", "k": 3, "explain": False})
    assert r.status_code == 200 and r.json()["user"] == user


def test_bad_intent_input_is_refused_with_its_reason(client, user):
    r = client.get(f"/v1/users/{user}/recommendations", params={"query": "x" * 1001})
    assert r.status_code == 422
    r = client.get(f"/v1/users/{user}/recommendations", params={"query": "rock", "fusion": "sideways"})
    assert r.status_code == 422 and "weighted" in r.json()["detail"]
    r = client.get("/v1/recommendations", params={"session": "no-such-item,nor-this"})
    assert r.status_code == 404 and "'no-such-item', 'nor-this'" in r.json()["detail"]
    r = client.get("/v1/recommendations")
    assert r.status_code == 422 and "a user, a query or a session" in r.json()["detail"]
    r = client.get("/v1/recommendations", params={"query": "   "})
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = client.post(f"/v1/users/{user}/recommendations", json={"user": user, "query": "rock"})
    assert r.status_code == 422
    r = client.post("/v1/recommendations", json={"query": "rock", "surprise": 1})
    assert r.status_code == 422


def test_text_feedback_preferences_and_undo(client, user):
    plain = items(client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": "false"}).json())
    r = client.post(f"/v1/users/{user}/feedback/text", json={"text": "less rock, more electronic"})
    assert r.status_code == 401
    try:
        r = client.post(f"/v1/users/{user}/feedback/text", json={"text": "less rock, more electronic"}, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stored"] and [c["polarity"] for c in body["clauses"]] == ["avoid", "prefer"]
        relations = {(p["name"], p["relation"]) for p in body["preferences"]}
        assert ("rock", "AVOIDS") in relations and ("electronic", "PREFERS") in relations
        got = client.get(f"/v1/users/{user}/preferences").json()
        assert got["preferences"] == body["preferences"]
        changed = items(client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": "false"}).json())
        assert changed != plain
        r = client.post(f"/v1/users/{user}/feedback/text", json={"text": "меньше металла"}, headers=AUTH)
        assert r.status_code == 422 and "CYRILLIC" in r.json()["detail"]
        rock = next(p for p in body["preferences"] if p["name"] == "rock")
        r = client.delete(f"/v1/users/{user}/feedback/text", params={"attribute": f"{rock['label']}:{rock['id']}"},
                          headers=AUTH)
        assert r.status_code == 200 and all(p["name"] != "rock" for p in r.json()["preferences"])
        assert client.delete(f"/v1/users/{user}/feedback/text", params={"attribute": "no-colon"},
                             headers=AUTH).status_code == 422
    finally:
        r = client.delete(f"/v1/users/{user}/feedback/text", headers=AUTH)
    assert r.status_code == 200 and r.json()["preferences"] == []
    assert items(client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": "false"}).json()) == plain
