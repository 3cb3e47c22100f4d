"""`kgrec query` for analysts: --params as JSON, a warning when a number is given for a string id,
--timeout, --max-rows and the truncation note, --sparql on the rdf store; `kgrec export` formats by
name or alias; `kgrec store compact`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import ConfigError, InputError, QueryTimeoutError
from kgrec.kg.stores import open_store
from tests.fixtures.store import make_tiny_kg

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def urls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cliq")
    embedded, rdf = f"embedded:{folder / 'e'}", f"rdf:{folder / 'r'}"
    store = open_store(embedded)
    store.write(make_tiny_kg("tiny"))
    with open_store(rdf) as r:
        r.write(make_tiny_kg("tiny"))
    try:
        yield embedded, rdf
    finally:
        store.stop()


def kgrec(*args):
    return runner.invoke(app, list(args))


def test_params_as_json_and_the_number_for_a_string_id_warning(urls):
    url = urls[0]
    query = "MATCH (u:User {id: $id}) RETURN u.id AS id"
    found = kgrec("query", query, "--params", '{"id": "u1"}', "--store", url)
    assert found.exit_code == 0 and found.stdout.strip() == "u1"
    assert "warning" not in found.stderr
    # the graph's ids are strings: a number matches nothing, and the CLI says how to write it
    numeric = kgrec("query", "MATCH (u:Item {id: $id}) RETURN u.id AS id", "--params", '{"id": 3}',
                    "--store", url)
    assert numeric.exit_code == 0
    assert "id 3 is a number, but ids in kgrec graphs are strings: --params '{\"id\": \"3\"}'" in numeric.stderr
    again = kgrec("query", "MATCH (u:Item {id: $id}) RETURN u.id AS id", "--param", "id=3", "--store", url)
    assert "is a number" in again.stderr
    both = kgrec("query", "RETURN $a AS a, $b AS b", "--params", '{"a": "x"}', "--param", "b=2", "--json",
                 "--store", url)
    assert json.loads(both.stdout) == [{"a": "x", "b": 2}]
    twice = kgrec("query", "RETURN $a", "--params", '{"a": 1}', "--param", "a=2", "--store", url)
    assert twice.exit_code == 1 and isinstance(twice.exception, InputError)


def test_timeout_and_max_rows(urls):
    url = urls[0]
    cut = kgrec("query", "UNWIND range(1, 50) AS i RETURN i", "--max-rows", "7", "--store", url)
    assert cut.exit_code == 0 and cut.stdout.split() == ["i", *map(str, range(1, 8))]
    assert "truncated: the query has more than 7 rows" in cut.stderr
    whole = kgrec("query", "UNWIND range(1, 5) AS i RETURN i", "--max-rows", "5", "--store", url)
    assert "truncated" not in whole.stderr
    slow = kgrec("query", "UNWIND range(1, 100000000) AS i WITH i WHERE i % 7 = 3 RETURN count(i)", "--timeout",
                 "0.2", "--store", url)
    assert slow.exit_code == 1 and isinstance(slow.exception, QueryTimeoutError)
    big = kgrec("query", "RETURN 1", "--timeout", "301", "--store", url)
    assert big.exit_code == 1 and isinstance(big.exception, ConfigError)


def test_sparql_on_the_rdf_store(urls):
    rdf = urls[1]
    res = kgrec("query", "--sparql", "SELECT ?id WHERE { ?u a kgs:User ; kgrec:id ?id } ORDER BY ?id",
                "--max-rows", "2", "--store", rdf)
    assert res.exit_code == 0, res.output
    assert res.stdout.split("\n")[1:3] == ["u1", "u2"] and "truncated" in res.stderr
    with_params = kgrec("query", "--sparql", "SELECT ?u WHERE { ?u kgrec:id ?id }", "--params", '{"id": "u2"}',
                        "--store", rdf)
    assert with_params.stdout.strip().endswith("/node/User/u2")


def test_export_formats_by_name_or_alias_and_compact(urls, tmp_path):
    url = urls[0]
    done = kgrec("export", "-f", "N-Triples", "-o", str(tmp_path / "g.nt"), "--store", url)
    assert done.exit_code == 0 and "as nt to" in done.stdout
    unknown = kgrec("export", "-f", "rdfxml", "-o", str(tmp_path / "g.xml"), "--store", url)
    assert unknown.exit_code == 1 and "unknown export format 'rdfxml'; choices: ttl (turtle)" in str(unknown.exception)
    assert not (tmp_path / "g.xml").exists()
    for store_url in urls:
        compacted = kgrec("store", "compact", "--store", store_url)
        assert compacted.exit_code == 0 and "compacted" in compacted.stdout
