"""One contract, every store backend: embedded FalkorDB, Neo4j (over FalkorDB's Bolt endpoint here,
a real Neo4j with ``-m neo4j`` and ``KGREC_NEO4J_URI``) and RDF. Cypher-only cases skip on a store
whose ``capabilities.cypher`` is False; multi-graph cases on one without ``named_graphs``."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import (
    IncompleteGraphError,
    InputError,
    ReadOnlyQueryError,
    SchemaError,
    StoreError,
    UnknownGraphError,
)
from kgrec.kg import KnowledgeGraph
from kgrec.kg.stores import Store
from kgrec.kg.stream import GraphChunk, GraphStream
from tests.fixtures.store import STORE_BACKENDS, hostile_for, make_tiny_kg

pytestmark = pytest.mark.parametrize("backend", STORE_BACKENDS)


def _counts(store: Store, graph: str) -> tuple[dict, dict]:
    stats = store.stats(graph=graph)
    return stats.nodes, stats.edges


def _need_cypher(store: Store) -> None:
    if not store.capabilities.cypher:
        pytest.skip(f"{type(store).__name__} does not speak Cypher")


def test_write_then_read_gives_the_same_graph(backend, store_factory, backend_kg):
    store = store_factory(backend)
    report = store.write(backend_kg)
    assert report.graph == backend_kg.name
    assert report.num_nodes == backend_kg.num_nodes() and report.num_edges == backend_kg.num_edges()
    back = store.read(graph=backend_kg.name)
    assert back.differences(backend_kg) == []
    assert back.name == backend_kg.name
    # the schema travels with the graph: labels, relations, property types and roles
    schema = store.schema(graph=backend_kg.name)
    assert set(schema.labels) == set(backend_kg.schema.labels)
    assert set(schema.edge_types) == set(backend_kg.schema.edge_types)
    assert schema.node("Item").properties == backend_kg.schema.node("Item").properties
    assert schema.relation(("User", "RATED", "Item")).properties == {"rating": "float", "timestamp": "integer"}
    assert (schema.user_label, schema.item_label, tuple(schema.interaction)) == ("User", "Item", ("User", "RATED", "Item"))
    # values come back verbatim, typed
    items = back.nodes["Item"].set_index("id")
    for k, text in enumerate(hostile_for(backend)):
        assert items.loc[f"i{k}", "name"] == text
    assert str(items["year"].dtype) == "Int64" and str(items["active"].dtype) == "boolean"
    assert pd.isna(items.loc["i0", "year"]) and items.loc["i1", "year"] == 1991


def test_write_is_idempotent(backend, store_factory, backend_kg):
    store = store_factory(backend)
    store.write(backend_kg)
    first = _counts(store, backend_kg.name)
    store.write(backend_kg)
    assert _counts(store, backend_kg.name) == first
    assert sum(first[1].values()) == backend_kg.num_edges()
    assert store.read(graph=backend_kg.name).equals(backend_kg)


def test_stats_count_what_was_written(backend, store_factory, backend_kg):
    store = store_factory(backend)
    store.write(backend_kg)
    stats, expected = store.stats(graph=backend_kg.name), backend_kg.stats(degrees=False)
    assert stats.name == backend_kg.name
    assert stats.nodes == expected.nodes
    assert stats.edges == expected.edges
    assert stats.relations == expected.relations


def test_invalid_graph_writes_nothing(backend, store_factory, backend_kg):
    store = store_factory(backend)
    store.write(backend_kg)
    before = _counts(store, backend_kg.name)
    edges = dict(backend_kg.edges)
    bad = edges[("User", "RATED", "Item")].copy()
    bad.loc[len(bad)] = ["u1", "no-such-item", 1.0, 1]
    broken = KnowledgeGraph(backend_kg.schema, {**backend_kg.nodes, "User": pd.concat(
        [backend_kg.nodes["User"], pd.DataFrame({"id": ["new-user"]})], ignore_index=True)},
        {**edges, ("User", "RATED", "Item"): bad}, name=backend_kg.name)
    with pytest.raises(InputError, match="no-such-item"):
        store.write(broken)
    assert _counts(store, backend_kg.name) == before  # not even the valid new user


def test_read_only_query_refuses_writes(backend, store_factory, backend_kg):
    store = store_factory(backend)
    _need_cypher(store)
    store.write(backend_kg)
    before = _counts(store, backend_kg.name)
    for query in ("CREATE (n:Item {id: 'x'})", "MERGE (n:Item {id: 'x'})", "MATCH (n:Item) SET n.year = 1",
                  "MATCH (n:Item) DETACH DELETE n", "MATCH (:User)-[r:RATED]->() DELETE r",
                  "MATCH (n:Item) REMOVE n.year"):
        with pytest.raises(ReadOnlyQueryError):
            store.query(query, graph=backend_kg.name)
    assert _counts(store, backend_kg.name) == before
    assert store.read(graph=backend_kg.name).equals(backend_kg)


def test_query_returns_rows_and_parameters_carry_hostile_strings(backend, store_factory, backend_kg):
    store = store_factory(backend)
    _need_cypher(store)
    store.write(backend_kg)
    n = store.query("MATCH (:User)-[r:RATED]->(:Item) RETURN count(r) AS n", graph=backend_kg.name)
    assert n.columns == ["n"] and n.scalar() == 5
    for k, text in enumerate(hostile_for(backend)):
        echo = store.query("RETURN $value AS v", {"value": text}, graph=backend_kg.name)
        assert echo.scalar() == text
        found = store.query("MATCH (i:Item) WHERE i.name = $name RETURN i.id AS id", {"name": text},
                            graph=backend_kg.name)
        assert found.rows == [(f"i{k}",)]
    rows = store.query("MATCH (u:User {id: $u})-[r:RATED]->(i:Item) RETURN i.id AS item, r.rating AS rating "
                       "ORDER BY item", {"u": "u1"}, graph=backend_kg.name)
    assert rows.to_dicts() == [{"item": "i0", "rating": 4.5}, {"item": "i1", "rating": 3.0}]
    assert list(rows.to_frame().columns) == ["item", "rating"]


def test_upserts_and_deletes(backend, store_factory, backend_kg):
    store = store_factory(backend)
    g = backend_kg.name
    store.write(backend_kg)
    # a new item and an update of an existing one
    assert store.upsert_nodes("Item", pd.DataFrame({"id": ["i-new", "i1"], "name": ["New", "Renamed"],
                                                    "year": [2024, 1800]}), graph=g) == 2
    items = store.read(graph=g).nodes["Item"].set_index("id")
    assert items.loc["i-new", "name"] == "New" and items.loc["i-new", "year"] == 2024
    assert items.loc["i1", "name"] == "Renamed" and items.loc["i1", "year"] == 1800
    assert items.loc["i1", "text"] == hostile_for(backend)[1]  # columns not sent are kept
    # edges: new and updated, endpoints must exist
    assert store.upsert_edges(("User", "RATED", "Item"), pd.DataFrame(
        {"src": ["u2", "u1"], "dst": ["i-new", "i0"], "rating": [1.5, 2.0]}), graph=g) == 2
    rated = store.read(graph=g).edges[("User", "RATED", "Item")].set_index(["src", "dst"])
    assert len(rated) == 6
    assert rated.loc[("u2", "i-new"), "rating"] == 1.5 and rated.loc[("u1", "i0"), "rating"] == 2.0
    with pytest.raises(InputError, match="no-such"):
        store.upsert_edges(("User", "RATED", "Item"), pd.DataFrame({"src": ["u1"], "dst": ["no-such"]}), graph=g)
    with pytest.raises(SchemaError):
        store.upsert_nodes("not a label", pd.DataFrame({"id": ["x"]}), graph=g)
    # deletes
    assert store.delete_edges(("User", "RATED", "Item"), src=["u1"], graph=g) == 2
    assert store.stats(graph=g).edges["(User)-[RATED]->(Item)"] == 4
    assert store.delete_nodes("Item", ["i-new", "not-there"], graph=g) == 1
    stats = store.stats(graph=g)
    assert stats.nodes["Item"] == backend_kg.num_nodes("Item")
    assert stats.edges["(User)-[RATED]->(Item)"] == 3  # the edge to i-new went with it
    assert store.delete_edges(("User", "FRIEND_OF", "User"), graph=g) == 2
    assert store.stats(graph=g).edges["(User)-[FRIEND_OF]->(User)"] == 0


def test_upserts_extend_the_schema(backend, store_factory, backend_kg):
    store = store_factory(backend)
    g = backend_kg.name
    store.write(backend_kg)
    store.upsert_nodes("Interest", pd.DataFrame({"id": ["jazz"], "weight": [0.5]}), graph=g)
    store.upsert_edges(("User", "INTERESTED_IN", "Interest"), pd.DataFrame({"src": ["u1"], "dst": ["jazz"],
                                                                           "score": [0.9]}), graph=g)
    schema = store.schema(graph=g)
    assert schema.node("Interest").properties == {"weight": "float"}
    assert schema.relation(("User", "INTERESTED_IN", "Interest")).properties == {"score": "float"}
    back = store.read(graph=g)
    assert back.nodes["Interest"]["id"].tolist() == ["jazz"]
    assert back.edges[("User", "INTERESTED_IN", "Interest")]["score"].tolist() == [0.9]


def test_add_interaction(backend, store_factory, backend_kg):
    store = store_factory(backend)
    g = backend_kg.name
    store.write(backend_kg)
    store.add_interaction("u-new", "i2", properties={"rating": 4.0, "timestamp": 1_800_000_000}, graph=g)
    store.add_interaction("u1", "i2", graph=g)
    stats = store.stats(graph=g)
    assert stats.nodes["User"] == backend_kg.num_nodes("User") + 1
    assert stats.edges["(User)-[RATED]->(Item)"] == backend_kg.num_edges(("User", "RATED", "Item")) + 2
    back = store.read(graph=g)
    users = back.nodes["User"].set_index("id")
    assert users.loc["u-new", "name"] == "u-new"  # a new user is named by its id, as in KnowledgeGraph
    rated = back.edges[("User", "RATED", "Item")].set_index(["src", "dst"])
    assert rated.loc[("u-new", "i2"), "rating"] == 4.0
    assert rated.loc[("u-new", "i2"), "timestamp"] == 1_800_000_000
    store.add_interaction("u-new", "i2", properties={"rating": 1.0}, graph=g)  # an upsert, not a second edge
    assert store.stats(graph=g).edges["(User)-[RATED]->(Item)"] == backend_kg.num_edges(("User", "RATED", "Item")) + 2


def test_graph_selection(backend, store_factory, backend_kg):
    store = store_factory(backend)
    store.write(backend_kg)
    assert backend_kg.name in store.graphs()
    with pytest.raises(UnknownGraphError, match=backend_kg.name):  # the message lists the graphs
        store.stats(graph="no-such-graph")
    with pytest.raises(UnknownGraphError):
        store.read(graph="bad name!")
    if not store.capabilities.named_graphs:
        with pytest.raises(StoreError, match="one graph"):
            store.write(make_tiny_kg("second", hostile=hostile_for(backend)))
        # dropping the graph leaves other data in the database alone
        store.driver.execute_query("CREATE (:Foreign {id: 'keep'})")
        store.drop(backend_kg.name)
        assert store.graphs() == []
        assert store.driver.execute_query("MATCH (n:Foreign) RETURN count(n) AS n").records[0]["n"] == 1
        store.driver.execute_query("MATCH (n:Foreign) DELETE n")
        return
    other = make_tiny_kg(backend_kg.name + "-b", hostile=hostile_for(backend))
    store.write(other)
    assert {backend_kg.name, other.name} <= set(store.graphs())
    assert store.stats(graph=other.name).nodes == store.stats(graph=backend_kg.name).nodes
    store.drop(other.name)
    assert other.name not in store.graphs()
    with pytest.raises(UnknownGraphError):
        store.drop(other.name)


# -- the streaming write (Store.writer / Store.write_stream) ---------------------------------------
def _stream_of(kg: KnowledgeGraph, parts: int = 2) -> GraphStream:
    """``kg`` as a stream: every table in ``parts`` pieces; the nodes of a piece before its edges,
    so that an edge's endpoints come from this chunk or an earlier one."""
    def chunks():
        for k in range(parts):
            def piece(df):
                return df.iloc[k * len(df) // parts:(k + 1) * len(df) // parts]
            nodes = {label: piece(df) for label, df in kg.nodes.items()}
            yield GraphChunk(nodes=nodes)
        for k in range(parts):
            yield GraphChunk(edges={et: df.iloc[k * len(df) // parts:(k + 1) * len(df) // parts]
                                    for et, df in kg.edges.items()})
    return GraphStream(kg.schema, chunks, name=kg.name, metadata=kg.metadata,
                       num_rows=kg.num_nodes() + kg.num_edges())


def test_write_stream_stores_what_write_stores(backend, store_factory, backend_kg):
    store = store_factory(backend)
    report = store.write_stream(_stream_of(backend_kg, parts=3))
    assert report.graph == backend_kg.name
    assert report.num_nodes == backend_kg.num_nodes() and report.num_edges == backend_kg.num_edges()
    assert store.state(graph=backend_kg.name) == "complete"
    back = store.read(graph=backend_kg.name)
    assert back.differences(backend_kg) == []
    assert back.metadata["purpose"] == "tests"
    streamed_meta = store.graph_meta(graph=backend_kg.name)
    assert {k: set(v) for k, v in streamed_meta.node_columns.items()} == {
        label: set(df.columns) - {"id", "name", "text"} for label, df in backend_kg.nodes.items()}
    # the same graph written whole: the same record and the same rows
    store.drop(backend_kg.name)
    store.write(backend_kg)
    whole = store.read(graph=backend_kg.name)
    for label in backend_kg.nodes:
        pd.testing.assert_frame_equal(back.canonical().nodes[label], whole.canonical().nodes[label])
    for et in backend_kg.edges:
        pd.testing.assert_frame_equal(back.canonical().edges[et], whole.canonical().edges[et])
    # idempotent: streaming it again over the graph changes no count
    before = _counts(store, backend_kg.name)
    store.write_stream(_stream_of(backend_kg, parts=2))
    assert _counts(store, backend_kg.name) == before
    assert store.read(graph=backend_kg.name).equals(backend_kg)


def test_write_stream_checks_every_chunk_and_a_rerun_completes_it(backend, store_factory, backend_kg):
    store = store_factory(backend)
    g, rated = backend_kg.name, ("User", "RATED", "Item")
    with store.writer(backend_kg.schema, graph=g, sources={rated: "ratings.csv"}) as w:
        w.add_nodes("User", backend_kg.nodes["User"])
        w.add_nodes("Item", backend_kg.nodes["Item"])
        assert store.state(graph=g) == "writing"
        # each chunk is checked as write() checks a graph, naming the file and line of the bad row
        bad = pd.DataFrame({"src": ["u1", "u2"], "dst": ["i0", "no-such-item"], "_line": [7, 8]})
        with pytest.raises(InputError, match=r"ratings.csv:8: RATED dst 'no-such-item' is not a known Item id"):
            w.add_edges(rated, bad)
        with pytest.raises(InputError, match=r"ratings.csv:4: .*rating.*float"):
            w.add_edges(rated, pd.DataFrame({"src": ["u1"], "dst": ["i0"], "rating": ["high"], "_line": [4]}))
        with pytest.raises(InputError, match="duplicate User id 'u1'"):
            w.add_nodes("User", pd.DataFrame({"id": ["u1", "u1"]}))
        with pytest.raises(SchemaError, match="'Nope' is not in the schema"):
            w.add_nodes("Nope", pd.DataFrame({"id": ["x"]}))
        with pytest.raises(InputError, match="not in its clean form"):
            w.add_nodes("User", pd.DataFrame({"id": [" u9"]}))
        assert store.stats(graph=g).edges["(User)-[RATED]->(Item)"] == 0  # no row of a refused chunk
        w.add_edges(rated, backend_kg.edges[rated].iloc[:2])
    assert store.state(graph=g) == "complete"

    # a stream that fails half-way leaves what it wrote, marked "writing": read() refuses it
    def failing():
        yield from list(_stream_of(backend_kg, parts=2))[:3]
        yield GraphChunk(edges={rated: pd.DataFrame({"src": ["u1"], "dst": ["gone"]})})
    broken = GraphStream(backend_kg.schema, failing, name=g, metadata=backend_kg.metadata)
    with pytest.raises(InputError, match="'gone' is not a known Item id"):
        store.write_stream(broken)
    assert store.state(graph=g) == "writing"
    with pytest.raises(IncompleteGraphError):
        store.read(graph=g)
    # running the whole stream again completes the graph
    store.write_stream(_stream_of(backend_kg, parts=2))
    assert store.state(graph=g) == "complete"
    assert store.read(graph=g).differences(backend_kg) == []

