"""Interest tags for real users, written to and read from the embedded store; vectors in the store."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kgrec.text import interest_tags, read_profiles, write_profiles, write_vectors
from kgrec.text.profiles import INTERESTED_IN
from kgrec.text.vectors import similar_nodes

METAL_WORDS = re.compile(r"metal|thrash|doom|death|black|core|grind|sludge|djent|power|heavy", re.IGNORECASE)

POP_WORDS = re.compile(r"pop|dance|female|vocal|singer|diva|r&b|rnb|soul|chart", re.IGNORECASE)


def metal_count(tags) -> int:
    return sum(bool(METAL_WORDS.search(t.name)) for t in tags)


def test_a_metal_listener_gets_metal_tags_and_a_pop_listener_does_not(
        lastfm_pair_kg, lastfm_pair_vectors, lastfm_taste_users):
    metal_user, pop_user = lastfm_taste_users
    profiles = interest_tags(lastfm_pair_kg, lastfm_pair_vectors, k=10)
    metal, pop = profiles[metal_user], profiles[pop_user]
    assert len(metal) == len(pop) == 10
    assert all(a.score >= b.score for a, b in zip(metal, metal[1:]))
    assert metal_count(metal) >= 7, [t.name for t in metal]
    assert metal_count(pop) <= 2, [t.name for t in pop]
    assert sum(bool(POP_WORDS.search(t.name)) for t in pop) >= 5, [t.name for t in pop]
    assert {t.label for t in metal + pop} <= {"Tag", "DbpediaEntity"}  # the attribute labels embedded


@pytest.fixture(scope="module")
def pair_in_store(text_store, lastfm_pair_kg):
    text_store.write(lastfm_pair_kg, graph="pair")
    return text_store


def test_profiles_are_written_as_interested_in_edges_and_replaced(pair_in_store, lastfm_pair_kg,
                                                                  lastfm_pair_vectors, lastfm_taste_users):
    store = pair_in_store
    metal_user, _ = lastfm_taste_users
    profiles = interest_tags(lastfm_pair_kg, lastfm_pair_vectors, k=5)
    assert write_profiles(store, profiles, graph="pair") == 10
    stored_types = {et for et in store.schema(graph="pair").edge_types if et[1] == INTERESTED_IN}
    assert stored_types == {("User", INTERESTED_IN, t.label) for tags in profiles.values() for t in tags}
    stored = read_profiles(store, metal_user, graph="pair")
    assert [t.id for t in stored] == [t.id for t in profiles[metal_user]]
    assert [t.score for t in stored] == pytest.approx([t.score for t in profiles[metal_user]], abs=1e-6)
    # an analyst's query
    rows = store.query("MATCH (u:User {id: $u})-[r:INTERESTED_IN]->(t) RETURN t.name, r.score, r.rank "
                       "ORDER BY r.rank", {"u": metal_user}, graph="pair").rows
    assert [r[0] for r in rows] == [t.name for t in profiles[metal_user]] and rows[0][2] == 1
    # writing again with k=3 replaces, never adds
    write_profiles(store, interest_tags(lastfm_pair_kg, lastfm_pair_vectors, k=3), graph="pair")
    assert len(read_profiles(store, metal_user, graph="pair")) == 3
    # the graph still reads back whole, now with the new relation type
    back = store.read(graph="pair")
    assert sum(back.num_edges(et) for et in back.edges if et[1] == INTERESTED_IN) == 6


def test_vectors_in_the_store_answer_similarity_queries(pair_in_store, lastfm_pair_kg, lastfm_pair_vectors):
    store = pair_in_store
    written = write_vectors(store, lastfm_pair_kg, lastfm_pair_vectors, labels=["Artist"], graph="pair")
    assert written == {"Artist": lastfm_pair_kg.num_nodes("Artist")}
    artists = lastfm_pair_kg.nodes["Artist"]
    matrix = lastfm_pair_vectors["Artist"]
    row = int(np.flatnonzero(artists["id"].to_numpy() == artists["id"].iat[0])[0])
    found = similar_nodes(store, "Artist", artists["id"].iat[row], k=5, graph="pair")
    cosine = matrix @ matrix[row]
    cosine[row] = -np.inf
    expected = np.argsort(-cosine, kind="stable")[:5]
    assert [f.id for f in found] == artists["id"].to_numpy()[expected].tolist()
    assert [f.similarity for f in found] == pytest.approx(cosine[expected].tolist(), abs=1e-4)
