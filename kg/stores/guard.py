"""The guard of analysts' Cypher (``Store.query``): what may run, and how much of it.

Every analyst query is **tokenised** first (:func:`tokenize`): string literals, backtick-quoted
names, parameters, numbers and words, with comments (``//``, ``/* */``) and every kind of white
space (Unicode spaces and format characters too) dropped. The checks then look at tokens, never at
raw text, so case, comments, new lines, odd spaces and backtick-quoting cannot hide a keyword, and a
keyword inside a string or used as a name (``n.set``, ``{set: 1}``, ``:Create``, ``$delete``) does
not count.

Refused with :class:`~kgrec.errors.ForbiddenQueryError` (reaches outside the database, or is not an
analyst query):

- ``LOAD CSV`` (fetches any URL or file: an exfiltration channel when the URL is built from data);
- ``CALL`` of any procedure that is not on :data:`ALLOWED_PROCEDURES`. An **allow-list**, not a
  deny-list: plugins (APOC, GDS, custom jars) add procedures that fetch URLs (``apoc.load.*``), read
  or write files (``apoc.import.*``, ``apoc.export.*``), talk to other servers (``apoc.bolt.*``,
  ``apoc.es.*``, ``apoc.mongo.*``), run query text that this guard never sees
  (``apoc.cypher.run*``), or change the server (``dbms.*``); no list of those stays complete. The
  allowed ones read the graph (labels, indexes, vector and full-text search, FalkorDB's ``algo.*``);
- a namespaced *function* outside :data:`ALLOWED_FUNCTION_NAMESPACES` (built-in ``date.*``,
  ``point.*``, ``vector.*``, FalkorDB's ``string.*``/``list.*``/``vec.*``, and APOC's pure value
  functions such as ``apoc.text.*``); plain functions (``count``, ``toLower`` ...) are built in;
- administration (``SHOW ...``, ``TERMINATE ...``), ``USE <database>`` (the store chooses the
  graph) and more than one statement.

Refused with :class:`~kgrec.errors.ReadOnlyQueryError`: procedures that write (``db.create*``,
``apoc.create.*`` ...) and, where the server does not enforce read-only itself, write clauses
(``CREATE``, ``MERGE``, ``SET``, ``DELETE`` ...: :func:`find_write_clause`).

Size: :func:`limit_rows` adds ``LIMIT n`` to the final ``RETURN`` (or lowers a larger literal one),
so that the server's planner stops producing rows; the stores also stop reading at ``max_rows``
(:meth:`Store.query <kgrec.kg.stores.base.Store.query>`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kgrec.errors import ConfigError, ForbiddenQueryError, ReadOnlyQueryError, StoreError

ALLOWED_PROCEDURES = frozenset({
    # FalkorDB: schema, indexes, search, graph algorithms (all read the graph only)
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.indexes", "db.constraints", "db.meta.stats",
    "db.idx.fulltext.querynodes", "db.idx.fulltext.queryrelationships",
    "db.idx.vector.querynodes", "db.idx.vector.queryrelationships",
    "algo.pagerank", "algo.bfs", "algo.sppaths", "algo.sspaths", "algo.wcc", "algo.betweenness",
    "algo.labelpropagation", "algo.msf",
    # Neo4j 5: schema and index search
    "db.schema.visualization", "db.schema.nodetypeproperties", "db.schema.reltypeproperties",
    "db.index.fulltext.querynodes", "db.index.fulltext.queryrelationships",
    "db.index.vector.querynodes", "db.index.vector.queryrelationships",
})
"""Procedures an analyst query may ``CALL`` (compared case-insensitively)."""

ALLOWED_FUNCTION_NAMESPACES = frozenset({
    # Cypher built-ins
    "date", "datetime", "localdatetime", "time", "localtime", "duration", "point", "vector", "vector.similarity",
    # FalkorDB built-ins
    "vec", "string", "list", "map",
    # APOC functions that compute on values only
    "apoc.text", "apoc.coll", "apoc.map", "apoc.math", "apoc.number", "apoc.convert", "apoc.date",
    "apoc.temporal", "apoc.agg", "apoc.label", "apoc.node", "apoc.rel", "apoc.any", "apoc.hashing",
    "apoc.meta", "apoc.scoring", "apoc.bitwise",
})
"""Namespaces of the functions an analyst query may call (``date.truncate(...)``: ``date``)."""

_WRITE_PROCEDURE = re.compile(
    r"^(db\.(create|drop)|db\.(idx|index)\.fulltext\.(create|drop)|apoc\.(create|merge|refactor|periodic|trigger|"
    r"do|schema\.assert|nodes\.(delete|link|collapse)|atomic|lock)|gds\.)"
    r"|\.(write|mutate)$")
_WRITE_WORDS = frozenset({"CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "FOREACH", "ALTER",
                          "GRANT", "DENY", "REVOKE", "RENAME"})
_WRITE_PAIRS = {("START", "DATABASE"), ("STOP", "DATABASE"), ("IN", "TRANSACTIONS")}
_ADMIN_WORDS = frozenset({"SHOW", "TERMINATE", "ENABLE", "DEALLOCATE", "REALLOCATE"})


# -- tokens --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    """One token of a query: ``kind`` is ``word``, ``name`` (backtick-quoted, ``text`` unquoted),
    ``string``, ``number``, ``param`` or ``punct``; ``start``/``end`` are positions in the text."""

    kind: str
    text: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def _separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc")


def tokenize(query: str) -> list[Token]:
    """The tokens of a Cypher query, comments and white space dropped.

    Raises:
        StoreError: an unterminated string, quoted name or comment (the server would refuse it too;
            refusing it here keeps the checks exact).
    """
    if not isinstance(query, str):
        raise StoreError(f"a query is text, not {type(query).__name__}")
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if _separator(ch):
            i += 1
        elif query.startswith("//", i):
            while i < n and query[i] not in "\n\r\u2028\u2029":
                i += 1
        elif query.startswith("/*", i):
            end = query.find("*/", i + 2)
            if end < 0:
                raise StoreError(f"the query has a comment opened at character {i} that is never closed (*/)")
            i = end + 2
        elif ch in "'\"":
            j = i + 1
            while j < n and query[j] != ch:
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise StoreError(f"the query has a string opened at character {i} that is never closed ({ch})")
            tokens.append(Token("string", query[i + 1:j], i, j + 1))
            i = j + 1
        elif ch == "`":
            j, parts = i + 1, []
            while True:
                end = query.find("`", j)
                if end < 0:
                    raise StoreError(f"the query has a quoted name opened at character {i} that is never closed (`)")
                parts.append(query[j:end])
                if query.startswith("``", end):  # an escaped backtick inside the name
                    parts.append("`")
                    j = end + 2
                    continue
                break
            tokens.append(Token("name", "".join(parts), i, end + 1))
            i = end + 1
        elif ch == "$":
            j = i + 1
            if j < n and query[j] == "`":
                sub = tokenize(query[j:])
                name = sub[0] if sub else Token("name", "", j, j + 1)
                tokens.append(Token("param", name.text, i, j + name.end))
                i = j + name.end
                continue
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            tokens.append(Token("param", query[i + 1:j], i, j))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] == "_"):
                j += 1
            tokens.append(Token("word", query[i:j], i, j))
            i = j
        elif ch.isdigit():
            j = i + 1
            while j < n and (query[j].isalnum() or query[j] in "._") and not query.startswith("..", j):
                j += 1
            tokens.append(Token("number", query[i:j], i, j))
            i = j
        else:
            tokens.append(Token("punct", ch, i, i + 1))
            i += 1
    return tokens


def _statement(tokens: list[Token]) -> list[Token]:
    """The tokens of the one statement (a trailing ``;`` dropped); more than one is refused."""
    if tokens and tokens[-1].kind == "punct" and tokens[-1].text == ";":
        tokens = tokens[:-1]
    for t in tokens:
        if t.kind == "punct" and t.text == ";":
            raise ForbiddenQueryError("one statement per query: the query holds a ';' followed by more text")
    return tokens


def _dotted_name(tokens: list[Token], i: int) -> tuple[str, int]:
    """The dotted name starting at ``tokens[i]`` (words and quoted names joined by ``.``) and the
    index after it."""
    parts = []
    while i < len(tokens) and tokens[i].kind in ("word", "name"):
        parts.append(tokens[i].text)
        if i + 2 < len(tokens) and tokens[i + 1].kind == "punct" and tokens[i + 1].text == "." \
                and tokens[i + 2].kind in ("word", "name"):
            i += 2
            continue
        i += 1
        break
    return ".".join(parts), i


def _name_use(tokens: list[Token], i: int) -> bool:
    """``tokens[i]`` is a property, label, relation type or map key, not a keyword."""
    prev = tokens[i - 1] if i else None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if prev is not None and prev.kind == "punct" and prev.text in ".:":
        return True
    return nxt is not None and nxt.kind == "punct" and nxt.text == ":" and not (
        i + 2 < len(tokens) and tokens[i + 2].kind == "punct" and tokens[i + 2].text == ":")


def _clause_start(tokens: list[Token], i: int) -> bool:
    if i == 0:
        return True
    prev = tokens[i - 1]
    return (prev.kind == "punct" and prev.text == "{") or prev.is_word("UNION", "ALL")


# -- the checks ----------------------------------------------------------------------------------
def check_analyst_query(query: str, *, check_writes: bool = True) -> list[Token]:
    """Refuse what an analyst query may not do (see the module docstring); return its tokens.

    Args:
        check_writes: also refuse write clauses lexically (for servers that do not enforce
            read-only themselves, such as FalkorDB's Bolt endpoint).

    Raises:
        ForbiddenQueryError: ``LOAD CSV``, a procedure or function not allowed, administration,
            ``USE``, several statements.
        ReadOnlyQueryError: a procedure that writes; a write clause when ``check_writes``.
        StoreError: an empty query, or one that does not tokenise.
    """
    tokens = _statement(tokenize(query))
    if not tokens:
        raise StoreError("the query is empty")
    for i, t in enumerate(tokens):
        if t.kind not in ("word", "name"):
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t.text.upper() == "LOAD" and nxt is not None and nxt.kind in ("word", "name") \
                and nxt.text.upper() == "CSV":
            raise ForbiddenQueryError("LOAD CSV is not allowed in analyst queries: it makes the store fetch files "
                                      "or URLs (a way out of the database)")
        if t.kind != "word" or _name_use(tokens, i):
            continue
        word = t.text.upper()
        if word in _ADMIN_WORDS and _clause_start(tokens, i):
            raise ForbiddenQueryError(f"{word} ... is an administration command, not an analyst query")
        if word == "USE" and _clause_start(tokens, i):
            raise ForbiddenQueryError("USE <database> is not allowed: the store chooses the graph (--graph NAME)")
        if word == "CALL" and nxt is not None and nxt.kind in ("word", "name"):
            name, _ = _dotted_name(tokens, i + 1)
            _check_procedure(name)
    _check_functions(tokens)
    if check_writes:
        clause = _write_clause(tokens)
        if clause is not None:
            raise ReadOnlyQueryError(f"the query writes ({clause}); analyst queries are read-only")
    return tokens


def _check_procedure(name: str) -> None:
    key = name.lower()
    if _WRITE_PROCEDURE.search(key):
        raise ReadOnlyQueryError(f"the query calls {name}, a procedure that writes; analyst queries are read-only")
    if key not in ALLOWED_PROCEDURES:
        raise ForbiddenQueryError(f"procedure {name} is not allowed in analyst queries (only procedures that read "
                                  "the graph are: labels, indexes, full-text and vector search, algo.*); "
                                  "procedures can reach outside the database")


def _check_functions(tokens: list[Token]) -> None:
    i = 0
    while i < len(tokens):
        t = tokens[i]
        prev = tokens[i - 1] if i else None
        after_call = prev is not None and prev.is_word("CALL")
        after_dot = prev is not None and prev.kind == "punct" and prev.text == "."
        if t.kind in ("word", "name") and not after_call and not after_dot:
            name, j = _dotted_name(tokens, i)
            if j < len(tokens) and tokens[j].kind == "punct" and tokens[j].text == "(" and "." in name:
                namespace = name.rsplit(".", 1)[0].lower()
                if namespace not in ALLOWED_FUNCTION_NAMESPACES:
                    raise ForbiddenQueryError(f"function {name} is not allowed in analyst queries (allowed "
                                              "namespaces: " + ", ".join(sorted(ALLOWED_FUNCTION_NAMESPACES)) + ")")
            i = max(j, i + 1)
            continue
        i += 1


def _write_clause(tokens: list[Token]) -> str | None:
    for i, t in enumerate(tokens):
        if t.kind != "word" or _name_use(tokens, i):
            continue
        word = t.text.upper()
        if word in _WRITE_WORDS:
            return word
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and nxt.kind == "word" and (word, nxt.text.upper()) in _WRITE_PAIRS:
            return f"{word} {nxt.text.upper()}"
    return None


def find_write_clause(query: str) -> str | None:
    """The first write clause of ``query`` (``CREATE``, ``MERGE``, ``SET``, ``DELETE`` ...), else None.

    A lexical check, conservative on purpose (a variable named ``set`` counts), for servers that
    do not enforce read-only transactions; strings, quoted names, comments and keywords used as
    names do not count.
    """
    return _write_clause(_statement(tokenize(query)))


# -- size ----------------------------------------------------------------------------------------
def limit_rows(query: str, limit: int, params: Mapping[str, Any] | None = None,
               tokens: Sequence[Token] | None = None) -> str:
    """``query`` with its final ``RETURN`` limited to ``limit`` rows, where that is safe to do
    lexically: ``LIMIT limit`` appended when it has none, a larger literal (or parameter) limit
    lowered. Queries with a top-level ``UNION``, without a final ``RETURN`` (a bare ``CALL``), or
    with a ``LIMIT`` expression are returned as they are (the store then stops reading instead)."""
    toks = list(tokens) if tokens is not None else _statement(tokenize(query))
    depth, top = 0, []
    for t in toks:
        if t.kind == "punct" and t.text in "([{":
            depth += 1
        elif t.kind == "punct" and t.text in ")]}":
            depth -= 1
        elif depth == 0:
            top.append(t)
    if any(t.is_word("UNION") for t in top):
        return query
    returns = [k for k, t in enumerate(top) if t.is_word("RETURN") and not _name_use(top, k)]
    if not returns or not toks:
        return query
    tail = top[returns[-1] + 1:]
    limits = [k for k, t in enumerate(tail) if t.is_word("LIMIT") and not _name_use(tail, k)]
    if not limits and _one_aggregate_row(toks, tail):
        return query  # one row anyway, and a LIMIT would cost FalkorDB its constant-time counts
    if not limits:
        end = toks[-1].end
        return f"{query[:end]} LIMIT {int(limit)}{query[end:]}"
    expr = tail[limits[-1] + 1:]
    if len(expr) != 1:
        return query
    value: Any = None
    if expr[0].kind == "number" and expr[0].text.isdigit():
        value = int(expr[0].text)
    elif expr[0].kind == "param" and params is not None and isinstance(params.get(expr[0].text), int):
        value = int(params[expr[0].text])
    if value is None or value <= limit:
        return query
    return f"{query[:expr[0].start]}{int(limit)}{query[expr[0].end:]}"


AGGREGATES = frozenset({"COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT", "STDEV", "STDEVP", "PERCENTILECONT",
                        "PERCENTILEDISC"})


def _one_aggregate_row(toks: Sequence[Token], tail: Sequence[Token]) -> bool:
    """Whether a final ``RETURN`` (its top-level tokens ``tail``) lists aggregate calls only, each
    with an optional alias: without grouping keys it returns exactly one row."""
    items: list[list[Token]] = [[]]
    for t in tail:
        if t.kind == "punct" and t.text == ",":
            items.append([])
        else:
            items[-1].append(t)
    position = {id(t): k for k, t in enumerate(toks)}
    for item in items:
        if not item or not item[0].is_word(*AGGREGATES):
            return False
        after = position[id(item[0])] + 1
        if after >= len(toks) or toks[after].text != "(":
            return False
        if len(item) != 1 and not (len(item) == 3 and item[1].is_word("AS") and item[2].kind in ("word", "name")):
            return False
    return True


# -- limits --------------------------------------------------------------------------------------
def resolve_limits(timeout: float | None, max_rows: int | None, *, default_timeout: float, max_timeout: float,
                   default_rows: int) -> tuple[float, int]:
    """``(timeout, max_rows)`` of one analyst query: the defaults where None; a timeout that is not
    a positive number of seconds, or above ``max_timeout``, and ``max_rows`` below 1 are refused.

    Raises:
        ConfigError: naming the value and what is allowed.
    """
    seconds = default_timeout if timeout is None else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise ConfigError(f"query timeout {timeout!r} is not a positive number of seconds")
    if seconds > max_timeout:
        raise ConfigError(f"query timeout {seconds:g} s is above the hard maximum of {max_timeout:g} s")
    rows = default_rows if max_rows is None else max_rows
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError(f"max_rows {max_rows!r} is not a whole number of rows >= 1")
    return float(seconds), int(rows)


def timeout_message(seconds: float, backend: str) -> str:
    """The message of a :class:`~kgrec.errors.QueryTimeoutError`."""
    return (f"the query ran past its time limit of {seconds:g} s and was stopped by {backend}; narrow it (a label, "
            "fewer hops, a LIMIT) or give it more time (timeout=..., --timeout SECONDS) up to the store's maximum")


__all__ = ["ALLOWED_FUNCTION_NAMESPACES", "ALLOWED_PROCEDURES", "Token", "check_analyst_query", "find_write_clause",
           "limit_rows", "resolve_limits", "timeout_message", "tokenize"]
