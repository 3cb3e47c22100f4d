"""The serving parts on their own, on a small hand-made graph: the index in the run's row order (and
saved, memory-mapped), the scorer, sentences from the schema's words and roles, one direction for
symmetric relations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgrec.errors import InputError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.serving.explain import Explainer
from kgrec.serving.index import GraphIndex
from kgrec.serving.paths import ExplanationPath, PathNode, PathRelation
from kgrec.serving.scorer import Scorer
from kgrec.serving.search import FoundPath, search_paths, to_path
from kgrec.serving.sentences import Grammar, derived_phrases
from kgrec.serving.vectors import UnitVectors

from .test_serving_explain import toy_graph, vectors_for


def renamed_graph() -> KnowledgeGraph:
    """The toy graph with no word of Last.fm in it: the same roles under other names."""
    schema = Schema(
        nodes=(NodeType("Person"), NodeType("Song"), NodeType("Mood", quoted=True)),
        relations=(RelationType("Person", "PLAYED", "Song", phrases=("played", "played", "were played by",
                                                                      "was played by")),
                   RelationType("Person", "BUDDY", "Person", symmetric=True,
                                phrases=("are buddies with", "is buddies with", "are buddies with",
                                         "is buddies with")),
                   RelationType("Person", "FELT", "Mood", phrases=("felt", "felt", "were felt by", "was felt by")),
                   RelationType("Song", "EVOKES", "Mood", phrases=("evoke", "evokes", "are evoked by", "is evoked by"))),
        user_label="Person", item_label="Song", interaction=("Person", "PLAYED", "Song"))
    nodes = {"Person": pd.DataFrame({"id": ["p1", "p2", "p3"]}),
             "Song": pd.DataFrame({"id": ["s1", "s2", "s3"], "name": ["Blue", "Grey", "Red"]}),
             "Mood": pd.DataFrame({"id": ["m1"], "name": ["calm"]})}
    edges = {("Person", "PLAYED", "Song"): pd.DataFrame({"src": ["p1", "p2", "p2", "p3"], "dst": ["s1", "s1", "s2", "s3"]}),
             ("Person", "BUDDY", "Person"): pd.DataFrame({"src": ["p1", "p3"], "dst": ["p3", "p1"]}),
             ("Person", "FELT", "Mood"): pd.DataFrame({"src": ["p1"], "dst": ["m1"]}),
             ("Song", "EVOKES", "Mood"): pd.DataFrame({"src": ["s1", "s2"], "dst": ["m1", "m1"]})}
    return KnowledgeGraph(schema, nodes, edges, name="renamed").validate()


def path(kg: KnowledgeGraph, *spec) -> ExplanationPath:
    nodes, rels = [], []
    for i, part in enumerate(spec):
        if i % 2 == 0:
            label, node_id = part
            df = kg.nodes[label]
            name = str(df.loc[df["id"] == node_id, "name"].iloc[0]) if "name" in df else node_id
            nodes.append(PathNode(label, node_id, name))
        else:
            rels.append(PathRelation(*part))
    return ExplanationPath(tuple(nodes), tuple(rels))


# -- the index in the run's order ------------------------------------------------------------------
def test_index_rows_follow_the_given_order_and_append_the_graphs_other_nodes():
    kg = toy_graph()
    order = {"User": ["u3", "ghost", "u1"], "Artist": ["a4", "a3", "a2", "a1"]}
    index = GraphIndex.from_graph(kg, order=order)
    assert [index.node_id("User", r) for r in range(index.num_nodes("User"))] == ["u3", "ghost", "u1", "u2"]
    assert index.row("User", "u1") == 2 and index.row("User", "u2") == 3
    # a node of the run that the graph lacks keeps its row, is absent, and is never found by id
    assert index.row("User", "ghost") is None and index.present("User").tolist() == [True, False, True, True]
    assert [index.node_id("Artist", r) for r in range(4)] == ["a4", "a3", "a2", "a1"]
    keys, _ = index.neighbourhood("Artist", index.row("Artist", "a1"))
    assert sorted(index.unkey(k) for k in keys) == sorted([("User", 2), ("User", 3), ("Tag", 0)])
    with pytest.raises(InputError, match="no Tag with id or name 'jazz'"):
        index.find("Tag", "jazz")
    assert index.find("Tag", "PROGRESSIVE METAL") == 0  # by name, case-insensitively


def test_a_saved_index_loads_memory_mapped_and_finds_the_same_paths(tmp_path):
    kg = toy_graph()
    index = GraphIndex.from_graph(kg, source={"from": "test"})
    index.weigh(UnitVectors(index, vectors_for(kg)))
    names = index.save(tmp_path)
    first = (tmp_path / names[1]).read_bytes()
    assert index.save(tmp_path) == names and (tmp_path / names[1]).read_bytes() == first  # byte-for-byte again
    loaded = GraphIndex.load(tmp_path)
    assert loaded.source == {"graph": "toy", "from": "test"}
    assert isinstance(loaded._adj["User"].key, np.memmap)  # noqa: SLF001 (the test looks inside on purpose)
    loaded.weigh(UnitVectors(loaded, vectors_for(kg)), saved=True)
    user, item = index.row("User", "u1"), index.row("Artist", "a2")
    before = search_paths(index, user, [item])[item]
    after = search_paths(loaded, user, [item])[item]
    assert [(f.keys, f.steps, f.score) for f in before] == [(f.keys, f.steps, f.score) for f in after]


def test_hop_supports_weighed_in_small_blocks_equal_one_block(monkeypatch):
    import kgrec.serving.index as index_module
    import kgrec.serving.vectors as vectors_module

    kg = toy_graph()
    whole = GraphIndex.from_graph(kg)
    whole.weigh(UnitVectors(whole, vectors_for(kg)))
    monkeypatch.setattr(vectors_module, "_BLOCK", 1)
    monkeypatch.setattr(index_module, "_WEIGH_BLOCK", 3)
    blocks = GraphIndex.from_graph(kg)
    blocks.weigh(UnitVectors(blocks, vectors_for(kg)))
    users = whole._adj["User"].logsup  # noqa: SLF001 (the test looks inside on purpose)
    assert len(users) > 3 and len(set(users.tolist())) > 1  # several blocks, and not all neutral
    for label, adj in whole._adj.items():  # noqa: SLF001
        assert np.array_equal(adj.logsup, blocks._adj[label].logsup)  # noqa: SLF001


def test_forget_removes_every_edge_and_the_id():
    kg = toy_graph()
    index = GraphIndex.from_graph(kg)
    u1 = index.row("User", "u1")
    index.add_edge(("User", "LISTENED_TO", "Artist"), u1, index.row("Artist", "a4"))
    removed = index.forget("User", u1, "forgotten-x")
    assert removed == 4  # Opeth, the friendship both ways, and the added Abba
    assert index.row("User", "u1") is None and index.node_id("User", u1) == "forgotten-x"
    for label in index.labels:
        for r in range(index.num_nodes(label)):
            assert index.key("User", u1) not in index.neighbourhood(label, r)[0].tolist()


# -- the scorer ----------------------------------------------------------------------------------
def test_scorer_ranks_by_dot_product_and_honours_exclusions_and_dislikes():
    rng = np.random.default_rng(1)
    users, items = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(50, 4)).astype(np.float32)
    recommendable = np.ones(50, dtype=bool)
    recommendable[7] = False
    scorer = Scorer(users, items, known_users=np.array([True, True, False]), recommendable=recommendable)
    s = scorer.scores(0, exclude=np.array([3, 4]))
    top = scorer.top(s, 5)
    expected = np.argsort(-(items @ users[0]))
    expected = [int(i) for i in expected if i not in (3, 4, 7)][:5]
    assert top.tolist() == expected
    scorer.dislike(0, expected[0])
    assert expected[0] not in scorer.top(scorer.scores(0), 5).tolist()
    assert not scorer.known(2) and scorer.num_users == 2
    scorer.set_user(5, users[0])
    assert scorer.known(5) and scorer.num_users == 3
    scorer.forget(0)
    assert not scorer.known(0) and not scorer.user_vector(0).any()
    with pytest.raises(InputError):
        scorer.top(s, 0)


# -- sentences from the schema ------------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ([("Person", "p1"), ("PLAYED", "out"), ("Song", "s1")], "You already played Blue."),
    ([("Person", "p1"), ("BUDDY", "out"), ("Person", "p3"), ("PLAYED", "out"), ("Song", "s3")],
     "Because your friend user p3 played Red."),
    ([("Person", "p1"), ("PLAYED", "out"), ("Song", "s1"), ("PLAYED", "in"), ("Person", "p2"), ("PLAYED", "out"),
      ("Song", "s2")], "Because user p2, who also played Blue, played Grey."),
    ([("Person", "p1"), ("FELT", "out"), ("Mood", "m1"), ("EVOKES", "in"), ("Song", "s2")],
     "Because you felt 'calm', evoked by Grey."),
    ([("Person", "p1"), ("PLAYED", "out"), ("Song", "s1"), ("EVOKES", "out"), ("Mood", "m1"), ("EVOKES", "in"),
      ("Song", "s2")], "Because you played Blue, which evokes 'calm', and Grey evokes 'calm' too."),
])
def test_sentences_come_from_roles_and_the_schemas_phrases(spec, expected):
    """The sentence shapes (already seen, friend, co-listener, shared attribute) are found by role:
    none of these relation names is one the old grammar knew."""
    kg = renamed_graph()
    assert Grammar(kg.schema).sentence(path(kg, *spec)) == expected


def test_relations_without_phrases_read_as_their_names_say():
    assert derived_phrases("HAS_GENRE") == ("have the genre", "has the genre", "are the genre of", "is the genre of")
    assert derived_phrases("LISTENED_TO")[1] == "listened to" and derived_phrases("RATED")[3] == "was rated by"
    assert derived_phrases("DIRECTED_BY")[:2] == ("are directed by", "is directed by")
    assert derived_phrases("FRIEND_OF")[1] == "is the friend of"
    assert derived_phrases("MUSIC_ARTIST_ORIGIN")[1] == "has the music artist origin"


# -- symmetric relations: one direction ----------------------------------------------------------------
def _friend_path(kg: KnowledgeGraph, index: GraphIndex) -> FoundPath:
    """u1 <-[FRIEND_OF]- u3 -[LISTENED_TO]-> Anathema, found against the stored direction."""
    u1, u3, a3 = index.row("User", "u1"), index.row("User", "u3"), index.row("Artist", "a3")
    friend_in = index.step_index(("User", "FRIEND_OF", "User"), "in")
    listen = index.step_index(("User", "LISTENED_TO", "Artist"), "out")
    return FoundPath((index.key("User", u1), index.key("User", u3), index.key("Artist", a3)), (friend_in, listen),
                     (0.5, 0.5), 0.5)


def test_a_symmetric_relation_stored_both_ways_is_printed_forward():
    kg = toy_graph()  # FRIEND_OF is symmetric and stored both ways (u1 -> u3, u3 -> u1)
    index = GraphIndex.from_graph(kg)
    printed = to_path(_friend_path(kg, index), index)
    assert printed.relations[0] == PathRelation("FRIEND_OF", "out")
    assert str(printed).startswith("(User u1)-[:FRIEND_OF]->(User u3)")


def test_a_symmetric_relation_stored_one_way_keeps_its_stored_direction():
    kg = toy_graph()
    one_way = kg.replace(edges={("User", "FRIEND_OF", "User"): pd.DataFrame({"src": ["u3"], "dst": ["u1"]})})
    index = GraphIndex.from_graph(one_way)
    assert to_path(_friend_path(one_way, index), index).relations[0] == PathRelation("FRIEND_OF", "in")


def test_every_explained_friend_path_reads_forward():
    kg = toy_graph()
    index = GraphIndex.from_graph(kg)
    explainer = Explainer(index, vectors_for(kg), max_hops=3)
    found = explainer.explain(index.row("User", "u1"), [index.row("Artist", "a3")], max_paths=10)
    friend_hops = [r for e in found[index.row("Artist", "a3")] for r in e.path.relations if r.type == "FRIEND_OF"]
    assert friend_hops and {r.direction for r in friend_hops} == {"out"}
