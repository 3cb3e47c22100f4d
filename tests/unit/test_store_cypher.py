"""The Cypher text of kgrec.kg.cypher: names are checked before they enter query text, values are
always parameters, and the read-only guard catches write clauses but not look-alikes."""

from __future__ import annotations

import pytest

from kgrec.errors import SchemaError
from kgrec.kg import cypher
from kgrec.kg.stores.guard import find_write_clause

BAD_LABELS = ["user", "User`) DETACH DELETE n //", "Us er", "", "User:Admin", "1User", "User-1", "Ü"]
BAD_RELATIONS = ["rated", "RATED]->() DELETE r //", "RATED-X", "", "1RATED"]


@pytest.mark.parametrize("label", BAD_LABELS)
def test_node_builders_refuse_unsafe_labels(label):
    for build in (lambda: cypher.upsert_nodes(label, ["name"]), lambda: cypher.count_nodes(label),
                  lambda: cypher.read_nodes(label, []), lambda: cypher.delete_nodes(label),
                  lambda: cypher.missing_nodes(label), lambda: cypher.falkordb_index(label),
                  lambda: cypher.neo4j_constraint(label), lambda: cypher.neo4j_index(label),
                  lambda: cypher.node_id_range(label)):
        with pytest.raises(SchemaError):
            build()


@pytest.mark.parametrize("relation", BAD_RELATIONS)
def test_edge_builders_refuse_unsafe_relations(relation):
    et = ("User", relation, "Item")
    for build in (lambda: cypher.upsert_edges(et, []), lambda: cypher.count_edges(et),
                  lambda: cypher.read_edges(et, []), lambda: cypher.delete_edges_batch(et, by_src=True),
                  lambda: cypher.read_edges_page(et, [])):
        with pytest.raises(SchemaError):
            build()


@pytest.mark.parametrize("prop", ["Year", "year`", "x.y", "id", "src", "a b"])
def test_builders_refuse_unsafe_or_reserved_properties(prop):
    if prop != "id":  # the key column of a node upsert
        with pytest.raises(SchemaError):
            cypher.upsert_nodes("Item", ["id", prop])
    with pytest.raises(SchemaError):
        cypher.read_edges(("User", "RATED", "Item"), [prop])
    with pytest.raises(SchemaError):
        cypher.read_edges_page(("User", "RATED", "Item"), [prop])


def test_upserts_merge_by_id_and_pair_and_take_values_as_parameters():
    nodes = cypher.upsert_nodes("Item", ["id", "name", "text", "year"])
    assert nodes == ("UNWIND $rows AS row MERGE (n:Item {id: row.id}) "
                     "SET n.name = row.name, n.text = row.text, n.year = row.year")
    # a node upserted without a name is named by its id when created
    assert "ON CREATE SET n.name = row.id" in cypher.upsert_nodes("User", ["id"])
    assert cypher.upsert_nodes("User", ["id"]).endswith("ON CREATE SET n.name = row.id")
    edges = cypher.upsert_edges(("User", "RATED", "Item"), ["src", "dst", "rating"])
    assert edges == ("UNWIND $rows AS row MATCH (a:User {id: row.src}) MATCH (b:Item {id: row.dst}) "
                     "MERGE (a)-[r:RATED]->(b) SET r.rating = row.rating")


def test_reads_counts_and_deletes():
    assert cypher.read_nodes("Item", ["year"]) == \
        "MATCH (n:Item) RETURN n.id AS id, n.name AS name, n.text AS text, n.year AS year"
    assert cypher.read_edges(("User", "RATED", "Item"), ["rating"]) == \
        "MATCH (a:User)-[r:RATED]->(b:Item) RETURN a.id AS src, b.id AS dst, r.rating AS rating"
    assert cypher.count_edges(("User", "RATED", "Item")) == "MATCH (:User)-[r:RATED]->(:Item) RETURN count(r) AS n"
    assert cypher.count_relation("RATED") == "MATCH ()-[r:RATED]->() RETURN count(r) AS n"
    # a page of a bulk read: the source-id range comes as parameters
    assert cypher.read_edges_page(("User", "RATED", "Item"), ["rating"]) == \
        ("MATCH (a:User)-[r:RATED]->(b:Item) WHERE id(a) >= $lo AND id(a) < $hi "
         "RETURN a.id AS src, b.id AS dst, r.rating AS rating")
    with pytest.raises(SchemaError):
        cypher.count_relation("RATED]->() DELETE r //")
    assert "WHERE a.id IN $src" in cypher.delete_edges_batch(("User", "RATED", "Item"), by_src=True)
    assert "$src" not in cypher.delete_edges_batch(("User", "RATED", "Item"), by_src=False)
    assert "LIMIT $limit" in cypher.delete_edges_batch(("User", "RATED", "Item"), by_src=False)
    assert cypher.neo4j_constraint("User") == \
        "CREATE CONSTRAINT kgrec_User_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE"
    assert cypher.falkordb_index("User") == "CREATE INDEX FOR (n:User) ON (n.id)"


def test_every_constant_takes_values_as_parameters():
    for text in (cypher.META_READ, cypher.META_WRITE, cypher.META_SET_STATE, *cypher.META_APPEND.values()):
        assert "'" not in text and '"' not in text  # no literal value in query text
    assert "$graph" in cypher.META_WRITE and "$schema" in cypher.META_WRITE


@pytest.mark.parametrize("query, clause", [
    ("CREATE (n:X)", "CREATE"),
    ("match (n) set n.x = 1", "SET"),
    ("MERGE (n:X {id: 'a'})", "MERGE"),
    ("MATCH (n) DETACH DELETE n", "DETACH"),
    ("MATCH ()-[r]->() DELETE r", "DELETE"),
    ("MATCH (n) REMOVE n.x", "REMOVE"),
    ("MATCH (n) FOREACH (x IN [1] | SET n.y = x)", "FOREACH"),
    ("DROP INDEX foo", "DROP"),
    ("MATCH (n) CALL { WITH n SET n.x = 1 } IN TRANSACTIONS", "SET"),
    ("MATCH (n) WHERE n.name = 'a' /* comment */ SET n.x = 1", "SET"),
    ("MATCH (n)\nSET\tn.x = 1", "SET"),
])
def test_write_guard_finds_write_clauses(query, clause):
    assert find_write_clause(query) == clause


@pytest.mark.parametrize("query", [
    "MATCH (n:User) RETURN n.id",
    "MATCH (n) WHERE n.name = 'CREATE (x)' RETURN n",  # in a string
    'MATCH (n) WHERE n.name = "SET x DELETE y" RETURN n',
    "MATCH (n) RETURN n.set, n.merge, n.create",  # properties
    "MATCH (n:Create) RETURN n",  # a label
    "MATCH (n) WHERE n.x = $delete RETURN n",  # a parameter
    "MATCH (n) RETURN {set: 1, remove: 2} AS m",  # map keys
    "MATCH (n) RETURN n.`DELETE me` AS x",  # a quoted name
    "// CREATE (n)\nMATCH (n) RETURN count(n)",  # a comment
    "MATCH (a)-[r:CREATED_BY]->(b) RETURN count(r)",  # a longer word
    "CALL db.labels()",
    "MATCH p=(u:User)-[*1..3]-(i:Item) RETURN p",
])
def test_write_guard_lets_reads_through(query):
    assert find_write_clause(query) is None
