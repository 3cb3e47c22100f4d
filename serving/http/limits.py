"""Request limits, before anything parses a body: its size (413) and, for every body that will be
read as JSON, its nesting depth (422), as a JSON error.

A body is read as JSON when its media type is ``application/json`` or ``application/<x>+json``,
compared case-insensitively and without parameters (``Application/JSON; charset=UTF-8`` is JSON),
or when it has no ``Content-Type`` at all (FastAPI parses such a body as JSON too): one limit for
every JSON body.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes, *, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``body``'s JSON arrays and objects nest (counting stops past ``limit``)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return min(body.count(b"[") + body.count(b"{"), limit)
    depth = deepest = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub(b"", body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def media_type(content_type: bytes | str | None) -> str:
    """``b"Application/JSON; charset=utf-8"`` → ``"application/json"`` ("" when absent)."""
    if content_type is None:
        return ""
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    return text.split(";", 1)[0].strip().lower()


def read_as_json(content_type: bytes | str | None) -> bool:
    """Whether a body with this ``Content-Type`` is parsed as JSON (see the module docs)."""
    kind = media_type(content_type)
    return kind in ("", "application/json") or (kind.startswith("application/") and kind.endswith("+json"))


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` (413) before anything parses it,
    and a JSON body nested deeper than ``max_depth`` (422); the body is read once and handed on."""

    def __init__(self, app: Any, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers") or []:
            headers.setdefault(name.lower(), value)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_error(send, 400, "Content-Length is not a number")
                return
            if declared > self.max_bytes:
                await send_error(send, 413, f"request body of {declared} bytes is over the limit of "
                                            f"{self.max_bytes} bytes")
                return
        elif b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_error(send, 413, f"request body is over the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and read_as_json(headers.get(b"content-type")) and \
                json_depth(body, limit=self.max_depth) > self.max_depth:
            await send_error(send, 422, f"JSON body nested deeper than {self.max_depth} levels")
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def send_error(send: Any, status: int, detail: str) -> None:
    """A JSON ``{"detail": ...}`` response straight from the middleware."""
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "BodyLimit", "json_depth", "media_type", "read_as_json"]
