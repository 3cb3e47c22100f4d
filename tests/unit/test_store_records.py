"""The pieces of the store contract that need no server: Schema.with_ helpers, the GraphMeta record,
the row checks of upserts (their messages name the call, the row and the value), the reserved
label, the backend registry and the capability flags."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import ConfigError, InputError, SchemaError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.kg.stores import BACKENDS, make_store, store_class
from kgrec.kg.stores.meta import COMPLETE, WRITING, GraphMeta
from kgrec.kg.stores.rows import cast_properties, edge_rows, extend_for_edges, extend_for_nodes, node_rows


def _schema() -> Schema:
    return Schema(
        (NodeType("User", {"age": "integer"}, "people", quoted=False), NodeType("Tag", {}, "free text", quoted=True),
         NodeType("Item")),
        (RelationType("User", "FRIEND_OF", "User", {}, "friends", ("know", "knows", "are known by", "is known by"),
                      symmetric=True),
         RelationType("User", "RATED", "Item", {"rating": "float"}),
         RelationType("Item", "TAGGED", "Tag")),
        "User", "Item", ("User", "RATED", "Item"))


# -- Schema.with_ ----------------------------------------------------------------------------------
def test_with_relation_properties_keeps_phrases_symmetry_and_description():
    schema = _schema().with_relation_properties(("User", "FRIEND_OF", "User"), {"since": "integer"})
    rel = schema.relation(("User", "FRIEND_OF", "User"))
    assert rel.properties == {"since": "integer"}
    assert rel.phrases == ("know", "knows", "are known by", "is known by") and rel.symmetric
    assert rel.description == "friends"
    assert schema.edge_types == _schema().edge_types  # in place, not moved to the end


def test_with_node_properties_keeps_quoted_and_adds_new_labels():
    schema = _schema().with_node_properties("Tag", {"weight": "float"}).with_node_properties("Genre", {"x": "string"})
    assert schema.node("Tag").quoted and schema.node("Tag").properties == {"weight": "float"}
    assert schema.node("Genre").properties == {"x": "string"}
    assert schema.labels == ["User", "Tag", "Item", "Genre"]


def test_with_relation_and_roles():
    schema = _schema().with_relation(RelationType("Tag", "BROADER", "Tag"))
    assert ("Tag", "BROADER", "Tag") in schema.edge_types
    swapped = schema.with_roles(item_label="Tag", interaction=("Item", "TAGGED", "Tag"))
    assert (swapped.user_label, swapped.item_label, swapped.interaction) == ("User", "Tag", ("Item", "TAGGED", "Tag"))
    with pytest.raises(SchemaError, match="interaction"):
        schema.with_roles(interaction=("User", "NOPE", "Item"))


def test_a_duplicate_relation_type_is_named():
    rel = RelationType("User", "INTERACTED", "Item")
    with pytest.raises(SchemaError, match=r"\(User\)-\[INTERACTED\]->\(Item\) is declared 2 times"):
        Schema((NodeType("User"), NodeType("Item")), (rel, rel), "User", "Item", ("User", "INTERACTED", "Item"))


# -- GraphMeta -------------------------------------------------------------------------------------
def _kg(name: str = "g") -> KnowledgeGraph:
    schema = _schema()
    users = pd.DataFrame({"id": ["u1", "u2"], "age": pd.array([3, None], dtype="Int64")})
    items = pd.DataFrame({"id": ["i1"]})
    rated = pd.DataFrame({"src": ["u1"], "dst": ["i1"], "rating": [4.0], "_line": [2]})
    return KnowledgeGraph(schema, {"User": users, "Item": items, "Tag": pd.DataFrame({"id": ["t"]})},
                          {("User", "RATED", "Item"): rated}, name=name, metadata={"a": 1})


def test_graph_meta_of_a_graph_and_merged_with_another():
    meta = GraphMeta.of_graph(_kg(), "g")
    assert meta.state == WRITING and not meta.complete
    assert meta.node_columns == {"User": ("age",), "Item": (), "Tag": ()}
    assert meta.edge_columns[("User", "RATED", "Item")] == ("rating",)  # bookkeeping (_line) is not a column
    assert meta.edge_columns[("User", "FRIEND_OF", "User")] == ()
    other = _kg().replace(metadata={"b": 2})
    merged = meta.with_state(COMPLETE).merged_with(other, state=WRITING)
    assert merged.metadata == {"a": 1, "b": 2} and merged.state == WRITING
    # both stored forms of the columns read back the same
    for stored in (merged.columns_by_key(), merged.columns_as_list()):
        assert GraphMeta.parse_columns(stored) == (dict(merged.node_columns), dict(merged.edge_columns))


# -- row checks ------------------------------------------------------------------------------------
def test_node_rows_name_the_call_the_row_and_the_value():
    with pytest.raises(InputError, match=r"upsert_nodes\(User\): row 1: User id 'a\\x00b' contains a NUL"):
        node_rows("User", pd.DataFrame({"id": ["ok", "a\x00b"]}))
    with pytest.raises(InputError, match=r"upsert_nodes\(User\): row 2: id 'x' appears twice"):
        node_rows("User", pd.DataFrame({"id": ["x", "y", "x"]}))
    with pytest.raises(InputError, match=r"row 0: User id ' ' is empty"):
        node_rows("User", pd.DataFrame({"id": [" "]}))
    with pytest.raises(InputError, match=r"row 1: name 'b\\x00' contains a NUL"):
        node_rows("User", pd.DataFrame({"id": ["a", "b"], "name": ["a", "b\x00"]}))
    with pytest.raises(SchemaError, match="'KgrecMeta' is reserved"):
        node_rows("KgrecMeta", pd.DataFrame({"id": ["x"]}))
    rows = node_rows("User", pd.DataFrame({"id": ["a"], "_line": [3]}))
    assert list(rows.columns) == ["id"]


def test_edge_rows_and_property_values_name_what_is_wrong():
    with pytest.raises(InputError, match=r"upsert_edges\(\(User\)-\[RATED\]->\(Item\)\): row 1: edge 'u' -> 'i' "
                                         "appears twice"):
        edge_rows(("User", "RATED", "Item"), pd.DataFrame({"src": ["u", "u"], "dst": ["i", "i"]}))
    with pytest.raises(InputError, match=r"row 0: RATED dst '' is empty"):
        edge_rows(("User", "RATED", "Item"), pd.DataFrame({"src": ["u"], "dst": [""]}))
    with pytest.raises(InputError, match=r"row 1: Genre.note value 'x\\x00' contains a NUL"):
        cast_properties(pd.DataFrame({"note": ["ok", "x\x00"]}), ["note"], {"note": "string"}, "Genre")
    with pytest.raises(InputError, match=r"Item.year: row 1: value 'soon': not of type integer"):
        cast_properties(pd.DataFrame({"year": ["1999", "soon"]}), ["year"], {"year": "integer"}, "Item")


def test_extending_the_record_for_new_labels_relations_and_columns():
    meta = GraphMeta.of_graph(_kg(), "g", state=COMPLETE)
    rows, same = extend_for_nodes(meta, "User", pd.DataFrame({"id": ["u3"], "age": [4]}))
    assert same == meta and str(rows["age"].dtype) == "Int64"
    _, more = extend_for_nodes(meta, "Genre", pd.DataFrame({"id": ["g"], "score": [0.5]}))
    assert more.schema.node("Genre").properties == {"score": "float"} and more.node_columns["Genre"] == ("score",)
    assert more.state == COMPLETE  # extending keeps the write state
    _, rel = extend_for_edges(meta, ("User", "FRIEND_OF", "User"), pd.DataFrame({"src": ["u1"], "dst": ["u2"],
                                                                                   "since": [2020]}))
    friend = rel.schema.relation(("User", "FRIEND_OF", "User"))
    assert friend.properties == {"since": "integer"} and friend.symmetric and friend.phrases
    with pytest.raises(SchemaError, match="label 'Nope' is not in graph 'g'"):
        extend_for_edges(meta, ("User", "X", "Nope"), pd.DataFrame({"src": ["u1"], "dst": ["n"]}))


def test_a_reserved_label_is_refused_before_any_store_io(tmp_path):
    # The schema refuses the meta node's label when it is built, so no graph holding it reaches a
    # store; the stores' own check (for rows written by label) still refuses it before any I/O.
    with pytest.raises(SchemaError, match=r"label 'KgrecMeta' is reserved"):
        Schema((NodeType("User"), NodeType("Item"), NodeType("KgrecMeta")),
               (RelationType("User", "RATED", "Item"), RelationType("Item", "HAS", "KgrecMeta")),
               "User", "Item", ("User", "RATED", "Item"))
    schema = Schema((NodeType("User"), NodeType("Item")), (RelationType("User", "RATED", "Item"),),
                    "User", "Item", ("User", "RATED", "Item"))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["u"]}), "Item": pd.DataFrame({"id": ["i"]})},
                        {("User", "RATED", "Item"): pd.DataFrame({"src": ["u"], "dst": ["i"]})}, name="g")
    for url in (f"embedded:{tmp_path}/s", f"rdf:{tmp_path}/r"):
        store = make_store(url).open()
        try:
            store.write(kg)
            with pytest.raises(SchemaError, match=r"label 'KgrecMeta' is reserved"):
                store.upsert_nodes("KgrecMeta", pd.DataFrame({"id": ["m"]}), graph="g")
            assert store.stats(graph="g").num_nodes == 2  # nothing was written
        finally:
            store.close()


# -- backends and capabilities ---------------------------------------------------------------------
def test_backends_resolve_through_one_registry():
    assert BACKENDS.names() == ["embedded", "falkordb", "neo4j", "rdf"]
    assert store_class("BOLT+S://host").__name__ == "Neo4jStore"  # schemes are case-insensitive
    with pytest.raises(ConfigError, match="did you mean 'embedded'"):
        store_class("embeded")
    with pytest.raises(ConfigError, match="shape of a falkordb URL"):
        store_class("falkordb")


def test_capabilities_are_set_truthfully(tmp_path):
    embedded = make_store(f"embedded:{tmp_path}/e")
    assert (embedded.capabilities.restartable, embedded.capabilities.fsync, embedded.capabilities.compactable) == \
        (True, True, True)
    memory_only = make_store(f"embedded:{tmp_path}/m", appendonly=False)
    assert (memory_only.capabilities.fsync, memory_only.capabilities.compactable) == (False, False)
    remote = make_store("falkordb://localhost:1")
    assert not (remote.capabilities.restartable or remote.capabilities.fsync or remote.capabilities.compactable)
    neo = make_store("bolt://localhost:1")
    assert not (neo.capabilities.restartable or neo.capabilities.fsync or neo.capabilities.compactable)
    rdf = make_store(f"rdf:{tmp_path}/r")
    assert rdf.capabilities.compactable and not rdf.capabilities.restartable and rdf.capabilities.sparql


def test_query_limits_are_store_settings(tmp_path):
    store = make_store(f"embedded:{tmp_path}/e", query_timeout=2, max_query_timeout=5, max_rows=7)
    assert (store.query_timeout, store.max_query_timeout, store.max_rows) == (2.0, 5.0, 7)
    with pytest.raises(ConfigError, match="above the hard maximum of 5 s"):
        make_store(f"embedded:{tmp_path}/e", query_timeout=6, max_query_timeout=5)
