"""`kgrec datasets | ingest | stats | query | export | store` on real stores and real data.

The done-when checks: with lastfm in the store, ``kgrec query "MATCH (:User)-[r:LISTENED_TO]->(:Artist)
RETURN count(r)"`` prints 92834 and the Satori count query prints 15518 (the default run writes
lastfm through the API and queries through the CLI; ``-m slow`` also ingests it through the CLI).
Bad input: every case of the malformed corpus fails with its file:line message and leaves the
store as it was."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import InputError, ReadOnlyQueryError
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore

REPO = Path(__file__).resolve().parents[2]
LISTENED = "MATCH (:User)-[r:LISTENED_TO]->(:Artist) RETURN count(r)"
SATORI = "MATCH ()-[r]->() WHERE r.kg = 'satori' RETURN count(r)"
CLI_ARGS = {"name_or_path", "interactions", "items", "triples"}

_register()
runner = CliRunner()


def kgrec(*args: str):
    """Run a command in-process; the result carries output, exit_code and exception."""
    return runner.invoke(app, [str(a) for a in args])


def kgrec_process(*args: str) -> subprocess.CompletedProcess:
    """Run the real entry point (its error handling included) in a subprocess."""
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def lastfm_url(lastfm_kg, tmp_path_factory):
    """An embedded store holding only the full lastfm graph."""
    url = f"embedded:{tmp_path_factory.mktemp('cli_lastfm')}"
    with open_store(url) as store:
        store.write(lastfm_kg)
    yield url
    EmbeddedStore(url).stop()


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> Path:
    """A generic dataset folder: interactions, items and triples."""
    folder = tmp_path_factory.mktemp("mini")
    (folder / "interactions.csv").write_text("user_id,item_id,rating\nu1,i1,4.5\nu1,i2,3\nu2,i2,5\nu3,i3,1\n")
    (folder / "items.csv").write_text("item_id,name\ni1,Alpha\ni2,\"Beta, \"\"the\"\" second\"\ni3,Gamma\n")
    (folder / "triples.csv").write_text("head,relation,tail\ni1,directed by,p1\ni2,directed by,p1\n")
    return folder


@pytest.fixture()
def mini_url(small_files, tmp_path):
    """An embedded store with the mini dataset ingested as graph ``mini``."""
    url = f"embedded:{tmp_path / 'mini_store'}"
    result = kgrec("ingest", "--interactions", small_files / "interactions.csv", "--items",
                   small_files / "items.csv", "--triples", small_files / "triples.csv", "--store", url,
                   "--graph", "mini", "--no-progress")
    assert result.exit_code == 0, result.output
    yield url
    EmbeddedStore(url).stop()


def test_query_prints_the_lastfm_counts(lastfm_url):
    result = kgrec("query", LISTENED, "--store", lastfm_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "92834"
    result = kgrec("query", SATORI, "--store", lastfm_url)
    assert result.stdout.strip() == "15518"


def test_query_parameters_and_json(lastfm_url, lastfm_kg):
    listened = lastfm_kg.interactions
    expected = int((listened["src"] == "2").sum())
    result = kgrec("query", "MATCH (u:User {id: $u})-[r:LISTENED_TO]->(a:Artist) RETURN count(r) AS n",
                   "--param", 'u="2"', "--store", lastfm_url)
    assert result.stdout.strip() == str(expected) and expected > 0
    # an unquoted number is a number: no user has the integer id 2
    result = kgrec("query", "MATCH (u:User {id: $u}) RETURN count(u) AS n", "--param", "u=2", "--store", lastfm_url)
    assert result.stdout.strip() == "0"
    result = kgrec("query", "MATCH (u:User {id: $u})-[r:LISTENED_TO]->(a:Artist) RETURN a.id AS artist, "
                   "r.weight AS weight ORDER BY weight DESC LIMIT 3", "-p", 'u="2"', "--json", "--store", lastfm_url)
    rows = json.loads(result.stdout)
    top = listened[listened["src"] == "2"].sort_values("weight", ascending=False).head(3)
    assert [r["weight"] for r in rows] == top["weight"].tolist()
    # several rows print as tab-separated lines with a header
    result = kgrec("query", "MATCH (t:Tag) RETURN t.id AS id, t.name AS name ORDER BY id LIMIT 2", "--store",
                   lastfm_url)
    lines = result.stdout.strip().split("\n")
    assert lines[0] == "id\tname" and len(lines) == 3


def test_stats(lastfm_url, lastfm_kg):
    result = kgrec("stats", "--json", "--store", lastfm_url)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    expected = lastfm_kg.stats(degrees=False)
    assert stats["name"] == "lastfm"
    assert stats["nodes"] == expected.nodes and stats["edges"] == expected.edges
    assert stats["num_edges"] == lastfm_kg.num_edges()
    text = kgrec("stats", "--store", lastfm_url, "--graph", "lastfm").stdout
    assert f"{lastfm_kg.num_edges():,} edges" in text and "(User)-[LISTENED_TO]->(Artist)" in text


def test_writes_are_refused_with_one_line(lastfm_url):
    result = kgrec("query", "MATCH (u:User) DETACH DELETE u", "--store", lastfm_url)
    assert result.exit_code != 0 and isinstance(result.exception, ReadOnlyQueryError)
    done = kgrec_process("query", "CREATE (n:User {id: 'x'})", "--store", lastfm_url)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "read-only" in lines[-1]
    assert "Traceback" not in done.stderr
    verbose = kgrec_process("-v", "query", "CREATE (n:User {id: 'x'})", "--store", lastfm_url)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr
    assert kgrec("query", LISTENED, "--store", lastfm_url).stdout.strip() == "92834"


def test_ingest_generic_files(mini_url, small_files):
    with open_store(mini_url) as store:
        assert store.graphs() == ["mini"]
        kg = store.read()
    items = kg.items.set_index("id")
    assert items.loc["i2", "name"] == 'Beta, "the" second'
    assert kg.num_edges(tuple(kg.schema.interaction)) == 4
    # the ingest prints its counts and rate, and is idempotent
    again = kgrec("ingest", "--interactions", small_files / "interactions.csv", "--items",
                  small_files / "items.csv", "--triples", small_files / "triples.csv", "--store", mini_url,
                  "--graph", "mini", "--no-progress")
    assert again.exit_code == 0, again.output
    assert re.search(r"ingested graph 'mini' into .*: \d+ nodes, 6 edges in [\d.]+s \([\d,]+ edges/s\)", again.stdout)
    assert json.loads(kgrec("stats", "--json", "--store", mini_url).stdout)["num_edges"] == 6


def test_ingest_a_folder(small_files, tmp_path):
    url = f"embedded:{tmp_path / 'folder_store'}"
    try:
        result = kgrec("ingest", small_files, "--store", url, "--no-progress")
        assert result.exit_code == 0, result.output
        with open_store(url) as store:
            assert store.stats(graph=small_files.name).num_edges == 6
    finally:
        EmbeddedStore(url).stop()


def test_ingest_arguments_are_checked(tmp_path):
    for args in ([], ["lastfm", "--interactions", "x.csv"], ["--items", "x.csv", "lastfm"]):
        result = kgrec("ingest", *args, "--store", f"embedded:{tmp_path}/none")
        assert result.exit_code != 0
    assert not (tmp_path / "none").exists()  # nothing was started for a bad command line


def test_malformed_inputs_fail_and_leave_the_store_unchanged(malformed_inputs, mini_url):
    with open_store(mini_url) as store:
        before = store.stats(graph="mini")
    for case, kwargs, pattern in malformed_inputs:
        if set(kwargs) <= CLI_ARGS:
            args = ["ingest"]
            if kwargs["name_or_path"] != "generic":
                args.append(kwargs["name_or_path"])
            for role in ("interactions", "items", "triples"):
                if role in kwargs:
                    args += [f"--{role}", kwargs[role]]
            result = kgrec(*args, "--store", mini_url, "--graph", "mini", "--no-progress")
            assert result.exit_code != 0, case
            error = result.exception
        else:  # options the command line does not have: the same path through the API
            from kgrec.kg.sources import load_dataset

            try:
                with open_store(mini_url) as store:
                    store.write(load_dataset(**kwargs), graph="mini")
            except InputError as e:
                error = e
            else:
                error = None
        assert isinstance(error, InputError), f"{case}: {error!r}"
        assert re.search(pattern, str(error)), f"{case}: {error} does not match {pattern}"
    with open_store(mini_url) as store:
        after = store.stats(graph="mini")
    assert (after.nodes, after.edges) == (before.nodes, before.edges)
    # and the entry point prints such an error as one line naming file and line
    case, kwargs, pattern = next(c for c in malformed_inputs if c[0] == "non_numeric_rating")
    done = kgrec_process("ingest", "--interactions", kwargs["interactions"], "--store", mini_url, "--graph", "mini")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(pattern, done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt, marker", [("ttl", "@prefix"), ("nt", "<http"), ("jsonld", "@"), ("graphml", "<graphml")])
def test_export(fmt, marker, mini_url, tmp_path):
    out = tmp_path / f"mini.{fmt}"
    result = kgrec("export", "--format", fmt, "-o", out, "--store", mini_url)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and marker in out.read_text()
    assert f"exported graph 'mini' as {fmt}" in result.stdout


def test_store_start_status_stop(tmp_path):
    url = f"embedded:{tmp_path / 'managed'}"
    assert "not running" in kgrec("store", "status", "--store", url).stdout
    started = kgrec("store", "start", "--store", url)
    assert started.exit_code == 0 and "running (pid" in started.stdout
    status = json.loads(kgrec("store", "status", "--store", url, "--json").stdout)
    assert status["running"] and status["pid"] and status["graphs"] == []
    assert kgrec("store", "stop", "--store", url).stdout.strip() == "embedded FalkorDB stopped"
    assert kgrec("store", "stop", "--store", url).stdout.strip() == "embedded FalkorDB was not running"
    assert kgrec("store", "status", "--store", "bolt://localhost:7687").exit_code != 0  # not an embedded store


def test_datasets_lists_the_registered_datasets():
    result = kgrec("datasets", "--json")
    names = {d["name"] for d in json.loads(result.stdout)}
    assert {"lastfm", "lastfm-kgcn", "movielens-small"} <= names


def test_param_parsing():
    from kgrec.cli.kg import parse_param

    assert parse_param("u=2") == ("u", 2)
    assert parse_param('u="2"') == ("u", "2")
    assert parse_param("x=1.5") == ("x", 1.5)
    assert parse_param("b=true") == ("b", True)
    assert parse_param("n=null") == ("n", None)
    assert parse_param("s=rock and roll") == ("s", "rock and roll")
    assert parse_param("s=a=b") == ("s", "a=b")
    assert parse_param("l=[1,2]") == ("l", "[1,2]")  # scalars only
    for bad in ("novalue", "=x", "a b=1"):
        with pytest.raises(InputError):
            parse_param(bad)


@pytest.mark.slow
def test_cli_ingest_of_lastfm_then_query(tmp_path, lastfm_kg):
    url = f"embedded:{tmp_path / 'ingest_lastfm'}"
    try:
        result = kgrec("ingest", "lastfm", "--store", url, "--no-progress")
        assert result.exit_code == 0, result.output
        assert f"{lastfm_kg.num_edges():,} edges" in result.stdout
        assert kgrec("query", LISTENED, "--store", url).stdout.strip() == "92834"
        assert kgrec("query", SATORI, "--store", url).stdout.strip() == "15518"
        with open_store(url) as store:
            assert store.read().differences(lastfm_kg) == []
    finally:
        EmbeddedStore(url).stop()
