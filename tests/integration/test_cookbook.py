"""docs/analysts.md: every query of the Cypher cookbook runs on the embedded store holding the full
``lastfm`` graph and returns the rows the cookbook shows, modulo row order.

The cookbook marks each query with ``<!-- query: NAME -->``, followed by a ```` ```cypher ````
block, optionally a ```` ```params ```` block (``:params {user: "2", k: 10}``, as typed in Neo4j
Browser), and the output as a markdown table. A query marked ``<!-- query: NAME (no rows on a fresh
ingest) -->`` shows no table: its rows come from a later command (``kgrec profile``), so on a
fresh ingest it must run and return nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
EMPTY_MARK = "(no rows on a fresh ingest)"
_MARK = re.compile(r"<!-- query: ([\w-]+)( \(no rows on a fresh ingest\))? -->")
_BLOCK = re.compile(r"```(\w+)\n(.*?)\n```", re.S)


@dataclass(frozen=True)
class CookbookQuery:
    name: str
    cypher: str
    params: dict[str, Any]
    columns: list[str]  # empty: the doc shows no table
    rows: list[tuple[str, ...]]
    expect_empty: bool = False  # marked (no rows on a fresh ingest)


def parse_params(text: str) -> dict[str, Any]:
    """``:params {user: "2", k: 10}`` (Neo4j Browser's form) → ``{"user": "2", "k": 10}``."""
    text = text.strip()
    if not text.startswith(":params"):
        raise ValueError(f"a params block must start with ':params': {text!r}")
    body = text[len(":params"):].strip()
    return json.loads(re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', body))


def cell(value: Any) -> str:
    """How the cookbook writes one value: strings as they are, lists as JSON, null as ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return json.dumps([v if isinstance(v, (str, int)) else cell(v) for v in value], ensure_ascii=False)
    return str(value)


def _split_row(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def render_table(columns: list[str], rows: list[tuple]) -> str:
    """A markdown table of a query result (what the cookbook shows)."""
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(esc(cell(v)) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def parse_cookbook(text: str) -> list[CookbookQuery]:
    out = []
    marks = list(_MARK.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        section = text[m.end():end]
        blocks = {lang: body for lang, body in _BLOCK.findall(section)}
        if "cypher" not in blocks:
            raise ValueError(f"query {m.group(1)}: no ```cypher block")
        params = parse_params(blocks["params"]) if "params" in blocks else {}
        after = section[section.rfind("```") + 3:]
        table = [ln for ln in after.splitlines() if ln.strip().startswith("|")]
        columns = _split_row(table[0]) if len(table) >= 2 else []
        rows = [tuple(_split_row(ln)) for ln in table[2:]]
        out.append(CookbookQuery(m.group(1), blocks["cypher"], params, columns, rows, expect_empty=bool(m.group(2))))
    return out


QUERIES = parse_cookbook(COOKBOOK.read_text(encoding="utf-8")) if COOKBOOK.is_file() else []


def test_the_cookbook_has_the_queries_the_issue_asks_for():
    names = {q.name for q in QUERIES}
    for wanted in ("user-history", "user-interest-tags", "why-recommended", "artist-connections", "influential-tags"):
        assert wanted in names, f"docs/analysts.md lacks query {wanted!r}; has {sorted(names)}"
    for q in QUERIES:
        assert "$" in q.cypher or not q.params, q.name
        for key in q.params:
            assert f"${key}" in q.cypher, f"{q.name}: parameter {key} unused"
        assert not re.search(r"'\d+'", q.cypher), f"{q.name}: values belong in $parameters"


def test_render_and_parse_round_trip():
    table = render_table(["a", "b"], [("x|y", 3), ("z", ["p", "q"]), (None, 2.5)])
    text = f"<!-- query: t -->\n```cypher\nMATCH (n) RETURN n\n```\n\n{table}\n"
    (q,) = parse_cookbook(text)
    assert q.columns == ["a", "b"] and q.rows == [("x|y", "3"), ("z", '["p", "q"]'), ("null", "2.500")]
    assert parse_params(':params {user: "2", k: 10, names: ["a", "b"]}') == {"user": "2", "k": 10, "names": ["a", "b"]}


@pytest.fixture(scope="module")
def lastfm_store(lastfm_kg):
    """An embedded store of its own holding the full lastfm graph (about 10-20 s to write)."""
    from kgrec.kg.stores import open_store

    folder = tempfile.mkdtemp(prefix="kgrec-cookbook-", dir="/tmp")
    store = open_store(f"embedded:{folder}")
    try:
        store.write(lastfm_kg, graph="lastfm")
        yield store
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_cookbook_query_returns_what_the_doc_shows(query: CookbookQuery, lastfm_store):
    result = lastfm_store.query(query.cypher, query.params, graph="lastfm")
    if query.expect_empty:
        assert not query.columns, f"{query.name} is marked {EMPTY_MARK} but shows a table"
        assert result.rows == [], f"{query.name}: expected no rows on a fresh ingest"
        return
    assert query.columns, f"{query.name}: docs/analysts.md shows no output table after its blocks"
    assert list(result.columns) == query.columns
    got = Counter(tuple(cell(v) for v in row) for row in result.rows)
    shown = Counter(query.rows)
    assert got == shown, (f"{query.name}: the store returned\n{render_table(list(result.columns), result.rows)}\n"
                          f"but the cookbook shows\n{render_table(query.columns, query.rows)}")
