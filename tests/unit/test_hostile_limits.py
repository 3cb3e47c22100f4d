"""The service's request limits and the guards that keep hostile text out of query text, without a
store or a model: the body-size and JSON-depth middleware on a small ASGI app, the JSON depth
scanner, Cypher literals of the Cypher export, and the label / relation / graph-name checks."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from kgrec.errors import KgrecError, SchemaError, UnknownGraphError
from kgrec.kg.export import cypher_literal
from kgrec.kg.schema import check_label, to_relation_name
from kgrec.kg.stores import check_graph_name
from kgrec.serving.http import MAX_BODY_BYTES, MAX_JSON_DEPTH, BodyLimit, json_depth


@pytest.fixture()
def client():
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=1000, max_depth=5)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        return {"bytes": len(body)}

    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _post(client, content, **headers):
    async with client as c:
        return await c.post("/echo", content=content, headers={"content-type": "application/json", **headers})


@pytest.mark.parametrize(("body", "status"), [
    (b'{"a": [1, 2, 3]}', 200),
    (b" " * 1000, 200),
    (b" " * 1001, 413),
    (b"[" * 5 + b"]" * 5, 200),
    (b"[" * 6 + b"]" * 6, 422),
    (b'{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}', 422),
    (b'{"s": "[[[[[[[[[[[[[[[[[[[["}', 200),  # brackets inside a string do not nest
    (b'{"s": "\\"[[[[[[[[[[[[[[[\\""}', 200),  # nor after an escaped quote
])
def test_body_limit_and_json_depth(client, body, status):
    import asyncio

    r = asyncio.run(_post(client, body))
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["detail"]
    else:
        assert r.json() == {"bytes": len(body)}


def test_chunked_body_over_the_limit_is_refused(client):
    import asyncio

    async def chunks():
        for _ in range(20):
            yield b" " * 100

    r = asyncio.run(_post(client, chunks()))
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]


def test_a_lying_content_length_is_refused(client):
    import asyncio

    r = asyncio.run(_post(client, b"{}", **{"content-length": "999999999"}))
    assert r.status_code == 413


def test_json_depth_scanner():
    assert json_depth(b"{}") <= 1
    assert json_depth(b"[" * 100 + b"]" * 100, limit=MAX_JSON_DEPTH) == MAX_JSON_DEPTH + 1
    assert json_depth(b'["' + b"[" * 100 + b'"]') == 1  # brackets inside strings do not count
    assert json_depth(json.dumps({"a": [[{"b": [1]}]]}).encode(), limit=3) > 3
    assert MAX_BODY_BYTES == 1 << 20


HOSTILE_TEXT = [
    'x"}) DETACH DELETE n //',
    "a\\\"b",
    "line\nbreak\r\ttab",
    "nul\x00",
    "\u202eRTL override",
    "'; MATCH (n) DELETE n",
    "emoji \U0001F469\u200D\U0001F4BB",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_cypher_literals_hold_exactly_the_value(text):
    lit = cypher_literal(text)
    assert lit[0] == lit[-1] == '"'
    assert json.loads(lit) == text
    assert "\n" not in lit and "\r" not in lit


@pytest.mark.parametrize("label", ["User) DETACH DELETE (n", "User`", "User:Admin", "", "a b", "User\x00", "Ünïcode",
                                   "1User", "x" * 300])
def test_labels_with_query_syntax_are_refused(label):
    with pytest.raises(SchemaError):
        check_label(label)


@pytest.mark.parametrize("text", ["]->() DETACH DELETE n //", "film.genre`) DELETE", "a\nb", "", "\u202e"])
def test_relation_names_are_made_safe(text):
    import re

    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", to_relation_name(text))


@pytest.mark.parametrize("name", ["../../etc/passwd", "lastfm' OR 1=1", "a/b", "", "x" * 65, "lastfm\x00"])
def test_graph_names_are_checked(name):
    with pytest.raises(UnknownGraphError):
        check_graph_name(name)
    assert issubclass(UnknownGraphError, KgrecError)


@pytest.mark.parametrize("body", [
    b'{"user": "\\ud800", "item": "i"}',  # a lone surrogate
    b'{"user": "u", "item": "i", "weight": 1e999}',  # infinity
    b'{"user": "u", "item": "i", "weight": NaN}',
    b'{"\\udfff": 1, "user": "u", "item": "i"}',  # an unencodable extra key
    b'{"user": "a\\u0000b", "item": "i"}',
])
def test_invalid_bodies_are_422_not_500(body):
    """Validation errors never echo an unencodable value (FastAPI's default handler would 500)."""
    import asyncio
    from types import SimpleNamespace

    from kgrec.serving.http import create_app

    app = create_app(SimpleNamespace(store=None, graph_name="g"), token="t")

    async def post():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.post("/v1/feedback", content=body,
                                headers={"content-type": "application/json", "Authorization": "Bearer t"})

    r = asyncio.run(post())
    assert r.status_code == 422, r.text
    assert all({"loc", "msg", "type"} <= set(e) for e in r.json()["detail"])
