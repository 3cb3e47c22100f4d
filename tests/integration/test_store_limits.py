"""Analyst-query limits on every backend (embedded FalkorDB, Neo4j over FalkorDB's Bolt endpoint,
RDF): a cartesian product stops at its time limit with QueryTimeoutError while a write issued during
it succeeds; results are cut in the store at ``max_rows`` (client memory stays flat on a 3-million-row
UNWIND); a reader is a second, independent store; ``compact()`` leaves no byte of a deleted user on
disk."""

from __future__ import annotations

import subprocess
import threading
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from kgrec.errors import ConfigError, QueryTimeoutError, StoreUnavailableError
from kgrec.kg.stores import open_store
from kgrec.kg.stores.base import DEFAULT_MAX_ROWS
from tests.fixtures.store import hostile_for, make_tiny_kg

CROWD = {"embedded": 1500, "bolt": 1000, "rdf": 1500}  # nodes of label N: N^3 is far too many to count in seconds
CARTESIAN = {"cypher": "MATCH (a:N), (b:N), (c:N) RETURN count(*) AS n",
             "sparql": "SELECT (COUNT(*) AS ?n) WHERE { ?a a kgs:N . ?b a kgs:N . ?c a kgs:N }"}
PAIRS = {"cypher": "MATCH (a:N), (b:N) RETURN a.id AS a, b.id AS b",
         "sparql": "SELECT ?a ?b WHERE { ?a a kgs:N . ?b a kgs:N }"}
ONE_LABEL = {"cypher": "MATCH (a:N) RETURN a.id AS a", "sparql": "SELECT ?a WHERE { ?a a kgs:N }"}
USER = {"cypher": "MATCH (u:User {id: $id}) RETURN u.id AS id",
        "sparql": "SELECT ?id WHERE { ?u a kgs:User ; kgrec:id ?id }"}


def run(store, graph: str, query: dict, params=None, **limits):
    if store.capabilities.cypher:
        return store.query(query["cypher"], params, graph=graph, **limits)
    return store.sparql(query["sparql"], graph=graph, params=params, **limits)


@pytest.fixture()
def crowd(backend, store_factory, unique_graph):
    """``(store, graph)``: the tiny graph plus the crowd of N nodes."""
    store = store_factory(backend)
    store.write(make_tiny_kg(unique_graph, hostile=hostile_for(backend)))
    ids = [f"n{i}" for i in range(CROWD[backend])]
    store.upsert_nodes("N", pd.DataFrame({"id": ids}), graph=unique_graph)
    return store, unique_graph


@pytest.mark.parametrize("backend", ["embedded", "bolt", "rdf"])
def test_a_cartesian_query_stops_at_its_limit_and_a_write_during_it_succeeds(backend, crowd):
    store, graph = crowd
    timeout = 2.0
    outcome: dict = {}

    def analyst():
        started = time.monotonic()
        try:
            outcome["result"] = run(store, graph, CARTESIAN, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - checked below
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=analyst)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    try:
        store.upsert_nodes("User", pd.DataFrame({"id": ["written-during"]}), graph=graph)
        write_error = None
    except StoreUnavailableError as e:
        write_error = e
    write_seconds = time.monotonic() - started
    thread.join(120)
    assert isinstance(outcome.get("error"), QueryTimeoutError), outcome
    assert "time limit of 2 s" in str(outcome["error"])
    # about the limit: the server stops it (FalkorDB, Neo4j), or kgrec stops waiting a second after
    # it (FalkorDB's Bolt endpoint ignores transaction timeouts), or kills its process (rdf)
    assert outcome["seconds"] < timeout + 3, outcome["seconds"]
    if write_error is not None and backend == "bolt":
        # FalkorDB's experimental Bolt endpoint loses the first connection opened after a client's
        # GOODBYE; the driver's retry (BOLT_OPTIONS) normally gets past it. Should the stand-in still
        # not answer, that is not kgrec's fault: kgrec's part, stopping the wait at the limit, is
        # checked above.
        pytest.xfail(f"FalkorDB's Bolt endpoint stopped answering after the cartesian query: {write_error}")
    assert write_error is None, write_error
    # the write went through: during the query (rdf), or as soon as the server stopped it; the Bolt
    # stand-in stops the query itself at the embedded server's TIMEOUT_DEFAULT (10 s), and its
    # write may first lose a connection (BOLT_OPTIONS: 5 s) before the driver retries
    assert write_seconds < (20 if backend == "bolt" else timeout + 3), write_seconds
    assert run(store, graph, USER, {"id": "written-during"}).rows == [("written-during",)]


@pytest.mark.parametrize("backend", ["embedded", "bolt", "rdf"])
def test_results_are_cut_in_the_store_at_max_rows(backend, crowd):
    store, graph = crowd
    cut = run(store, graph, PAIRS, max_rows=100)  # N^2 rows
    assert len(cut) == 100 and cut.truncated
    whole = run(store, graph, ONE_LABEL, max_rows=CROWD[backend])
    assert len(whole) == CROWD[backend] and not whole.truncated
    assert sorted(r[0] for r in whole.rows)[:2] == ["n0", "n1"] or backend == "rdf"
    with pytest.raises(ConfigError, match="hard maximum"):
        run(store, graph, ONE_LABEL, timeout=10_000)


@pytest.mark.parametrize("backend", ["embedded", "bolt", "rdf"])
def test_a_reader_is_a_second_store_on_the_same_data(backend, crowd):
    store, graph = crowd
    reader = store.reader()
    try:
        assert reader is not store
        assert len(run(reader, graph, ONE_LABEL)) == CROWD[backend]
    finally:
        reader.close()
    store.upsert_nodes("User", pd.DataFrame({"id": ["after-the-reader"]}), graph=graph)
    assert run(store, graph, USER, {"id": "after-the-reader"}).rows == [("after-the-reader",)]


def _peak_mib(call) -> tuple[object, float]:
    tracemalloc.start()
    try:
        value = call()
        return value, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_a_3m_row_unwind_is_cut_in_the_store_and_client_memory_stays_flat(embedded_store, tiny_kg):
    store = embedded_store
    store.write(tiny_kg)
    result = store.query("UNWIND range(1, 3000000) AS i RETURN i", graph=tiny_kg.name)
    assert len(result) == DEFAULT_MAX_ROWS and result.truncated
    assert result.rows[:3] == [(1,), (2,), (3,)]
    # a planner-honoured LIMIT: the server stops producing rows
    cut, peak = _peak_mib(lambda: store.query("UNWIND range(1, 3000000) AS i RETURN i", graph=tiny_kg.name,
                                              max_rows=10_000))
    assert len(cut) == 10_000 and cut.truncated and peak < 40, peak
    # no LIMIT can be added to a UNION: the reply is read row by row and the connection closed at the cut
    union, peak = _peak_mib(lambda: store.query("UNWIND range(1, 3000000) AS i RETURN i UNION ALL RETURN 0 AS i",
                                                graph=tiny_kg.name, max_rows=10_000, timeout=120))
    assert len(union) == 10_000 and union.truncated and peak < 40, peak
    assert store.query("RETURN 1 AS one", graph=tiny_kg.name).scalar() == 1  # the store is fine after the cut


# -- compact: a forgotten user leaves no trace on disk ------------------------------------------
SECRET = "zq81x-forget"  # short: a longer string may be LZF-compressed inside an RDB file


def _files_holding(folder: Path, needle: str) -> list[str]:
    found = subprocess.run(["grep", "-rlaF", needle, str(folder)], capture_output=True, text=True)
    return sorted(found.stdout.split())


@pytest.mark.parametrize("backend", ["embedded", "rdf"])
def test_compact_leaves_no_byte_of_a_deleted_user_on_disk(backend, tmp_path):
    import redis

    folder = tmp_path / "store"
    url = f"embedded:{folder}" if backend == "embedded" else f"rdf:{folder}"
    kg = make_tiny_kg("forget")
    store = open_store(url)
    try:
        store.write(kg)
        store.upsert_nodes("User", pd.DataFrame({"id": [SECRET], "name": [SECRET]}))
        store.add_interaction(SECRET, "i0", properties={"rating": 5.0})
        if backend == "embedded":
            store.compact()  # the user is in the base file now, not only in the append log ...
            redis.Redis(unix_socket_path=str(store.socket_path)).save()  # ... and in a dump.rdb snapshot
            assert (folder / "dump.rdb").exists()
        else:
            store.ox_store().flush()
        assert _files_holding(folder, SECRET)  # the search sees the user where it is
        assert store.delete_nodes("User", [SECRET]) == 1
        assert _files_holding(folder, SECRET)  # deleted, yet still on disk
        sizes_before = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        store.compact()
        assert _files_holding(folder, SECRET) == []
        assert sizes_before > 0
        assert store.read().differences(kg) == []  # everything else is still there
        assert store.stats().num_edges == kg.num_edges()
    finally:
        store.stop() if backend == "embedded" else store.close()
    if backend == "rdf":  # a reopened rdf store reads the compacted database
        with open_store(url) as again:
            assert again.read().differences(kg) == []


def test_the_embedded_server_stops_queries_that_name_no_limit(tmp_path):
    """A client that names no time limit (redis-cli, a Bolt client) gets the store's default; kgrec's
    own bulk queries name FalkorDB's TIMEOUT_MAX, which the embedded server starts with."""
    import redis

    from kgrec.kg.stores.embedded import SERVER_TIMEOUT_MAX_MS

    store = open_store(f"embedded:{tmp_path / 's'}", query_timeout=1)
    try:
        store.write(make_tiny_kg("t"))
        store.upsert_nodes("N", pd.DataFrame({"id": [f"n{i}" for i in range(1500)]}))
        raw = redis.Redis(unix_socket_path=str(store.socket_path), socket_timeout=30, decode_responses=True)
        assert raw.execute_command("GRAPH.CONFIG", "GET", "TIMEOUT_DEFAULT") == ["TIMEOUT_DEFAULT", 1000]
        assert raw.execute_command("GRAPH.CONFIG", "GET", "TIMEOUT_MAX") == ["TIMEOUT_MAX", SERVER_TIMEOUT_MAX_MS]
        started = time.monotonic()
        with pytest.raises(redis.exceptions.ResponseError, match="timed out"):
            raw.execute_command("GRAPH.RO_QUERY", "t", CARTESIAN["cypher"])
        assert time.monotonic() - started < 5
        raw.close()
        assert store.read().num_nodes() == make_tiny_kg("t").num_nodes() + 1500  # bulk reads are not cut
    finally:
        store.stop()


def test_a_bolt_store_opens_right_after_another_one_said_goodbye(tmp_path):
    """FalkorDB's Bolt endpoint never answers the first connection opened after each GOODBYE a client
    sent (a driver's close sends one per pooled connection): ``open()`` tries up to three connections,
    so a store opened right after another one closed connects instead of failing, also after a client
    that closed with two connections (CI once failed there with two tries). A server of its own, so
    that no other test's GOODBYEs are pending."""
    import neo4j

    from kgrec.kg.stores.embedded import EmbeddedStore
    from kgrec.kg.stores.neo4j import OPEN_ATTEMPTS
    from tests.fixtures.store import BOLT_OPTIONS, _free_bolt_port, _wait_for_port, bolt_alive

    port = _free_bolt_port()
    server = EmbeddedStore(f"embedded:{tmp_path / 'bolt'}", module_args=("BOLT_PORT", str(port)), appendonly=False)
    server.open()
    timeout = BOLT_OPTIONS["connection_timeout"]
    try:
        _wait_for_port(port, server)
        url = f"bolt://127.0.0.1:{port}"
        for _ in range(2):
            first = open_store(url, **BOLT_OPTIONS)
            first.graphs()
            first.close()  # GOODBYE
            started = time.monotonic()
            second = open_store(url, **BOLT_OPTIONS)
            try:
                assert isinstance(second.graphs(), list)
            finally:
                second.close()  # GOODBYE: the next round's first open meets it too
            assert time.monotonic() - started < 2 * timeout + 3
        # a client holding two connections at once closes: two GOODBYEs, two lost connections
        assert bolt_alive(port)  # its probes use up the last round's GOODBYE
        driver = neo4j.GraphDatabase.driver(url, auth=BOLT_OPTIONS["auth"], connection_timeout=timeout,
                                            connection_acquisition_timeout=timeout)
        sessions = [driver.session(), driver.session()]
        results = [s.run("RETURN 1 AS x") for s in sessions]  # both open before either is read: two connections
        assert [r.single()["x"] for r in results] == [1, 1]
        for s in sessions:
            s.close()
        driver.close()
        started = time.monotonic()
        third = open_store(url, **BOLT_OPTIONS)
        try:
            assert isinstance(third.graphs(), list)
        finally:
            third.close()
        assert time.monotonic() - started < OPEN_ATTEMPTS * timeout + 3
    finally:
        server.stop()
