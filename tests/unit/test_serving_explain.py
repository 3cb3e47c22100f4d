"""Unit tests of the explanation search, sentences, Cypher builders and MMR on a small hand-made graph."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kgrec.errors import SchemaError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.serving.cypher import path_cypher, path_sparql
from kgrec.serving.index import GraphIndex
from kgrec.serving.paths import ExplanationPath, PathNode, PathRelation
from kgrec.serving.scorer import intra_list_diversity, mmr
from kgrec.serving.search import choose, search_paths, to_path
from kgrec.serving.sentences import sentence
from kgrec.serving.vectors import EPSILON, NEUTRAL_SUPPORT, UnitVectors


def toy_graph() -> KnowledgeGraph:
    """u1 listens to Opeth; Opeth and Katatonia share the tag 'progressive metal'; u2 listens to
    Opeth and Katatonia; u1 is friends with u3, who listens to Anathema; Katatonia has the genre
    Doom metal, like Anathema."""
    schema = Schema(
        nodes=(NodeType("User"), NodeType("Artist"), NodeType("Tag", quoted=True), NodeType("DbpediaEntity")),
        relations=(RelationType("User", "LISTENED_TO", "Artist", {"weight": "integer"},
                                phrases=("listen to", "listens to", "are listened to by", "is listened to by")),
                   RelationType("User", "FRIEND_OF", "User", phrases=("are friends with", "is friends with",
                                                                      "are friends with", "is friends with"),
                                symmetric=True),
                   RelationType("Artist", "HAS_TAG", "Tag", {"count": "integer"},
                                phrases=("have the tag", "has the tag", "are a tag of", "is a tag of")),
                   RelationType("Artist", "DBO_GENRE", "DbpediaEntity",
                                phrases=("have the genre", "has the genre", "are the genre of", "is the genre of"))),
        user_label="User", item_label="Artist", interaction=("User", "LISTENED_TO", "Artist"))
    nodes = {
        "User": pd.DataFrame({"id": ["u1", "u2", "u3"]}),
        "Artist": pd.DataFrame({"id": ["a1", "a2", "a3", "a4"], "name": ["Opeth", "Katatonia", "Anathema", "Abba"]}),
        "Tag": pd.DataFrame({"id": ["t1"], "name": ["progressive metal"]}),
        "DbpediaEntity": pd.DataFrame({"id": ["http://dbpedia.org/resource/Doom_metal"], "name": ["Doom metal"]}),
    }
    edges = {
        ("User", "LISTENED_TO", "Artist"): pd.DataFrame({"src": ["u1", "u2", "u2", "u3"], "dst": ["a1", "a1", "a2", "a3"],
                                                         "weight": [10, 5, 7, 3]}),
        ("User", "FRIEND_OF", "User"): pd.DataFrame({"src": ["u1", "u3"], "dst": ["u3", "u1"]}),
        ("Artist", "HAS_TAG", "Tag"): pd.DataFrame({"src": ["a1", "a2"], "dst": ["t1", "t1"], "count": [4, 2]}),
        ("Artist", "DBO_GENRE", "DbpediaEntity"): pd.DataFrame({"src": ["a2", "a3"],
                                                                "dst": ["http://dbpedia.org/resource/Doom_metal"] * 2}),
    }
    return KnowledgeGraph(schema, nodes, edges, name="toy").validate()


def vectors_for(kg: KnowledgeGraph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {label: rng.normal(size=(len(df), 8)).astype(np.float32) for label, df in kg.nodes.items()}


@pytest.fixture()
def toy():
    kg = toy_graph()
    index = GraphIndex.from_graph(kg)
    index.weigh(UnitVectors(index, vectors_for(kg)))
    return kg, index


def test_index_holds_every_edge_in_both_directions(toy):
    kg, index = toy
    keys, steps = index.neighbourhood("Artist", index.row("Artist", "a1"))
    found = {(index.unkey(k), index.steps[s].edge_type[1], index.steps[s].direction) for k, s in zip(keys, steps)}
    assert found == {(("User", 0), "LISTENED_TO", "in"), (("User", 1), "LISTENED_TO", "in"),
                     (("Tag", 0), "HAS_TAG", "out")}
    assert sum(index.degree(label, r) for label in kg.nodes for r in range(kg.num_nodes(label))) == 2 * kg.num_edges()


def test_added_edges_are_seen_both_ways_and_not_twice(toy):
    _, index = toy
    u, a = index.row("User", "u3"), index.row("Artist", "a4")
    assert index.add_edge(("User", "LISTENED_TO", "Artist"), u, a)
    assert not index.add_edge(("User", "LISTENED_TO", "Artist"), u, a)
    keys, _ = index.neighbourhood("Artist", a)
    assert index.key("User", u) in keys.tolist()
    new = index.add_node("User", "u9")
    assert new == 3 and index.node_id("User", new) == "u9"
    index.add_edge(("User", "LISTENED_TO", "Artist"), new, a)
    pos, key, step, logsup = index.gather("User", np.array([new, u]))
    # u9: the new edge; u3: Anathema, Abba and the friendship stored both ways
    assert sorted(pos.tolist()) == [0, 1, 1, 1, 1] and len(logsup) == 5


def test_search_finds_the_shared_tag_and_colistener_paths(toy):
    kg, index = toy
    found = search_paths(index, index.row("User", "u1"), [index.row("Artist", "a2")], max_hops=3)
    paths = [to_path(f, index) for f in found[index.row("Artist", "a2")]]
    shapes = {tuple((n.id for n in p.nodes)) for p in paths}
    assert ("u1", "a1", "t1", "a2") in shapes  # shared tag
    assert ("u1", "a1", "u2", "a2") in shapes  # co-listener
    for p in paths:
        ids = [(n.label, n.id) for n in p.nodes]
        assert len(set(ids)) == len(ids), "paths are simple"
        assert p.hops <= 3 and p.nodes[0].id == "u1" and p.nodes[-1].id == "a2"


def test_max_hops_bounds_the_search(toy):
    kg, index = toy
    a2 = index.row("Artist", "a2")
    assert search_paths(index, index.row("User", "u1"), [a2], max_hops=2)[a2] == []
    one = search_paths(index, index.row("User", "u1"), [index.row("Artist", "a1")], max_hops=1)
    [path] = [to_path(f, index) for f in one[index.row("Artist", "a1")]]
    assert path.pattern == ("LISTENED_TO",) and sentence(path, kg.schema) == "You already listen to Opeth."
    # Abba has no edge at all
    assert search_paths(index, 0, [index.row("Artist", "a4")])[index.row("Artist", "a4")] == []


def test_path_score_is_the_geometric_mean_of_cosine_supports(toy):
    kg, index = toy
    vec = vectors_for(kg)
    unit = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in vec.items()}
    found = search_paths(index, index.row("User", "u1"), [index.row("Artist", "a2")],
                         scoring="geometric")[index.row("Artist", "a2")]
    assert [f.score for f in found] == sorted((f.score for f in found), reverse=True)
    for f in found:
        nodes = [index.unkey(k) for k in f.keys]
        expected = [max(float(unit[la][ra] @ unit[lb][rb]), EPSILON) for (la, ra), (lb, rb) in zip(nodes, nodes[1:])]
        assert np.allclose(f.supports, expected)
        assert math.isclose(f.score, math.exp(np.mean(np.log(expected))), rel_tol=1e-9)


def test_changed_vectors_change_supports(toy):
    kg, index = toy
    u1, a1 = index.row("User", "u1"), index.row("Artist", "a1")
    target = index.vectors.unit("Artist", a1)
    index.vectors.set("User", u1, target * 3.0)  # the user now points exactly at Opeth
    [f] = search_paths(index, u1, [a1], max_hops=1)[a1]
    assert math.isclose(f.supports[0], 1.0, rel_tol=1e-5)


def test_missing_vectors_give_the_neutral_support():
    kg = toy_graph()
    index = GraphIndex.from_graph(kg)
    vec = vectors_for(kg)
    del vec["Tag"]
    index.weigh(UnitVectors(index, vec))
    f = [f for f in search_paths(index, 0, [1])[1] if len(f.keys) == 4 and index.unkey(f.keys[2])[0] == "Tag"][0]
    assert f.supports[1] == NEUTRAL_SUPPORT and f.supports[2] == NEUTRAL_SUPPORT


def test_choose_prefers_variety_and_drops_duplicate_node_sequences(toy):
    _, index = toy
    found = search_paths(index, index.row("User", "u1"), [index.row("Artist", "a2")])[index.row("Artist", "a2")]
    chosen = choose(found + found, index, 2)
    assert len(chosen) == 2 and chosen[0].keys != chosen[1].keys
    patterns = {tuple(index.relation_of[s] for s in f.steps) for f in chosen}
    assert len(patterns) == 2


def test_choose_shows_paths_through_the_same_nodes_once(toy):
    _, index = toy
    found = search_paths(index, index.row("User", "u1"), [index.row("Artist", "a2")])[index.row("Artist", "a2")]
    chosen = choose(found, index, len(found))
    assert len({frozenset(f.keys) for f in chosen}) == len(chosen)
    assert {frozenset(f.keys) for f in chosen} == {frozenset(f.keys) for f in found}


def _path(kg, spec) -> ExplanationPath:
    nodes, rels = [], []
    for i, part in enumerate(spec):
        if i % 2 == 0:
            label, node_id = part
            df = kg.nodes[label]
            name = str(df.loc[df["id"] == node_id, "name"].iloc[0])
            nodes.append(PathNode(label, node_id, name))
        else:
            rels.append(PathRelation(*part))
    return ExplanationPath(tuple(nodes), tuple(rels))


@pytest.mark.parametrize("spec, expected", [
    ([("User", "u1"), ("LISTENED_TO", "out"), ("Artist", "a1"), ("HAS_TAG", "out"), ("Tag", "t1"), ("HAS_TAG", "in"),
      ("Artist", "a2")],
     "Because you listen to Opeth, which shares the tag 'progressive metal' with Katatonia."),
    ([("User", "u1"), ("LISTENED_TO", "out"), ("Artist", "a1"), ("LISTENED_TO", "in"), ("User", "u2"),
      ("LISTENED_TO", "out"), ("Artist", "a2")],
     "Because user u2, who also listens to Opeth, listens to Katatonia."),
    ([("User", "u1"), ("FRIEND_OF", "out"), ("User", "u3"), ("LISTENED_TO", "out"), ("Artist", "a3")],
     "Because your friend user u3 listens to Anathema."),
    ([("User", "u2"), ("LISTENED_TO", "out"), ("Artist", "a2"), ("DBO_GENRE", "out"),
      ("DbpediaEntity", "http://dbpedia.org/resource/Doom_metal"), ("DBO_GENRE", "in"), ("Artist", "a3")],
     "Because you listen to Katatonia, which shares the genre Doom metal with Anathema."),
])
def test_sentences(spec, expected):
    kg = toy_graph()
    assert sentence(_path(kg, spec), kg.schema) == expected


def test_cypher_puts_ids_in_parameters_and_directions_right():
    kg = toy_graph()
    path = _path(kg, [("User", "u1"), ("LISTENED_TO", "out"), ("Artist", "a1"), ("HAS_TAG", "out"), ("Tag", "t1"),
                      ("HAS_TAG", "in"), ("Artist", "a2")])
    q = path_cypher(path, kg.schema)
    assert q.parameters == {"n0": "u1", "n1": "a1", "n2": "t1", "n3": "a2"}
    assert ("(n0:User {id: $n0})-[:LISTENED_TO]->(n1:Artist {id: $n1})-[:HAS_TAG]->(n2:Tag {id: $n2})"
            "<-[:HAS_TAG]-(n3:Artist {id: $n3})") in q.text
    for value in q.parameters.values():
        assert f"'{value}'" not in q.text and f'"{value}"' not in q.text


def test_cypher_refuses_labels_and_relations_outside_the_schema():
    kg = toy_graph()
    evil = ExplanationPath((PathNode("User", "u1", "u1"), PathNode("Artist) DETACH DELETE (x", "a1", "x")),
                           (PathRelation("LISTENED_TO", "out"),))
    with pytest.raises(SchemaError):
        path_cypher(evil, kg.schema)
    wrong_way = ExplanationPath((PathNode("User", "u1", "u1"), PathNode("Artist", "a1", "Opeth")),
                                (PathRelation("LISTENED_TO", "in"),))
    with pytest.raises(SchemaError, match="not in the schema"):
        path_cypher(wrong_way, kg.schema)
    unknown = ExplanationPath((PathNode("User", "u1", "u1"), PathNode("Artist", "a1", "Opeth")),
                              (PathRelation("LIKES", "out"),))
    with pytest.raises(SchemaError):
        path_cypher(unknown, kg.schema)


def test_sparql_uses_the_rdf_vocabulary():
    kg = toy_graph()
    path = _path(kg, [("User", "u1"), ("LISTENED_TO", "out"), ("Artist", "a1"), ("HAS_TAG", "out"), ("Tag", "t1")])
    q = path_sparql(path, kg.schema).text
    assert "<https://kgrec.dev/node/User/u1>" in q and "<https://kgrec.dev/schema/LISTENED_TO>" in q
    assert "?n0 <https://kgrec.dev/schema/LISTENED_TO> ?n1 ." in q


def test_mmr_trades_relevance_for_diversity():
    rng = np.random.default_rng(0)
    base = rng.normal(size=8)
    unit = np.stack([base + 0.01 * rng.normal(size=8) for _ in range(5)] + [rng.normal(size=8) for _ in range(5)])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    scores = np.array([1.0, 0.99, 0.98, 0.97, 0.96, 0.5, 0.49, 0.48, 0.47, 0.46])
    assert mmr(scores, unit, 4, diversity=0.0).tolist() == [0, 1, 2, 3]
    diverse = mmr(scores, unit, 4, diversity=0.7)
    assert diverse[0] == 0 and intra_list_diversity(unit[diverse]) > intra_list_diversity(unit[[0, 1, 2, 3]])
    assert intra_list_diversity(unit[:1]) == 0.0


def test_search_keeps_the_best_path_of_every_last_relation_beside_the_best_overall(toy):
    _, index = toy
    user, item = index.row("User", "u1"), index.row("Artist", "a2")
    everything = search_paths(index, user, [item], per_item=1000, per_relation=0)[item]
    last = {index.relation_of[f.steps[-1]] for f in everything}
    assert len(last) >= 2  # the toy reaches a2 through a listener and through a tag
    few = search_paths(index, user, [item], per_item=1, per_relation=1)[item]
    assert {index.relation_of[f.steps[-1]] for f in few} == last
    assert len(search_paths(index, user, [item], per_item=1, per_relation=0)[item]) == 1
