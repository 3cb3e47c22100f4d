"""Reading delimited files into string tables that remember where each row came from.

Every table read here has a ``_line`` column (the 1-based line of the row in its file, as an editor
counts), so that any later check can raise ``InputError("file:line: ...")``. Reading is vectorised
(pandas' C parser over the whole file); Python loops run only in the rare fallback for quoted fields
that span several lines, and on the error paths.

What is refused, always with the file, the line and the value:

- anything that is not a regular file (a FIFO, ``/dev/zero``, a socket, a directory), before it is
  opened, so that reading can neither hang nor fill memory;
- a header that names one column twice (``genre,genre``; ``user_id, item_id ,user_id `` once its
  blanks are stripped);
- a row with fewer fields than the header (``u3,i2`` under ``user_id,item_id,rating``) or more;
- a field longer than :data:`MAX_FIELD_LENGTH` characters (64 Ki);
- a cell holding more than :data:`MAX_CELL_VALUES` values of a multi-valued column.

Ids (users, items, attribute values, triple ends) follow the one rule of :mod:`kgrec.kg.ids`:
Unicode NFC, format characters (U+FEFF, U+200B, bidi marks ...) removed, surrounding blanks
stripped, so ``2`` and ``\ufeff2`` are one user; an id empty after cleaning is refused.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.errors import InputError

from ..graph import MAX_ID_LENGTH, MAX_TEXT_LENGTH
from ..graph import isin as graph_isin
from ..ids import clean_id, clean_ids
from ..schema import to_relation_name

logger = logging.getLogger(__name__)

MAX_FIELD_LENGTH = MAX_TEXT_LENGTH  # characters in one field of a delimited file (64 Ki)
MAX_CELL_VALUES = 1_000  # values in one cell of a multi-valued column (genres, tags)

_TAB_SUFFIXES = (".tsv", ".tab", ".dat", ".txt", ".inter", ".item", ".kg", ".link", ".user")


def guess_delimiter(path: Path, first_line: str) -> str:
    """Tab for ``.tsv``-like files, comma for ``.csv``; otherwise whichever the header contains."""
    suffix = path.suffix.lower()
    if suffix in _TAB_SUFFIXES:
        return "\t"
    if suffix == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def check_regular_file(path: Path) -> os.stat_result:
    """``path``'s status if it is a regular file (a symlink to one is fine); else InputError.

    Runs before the file is opened: a FIFO would block the open or the read forever and
    ``/dev/zero`` would fill memory.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as e:
        raise InputError("no such file", path=str(path)) from e
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e
    if not stat.S_ISREG(info.st_mode):
        expected = "expected a file" if stat.S_ISDIR(info.st_mode) else "only regular files are read"
        raise InputError(f"is {_kind(info.st_mode)}, {expected}", path=str(path))
    return info


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file (see :func:`check_regular_file`).

    The file is opened without blocking and checked again on the open descriptor, so a file
    swapped for a FIFO between the check and the open is refused too.
    """
    check_regular_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"is {_kind(info.st_mode)}, only regular files are read", path=str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 24):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e
    finally:
        os.close(fd)


def decode(raw: bytes, path: Path, encoding: str) -> str:
    """``raw`` decoded; a byte that is not valid in ``encoding`` raises InputError naming the line."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        start = raw.rfind(b"\n", 0, e.start) + 1
        column = e.start - start + 1
        raise InputError(
            f"byte {raw[e.start:e.start + 1]!r} at column {column} is not valid {encoding} "
            f"(pass encoding='latin-1' or re-save the file as {encoding})",
            path=str(path), line=line) from e
    except LookupError as e:
        raise InputError(f"unknown encoding {encoding!r}", path=str(path)) from e


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    expected: str = "",
) -> pd.DataFrame:
    """Read a delimited text file as a table of strings with a ``_line`` column.

    Args:
        path: the file.
        sep: the field separator (default: guessed from the suffix, then from the first line).
        names: column names for a file without a header line (default: the file has a header).
        encoding: the file's encoding; an undecodable byte is an :class:`InputError` with its line.
        quoting: ``csv.QUOTE_MINIMAL`` (default) or ``csv.QUOTE_NONE`` for files whose fields may
            contain stray double quotes (the hetrec ``.dat`` files).
        expected: a description of the expected header, used in error messages.

    Returns:
        One row per non-blank data line; every value a ``str`` (empty string when absent); column
        names stripped of surrounding blanks; ``_line`` (int64) the row's 1-based line.
    """
    path = Path(path)
    return parse_table(read_bytes(path), path, sep=sep, names=names, encoding=encoding, quoting=quoting,
                       expected=expected)


def parse_table(raw: bytes, path: Path, *, sep: str | None = None, names: Sequence[str] | None = None,
                encoding: str = "utf-8", quoting: int = csv.QUOTE_MINIMAL, expected: str = "",
                line_offset: int = 0) -> pd.DataFrame:
    """:func:`read_table` of bytes already read: the whole file, or a header line followed by a block
    of the file's rows (:mod:`kgrec.kg.sources.chunks`), whose lines in the file are ``line_offset``
    more than in ``raw`` (the ``_line`` column and every error's line say where a row is in the file)."""
    try:
        df = _parse_table(raw, path, sep=sep, names=names, encoding=encoding, quoting=quoting, expected=expected)
    except InputError as e:
        if not line_offset or e.line is None:
            raise
        raise type(e)(e.reason, path=e.path, line=e.line + line_offset) from e
    if line_offset:
        df["_line"] += line_offset
    return df


def _parse_table(raw: bytes, path: Path, *, sep: str | None, names: Sequence[str] | None, encoding: str,
                 quoting: int, expected: str) -> pd.DataFrame:
    text = decode(raw, path, encoding)
    hint = f"; expected {expected}" if expected else ""
    if not text.strip():
        raise InputError(f"file is empty{hint}", path=str(path), line=1)
    first_line = text.split("\n", 1)[0]
    if sep is None:
        sep = guess_delimiter(path, first_line)
    header_lines = 0 if names is not None else 1
    header = list(names) if names is not None else _header(text, path, sep, quoting, hint)
    try:
        with warnings.catch_warnings():
            # a first data row longer than the header would be cut silently: make it an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.BytesIO(raw), sep=sep, header=None if names is not None else 0,
                names=list(names) if names is not None else None, dtype=str, keep_default_na=False,
                na_filter=False, quoting=quoting, skip_blank_lines=False, encoding=encoding, engine="c",
                index_col=False,
            )
    except pd.errors.ParserWarning as e:
        raise _field_count_error(text, path, sep, quoting, len(names) if names is not None else None) from e
    except pd.errors.EmptyDataError as e:
        raise InputError(f"file is empty{hint}", path=str(path), line=1) from e
    except pd.errors.ParserError as e:
        raise _parser_error(e, path) from e
    except (ValueError, UnicodeDecodeError) as e:  # pandas raises ValueError for odd separators etc.
        raise InputError(f"cannot parse the file as delimited text: {e}", path=str(path)) from e
    if len(header) != len(df.columns):  # should not happen: pandas and the csv module read one header
        header = [clean_id(c) for c in df.columns]
    df.columns = header
    short = _short_row(raw, text, encoding, sep, quoting, len(header), header_lines)
    if short is not None:
        line, saw = short
        raise InputError(f"expected {len(header)} fields, saw {saw} (a short row: every row needs a value, "
                         f"perhaps empty, for each column of {', '.join(header)})", path=str(path), line=line)
    lines = _line_numbers(text, len(df), header_lines, sep, quoting)
    df["_line"] = lines
    cols = [c for c in df.columns if c != "_line"]
    if len(df) and cols:
        blank = np.logical_and.reduce([df[c].str.len().to_numpy() == 0 for c in cols])
        if blank.any():
            df = df.loc[~blank].reset_index(drop=True)
    _check_field_lengths(df, raw, path)
    return df


def _header(text: str, path: Path, sep: str, quoting: int, hint: str) -> list[str]:
    """The header's column names, cleaned as ids are; a blank or repeated name is an InputError."""
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting), [])
    except csv.Error as e:
        raise InputError(f"cannot parse the header: {e}", path=str(path), line=1) from e
    names = [clean_id(c) for c in row]
    if not any(names):
        raise InputError(f"the header line is blank{hint}", path=str(path), line=1)
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            raise InputError(f"field {i} of the header is blank (the header is {row!r}): each column needs a name",
                             path=str(path), line=1)
        if name in seen:
            raise InputError(f"the header names column {name!r} twice (fields {seen[name]} and {i}; the header is "
                             f"{row!r}): each column needs a name of its own", path=str(path), line=1)
        seen[name] = i
    return names


def _short_row(raw: bytes, text: str, encoding: str, sep: str, quoting: int, width: int,
               header_lines: int) -> tuple[int, int] | None:
    """(line, fields) of the first non-blank row with fewer fields than the header, else None.

    A vectorised count of separators per physical line finds candidates; only when there are any
    does the csv module read the file to tell a short row from a quoted field spanning lines.
    """
    if width <= 1:
        return None
    try:
        sep_byte, newline = sep.encode(encoding), "\n".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        sep_byte, newline = b"", b""
    if len(sep_byte) == 1 and newline == b"\n":
        data = np.frombuffer(raw, dtype=np.uint8)
        breaks = np.flatnonzero(data == 10)
        counts = np.bincount(np.searchsorted(breaks, np.flatnonzero(data == sep_byte[0])),
                             minlength=len(breaks) + 1)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [len(data)]))
        lengths = ends - starts - (data[np.maximum(ends - 1, 0)] == 13) * (ends > starts)
        suspect = (counts < width - 1) & (lengths > 0)
        suspect[:header_lines] = False
        if not suspect.any():
            return None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting)
    start = 1
    try:
        for number, row in enumerate(reader):
            if number >= header_lines and len(row) < width and "".join(row).strip():
                return start, len(row)
            start = reader.line_num + 1
    except csv.Error:
        return None  # pandas parsed it; a csv-module quirk is not the user's error
    return None


def _check_field_lengths(df: pd.DataFrame, raw: bytes, path: Path) -> None:
    """No field over MAX_FIELD_LENGTH characters (checked per column only when a line is that long)."""
    if len(raw) <= MAX_FIELD_LENGTH:
        return
    breaks = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    edges = np.concatenate(([-1], breaks, [len(raw)]))
    if int(np.diff(edges).max()) <= MAX_FIELD_LENGTH:
        return  # a UTF-8 character is at least one byte: no field can be longer than its line
    for col in df.columns:
        if col == "_line":
            continue
        lengths = df[col].str.len().to_numpy()
        long = lengths > MAX_FIELD_LENGTH
        if long.any():
            i = int(np.flatnonzero(long)[0])
            raise error_at(df, i, path, f"{col} is {int(lengths[i])} characters long; at most {MAX_FIELD_LENGTH} "
                                        f"allowed in one field (column {col!r}, starts {df[col].iat[i][:40]!r})")


def _line_numbers(text: str, rows: int, header_lines: int, sep: str, quoting: int) -> np.ndarray:
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    if physical - header_lines == rows:
        return np.arange(header_lines + 1, header_lines + 1 + rows, dtype=np.int64)
    # A quoted field spans lines (or a trailing blank line was dropped): count with the csv module.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting)
    starts: list[int] = []
    previous_end = 0
    for _ in reader:
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    starts = starts[header_lines:]
    if len(starts) < rows:  # should not happen; keep the lengths consistent rather than fail
        starts += [starts[-1] if starts else header_lines + 1] * (rows - len(starts))
    return np.asarray(starts[:rows], dtype=np.int64)


def _field_count_error(text: str, path: Path, sep: str, quoting: int, width: int | None) -> InputError:
    """The first row whose field count differs from the header's (error path only)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting)
    start = 1
    for row in reader:
        if width is None:
            width = len(row)
        elif row and len(row) > width:
            return InputError(f"expected {width} fields, saw {len(row)} (a stray separator or quote?)",
                              path=str(path), line=start)
        start = reader.line_num + 1
    return InputError(f"a row has more fields than the header's {width}", path=str(path))


def _parser_error(e: Exception, path: Path) -> InputError:
    message = str(e)
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        want, line, saw = (int(x) for x in match.groups())
        return InputError(f"expected {want} fields, saw {saw} (a stray separator or quote?)",
                          path=str(path), line=line)
    match = re.search(r"EOF inside string starting at row (\d+)", message)
    if match:  # the C parser counts rows from 0
        return InputError('unclosed quote: a field opens with " and never closes', path=str(path),
                          line=int(match.group(1)) + 1)
    match = re.search(r"line (\d+)", message)
    line = int(match.group(1)) if match else None
    reason = message.split("C error:")[-1].strip()
    return InputError(f"cannot parse: {reason}", path=str(path), line=line)


# -- checks on string tables --------------------------------------------------------------------
def error_at(df: pd.DataFrame, row: int, path: str | Path, message: str) -> InputError:
    """An InputError for row ``row`` (a position) of a table read by :func:`read_table`."""
    line = df["_line"].iat[row] if "_line" in df.columns else None
    return InputError(message, path=str(path), line=None if line is None or pd.isna(line) else int(line))


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | Path, *, expected: str = "",
                    hint: str = "") -> None:
    """Raise InputError (line 1, the header) if a required column is missing."""
    have = [c for c in df.columns if c != "_line"]
    for col in columns:
        if col not in have:
            more = f"; expected {expected}" if expected else ""
            raise InputError(f"missing column {col!r}; the header has {', '.join(map(repr, have))}{more}{hint}",
                             path=str(path), line=1)


def require_rows(df: pd.DataFrame, path: str | Path, what: str) -> None:
    if len(df) == 0:
        raise InputError(f"no {what} after the header", path=str(path), line=1)


def require_nonempty(df: pd.DataFrame, col: str, path: str | Path, what: str | None = None, *,
                     limit: int = MAX_ID_LENGTH) -> pd.Series:
    """An id column cleaned by the one id rule (:func:`kgrec.kg.ids.clean_ids`: NFC, no format
    characters, no surrounding blanks). An empty value (also one that held only invisible
    characters), one longer than ``limit`` characters or one holding a NUL raises InputError with
    its line (ids are checked where they are read, so that nodes derived from them never fail
    validation without a line)."""
    values = clean_ids(df[col])
    check_ids(df, values, path, what or col, raw=df[col], limit=limit)
    return values


def check_ids(df: pd.DataFrame, values: pd.Series, path: str | Path, what: str, *, raw: pd.Series | None = None,
              limit: int = MAX_ID_LENGTH) -> None:
    """Refuse empty ids, ids over ``limit`` characters and ids with a NUL.

    Args:
        df: the table the ids came from (its ``_line`` names the line).
        values: the cleaned ids, aligned with the rows of ``df``.
        path: the file, for the message.
        what: what the ids are (``"user_id"``, ``"column 'genre' value"``).
        raw: the ids as read, to show an id that only held invisible characters (default: none).
        limit: the longest id allowed, in characters (default: ``MAX_ID_LENGTH``).
    """
    arrow = pa.array(values.astype("string").fillna(""), type=pa.large_string())
    lengths = np.asarray(pc.utf8_length(arrow), dtype=np.int64)
    empty = lengths == 0
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        before = "" if raw is None or pd.isna(raw.iat[i]) else str(raw.iat[i])
        detail = (f" ({before!r} holds only blanks and invisible characters, which ids drop: see kgrec.kg.ids)"
                  if before else "")
        raise error_at(df, i, path, f"empty {what}{detail}")
    long = lengths > limit
    if long.any():
        i = int(np.flatnonzero(long)[0])
        raise error_at(df, i, path, f"{what} is {int(lengths[i])} characters long; at most {limit} allowed "
                                    f"(starts {values.iat[i][:40]!r})")
    nul = np.asarray(pc.match_substring(arrow, "\x00"), dtype=bool)
    if nul.any():
        i = int(np.flatnonzero(nul)[0])
        raise error_at(df, i, path, f"{what} {values.iat[i]!r} contains a NUL character")


def relation_names(values: pd.Series, df: pd.DataFrame, path: str | Path) -> tuple[pd.Series, dict[str, str]]:
    """Free relation strings → UPPER_SNAKE names (:func:`kgrec.kg.schema.to_relation_name`, once
    per distinct string), and name → the original string.

    Two different strings that give one name (``film.genre`` and ``film_genre``; ``Café`` and
    ``Cafe``) would merge two relations: an InputError names both and their lines.
    """
    names: dict[str, str] = {}
    originals: dict[str, str] = {}
    for value in pd.unique(values):
        name = to_relation_name(value)
        if name in originals and originals[name] != value:
            first = int(np.flatnonzero((values == originals[name]).to_numpy())[0])
            i = int(np.flatnonzero((values == value).to_numpy())[0])
            where = f" (line {int(df['_line'].iat[first])})" if "_line" in df.columns and pd.notna(
                df["_line"].iat[first]) else ""
            raise error_at(df, i, path, f"relation {value!r} and relation {originals[name]!r}{where} both become "
                                        f"{name}; rename one of them so that two relations stay two")
        names[value] = name
        originals[name] = value
    return values.map(names), originals


def split_values(ids: pd.Series, cells: pd.Series, lines: pd.Series, separator: str | None, *,
                 path: str | Path, column: str) -> pd.DataFrame:
    """Item → value pairs from the cells of a multi-valued column (``Drama|Comedy``).

    Values are split at ``separator`` (None: one value per cell) and cleaned by the id rule; empty
    ones are skipped. A cell with more than :data:`MAX_CELL_VALUES` values, or a value over
    ``MAX_ID_LENGTH`` characters or holding a NUL, is an InputError naming file, line and column.

    Returns:
        ``src`` (item id), ``dst`` (value), ``_line``; one row per distinct pair.
    """
    frame = pd.DataFrame({"src": ids.to_numpy(), "dst": cells.to_numpy(), "_line": lines.to_numpy()})
    if separator:
        counts = frame["dst"].astype("string").str.count(re.escape(separator)).fillna(0).to_numpy() + 1
        over = counts > MAX_CELL_VALUES
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise error_at(frame, i, path, f"column {column!r}: a cell holds {int(counts[i]):,} values separated by "
                                           f"{separator!r}; at most {MAX_CELL_VALUES:,} allowed")
        frame["dst"] = frame["dst"].str.split(separator, regex=False)
        frame = frame.explode("dst", ignore_index=True)
    frame["dst"] = clean_ids(frame["dst"])
    frame = frame[frame["dst"].notna() & (frame["dst"] != "")].reset_index(drop=True)
    check_ids(frame, frame["dst"], path, f"column {column!r} value")
    return frame.drop_duplicates(subset=["src", "dst"]).reset_index(drop=True)


def to_integer(df: pd.DataFrame, col: str, path: str | Path, *, what: str | None = None,
               required: bool = True, minimum: int | None = None) -> pd.Series:
    """Column ``col`` as ``Int64``; the first value that is not an integer raises InputError."""
    what = what or col
    values = df[col].str.strip()
    empty = (values == "").to_numpy()
    number = pd.to_numeric(values.where(~empty, None), errors="coerce")
    arr = number.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = (~empty & ~np.isfinite(arr)) | (np.isfinite(arr) & (np.mod(np.nan_to_num(arr), 1) != 0))
    bad |= np.isfinite(arr) & (np.abs(arr) > 2**53)
    if required:
        bad |= empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise error_at(df, i, path, f"{what} {df[col].iat[i]!r} is not an integer")
    if minimum is not None:
        low = np.isfinite(arr) & (arr < minimum)
        if low.any():
            i = int(np.flatnonzero(low)[0])
            raise error_at(df, i, path, f"{what} {df[col].iat[i]!r} is below the minimum {minimum}")
    out = pd.Series(arr, index=df.index).round().astype("Int64")
    return out


def to_float(df: pd.DataFrame, col: str, path: str | Path, *, what: str | None = None,
             required: bool = True) -> pd.Series:
    """Column ``col`` as ``Float64``; the first value that is not a finite number raises InputError."""
    what = what or col
    values = df[col].str.strip()
    empty = (values == "").to_numpy()
    number = pd.to_numeric(values.where(~empty, None), errors="coerce")
    arr = number.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~empty & ~np.isfinite(arr)
    if required:
        bad |= empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise error_at(df, i, path, f"{what} {df[col].iat[i]!r} is not a number")
    return pd.Series(arr, index=df.index).astype("Float64")


def first_line_of(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows de-duplicated on ``keys``, keeping the first (so ``_line`` points at the first one)."""
    return df.drop_duplicates(subset=keys, keep="first").reset_index(drop=True)


def sorted_ids(values) -> np.ndarray:
    """Unique string ids in natural order: shorter first, then lexicographic ("2" < "10" < "b")."""
    ids = np.asarray(pd.unique(pd.Series(values, dtype=object)), dtype=object)
    if len(ids) == 0:
        return ids.astype(str)
    strings = ids.astype(str)
    lengths = pd.Series(strings, dtype=object).str.len().to_numpy()
    order = np.lexsort((strings, lengths))
    return strings[order]


def isin(values: pd.Series, candidates) -> np.ndarray:
    """``values.isin(candidates)`` as a bool array (candidates may be a set or a list)."""
    if not isinstance(candidates, pd.Series):
        candidates = pd.Series(list(candidates), dtype="string")
    return graph_isin(values, candidates)
