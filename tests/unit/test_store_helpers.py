"""Store plumbing that needs no server: URL dispatch, graph choice, value encoding, batching."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kgrec.errors import ConfigError, InputError, StoreError, UnknownGraphError
from kgrec.kg.stores import URL_FORMS, make_store, store_class
from kgrec.kg.stores.base import check_graph_name, choose_graph
from kgrec.kg.stores.cypherbase import CypherStore, _dump_json, _load_json, _split_text, frame_rows


@pytest.mark.parametrize("url, name", [
    ("embedded", "EmbeddedStore"),
    ("embedded:/tmp/x", "EmbeddedStore"),
    ("falkordb://localhost:6379", "FalkorDBStore"),
    ("unix:///tmp/redis.sock", "FalkorDBStore"),
    ("redis://localhost", "FalkorDBStore"),
    ("bolt://localhost:7687", "Neo4jStore"),
    ("bolt+s://db.example.org", "Neo4jStore"),
    ("neo4j://localhost", "Neo4jStore"),
    ("neo4j+ssc://localhost", "Neo4jStore"),
    ("neo4j", "Neo4jStore"),
    ("rdf:/tmp/rdf", "RdfStore"),
])
def test_urls_pick_their_backend(url, name):
    assert store_class(url).__name__ == name


@pytest.mark.parametrize("url", ["postgres://x", "file:/tmp", "embeded", "", "neo4jx", "falkordb"])
def test_unknown_url_lists_the_accepted_forms(url):
    with pytest.raises(ConfigError) as info:
        store_class(url)
    for form in ("embedded", "falkordb://", "bolt://", "neo4j://", "rdf:"):
        assert form in str(info.value)
    assert len(URL_FORMS) >= 6


def test_make_store_constructs_without_io_and_refuses_unknown_options(tmp_path):
    store = make_store(f"embedded:{tmp_path}/s", batch_size=7)
    assert store.batch_size == 7 and not (tmp_path / "s").exists()  # no I/O before open()
    with pytest.raises(ConfigError, match="batchsize"):
        make_store("embedded", batchsize=7)
    with pytest.raises(ConfigError, match="appendfsync"):
        make_store("embedded", appendfsync="sometimes")
    with pytest.raises(UnknownGraphError):
        make_store("embedded", graph="no good")


def test_default_url_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KGREC_STORE", "falkordb://example.invalid:1234")
    assert type(make_store()).__name__ == "FalkorDBStore"
    monkeypatch.delenv("KGREC_STORE")
    assert type(make_store()).__name__ == "EmbeddedStore"


def test_neo4j_alone_needs_the_uri(monkeypatch):
    monkeypatch.delenv("KGREC_NEO4J_URI", raising=False)
    with pytest.raises(ConfigError, match="KGREC_NEO4J_URI"):
        make_store("neo4j")
    monkeypatch.setenv("KGREC_NEO4J_URI", "bolt://db.example.invalid:7687")
    monkeypatch.setenv("KGREC_NEO4J_USER", "reader")
    monkeypatch.setenv("KGREC_NEO4J_PASSWORD", "secret")
    store = make_store("neo4j")
    assert store.url == "bolt://db.example.invalid:7687" and store.auth == ("reader", "secret")


def test_neo4j_database_names():
    from kgrec.kg.stores.neo4j import database_name

    assert database_name("lastfm") == "lastfm"
    assert database_name("movielens-small") == "movielens-small"
    assert database_name("Lastfm_KGCN") == "lastfm-kgcn"
    assert database_name("1x") == "kg-1x"
    assert database_name("ab") == "ab0"


def test_falkordb_urls():
    from kgrec.kg.stores.falkordb import parse_falkordb_url

    assert parse_falkordb_url("falkordb://u:p@host:7000") == \
        {"host": "host", "port": 7000, "password": "p", "username": "u"}
    assert parse_falkordb_url("falkordb://host")["port"] == 6379
    assert parse_falkordb_url("unix:///run/redis.sock")["unix_socket_path"] == "/run/redis.sock"
    with pytest.raises(StoreError):
        parse_falkordb_url("http://host")


@pytest.mark.parametrize("name", ["lastfm", "movielens-small", "a.b_c", "X1"])
def test_good_graph_names(name):
    assert check_graph_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 65, "grä", "a`b"])
def test_bad_graph_names(name):
    with pytest.raises(UnknownGraphError):
        check_graph_name(name)


def test_choose_graph(monkeypatch):
    monkeypatch.delenv("KGREC_GRAPH", raising=False)
    assert choose_graph(None, None, ["only"], where="s") == "only"
    assert choose_graph("b", None, ["a", "b"], where="s") == "b"
    assert choose_graph(None, "a", ["a", "b"], where="s") == "a"
    with pytest.raises(UnknownGraphError, match=r"several graphs \(a, b\)"):
        choose_graph(None, None, ["b", "a"], where="s")
    with pytest.raises(UnknownGraphError, match="holds no graph"):
        choose_graph(None, None, [], where="s")
    with pytest.raises(UnknownGraphError, match="graphs there: a, b"):
        choose_graph("c", None, ["a", "b"], where="s")
    monkeypatch.setenv("KGREC_GRAPH", "b")
    assert choose_graph(None, None, ["a", "b"], where="s") == "b"
    assert choose_graph("a", None, ["a", "b"], where="s") == "a"  # explicit wins


def test_frame_rows_gives_plain_python_values_and_none_for_missing():
    df = pd.DataFrame({"id": pd.array(["a", None], dtype="string"), "n": pd.array([1, None], dtype="Int64"),
                       "f": pd.array([0.5, None], dtype="Float64"), "raw": [float("nan"), 2.5],
                       "b": pd.array([True, None], dtype="boolean")})
    rows = frame_rows(df, ["id", "n", "f", "raw", "b"])
    assert rows == [{"id": "a", "n": 1, "f": 0.5, "raw": None, "b": True},
                    {"id": None, "n": None, "f": None, "raw": 2.5, "b": None}]
    assert type(rows[0]["n"]) is int and type(rows[0]["f"]) is float


def test_cypher_literals_match_what_falkordb_parses():
    from kgrec.kg.stores.falkordb import cypher_literals

    assert cypher_literals(pd.Series(['a"b', "c\\d", None, "new\nline"], dtype="string")).tolist() == \
        ['"a\\"b"', '"c\\\\d"', "null", '"new\nline"']
    assert cypher_literals(pd.Series([1, None, 2**40], dtype="Int64")).tolist() == ["1", "null", str(2**40)]
    assert cypher_literals(pd.Series([0.1, None, math.nan], dtype="Float64")).tolist() == ["0.1", "null", "null"]
    assert cypher_literals(pd.Series([True, False, None], dtype="boolean")).tolist() == ["true", "false", "null"]
    with pytest.raises(InputError, match="finite"):
        cypher_literals(pd.Series([1.0, math.inf], dtype="Float64", name="score"))


def test_meta_json_avoids_backslashes_and_quotes_that_bolt_mangles():
    plain = {"a": "b"}
    assert _dump_json(plain) == '{"a": "b"}'
    for value in ({"q": 'say "hi"'}, {"s": "it's"}, {"p": "C:\\dir"}):
        text = _dump_json(value)
        assert text.startswith("b64:") and "\\" not in text and "'" not in text
        assert _load_json(text) == value


def test_split_text_respects_the_byte_budget():
    text = "ab✓" * 500 + "😀" * 100
    parts = _split_text(text, 100)
    assert "".join(parts) == text
    assert all(len(p.encode()) <= 100 for p in parts)


def test_batches_split_by_bytes():
    rows = [{"id": str(i), "name": "x" * 40} for i in range(100)]
    parts = list(CypherStore._split_by_bytes(rows, 500))
    assert [r for p in parts for r in p] == rows
    assert len(parts) > 5
    with pytest.raises(StoreError, match="does not fit"):
        list(CypherStore._split_by_bytes([{"id": "x" * 1000}], 500))
