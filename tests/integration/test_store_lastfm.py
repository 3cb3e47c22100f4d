"""Real data through every store: the 60-user lastfm subgraph (and, with ``-m slow``, all of
lastfm) written and read back equal, with the counts the analysts' queries rely on."""

from __future__ import annotations

import pytest

BACKENDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("rdf", id="rdf", marks=pytest.mark.slow),  # the RDF store's read takes ~30 s here
    pytest.param("neo4j", id="neo4j", marks=pytest.mark.neo4j),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lastfm_small_round_trips(backend, store_factory, lastfm_small_kg, unique_graph):
    store = store_factory(backend)
    report = store.write(lastfm_small_kg, graph=unique_graph)
    assert report.num_edges == lastfm_small_kg.num_edges()
    assert store.read(graph=unique_graph).differences(lastfm_small_kg) == []
    stats, expected = store.stats(graph=unique_graph), lastfm_small_kg.stats(degrees=False)
    assert stats.nodes == expected.nodes and stats.edges == expected.edges


@pytest.mark.slow
def test_full_lastfm_round_trips_with_the_analyst_counts(lastfm_kg, tmp_path):
    from kgrec.kg.stores import open_store

    store = open_store(f"embedded:{tmp_path / 'lastfm'}")
    try:
        store.write(lastfm_kg)
        assert store.query("MATCH (:User)-[r:LISTENED_TO]->(:Artist) RETURN count(r)").scalar() == 92834
        assert store.query("MATCH ()-[r]->() WHERE r.kg = 'satori' RETURN count(r)").scalar() == 15518
        assert store.read().differences(lastfm_kg) == []
        store.write(lastfm_kg)  # idempotent at full size too
        assert store.stats().num_edges == lastfm_kg.num_edges()
    finally:
        store.stop()
