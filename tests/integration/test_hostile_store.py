"""The store's hostile corpus: analyst queries that reach outside the database (LOAD CSV in every
disguise, procedures, functions), that run forever or return millions of rows, SPARQL SERVICE / LOAD
/ FROM, reserved labels and NUL characters in writes, bad limits — through the Python API and the CLI
(``kgrec query``), on the embedded store, the RDF store and Neo4j (FalkorDB's Bolt endpoint).

After every case the stores are checked unchanged: per label and relation the counts, the graph's
record (schema, columns, state), and the persistence files themselves (the embedded server's
append-only files and snapshot, byte for byte; the rdf databases' table files and their content).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import (
    ConfigError,
    ForbiddenQueryError,
    InputError,
    QueryTimeoutError,
    ReadOnlyQueryError,
    SchemaError,
)
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.kg.stores import open_store
from tests.fixtures.store import BOLT_OPTIONS, BOLT_HOSTILE, make_tiny_kg

_register()
runner = CliRunner()
HOME = "http://127.0.0.1:9/kgrec-hostile"  # a URL nobody answers: a fetch would fail, a refusal is instant


@dataclass
class Env:
    store: Any  # embedded, holding the lastfm subgraph
    url: str
    graph: str
    rdf_url: str
    bolt: Any  # Neo4jStore over FalkorDB's Bolt endpoint, holding the tiny graph
    tmp: Path


@pytest.fixture(scope="module")
def env(lastfm_small_kg, bolt_server, tmp_path_factory):
    folder = tempfile.mkdtemp(prefix="kgrec-hs-", dir="/tmp")
    url = f"embedded:{folder}"
    store = open_store(url)
    store.write(lastfm_small_kg, graph="lastfm")
    tmp = tmp_path_factory.mktemp("hostile_store")
    rdf_url = f"rdf:{tmp / 'rdf'}"
    with open_store(rdf_url) as rdf:
        rdf.write(make_tiny_kg("tiny"))
        rdf.upsert_nodes("N", pd.DataFrame({"id": [f"n{i}" for i in range(1500)]}))
        rdf.ox_store().flush()
    server, port = bolt_server
    bolt = open_store(f"bolt://127.0.0.1:{port}", **BOLT_OPTIONS)
    for name in bolt.graphs():
        bolt.drop(name)
    bolt.write(make_tiny_kg("bolt", hostile=BOLT_HOSTILE))
    try:
        yield Env(store, url, "lastfm", rdf_url, bolt, tmp)
    finally:
        for name in bolt.graphs():
            bolt.drop(name)
        bolt.close()
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _digest(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def fingerprint(env: Env) -> tuple:
    """Counts, records and persistence files of the three stores."""
    s = env.store
    stats = s.stats(graph=env.graph)
    meta = s.graph_meta(graph=env.graph)
    data_dir = Path(s.data_dir)
    embedded_files = _digest([*(data_dir / "appendonlydir").glob("*"), data_dir / "dump.rdb"])
    with open_store(env.rdf_url) as rdf:
        rdf_stats = rdf.stats()
        rdf_state = rdf.state()
        content = hashlib.sha256("".join(sorted(str(q) for q in rdf.ox_store())).encode()).hexdigest()
        tables = _digest(Path(rdf.graphs_dir).rglob("*.sst"))
    bolt_stats = env.bolt.stats()
    return (stats.nodes, stats.edges, meta.schema.to_dict(), meta.columns_by_key(), meta.state, embedded_files,
            rdf_stats.nodes, rdf_stats.edges, rdf_state, content, tables, bolt_stats.nodes, bolt_stats.edges)


# -- channels ------------------------------------------------------------------------------------
def api(query: str, params: dict | None = None, **limits) -> Callable[[Env], Any]:
    return lambda env: env.store.query(query, params, graph=env.graph, **limits)


def sparql(query: str, **limits) -> Callable[[Env], Any]:
    def call(env: Env):
        with open_store(env.rdf_url) as rdf:
            return rdf.sparql(query, **limits)
    return call


def bolt(query: str, **limits) -> Callable[[Env], Any]:
    return lambda env: env.bolt.query(query, **limits)


def cli(*args: str, rdf: bool = False) -> Callable[[Env], Any]:
    def call(env: Env):
        where = ["--store", env.rdf_url] if rdf else ["--store", env.url, "--graph", env.graph]
        return runner.invoke(app, [*args, *where])
    return call


def _write_reserved(env: Env):
    schema = Schema((NodeType("User"), NodeType("Item"), NodeType("KgrecMeta")),
                    (RelationType("User", "RATED", "Item"), RelationType("Item", "IS", "KgrecMeta")),
                    "User", "Item", ("User", "RATED", "Item"))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["u"]}), "Item": pd.DataFrame({"id": ["i"]}),
                                 "KgrecMeta": pd.DataFrame({"id": ["m"]})},
                        {("User", "RATED", "Item"): pd.DataFrame({"src": ["u"], "dst": ["i"]}),
                         ("Item", "IS", "KgrecMeta"): pd.DataFrame({"src": ["i"], "dst": ["m"]})}, name="lastfm")
    return env.store.write(kg, graph=env.graph)


@dataclass(frozen=True)
class Case:
    name: str
    channel: str  # api | cli
    call: Callable[[Env], Any]
    expect: Any  # an exception class, ("exit", code, exception class or None, text in the output), or a check


CARTESIAN = "MATCH (a:Artist), (b:Artist), (c:Artist) RETURN count(*) AS n"
SPARQL_CARTESIAN = "SELECT (COUNT(*) AS ?n) WHERE { ?a a kgs:N . ?b a kgs:N . ?c a kgs:N }"

CASES: list[Case] = [
    # ---- LOAD CSV in every disguise (Python API) ----
    Case("api-load-csv-url", "api", api(f"LOAD CSV FROM '{HOME}/x.csv' AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-file", "api", api("LOAD CSV FROM 'file:///etc/passwd' AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-lower-comment", "api", api(f"load/**/csv from '{HOME}' as r return r"), ForbiddenQueryError),
    Case("api-load-csv-line-comment", "api", api(f"LOAD // x\nCSV FROM '{HOME}' AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-odd-spaces", "api", api(f"LOAD\u00a0\u2003\nCSV FROM '{HOME}' AS r RETURN r"),
         ForbiddenQueryError),
    Case("api-load-csv-zero-width", "api", api(f"LOAD\u200bCSV FROM '{HOME}' AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-backticks", "api", api(f"`LOAD` `CSV` FROM '{HOME}' AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-exfiltration", "api",
         api(f"MATCH (u:User) WITH u LIMIT 1 LOAD CSV FROM '{HOME}/' + u.id AS r RETURN r"), ForbiddenQueryError),
    Case("api-load-csv-in-subquery", "api", api(f"CALL {{ LOAD CSV FROM '{HOME}' AS r RETURN r }} RETURN r"),
         ForbiddenQueryError),
    # ---- procedures and functions that reach outside ----
    Case("api-apoc-load-json", "api", api(f"CALL apoc.load.json('{HOME}') YIELD value RETURN value"),
         ForbiddenQueryError),
    Case("api-apoc-quoted-parts", "api", api(f"CALL `apoc`.`load`.`json`('{HOME}')"), ForbiddenQueryError),
    Case("api-apoc-spaced-commented", "api", api(f"CALL apoc . /* */ load.json('{HOME}')"), ForbiddenQueryError),
    Case("api-dbms-procedure", "api", api("CALL dbms.listConfig()"), ForbiddenQueryError),
    Case("api-apoc-cypher-run", "api", api(f"CALL apoc.cypher.run('LOAD CSV FROM \"{HOME}\" AS r RETURN r', {{}})"),
         ForbiddenQueryError),
    Case("api-apoc-function", "api", api("RETURN apoc.util.sleep(600000)"), ForbiddenQueryError),
    Case("api-write-procedure", "api", api("CALL db.idx.fulltext.createNodeIndex('User', 'name')"),
         ReadOnlyQueryError),
    Case("api-show-users", "api", api("SHOW USERS"), ForbiddenQueryError),
    Case("api-use-database", "api", api("USE system MATCH (n) RETURN n"), ForbiddenQueryError),
    Case("api-two-statements", "api", api("MATCH (n) RETURN count(n); MATCH (n) DETACH DELETE n"),
         ForbiddenQueryError),
    # ---- time and size ----
    Case("api-cartesian-timeout", "api", api(CARTESIAN, timeout=1), QueryTimeoutError),
    Case("api-3m-row-unwind", "api", api("UNWIND range(1, 3000000) AS i RETURN i", max_rows=1000),
         lambda r: len(r) == 1000 and r.truncated and r.rows[-1] == (1000,)),
    Case("api-3m-row-union", "api", api("UNWIND range(1, 3000000) AS i RETURN i UNION ALL RETURN 0 AS i",
                                        max_rows=1000, timeout=120),
         lambda r: len(r) == 1000 and r.truncated),
    Case("api-timeout-above-max", "api", api("RETURN 1", timeout=1e9), ConfigError),
    Case("api-timeout-nan", "api", api("RETURN 1", timeout=float("nan")), ConfigError),
    Case("api-max-rows-zero", "api", api("RETURN 1", max_rows=0), ConfigError),
    # ---- writes that must not land ----
    Case("api-reserved-label-upsert", "api",
         lambda e: e.store.upsert_nodes("KgrecMeta", pd.DataFrame({"id": ["x"]}), graph=e.graph), SchemaError),
    Case("api-reserved-label-write", "api", _write_reserved, SchemaError),
    Case("api-nul-in-upsert-id", "api",
         lambda e: e.store.upsert_nodes("User", pd.DataFrame({"id": ["ok", "a\x00b"]}), graph=e.graph), InputError),
    Case("api-nul-in-upsert-property", "api",
         lambda e: e.store.upsert_nodes("User", pd.DataFrame({"id": ["2"], "note": ["x\x00"]}), graph=e.graph),
         InputError),
    Case("api-nul-in-edge-dst", "api",
         lambda e: e.store.upsert_edges(("User", "LISTENED_TO", "Artist"),
                                        pd.DataFrame({"src": ["2"], "dst": ["\x00"]}), graph=e.graph), InputError),
    # ---- Neo4j (FalkorDB's Bolt endpoint) ----
    Case("bolt-load-csv", "api", bolt(f"LOAD CSV FROM '{HOME}' AS r RETURN r"), ForbiddenQueryError),
    Case("bolt-apoc-load", "api", bolt(f"CALL apoc.load.jsonParams('{HOME}', {{}}, null)"), ForbiddenQueryError),
    Case("bolt-write-clause", "api", bolt("MATCH (n) /* x */ DETACH\nDELETE n"), ReadOnlyQueryError),
    Case("bolt-rows-cut", "api", bolt("UNWIND range(1, 30000) AS i RETURN i", max_rows=50),
         lambda r: len(r) == 50 and r.truncated),
    # ---- RDF: SPARQL that reaches outside, or runs forever ----
    Case("api-sparql-service", "api", sparql("SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"),
         ForbiddenQueryError),
    Case("api-sparql-service-lower", "api", sparql("select * where { service   <http://127.0.0.1:9/s> {?s ?p ?o} }"),
         ForbiddenQueryError),
    Case("api-sparql-load", "api", sparql(f"LOAD <{HOME}/x.ttl>"), ForbiddenQueryError),
    Case("api-sparql-load-silent-into", "api", sparql(f"LOAD SILENT <{HOME}/x.ttl> INTO GRAPH <http://x/g>"),
         ForbiddenQueryError),
    Case("api-sparql-from", "api", sparql(f"SELECT * FROM <{HOME}/x.ttl> WHERE {{ ?s ?p ?o }}"),
         ForbiddenQueryError),
    Case("api-sparql-drop", "api", sparql("DROP ALL"), ReadOnlyQueryError),
    Case("api-sparql-cartesian-timeout", "api", sparql(SPARQL_CARTESIAN, timeout=1.5), QueryTimeoutError),
    Case("api-sparql-rows-cut", "api", sparql("SELECT ?a ?b WHERE { ?a a kgs:N . ?b a kgs:N }", max_rows=100),
         lambda r: len(r) == 100 and r.truncated),
    # ---- the CLI: kgrec query ----
    Case("cli-load-csv", "cli", cli("query", f"LOAD CSV FROM '{HOME}' AS r RETURN r"),
         ("exit", 1, ForbiddenQueryError, None)),
    Case("cli-load-csv-disguised", "cli", cli("query", f"lOaD /* hi */\n\tcSv FROM '{HOME}' AS r RETURN r"),
         ("exit", 1, ForbiddenQueryError, None)),
    Case("cli-apoc-load", "cli", cli("query", f"CALL apoc.load.json('{HOME}')"),
         ("exit", 1, ForbiddenQueryError, None)),
    Case("cli-write", "cli", cli("query", "MERGE (n:User {id: 'pwned'})"), ("exit", 1, ReadOnlyQueryError, None)),
    Case("cli-cartesian-timeout", "cli", cli("query", CARTESIAN, "--timeout", "1"),
         ("exit", 1, QueryTimeoutError, None)),
    Case("cli-3m-rows", "cli", cli("query", "UNWIND range(1, 3000000) AS i RETURN i", "--max-rows", "5"),
         ("exit", 0, None, "truncated")),
    Case("cli-timeout-above-max", "cli", cli("query", "RETURN 1", "--timeout", "100000"),
         ("exit", 1, ConfigError, None)),
    Case("cli-params-not-an-object", "cli", cli("query", "RETURN $x", "--params", "[1, 2]"),
         ("exit", 1, InputError, None)),
    Case("cli-params-not-json", "cli", cli("query", "RETURN $x", "--params", "{x: 1}"), ("exit", 1, InputError, None)),
    Case("cli-params-injection", "cli", cli("query", "MATCH (u:User {id: $id}) RETURN count(u)", "--params",
                                            '{"id": "x\' OR 1=1 //"}'), ("exit", 0, None, "0")),
    Case("cli-sparql-service", "cli", cli("query", "--sparql", "SELECT * WHERE { SERVICE <http://127.0.0.1:9/s> "
                                          "{ ?s ?p ?o } }", rdf=True), ("exit", 1, ForbiddenQueryError, None)),
    Case("cli-sparql-load", "cli", cli("query", "--sparql", f"LOAD <{HOME}/x.ttl>", rdf=True),
         ("exit", 1, ForbiddenQueryError, None)),
    Case("cli-sparql-timeout", "cli", cli("query", "--sparql", SPARQL_CARTESIAN, "--timeout", "1.5", rdf=True),
         ("exit", 1, QueryTimeoutError, None)),
]


def test_the_corpus_is_big_and_covers_both_channels():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.channel == "cli" for c in CASES) >= 10 and sum(c.channel == "api" for c in CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_store_input(case: Case, env: Env):
    before = fingerprint(env)
    expect = case.expect
    if isinstance(expect, type):
        with pytest.raises(expect):
            case.call(env)
    elif isinstance(expect, tuple) and expect[0] == "exit":
        _, code, exc, text = expect
        result = case.call(env)
        assert result.exit_code == code, (result.exit_code, result.output[-1000:], result.exception)
        if exc is not None:
            assert isinstance(result.exception, exc), repr(result.exception)
        if text is not None:
            assert text in result.output
    else:
        result = case.call(env)
        assert expect(result), result
    assert fingerprint(env) == before, f"{case.name} changed a store"
    assert env.store.query("RETURN 1 AS ok", graph=env.graph).scalar() == 1  # the store still answers
