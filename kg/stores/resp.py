"""A minimal RESP2 connection that reads a FalkorDB result set row by row and can stop early.

redis-py parses a whole reply before it returns, so a 3-million-row result costs the client
gigabytes before anything can cut it. Analyst queries (:meth:`FalkorDBStore.query
<kgrec.kg.stores.falkordb.FalkorDBStore.query>`) therefore go through :class:`RespConnection`: it
parses the reply incrementally, keeps the first ``max_rows`` rows and closes the connection on the
rest (the server drops the unsent reply), so the client's memory is bounded by ``max_rows``. The
rows are then decoded by the ``falkordb`` client's own parser.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

_CRLF = b"\r\n"


class RespError(Exception):
    """An error reply from the server (kept as a value inside arrays, as redis-py does)."""


class RespConnection:
    """One plain connection to a Redis server: ``unix_socket_path`` or ``host``/``port``.

    Args:
        timeout: seconds a send or a read may wait for the server (socket timeout).
        username, password: sent with ``AUTH`` when given.
    """

    def __init__(self, *, unix_socket_path: str | None = None, host: str | None = None, port: int | None = None,
                 username: str | None = None, password: str | None = None, timeout: float = 30.0,
                 connect_timeout: float = 10.0):
        if unix_socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = unix_socket_path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (host or "localhost", int(port or 6379))
        try:
            sock.settimeout(connect_timeout)
            sock.connect(address)
            sock.settimeout(timeout)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._buf = bytearray()
        self._pos = 0  # where the unread part of _buf starts
        if password:
            self.send(*(("AUTH", username, password) if username else ("AUTH", password)))
            reply = self.read()
            if isinstance(reply, RespError):
                self.close()
                raise reply

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:  # pragma: no cover - closing a dead socket
            pass

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------
    def send(self, *args: str | bytes | int) -> None:
        """Send one command (an array of bulk strings)."""
        out = bytearray(b"*%d\r\n" % len(args))
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            out += b"$%d\r\n" % len(data) + data + _CRLF
        self._sock.sendall(out)

    # -- reading -------------------------------------------------------------------------------
    def _fill(self) -> None:
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection in the middle of a reply")
        del self._buf[:self._pos]  # drop what was read, once per chunk
        self._pos = 0
        self._buf += chunk

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(_CRLF, self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos:end])
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, size: int) -> bytes:
        while len(self._buf) - self._pos < size + 2:
            self._fill()
        data = bytes(self._buf[self._pos:self._pos + size])
        self._pos += size + 2
        return data

    def read_array_header(self) -> int | RespError | None:
        """The length of the next value, which must be an array (None for a nil array, a
        :class:`RespError` for an error reply)."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind != b"*":
            raise ConnectionError(f"expected an array from the server, got {line[:40]!r}")
        n = int(rest)
        return None if n < 0 else n

    def read(self) -> Any:
        """The next whole value: str, int, None, list, or a :class:`RespError` (not raised)."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b":":
            return int(rest)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b",":  # RESP3 double, should a server send one
            return float(rest)
        raise ConnectionError(f"unexpected reply from the server: {line[:40]!r}")


def read_result_set(conn: RespConnection, max_rows: int) -> tuple[list[Any], bool]:
    """Read a ``GRAPH.QUERY``/``GRAPH.RO_QUERY`` reply, keeping at most ``max_rows`` rows.

    Returns:
        ``(reply, truncated)``: the reply in redis-py's shape (``[header, rows, stats]`` or
        ``[stats]``; error replies as :class:`RespError` values) and whether rows were left unread
        (the connection must then be closed, not reused).
    """
    n = conn.read_array_header()
    if isinstance(n, RespError) or n is None:
        return [n], False
    if n < 3:  # [stats] (no RETURN) or [header?, error]
        return [conn.read() for _ in range(n)], False
    header = conn.read()
    if isinstance(header, RespError):
        return [header], False
    count = conn.read_array_header()
    if isinstance(count, RespError) or count is None:
        return [header, count], False
    rows: list[Any] = []
    for _ in range(min(count, max_rows)):
        rows.append(conn.read())
    if count > max_rows:
        return [header, rows, []], True
    rest = [conn.read() for _ in range(n - 2)]
    return [header, rows, *rest], False


def first_error(reply: Sequence[Any]) -> RespError | None:
    """The error a reply carries (first or last element), if any."""
    for value in (reply[0], reply[-1]) if reply else ():
        if isinstance(value, RespError):
            return value
    return None


__all__ = ["RespConnection", "RespError", "first_error", "read_result_set"]
