import pandas as pd
import pytest

from kgrec.errors import InputError, SchemaError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.kg.schema import to_relation_name

SCHEMA = Schema(
    nodes=(NodeType("User"), NodeType("Artist"), NodeType("Tag")),
    relations=(RelationType("User", "LISTENED_TO", "Artist", {"weight": "integer"}),
               RelationType("Artist", "HAS_TAG", "Tag")),
    item_label="Artist",
    interaction=("User", "LISTENED_TO", "Artist"),
)


def graph(edges=None, users=("1", "2")):
    return KnowledgeGraph(
        SCHEMA,
        {"User": pd.DataFrame({"id": list(users)}), "Artist": pd.DataFrame({"id": ["a", "b"], "name": ["A", "B"]}),
         "Tag": pd.DataFrame({"id": ["t"], "name": ["rock"]})},
        {("User", "LISTENED_TO", "Artist"): edges if edges is not None else
         pd.DataFrame({"src": ["1", "2"], "dst": ["a", "b"], "weight": [3, 4]})},
    )


def test_valid_graph_counts_and_index():
    g = graph().validate()
    assert g.num_nodes() == 5 and g.num_edges() == 2
    assert g.edge_index(("User", "LISTENED_TO", "Artist")).tolist() == [[0, 1], [0, 1]]
    s = g.stats()
    assert s.relations == {"LISTENED_TO": 2, "HAS_TAG": 0}


@pytest.mark.parametrize("label", ["user", "Us er", "User`) DETACH DELETE n //", "", "1User"])
def test_unsafe_labels_refused(label):
    with pytest.raises(SchemaError):
        NodeType(label)


@pytest.mark.parametrize("rel", ["listened", "A-B", "X]->() DELETE n //"])
def test_unsafe_relations_refused(rel):
    with pytest.raises(SchemaError):
        RelationType("User", rel, "Artist")


def test_relation_names_from_free_text():
    assert to_relation_name("music.artist.origin") == "MUSIC_ARTIST_ORIGIN"
    assert to_relation_name("dbo:associatedBand") == "DBO_ASSOCIATED_BAND"


def test_unknown_endpoint_names_file_and_line():
    edges = pd.DataFrame({"src": ["1", "2"], "dst": ["a", "zz"], "weight": [1, 2], "_line": [2, 3]})
    g = graph(edges)
    g.sources[("User", "LISTENED_TO", "Artist")] = "user_artists.dat"
    with pytest.raises(InputError, match=r"user_artists.dat:3: .*'zz'"):
        g.validate()


def test_duplicate_ids_and_edges_and_empty_ids():
    with pytest.raises(InputError, match="duplicate User id '1'"):
        graph(users=("1", "1")).validate()
    dup = pd.DataFrame({"src": ["1", "1"], "dst": ["a", "a"], "weight": [1, 2]})
    with pytest.raises(InputError, match="duplicate LISTENED_TO edge"):
        graph(dup).validate()
    with pytest.raises(InputError, match="empty id"):
        graph(users=("1", " ")).validate()


def test_overlong_id_and_wrong_property_type():
    with pytest.raises(InputError, match="at most 256"):
        graph(users=("1", "x" * 300)).validate()
    bad = pd.DataFrame({"src": ["1"], "dst": ["a"], "weight": ["lots"]})
    with pytest.raises(InputError, match="weight"):
        graph(bad).validate()


def test_equality_ignores_row_order():
    g = graph()
    flipped = g.replace(edges={("User", "LISTENED_TO", "Artist"): g.interactions.iloc[::-1]})
    assert g.equals(flipped)
    assert not g.equals(g.replace(edges={("User", "LISTENED_TO", "Artist"): g.interactions.iloc[:1]}))


def test_networkx_view():
    nxg = graph().to_networkx()
    assert nxg.number_of_nodes() == 5
    assert nxg.has_edge("User:1", "Artist:a", key="LISTENED_TO")
