"""Reading delimited files into string tables that remember where each row came from.

Every table read here has a ``_line`` column (the 1-based line of the row in its file, as an editor
counts), so that any later check can raise ``InputError("file:line: ...")``. Reading is vectorised
(pandas' C parser over the whole file); Python loops run only in the rare fallback for quoted fields
that span several lines.
"""

from __future__ import annotations

import csv
import io
import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.errors import InputError

from ..graph import MAX_ID_LENGTH
from ..graph import isin as graph_isin

logger = logging.getLogger(__name__)

_TAB_SUFFIXES = (".tsv", ".tab", ".dat", ".txt", ".inter", ".item", ".kg", ".link", ".user")


def guess_delimiter(path: Path, first_line: str) -> str:
    """Tab for ``.tsv``-like files, comma for ``.csv``; otherwise whichever the header contains."""
    suffix = path.suffix.lower()
    if suffix in _TAB_SUFFIXES:
        return "\t"
    if suffix == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError as e:
        raise InputError("is a directory, expected a file", path=str(path)) from e
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=str(path)) from e


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
    raw = read_bytes(path)
    text = decode(raw, path, encoding)
    hint = f"; expected {expected}" if expected else ""
    if not text.strip():
        raise InputError(f"file is empty{hint}", path=str(path), line=1)
    first_line = text.split("\n", 1)[0]
    if sep is None:
        sep = guess_delimiter(path, first_line)
    header_lines = 0 if names is not None else 1
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
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    if names is None and not any(df.columns):
        raise InputError(f"the header line is blank{hint}", path=str(path), line=1)
    lines = _line_numbers(text, len(df), header_lines, sep, quoting)
    df["_line"] = lines
    cols = [c for c in df.columns if c != "_line"]
    if len(df) and cols:
        blank = np.logical_and.reduce([df[c].str.len().to_numpy() == 0 for c in cols])
        if blank.any():
            df = df.loc[~blank].reset_index(drop=True)
    return df


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
    import re

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
    line = int(df["_line"].iat[row]) if "_line" in df.columns else None
    return InputError(message, path=str(path), line=line)


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
    """An id column stripped of surrounding blanks. An empty value, one longer than ``limit``
    characters or one holding a NUL raises InputError with its line (ids are checked where they
    are read, so that nodes derived from them never fail validation without a line)."""
    what = what or col
    values = df[col].str.strip()
    lengths = values.str.len().to_numpy()
    empty = lengths == 0
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise error_at(df, i, path, f"empty {what}")
    long = lengths > limit
    if long.any():
        i = int(np.flatnonzero(long)[0])
        raise error_at(df, i, path, f"{what} is {int(lengths[i])} characters long; at most {limit} allowed "
                                    f"(starts {values.iat[i][:40]!r})")
    nul = values.str.contains("\x00", regex=False).to_numpy(dtype=bool)
    if nul.any():
        i = int(np.flatnonzero(nul)[0])
        raise error_at(df, i, path, f"{what} {values.iat[i]!r} contains a NUL character")
    return values


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
