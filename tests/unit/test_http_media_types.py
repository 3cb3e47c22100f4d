"""One JSON depth limit for every body read as JSON, whatever the case or parameters of its media type
(issue 14 B6), on the real app (no store, no model: a stand-in recommender that no route reaches)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest

from kgrec.serving.http import create_app
from kgrec.serving.http.limits import media_type, read_as_json

DEEP = b'{"user": "u", "item": "i", "weight": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"


def _post(body: bytes, headers: dict[str, str]) -> httpx.Response:
    app = create_app(SimpleNamespace(store=None, graph_name="g"), token="t")

    async def post():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.post("/v1/feedback", content=body, headers={"Authorization": "Bearer t", **headers})

    return asyncio.run(post())


@pytest.mark.parametrize("content_type", ["application/JSON", "Application/Json; charset=UTF-8",
                                          "application/json;charset=utf-8", "APPLICATION/VND.KGREC+JSON", None])
def test_deep_json_is_refused_whatever_the_media_types_spelling(content_type):
    r = _post(DEEP, {} if content_type is None else {"content-type": content_type})
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"] == "application/json"
    assert "nested deeper than 32 levels" in r.json()["detail"]


def test_a_body_that_is_not_json_is_not_parsed_as_json():
    r = _post(DEEP, {"content-type": "text/plain"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)  # a validation error, not a crash


def test_media_types_are_compared_without_case_and_parameters():
    assert media_type(b"Application/JSON; charset=UTF-8") == "application/json"
    assert media_type(None) == ""
    assert read_as_json(b"application/problem+JSON") and read_as_json(None) and read_as_json("APPLICATION/JSON")
    assert not read_as_json(b"text/plain") and not read_as_json("multipart/form-data; boundary=x")
