"""Privacy: ``kgrec export --pseudonymize`` (RDF, Cypher, CSV) and ``kgrec forget USER`` / HTTP
``DELETE /v1/users/{id}`` / :func:`kgrec.serving.privacy.forget_user`, checked against the real
embedded store, a real run directory, the real vector cache and a running recommender."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import shutil
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from kgrec.kg.stores import open_store
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import ConfigError, UnknownUserError

_register()
runner = CliRunner()
KEY = "a-test-secret-of-32-characters!!"
TOKEN = "privacy-token"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def kgrec(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def privacy_store(lastfm_small_kg):
    folder = tempfile.mkdtemp(prefix="kgrec-priv-", dir="/tmp")
    url = f"embedded:{folder}"
    store = open_store(url)
    store.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    yield store
    store.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _users_by_degree(kg) -> list[str]:
    inter = kg.interactions
    return inter["src"].astype(str).value_counts().index.tolist()


# -- export --pseudonymize ---------------------------------------------------------------------
def test_export_pseudonymize_needs_the_key(privacy_store, tmp_path, monkeypatch):
    monkeypatch.delenv("KGREC_PSEUDONYM_KEY", raising=False)
    out = tmp_path / "x.ttl"
    r = kgrec("export", "-o", out, "--store", privacy_store.url, "--pseudonymize")
    assert r.exit_code == 1 and isinstance(r.exception, ConfigError)
    assert "KGREC_PSEUDONYM_KEY" in str(r.exception) and not out.exists()
    r = kgrec("export", "-o", out, "--store", privacy_store.url, "--pseudonymize", env={"KGREC_PSEUDONYM_KEY": "short"})
    assert r.exit_code == 1 and "at least 16" in str(r.exception)


@pytest.mark.parametrize("fmt", ["ttl", "cypher", "csv"])
def test_export_pseudonymize_replaces_every_user_id(fmt, privacy_store, lastfm_small_kg, tmp_path):
    kg = lastfm_small_kg
    out = tmp_path / ("out" if fmt == "csv" else f"out.{fmt}")
    r = kgrec("export", "-o", out, "-f", fmt, "--store", privacy_store.url, "--graph", kg.name, "--pseudonymize",
              env={"KGREC_PSEUDONYM_KEY": KEY})
    assert r.exit_code == 0, r.output
    assert "pseudonymized" in r.output
    users = kg.nodes["User"]["id"].astype(str).tolist()
    expected = {hmac.new(KEY.encode(), u.encode(), hashlib.sha256).hexdigest() for u in users}
    if fmt == "csv":
        nodes = pd.read_csv(out / "nodes-User.csv", dtype=str)
        assert set(nodes["id"]) == expected and set(nodes["name"]) == expected
        listened = pd.read_csv(out / "edges-User-LISTENED_TO-Artist.csv", dtype=str)
        assert set(listened["src"]) <= expected and len(listened) == len(kg.edges[("User", "LISTENED_TO", "Artist")])
        friends = pd.read_csv(out / "edges-User-FRIEND_OF-User.csv", dtype=str)
        assert set(friends["src"]) | set(friends["dst"]) <= expected
        artists = pd.read_csv(out / "nodes-Artist.csv", dtype=str)
        assert set(artists["id"]) == set(kg.nodes["Artist"]["id"].astype(str))  # other labels untouched
    elif fmt == "ttl":
        from kgrec.kg.export import import_rdf

        back = import_rdf(out)
        assert set(back.nodes["User"]["id"].astype(str)) == expected
        assert set(back.edges[("User", "LISTENED_TO", "Artist")]["src"].astype(str)) <= expected
        assert back.metadata.get("pseudonymized") is True
    else:
        # run the script on a fresh FalkorDB: it is valid Cypher and writes exactly the pseudonymized graph
        folder = tempfile.mkdtemp(prefix="kgrec-cy-", dir="/tmp")
        target = open_store(f"embedded:{folder}")
        try:
            g = target.client.select_graph("imported")
            statements = [s for s in out.read_text(encoding="utf-8").split(";\n") if s.strip()
                          and not s.lstrip().startswith("//")]
            for s in statements:
                g.query(s)
            ids = {row[0] for row in g.ro_query("MATCH (u:User) RETURN u.id").result_set}
            assert ids == expected
            n = g.ro_query("MATCH (:User)-[r:LISTENED_TO]->(:Artist) RETURN count(r)").result_set[0][0]
            assert n == len(kg.edges[("User", "LISTENED_TO", "Artist")])
            names = {row[0] for row in g.ro_query("MATCH (a:Artist) RETURN a.name").result_set}
            assert names == set(kg.nodes["Artist"]["name"].astype(str))  # non-ASCII names survive the escapes
        finally:
            target.stop()
            shutil.rmtree(folder, ignore_errors=True)


def test_cypher_literal_cannot_be_escaped():
    from kgrec.kg.export import cypher_literal

    for hostile in ['x"}) DETACH DELETE n //', "a\\\"b", "line\nbreak", "nul\x00", "é\u202e", "'; MATCH (n) DELETE n"]:
        lit = cypher_literal(hostile)
        assert lit.startswith('"') and lit.endswith('"')
        assert json.loads(lit) == hostile  # exactly the value, every quote escaped
        assert "\n" not in lit and '"' not in lit[1:-1].replace('\\"', "")


# -- forget ------------------------------------------------------------------------------------
@pytest.fixture()
def run_copy(serving_run, tmp_path):
    from kgrec.gnn.run import copy_run

    return copy_run(serving_run.path, tmp_path / "run")


def _store_traces(store, graph: str, user: str) -> int:
    q = "MATCH (u:User {id: $u}) OPTIONAL MATCH (u)-[r]-() RETURN count(DISTINCT u) + count(r)"
    return int(store.query(q, {"u": user}, graph=graph).scalar())


def test_forget_through_http_removes_the_user_everywhere(privacy_store, lastfm_small_kg, run_copy, tmp_path,
                                                        monkeypatch):
    from kgrec.gnn import Run
    from kgrec.serving import Recommender
    from kgrec.serving.http import BackgroundServer, create_app
    from kgrec.text.cache import VectorCache
    from kgrec.text.documents import user_documents

    kg, graph = lastfm_small_kg, lastfm_small_kg.name
    store = privacy_store
    user, other = _users_by_degree(kg)[:2]
    # a profile (INTERESTED_IN) and a vector on the node, as kgrec profile / embed write them
    tags = kg.nodes["Tag"]["id"].astype(str).tolist()[:3]
    store.upsert_edges(("User", "INTERESTED_IN", "Tag"), pd.DataFrame({"src": [user] * 3, "dst": tags,
                                                                        "score": [0.9, 0.8, 0.7]}), graph=graph)
    store.write_vectors("User", [user, other], np.ones((2, 8), dtype=np.float32), graph=graph)
    # the user's document vector in the text cache (another user's stays)
    docs = dict(zip(kg.nodes["User"]["id"].astype(str), user_documents(kg)))
    monkeypatch.setenv("KGREC_HOME", str(tmp_path / "home"))  # the default cache: KGREC_HOME/cache/vectors
    cache_root = tmp_path / "home" / "cache" / "vectors"
    cache = VectorCache(cache_root)
    cache.put("test-model-fingerprint", [docs[user], docs[other]], np.ones((2, 4), dtype=np.float32), model_id="t")
    assert VectorCache(cache_root).get("test-model-fingerprint", [docs[user]]).num_found == 1
    assert _store_traces(store, graph, user) > 3

    rec = Recommender.load(run_copy, store=store, graph=kg)
    item = next(i for i in rec.items() if i not in {r.id for r in rec.seen(user)})
    rec.feedback(user, item)  # in-memory state too
    assert rec.recommend(user, 3)
    urow = Run.load(run_copy).id_maps["User"].index(user)

    if True:
        with BackgroundServer(create_app(rec, token=TOKEN)) as server, \
                httpx.Client(base_url=server.url, timeout=120) as client:
            assert client.delete(f"/v1/users/{user}").status_code == 401  # needs the token
            r = client.delete(f"/v1/users/{user}", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["nodes"] == 1 and body["edges"] >= 4 and body["in_memory"]
            assert client.get(f"/v1/users/{user}/recommendations").status_code == 404
            again = client.delete(f"/v1/users/{user}", headers={"Authorization": f"Bearer {TOKEN}"})
            assert again.status_code == 404
            # no other user's explanation walks through the forgotten user
            for u in rec.users()[:15]:
                for rr in client.get(f"/v1/users/{u}/recommendations", params={"k": 5}).json()["recommendations"]:
                    for e in rr["explanations"]:
                        assert all(not (n["label"] == "User" and n["id"] == user) for n in e["path"]["nodes"])

    # the store
    assert _store_traces(store, graph, user) == 0
    assert store.query("MATCH (n) WHERE n.id = $u AND n:User RETURN count(n)", {"u": user}, graph=graph).scalar() == 0
    assert _store_traces(store, graph, other) > 0
    # the run directory: verifies, and holds no id, vector or pair of the user
    run = Run.load(run_copy)
    assert user not in run.id_maps["User"]
    assert f'"{user}"' not in json.dumps(json.loads((run_copy / "id_maps.json").read_text())["User"])
    assert not run.node_vectors["User"][urow].any() and not run.weights["emb.User.weight"][urow].any()
    for part in ("train", "valid", "test"):
        assert not (getattr(run.split, part)[0] == urow).any()
    assert run.node_vectors["User"][(urow + 1) % len(run.id_maps["User"])].any()
    # the cache
    fresh = VectorCache(cache_root)
    assert fresh.get("test-model-fingerprint", [docs[user]]).num_found == 0
    assert fresh.get("test-model-fingerprint", [docs[other]]).num_found == 1
    # the running recommender
    assert rec.index.row("User", user) is None and user not in rec.users()
    with pytest.raises(UnknownUserError):
        rec.recommend(user, 3)
    assert user not in set(rec.kg.nodes["User"]["id"].astype(str))
    assert all(user not in set(df["src"].astype(str)) for (s, _, _), df in rec.kg.edges.items() if s == "User")
    assert user not in rec.run.id_maps["User"]


def test_forget_cli(privacy_store, lastfm_small_kg, run_copy, tmp_path, monkeypatch):
    from kgrec.gnn import Run
    from kgrec.text.cache import VectorCache
    from kgrec.text.embed import NodeVectors

    kg, graph = lastfm_small_kg, lastfm_small_kg.name
    user = _users_by_degree(kg)[2]
    # saved node vectors (kgrec embed --save) holding the user's document, and that document in the cache
    ids = kg.nodes["User"]["id"].astype(str).tolist()
    docs = [f"user. listened to: artist {i}." for i in range(len(ids))]
    folder = tmp_path / "vectors"
    NodeVectors(model_id="m", fingerprint="fp-cli", dim=4, vectors={"User": np.ones((len(ids), 4), np.float32)},
                ids={"User": list(ids)}, documents={"User": list(docs)}).save(folder)
    monkeypatch.setenv("KGREC_HOME", str(tmp_path / "home"))
    VectorCache().put("fp-cli", docs[:5] + [docs[ids.index(user)]], np.ones((6, 4), np.float32), model_id="m")

    r = kgrec("forget", user, "--store", privacy_store.url, "--graph", graph, "--run", run_copy, "--vectors", folder,
              "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["nodes"] == 1 and out["edges"] > 0 and out["run_dirs"] == [str(run_copy)]
    assert out["vector_dirs"] == [str(folder)] and out["cache_vectors"] >= 1
    assert _store_traces(privacy_store, graph, user) == 0
    assert user not in Run.load(run_copy).id_maps["User"]
    saved = NodeVectors.load(folder)  # still verifies
    row = ids.index(user)
    assert user not in saved.ids["User"] and not saved.vectors["User"][row].any() and saved.documents["User"][row] == ""
    assert saved.ids["User"][row - 1] == ids[row - 1] and saved.vectors["User"][row - 1].any()
    assert VectorCache().get("fp-cli", [docs[row]]).num_found == 0
    r = kgrec("forget", user, "--store", privacy_store.url, "--graph", graph, "--run", run_copy)
    assert r.exit_code == 1 and isinstance(r.exception, UnknownUserError)
    assert "not in the store" in str(r.exception)


def _files_holding(roots, needle: bytes) -> list[str]:
    """Every regular file under ``roots`` whose bytes contain ``needle``."""
    hits = []
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
    return hits


def test_after_forget_no_file_holds_the_user(lastfm_small_kg, serving_run, tmp_path, monkeypatch):
    """Right to be forgotten means gone from disk (issue 14 B2): after DELETE /v1/users/X a byte
    search of every file under KGREC_HOME, the store's directory and the run directory finds no trace
    of the id. The run directory holds the user (as a renamed run user with trained vectors, and in
    the saved graph index), the store holds the user's node and edges (in its append-only file), the
    text cache the user's document."""
    from kgrec.gnn import Run
    from kgrec.gnn.data import IdMap
    from kgrec.serving import Recommender
    from kgrec.serving.http import BackgroundServer, create_app
    from kgrec.text.cache import VectorCache
    from kgrec.text.documents import user_documents

    kg, graph = lastfm_small_kg, lastfm_small_kg.name
    secret = "zz-forget-me-4711"
    home = tmp_path / "home"
    monkeypatch.setenv("KGREC_HOME", str(home))
    folder = tempfile.mkdtemp(prefix="kgrec-b2-", dir="/tmp")
    store = open_store(f"embedded:{folder}")
    try:
        # the graph, with one user renamed to a distinctive id; a run that knows that user by that id
        victim = _users_by_degree(kg)[4]
        users = kg.nodes["User"].copy()
        users.loc[users["id"] == victim, "id"] = secret
        edges = {}
        for (s, r, t), df in kg.edges.items():
            if "User" in (s, t):
                df = df.copy()
                for column, label in (("src", s), ("dst", t)):
                    if label == "User":
                        df[column] = df[column].mask(df[column] == victim, secret)
                edges[(s, r, t)] = df
        renamed = kg.replace(nodes={"User": users}, edges=edges)
        store.write(renamed, graph=graph)
        run = Run.load(serving_run.path)
        ids = [secret if u == victim else u for u in run.id_maps["User"].ids]
        run_dir = tmp_path / "run"
        dataclasses.replace(run, id_maps={**run.id_maps, "User": IdMap("User", ids, role="user")}).save(run_dir)
        docs = dict(zip(renamed.nodes["User"]["id"].astype(str), user_documents(renamed)))
        VectorCache().put("b2-fingerprint", [docs[secret]], np.ones((1, 4), dtype=np.float32), model_id="t")
        rec = Recommender.load(run_dir, store=store, graph=graph)  # saves the graph index into the run dir
        assert rec.recommend(secret, 3) and (run_dir / "graph_index.json").is_file()
        needle = secret.encode()
        roots = [home, run_dir, store.data_dir]
        assert set(_files_holding([run_dir], needle)) >= {str(run_dir / "id_maps.json"), str(run_dir / "graph_index.json")}
        assert _files_holding([store.data_dir], needle)
        assert VectorCache().get("b2-fingerprint", [docs[secret]]).num_found == 1

        with BackgroundServer(create_app(rec, token=TOKEN, feedback_fsync="store")) as server, \
                httpx.Client(base_url=server.url, timeout=300) as client:
            r = client.delete(f"/v1/users/{secret}", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200, r.text
        assert Run.load(run_dir) and secret not in Run.load(run_dir).id_maps["User"]
        assert not _files_holding([run_dir, home], needle)
        assert VectorCache().get("b2-fingerprint", [docs[secret]]).num_found == 0
        left = _files_holding([store.data_dir], needle)
        assert store.capabilities.compactable
        assert r.json()["compacted"] and not left, left
        assert not _files_holding(roots, needle)
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)
