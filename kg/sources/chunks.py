"""Reading a large delimited file in chunks of rows, with every check and line number of a whole read.

:func:`read_table_chunks` yields the tables that :func:`read_table` (the whole-file reader) would give
for the whole file, a block of about ``chunk_rows`` rows at a time: strings, a ``_line`` column with
each row's line in the file, and the same refusals (short rows, stray fields, over-long fields,
undecodable bytes, a repeated header name), each naming the file and its real line. Memory holds one
block of the file's bytes and its table, never the file.

A block ends at a line end outside quotes: after ``chunk_rows`` lines, at the first line end with an
even count of ``"`` since the block began (a quoted field may span lines). A lone ``"`` inside an
unquoted field (which the parser reads as a character) cannot keep a block open: no field is longer
than :data:`MAX_FIELD_LENGTH` characters, so past that many bytes (four per
character) the block ends at the line end after ``chunk_rows`` lines anyway.

Files in an encoding where a line end or a quote is not the one byte it is in ASCII (UTF-16, UTF-32)
are read whole (and a warning says so).
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.errors import InputError

from ._io import MAX_FIELD_LENGTH, check_regular_file, decode, guess_delimiter, parse_table, read_table

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000
"""Rows per chunk of a streamed file (about 10-40 MB of table for an interactions file)."""
_READ_BYTES = 1 << 22
_MAX_QUOTED_BYTES = 4 * MAX_FIELD_LENGTH + 4


def read_table_chunks(path: str | Path, *, sep: str | None = None, encoding: str = "utf-8",
                      quoting: int = csv.QUOTE_MINIMAL, expected: str = "",
                      chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file's table (as :func:`read_table` reads it) in chunks of about
    ``chunk_rows`` rows, in order. Blank lines are dropped; the first chunk is yielded even when
    the file has no rows (an empty table with the header's columns), later chunks only when they
    hold rows.

    Args:
        path: the file (with a header line).
        sep: the field separator (default: guessed from the suffix, then from the header line).
        encoding: the file's encoding (default: ``"utf-8"``).
        quoting: ``csv.QUOTE_MINIMAL`` (default) or ``csv.QUOTE_NONE``.
        expected: a description of the expected header, used in error messages.
        chunk_rows: lines per chunk (default: :data:`DEFAULT_CHUNK_ROWS`).

    Raises:
        InputError: as :func:`read_table`, when the chunk holding the bad row
            is read; the line is the row's line in the file.
    """
    path = Path(path)
    if chunk_rows < 1:
        raise InputError(f"chunk_rows must be at least 1, got {chunk_rows}", path=str(path))
    if not _byte_aligned(encoding):
        logger.warning("%s: encoding %s is read whole, not in chunks (a line end is not one byte in it)", path,
                       encoding)
        yield read_table(path, sep=sep, encoding=encoding, quoting=quoting, expected=expected)
        return
    yielded = False
    blocks = _blocks(path, chunk_rows, quoting)
    header = next(blocks)[0]  # a blank or repeated header name is refused with the first block
    if sep is None:
        sep = guess_delimiter(path, decode(header, path, encoding).split("\n", 1)[0])
    for block, first_line in blocks:
        df = parse_table(header + block, path, sep=sep, encoding=encoding, quoting=quoting, expected=expected,
                             line_offset=first_line - 2)
        if len(df) or not yielded:
            yielded = True
            yield df
    if not yielded:
        yield parse_table(header, path, sep=sep, encoding=encoding, quoting=quoting, expected=expected)


def _byte_aligned(encoding: str) -> bool:
    """A line end and a double quote are their ASCII bytes in ``encoding`` (UTF-8, Latin-1 ...)."""
    try:
        return '\n"'.encode(encoding) == b'\n"' and "a\n".encode(encoding) == b"a\n"
    except (LookupError, UnicodeError):
        return True  # an unknown encoding: read_table names it


def _blocks(path: Path, chunk_rows: int, quoting: int) -> Iterator[tuple[bytes, int]]:
    """The header line, then blocks of whole rows: ``(bytes, first line in the file)``."""
    check_regular_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("is not a regular file, only regular files are read", path=str(path))
        buf, eof = bytearray(), False
        while not eof and b"\n" not in buf:
            eof = not _fill(fd, buf, path)
        end = buf.find(b"\n") + 1 or len(buf)
        header = bytes(buf[:end])
        del buf[:end]
        yield header, 1
        line = 2
        while True:
            cut = len(buf) if eof else _cut(buf, chunk_rows, quoting)
            while cut is None:
                eof = not _fill(fd, buf, path)
                cut = len(buf) if eof else _cut(buf, chunk_rows, quoting)
            if not cut:
                return
            block = bytes(buf[:cut])
            del buf[:cut]
            yield block, line
            line += block.count(b"\n")
    finally:
        os.close(fd)


def _fill(fd: int, buf: bytearray, path: Path) -> bool:
    """Append the next piece of the file to ``buf``; False at the end of the file."""
    try:
        piece = os.read(fd, _READ_BYTES)
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e
    buf += piece
    return bool(piece)


def _cut(buf: bytearray, chunk_rows: int, quoting: int) -> int | None:
    """Where the block in ``buf`` ends (after a line end), or None when ``buf`` needs more bytes."""
    data = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if len(ends) < chunk_rows:
        return None
    plain = int(ends[chunk_rows - 1]) + 1
    if quoting == csv.QUOTE_NONE:
        return plain
    quotes = np.cumsum(data == 34)
    even = np.flatnonzero(quotes[ends[chunk_rows - 1:]] % 2 == 0)
    if len(even):
        at = int(ends[chunk_rows - 1 + int(even[0])]) + 1
        if at - plain <= _MAX_QUOTED_BYTES:
            return at
        return plain  # a lone quote, not a quoted field: no field is that long
    return None if len(buf) - plain <= _MAX_QUOTED_BYTES else plain


__all__ = ["DEFAULT_CHUNK_ROWS", "read_table_chunks"]
