"""The HTTP service: real uvicorn on a free loopback port, real store, httpx."""

from __future__ import annotations

import httpx
import pytest

from kgrec.serving.http import BackgroundServer, create_app

TOKEN = "serving-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def client(fresh_recommender):
    with BackgroundServer(create_app(fresh_recommender, token=TOKEN)) as server:
        assert server.host == "127.0.0.1"
        with httpx.Client(base_url=server.url, timeout=60) as c:
            yield c


@pytest.fixture()
def user(fresh_recommender) -> str:
    return sorted(fresh_recommender.users(), key=lambda s: (len(s), s))[0]


def test_recommendations_with_explanations(client, user):
    r = client.get(f"/v1/users/{user}/recommendations", params={"k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == user and body["k"] == 5 and len(body["recommendations"]) == 5
    first = body["recommendations"][0]
    assert set(first) == {"item", "score", "rank", "explanations"} and first["rank"] == 1
    for e in (e for rec in body["recommendations"] for e in rec["explanations"]):
        assert e["path"]["nodes"][0]["id"] == user and e["cypher"].startswith("MATCH")
        assert set(e["parameters"]) == {f"n{i}" for i in range(len(e["path"]["nodes"]))}
    plain = client.get(f"/v1/users/{user}/recommendations", params={"k": 5, "explain": "false"}).json()
    assert all(rec["explanations"] == [] for rec in plain["recommendations"])
    assert [x["item"]["id"] for x in plain["recommendations"]] == [x["item"]["id"] for x in body["recommendations"]]


def test_parameters_are_bounded_and_unknown_ids_are_404(client, user):
    for k in (0, 1001, "x"):
        r = client.get(f"/v1/users/{user}/recommendations", params={"k": k})
        assert r.status_code == 422, k
    assert client.get(f"/v1/users/{user}/recommendations", params={"diversity": 2}).status_code == 422
    assert client.get(f"/v1/users/{user}/recommendations", params={"filter": "no-colon"}).status_code == 422
    r = client.get("/v1/users/no-such-user/recommendations")
    assert r.status_code == 404 and "no-such-user" in r.json()["detail"]
    r = client.get("/v1/items/no-such-item/similar")
    assert r.status_code == 404 and "no-such-item" in r.json()["detail"]
    r = client.get(f"/v1/users/{user}/explain/no-such-item")
    assert r.status_code == 404


def test_similar_and_explain(client, user, fresh_recommender):
    item = fresh_recommender.seen(user)[0].id
    r = client.get(f"/v1/items/{item}/similar", params={"k": 3})
    assert r.status_code == 200 and r.json()["item"]["id"] == item and len(r.json()["similar"]) == 3
    r = client.get(f"/v1/users/{user}/explain/{item}")
    assert r.status_code == 200 and r.json()["explanations"]


def test_write_and_query_endpoints_need_the_token(client, user, fresh_recommender):
    item = fresh_recommender.items()[0]
    body = {"user": user, "item": item}
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/feedback", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/v1/items", json={"id": "x", "name": "x"}).status_code == 401
    assert client.post("/v1/query", json={"cypher": "MATCH (n) RETURN count(n)"}).status_code == 401


def test_feedback_changes_the_next_recommendation(client, user):
    before = client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": False}).json()
    liked = before["recommendations"][0]["item"]["id"]
    r = client.post("/v1/feedback", json={"user": user, "item": liked, "weight": 2}, headers=AUTH)
    assert r.status_code == 200 and r.json()["stored"] and not r.json()["new_user"]
    after = client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": False}).json()
    assert liked not in {x["item"]["id"] for x in after["recommendations"]}
    # bad bodies
    for bad in ({"user": user}, {"user": user, "item": liked, "kind": "meh"}, {"user": "", "item": liked},
                {"user": user, "item": liked, "weight": -1}, {"user": user, "item": liked, "extra": 1}):
        assert client.post("/v1/feedback", json=bad, headers=AUTH).status_code == 422, bad
    r = client.post("/v1/feedback", json={"user": user, "item": "no-such-item"}, headers=AUTH)
    assert r.status_code == 404


def test_add_item_and_query(client, fresh_recommender, lastfm_small_kg):
    tags = lastfm_small_kg.edges[("Artist", "HAS_TAG", "Tag")]["dst"].value_counts().index[:3].tolist()
    r = client.post("/v1/items", json={"id": "http-test-artist", "name": "HTTP Test Artist",
                                       "text": "A band made for a test.", "attributes": {"HAS_TAG": tags}},
                    headers=AUTH)
    assert r.status_code == 201 and r.json()["links"] == {"HAS_TAG": 3}
    assert client.get("/v1/items/http-test-artist/similar").status_code == 200
    r = client.post("/v1/items", json={"id": "http-test-2", "name": "x", "attributes": {"NOPE": ["1"]}}, headers=AUTH)
    assert r.status_code == 422 and "allowed" in r.json()["detail"]
    r = client.post("/v1/query", json={"cypher": "MATCH (a:Artist {id: $id})-[:HAS_TAG]->(t:Tag) RETURN count(t) AS n",
                                       "parameters": {"id": "http-test-artist"}}, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"columns": ["n"], "rows": [[3]], "truncated": False}
    r = client.post("/v1/query", json={"cypher": "CREATE (:User {id: 'evil'})"}, headers=AUTH)
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    r = client.post("/v1/query", json={"cypher": "MATCH (n RETURN n"}, headers=AUTH)
    assert r.status_code == 400


def test_health_and_openapi(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["store"] == "up"
    assert client.get("/docs").status_code == 200
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/users/{user}/recommendations", "/v1/items/{item}/similar", "/v1/users/{user}/explain/{item}",
            "/v1/feedback", "/v1/items", "/v1/query", "/healthz"} <= paths


def test_store_down_is_503(serving_run, lastfm_small_kg, dead_store):
    from kgrec.serving import Recommender, ServeConfig

    rec = Recommender.load(serving_run.path, store=dead_store, graph=lastfm_small_kg)
    user = sorted(rec.users(), key=lambda s: (len(s), s))[0]
    seen = {i.id for i in rec.seen(user)}
    item = next(i for i in rec.items() if i not in seen)
    with BackgroundServer(create_app(rec, ServeConfig(token=TOKEN))) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/feedback", json={"user": user, "item": item}, headers=AUTH)
        assert r.status_code == 503 and "unavailable" in r.json()["detail"]
        r = c.post("/v1/query", json={"cypher": "MATCH (n) RETURN count(n)"}, headers=AUTH)
        assert r.status_code == 503
        health = c.get("/healthz").json()
        assert health["status"] == "degraded" and health["store"] == "down"
        # reads do not need the store
        assert c.get(f"/v1/users/{user}/recommendations", params={"k": 3}).status_code == 200
    # nothing changed in memory when the write failed
    assert item not in {i.id for i in rec.seen(user)}


def test_no_token_configured_refuses_writes(fresh_recommender, monkeypatch):
    monkeypatch.setenv("KGREC_API_TOKEN", TOKEN)  # serving reads no environment variable: only `kgrec serve` does
    with BackgroundServer(create_app(fresh_recommender)) as server, httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/query", json={"cypher": "MATCH (n) RETURN count(n)"}, headers=AUTH)
        assert r.status_code == 401 and "KGREC_API_TOKEN" in r.json()["detail"]
