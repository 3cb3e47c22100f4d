"""The hostile input corpus: injections, traversal, oversized and nested bodies, unicode edge cases,
bad ``k``, unknown labels and relations — through HTTP, the Python API and the CLI.

Every case names its channel and its expected outcome (an HTTP status, an exception class, a CLI
exit code, or an empty result), and after each one the store is checked unchanged: counts per
label and relation, server-side aggregates of every id, name and property, the meta node, and the
size of the append-only file (any write at all would grow it).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import pytest
from kgrec.kg.stores import open_store
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import (
    DatasetNotFoundError,
    InputError,
    KgrecError,
    ReadOnlyQueryError,
    RunDirError,
    SchemaError,
    UnknownGraphError,
    UnknownUserError,
)

_register()
runner = CliRunner()
TOKEN = "hostile-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

CYPHER_INJECTIONS = [
    "x' OR 1=1 //",
    '") MATCH (n) DETACH DELETE n //',
    "u}) DETACH DELETE n RETURN 1 //",
    "1 UNION MATCH (n) SET n.pwned = true RETURN n",
]
SPARQL_INJECTION = "x> } ; DROP ALL ; INSERT DATA { <a> <b> <c> } #"


@dataclass
class Env:
    store: Any
    url: str
    graph: str
    rec: Any
    client: httpx.Client
    run_dir: Path
    user: str
    item: str
    tmp: Path


@pytest.fixture(scope="module")
def env(lastfm_small_kg, serving_run, tmp_path_factory):
    from kgrec.serving import Recommender
    from kgrec.serving.http import BackgroundServer, create_app

    folder = tempfile.mkdtemp(prefix="kgrec-hostile-", dir="/tmp")
    url = f"embedded:{folder}"
    store = open_store(url)
    store.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    rec = Recommender.load(serving_run.path, store=store, graph=lastfm_small_kg)
    user = min(rec.users())
    try:
        with BackgroundServer(create_app(rec, token=TOKEN, feedback_fsync="store")) as server, \
                httpx.Client(base_url=server.url, timeout=60) as client:
            yield Env(store, url, lastfm_small_kg.name, rec, client, serving_run.path, user, rec.items()[0],
                      tmp_path_factory.mktemp("hostile"))
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


def fingerprint(env: Env) -> tuple:
    """What must not change: per label, counts and server-side sums over every id, name and property
    key; per relation type, counts and property keys; the meta node; the size of the append-only
    file (any write at all grows it) and the bytes of every persistence file."""
    s, g = env.store, env.graph
    nodes = s.query("MATCH (n) RETURN labels(n)[0] AS label, count(n), sum(size(n.id)), "
                    "sum(size(coalesce(n.name, ''))), sum(size(keys(n))) ORDER BY label", graph=g).rows
    edges = s.query("MATCH ()-[r]->() RETURN type(r) AS t, count(r), sum(size(keys(r))) ORDER BY t", graph=g).rows
    meta = s.query("MATCH (m:KgrecMeta) RETURN m.schema, m.columns, m.state", graph=g).rows
    aof = sum(p.stat().st_size for p in Path(s.data_dir).rglob("*.aof*") if p.is_file())
    return nodes, edges, hashlib.sha256(repr(meta).encode()).hexdigest(), aof, persistence(env)


def persistence(env: Env) -> dict[str, str]:
    """Every persistence file of the store (append-only files, their manifest, RDB snapshots) by
    content hash: a refused case must not have written a byte."""
    files = {}
    for p in sorted(Path(env.store.data_dir).rglob("*")):
        if p.is_file() and (".aof" in p.name or p.suffix == ".rdb" or p.name.endswith(".manifest")):
            files[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return files


# -- channels ------------------------------------------------------------------------------------
def http(method: str, path: str, **kw) -> Callable[[Env], Any]:
    def call(env: Env):
        return env.client.request(method, path, **kw)
    return call


def cli(*args: str) -> Callable[[Env], Any]:
    def call(env: Env):
        values = {"{url}": env.url, "{graph}": env.graph, "{run}": str(env.run_dir), "{user}": env.user,
                  "{tmp}": str(env.tmp)}
        filled = [values.get(a, a.replace("{tmp}", str(env.tmp))) for a in args]
        return runner.invoke(app, filled)
    return call


@dataclass(frozen=True)
class Case:
    name: str
    channel: str  # http | api | cli
    call: Callable[[Env], Any]
    expect: Any  # an HTTP status, an exception class, ("exit", code, exception class or None), or a check


def _feedback(user, item="no-such-item", **extra):
    return http("POST", "/v1/feedback", json={"user": user, "item": item, **extra}, headers=AUTH)


def _query(cypher, **params):
    return http("POST", "/v1/query", json={"cypher": cypher, "parameters": params}, headers=AUTH)


def _nested(depth: int) -> bytes:
    return b'{"cypher": "MATCH (n) RETURN 1", "parameters": {"p": ' + b"[" * depth + b"]" * depth + b"}}"


def _deep(depth: int = 100_000) -> bytes:
    return b'{"user": "u", "item": "i", "weight": ' + b"[" * depth + b"]" * depth + b"}"


def _deep_feedback(content_type: str | None):
    headers = {**AUTH, **({} if content_type is None else {"content-type": content_type})}
    return lambda e: e.client.post("/v1/feedback", content=_deep(), headers=headers)


def _bad_run(env: Env, damage: str) -> Path:
    """A copy of the run directory whose manifest lies (issue 14 B10)."""
    import json
    import os

    from kgrec.gnn.run import MANIFEST, sha256_file

    folder = env.tmp / f"run-{damage}"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(env.run_dir, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    if damage == "traversal":
        target = Path("/etc/hostname")
        name = os.path.relpath(target, folder)
        manifest["files"][name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
        (folder / MANIFEST).write_text(json.dumps(manifest))
    elif damage == "deep":
        (folder / MANIFEST).write_text('{"files": ' + "{" * 100_000 + "}" * 100_000 + "}")
    elif damage == "symlink":
        outside = env.tmp / "outside-metrics.json"
        shutil.copy(folder / "metrics.json", outside)
        (folder / "metrics.json").unlink()
        (folder / "metrics.json").symlink_to(outside)
    return folder


def _not_a_run(env: Env) -> Path:
    folder = env.tmp / "not-a-run"
    folder.mkdir(exist_ok=True)
    (folder / "readme.txt").write_text("not a run")
    return folder


def _load_run(path: Path):
    from kgrec.gnn import Run

    return Run.load(path)


def _chunks(total: int, size: int = 65536):
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


CASES: list[Case] = [
    # ---- HTTP: injections in ids ----
    *[Case(f"http-reco-cypher-injection-{i}", "http", http("GET", f"/v1/users/{quote(s, safe='')}/recommendations"), 404)
      for i, s in enumerate(CYPHER_INJECTIONS)],
    Case("http-reco-sparql-injection", "http", http("GET", "/v1/users/x%3E%20%7D%20DROP%20ALL%20%23/recommendations"), 404),
    Case("http-explain-path-traversal", "http", http("GET", "/v1/users/1/explain/..%2F..%2F..%2Fetc%2Fpasswd"), 404),
    Case("http-similar-traversal-dots", "http", http("GET", "/v1/items/..%2F..%2Fstore%2Fredis.sock/similar"), 404),
    Case("http-feedback-cypher-injection-user", "http", _feedback(CYPHER_INJECTIONS[1]), 404),
    Case("http-feedback-cypher-injection-item", "http", _feedback("new-user", CYPHER_INJECTIONS[2]), 404),
    Case("http-feedback-sparql-injection", "http", _feedback(SPARQL_INJECTION), 404),
    Case("http-forget-injection", "http", http("DELETE", "/v1/users/x%27%20OR%201%3D1%20--", headers=AUTH), 404),
    # an encoded slash is decoded before routing: a trailing one redirects to the path without it (nothing runs)
    Case("http-forget-encoded-trailing-slash", "http", http("DELETE", "/v1/users/x%2F%2F", headers=AUTH), 307),
    # ---- HTTP: unicode ----
    Case("http-reco-nul-in-id", "http", http("GET", "/v1/users/a%00b/recommendations"), 404),
    Case("http-reco-rtl-override", "http", http("GET", "/v1/users/%E2%80%AEresu/recommendations"), 404),
    Case("http-reco-invalid-utf8", "http", http("GET", "/v1/users/%ED%A0%80/recommendations"), 404),
    Case("http-reco-very-long-id", "http", http("GET", "/v1/users/" + "x" * 5000 + "/recommendations"), 422),
    Case("http-feedback-nul-user", "http", lambda e: _feedback("a\x00b", e.item)(e), 422),
    Case("http-feedback-lone-surrogate", "http",
         lambda e: e.client.post("/v1/feedback", content=b'{"user": "\\ud800", "item": "%s"}' % e.item.encode(),
                                 headers={**AUTH, "content-type": "application/json"}), 422),
    Case("http-feedback-emoji-zwj-long", "http", _feedback("\U0001F469\u200D\U0001F4BB" * 200), 422),
    # ---- HTTP: k and other parameters ----
    Case("http-k-negative", "http", lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"k": -1}), 422),
    Case("http-k-zero", "http", lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"k": 0}), 422),
    Case("http-k-huge", "http", lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"k": 10**30}), 422),
    Case("http-k-not-a-number", "http", lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"k": "1;DROP"}), 422),
    Case("http-similar-k-huge", "http", lambda e: e.client.get(f"/v1/items/{e.item}/similar", params={"k": 2**63}), 422),
    Case("http-max-paths-huge", "http", lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"max_paths": 10**6}), 422),
    Case("http-filter-unknown-label", "http",
         lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"filter": "Nope) DETACH DELETE (n:x"}), 422),
    Case("http-filter-injection-value", "http",
         lambda e: e.client.get(f"/v1/users/{e.user}/recommendations", params={"filter": "Tag:rock' OR '1'='1"}), 422),
    Case("http-feedback-weight-negative", "http", lambda e: _feedback(e.user, e.item, weight=-1)(e), 422),
    Case("http-feedback-weight-infinite", "http",
         lambda e: e.client.post("/v1/feedback", content=b'{"user": "u", "item": "i", "weight": 1e999}',
                                 headers={**AUTH, "content-type": "application/json"}), 422),
    Case("http-feedback-unknown-kind", "http", lambda e: _feedback(e.user, e.item, kind="delete")(e), 422),
    Case("http-feedback-extra-field", "http", lambda e: _feedback(e.user, e.item, cypher="MATCH (n) DELETE n")(e), 422),
    # ---- HTTP: bodies ----
    Case("http-body-2mib", "http", lambda e: e.client.post("/v1/feedback", content=b" " * (2 << 20),
                                                            headers={**AUTH, "content-type": "application/json"}), 413),
    Case("http-body-chunked-2mib", "http", lambda e: e.client.post("/v1/query", content=_chunks(2 << 20),
                                                                    headers={**AUTH, "content-type": "application/json"}), 413),
    Case("http-json-nested-100k", "http", lambda e: e.client.post("/v1/query", content=_nested(100_000),
                                                                   headers={**AUTH, "content-type": "application/json"}), 422),
    Case("http-json-nested-40", "http", lambda e: e.client.post("/v1/query", content=_nested(40),
                                                                 headers={**AUTH, "content-type": "application/json"}), 422),
    Case("http-json-invalid", "http", lambda e: e.client.post("/v1/feedback", content=b'{"user": ',
                                                               headers={**AUTH, "content-type": "application/json"}), 422),
    Case("http-item-oversized-text", "http", http("POST", "/v1/items", json={"id": "big", "name": "b", "text": "x" * 70_000},
                                                  headers=AUTH), 422),
    Case("http-item-unknown-relation", "http",
         http("POST", "/v1/items", json={"id": "new-item", "name": "n", "attributes": {"HAS_TAG]->() DETACH DELETE n //": ["x"]}},
              headers=AUTH), 422),
    Case("http-no-token-write", "http", http("POST", "/v1/feedback", json={"user": "u", "item": "i"}), 401),
    Case("http-wrong-token", "http", http("POST", "/v1/query", json={"cypher": "MATCH (n) DELETE n"},
                                          headers={"Authorization": "Bearer " + "A" * 10_000}), 401),
    # ---- HTTP: the read-only query endpoint ----
    Case("http-query-create", "http", _query("CREATE (n:Pwned {x: 1})"), 403),
    Case("http-query-detach-delete", "http", _query("MATCH (n) DETACH DELETE n"), 403),
    Case("http-query-set", "http", _query("MATCH (n:User) SET n.pwned = true"), 403),
    Case("http-query-merge", "http", _query("MERGE (n:User {id: 'x'})"), 403),
    Case("http-query-remove", "http", _query("MATCH (n:User) REMOVE n.name"), 403),
    Case("http-query-obfuscated", "http", _query("match (n)\n/* read */ detach\tdelete n"), 403),
    Case("http-query-write-procedure", "http", _query("CALL db.idx.fulltext.createNodeIndex('User', 'name')"), 403),
    Case("http-query-injection-as-parameter", "http", _query("MATCH (u:User {id: $u}) RETURN u.id", u=CYPHER_INJECTIONS[1]),
         lambda r: r.status_code == 200 and r.json()["rows"] == []),
    # ---- Python API ----
    *[Case(f"api-recommend-injection-{i}", "api", lambda e, s=s: e.rec.recommend(s, 5), UnknownUserError)
      for i, s in enumerate(CYPHER_INJECTIONS[:2])],
    Case("api-recommend-k-negative", "api", lambda e: e.rec.recommend(e.user, -5), InputError),
    Case("api-recommend-k-huge", "api", lambda e: (len(e.rec.recommend(e.user, 10**9, explain=False)), e.rec.num_items),
         lambda got: 0 < got[0] <= got[1]),
    Case("api-similar-k-zero", "api", lambda e: e.rec.similar_items(e.item, 0), InputError),
    Case("api-feedback-unknown-item-injection", "api", lambda e: e.rec.feedback("u", CYPHER_INJECTIONS[3]), KgrecError),
    Case("api-store-query-create", "api", lambda e: e.store.query("CREATE (n:Pwned)", graph=e.graph), ReadOnlyQueryError),
    Case("api-store-query-delete-procedure", "api",
         lambda e: e.store.query("MATCH (n) WITH n LIMIT 1 DELETE n", graph=e.graph), ReadOnlyQueryError),
    Case("api-store-param-injection", "api",
         lambda e: e.store.query("MATCH (u:User) WHERE u.id = $u RETURN u", {"u": "' OR 1=1 //"}, graph=e.graph).rows,
         lambda rows: rows == []),
    Case("api-upsert-label-injection", "api",
         lambda e: e.store.upsert_nodes("User) DETACH DELETE (n", pd.DataFrame({"id": ["x"]}), graph=e.graph), SchemaError),
    Case("api-upsert-relation-injection", "api",
         lambda e: e.store.upsert_edges(("User", "R]->() DETACH DELETE n //", "Artist"),
                                        pd.DataFrame({"src": ["x"], "dst": ["y"]}), graph=e.graph), SchemaError),
    Case("api-delete-unknown-label", "api", lambda e: e.store.delete_nodes("NoSuchLabel", ["1"], graph=e.graph), SchemaError),
    Case("api-graph-name-traversal", "api", lambda e: e.store.stats(graph="../../etc/passwd"), UnknownGraphError),
    Case("api-load-dataset-traversal", "api", lambda e: _load("../../../../etc"), (DatasetNotFoundError, InputError)),
    Case("api-load-generic-etc-passwd", "api", lambda e: _load("generic", interactions="/etc/passwd"), InputError),
    Case("api-forget-empty", "api", lambda e: _forget("", e), InputError),
    Case("api-forget-nul", "api", lambda e: _forget("a\x00b", e), InputError),
    # ---- CLI ----
    Case("cli-query-create", "cli", cli("query", "CREATE (n:Pwned)", "--store", "{url}", "--graph", "{graph}"),
         ("exit", 1, ReadOnlyQueryError)),
    Case("cli-query-param-injection", "cli", cli("query", "MATCH (u:User {id: $u}) RETURN count(u)", "--param",
                                                 "u=x' OR 1=1 //", "--store", "{url}", "--graph", "{graph}"),
         lambda r: r.exit_code == 0 and r.output.strip() == "0"),
    Case("cli-query-bad-param-name", "cli", cli("query", "MATCH (n) RETURN 1", "--param", "a}) DELETE n//=1",
                                                "--store", "{url}", "--graph", "{graph}"), ("exit", 1, InputError)),
    Case("cli-ingest-traversal-interactions", "cli", cli("ingest", "--interactions", "../../../../../etc/passwd",
                                                         "--store", "{url}", "--graph", "{graph}"), ("exit", 1, KgrecError)),
    Case("cli-ingest-traversal-dataset", "cli", cli("ingest", "../../../../../etc", "--store", "{url}"),
         ("exit", 1, KgrecError)),
    Case("cli-stats-graph-injection", "cli", cli("stats", "--graph", "lastfm' OR 1=1", "--store", "{url}"),
         ("exit", 1, UnknownGraphError)),
    Case("cli-export-graph-traversal", "cli", cli("export", "-o", "{tmp}/x.ttl", "--graph", "../../etc", "--store", "{url}"),
         ("exit", 1, UnknownGraphError)),
    Case("cli-forget-shell-injection", "cli", cli("forget", "$(rm -rf /); x", "--store", "{url}", "--graph", "{graph}",
                                                  "--no-cache"), ("exit", 1, UnknownUserError)),
    Case("cli-forget-run-traversal", "cli", cli("forget", "{user}", "--store", "{url}", "--graph", "{graph}", "--run",
                                                "../../../../nonexistent-run"), ("exit", 1, InputError)),
    Case("cli-recommend-k-negative", "cli", cli("recommend", "{run}", "--user", "{user}", "-k", "-5", "--store", "{url}"),
         ("exit", 2, None)),
    Case("cli-recommend-k-huge", "cli", cli("recommend", "{run}", "--user", "{user}", "-k", "99999999999", "--store", "{url}"),
         ("exit", 2, None)),
    # ---- issue 14: media types in any case (B6), invisible ids (B8), runaway queries (B1), run dirs (B10) ----
    Case("http-deep-json-content-type-upper", "http", _deep_feedback("application/JSON"), 422),
    Case("http-deep-json-content-type-mixed-charset", "http", _deep_feedback("Application/Json; charset=UTF-8"), 422),
    Case("http-deep-json-no-content-type", "http", _deep_feedback(None), 422),
    Case("http-deep-json-plus-json", "http", _deep_feedback("application/vnd.kgrec+JSON"), 422),
    Case("http-reco-zero-width-only-id", "http", http("GET", "/v1/users/%E2%80%8B%EF%BB%BF/recommendations"), 422),
    Case("http-explain-zero-width-only-user", "http", lambda e: e.client.get(f"/v1/users/%E2%80%8B/explain/{e.item}"),
         422),
    Case("http-feedback-zero-width-only-user", "http", lambda e: _feedback("\u200b\ufeff", e.item)(e), 422),
    Case("http-forget-zero-width-only-user", "http", http("DELETE", "/v1/users/%E2%81%A0", headers=AUTH), 422),
    Case("http-query-cartesian-timeout", "http",
         http("POST", "/v1/query", json={"cypher": "MATCH (a), (b), (c) RETURN count(*)", "timeout_s": 1},
              headers=AUTH), 504),
    Case("http-query-timeout-over-max", "http",
         http("POST", "/v1/query", json={"cypher": "MATCH (n) RETURN 1", "timeout_s": 10**6}, headers=AUTH), 422),
    Case("http-query-timeout-negative", "http",
         http("POST", "/v1/query", json={"cypher": "MATCH (n) RETURN 1", "timeout_s": -1}, headers=AUTH), 422),
    Case("api-recommend-zero-width-only-user", "api", lambda e: e.rec.recommend("\u200b\u2060"), InputError),
    Case("api-feedback-bom-only-user", "api", lambda e: e.rec.feedback("\ufeff", e.item), InputError),
    Case("api-forget-zero-width-only-user", "api", lambda e: _forget("\u200b", e), InputError),
    Case("api-run-manifest-traversal", "api", lambda e: _load_run(_bad_run(e, "traversal")), RunDirError),
    Case("api-run-manifest-deep", "api", lambda e: _load_run(_bad_run(e, "deep")), RunDirError),
    Case("api-run-symlink-out", "api", lambda e: _load_run(_bad_run(e, "symlink")), RunDirError),
    Case("api-run-not-a-run-dir", "api", lambda e: _load_run(_not_a_run(e)), RunDirError),
    Case("cli-recommend-not-a-run-dir", "cli",
         lambda e: runner.invoke(app, ["recommend", str(_not_a_run(e)), "--user", e.user, "--store", e.url]),
         lambda r: r.exit_code == 1 and isinstance(r.exception, RunDirError)
         and "not a run directory" in str(r.exception) and "interrupted" not in str(r.exception)),
    Case("cli-recommend-manifest-traversal", "cli",
         lambda e: runner.invoke(app, ["recommend", str(_bad_run(e, "traversal")), "--user", e.user, "--store", e.url]),
         ("exit", 1, RunDirError)),
    Case("cli-recommend-zero-width-only-user", "cli", cli("recommend", "{run}", "--user", "\u200b", "--store", "{url}",
                                                          "--graph", "{graph}"), ("exit", 1, InputError)),
    Case("cli-recommend-injection-user", "cli", cli("recommend", "{run}", "--user", CYPHER_INJECTIONS[1], "--store", "{url}",
                                                    "--graph", "{graph}"), ("exit", 1, UnknownUserError)),
]


def _load(name, **options):
    from kgrec.kg.sources import load_dataset

    return load_dataset(name, **options)


def _forget(user, env):
    from kgrec.serving.privacy import forget_user

    return forget_user(user, store=env.store, graph=env.graph, cache=False)


def test_the_corpus_is_big_and_covers_every_channel():
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.channel for c in CASES} == {"http", "api", "cli"}
    assert all(sum(c.channel == ch for c in CASES) >= 10 for ch in ("http", "api", "cli"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, env: Env):
    before = fingerprint(env)
    expect = case.expect
    if isinstance(expect, type) or (isinstance(expect, tuple) and expect and isinstance(expect[0], type)):
        with pytest.raises(expect):
            case.call(env)
    else:
        result = case.call(env)
        if isinstance(expect, int):
            assert result.status_code == expect, (result.status_code, result.text[:500])
            if expect >= 400:
                detail = result.json()["detail"]
                assert detail  # a message, never an empty error
        elif isinstance(expect, tuple) and expect[0] == "exit":
            _, code, exc = expect
            assert result.exit_code == code, (result.exit_code, result.output[-1000:], result.exception)
            if exc is not None:
                assert isinstance(result.exception, exc), repr(result.exception)
        else:
            assert expect(result), result
    assert fingerprint(env) == before, f"{case.name} changed the store"
    assert env.client.get("/healthz").status_code == 200  # the service is still up
