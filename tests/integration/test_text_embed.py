"""embed_graph with the real encoder on real data, through the on-disk cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kgrec.text import NodeVectors, TextEncoder, VectorCache, embed_graph
from kgrec.text.documents import node_documents
from tests.fixtures.text import PAIR_LABELS


def test_vectors_are_aligned_unit_rows(lastfm_pair_kg, lastfm_pair_vectors):
    nv = lastfm_pair_vectors
    assert nv.labels == PAIR_LABELS and nv.dim == 384
    for label in PAIR_LABELS:
        assert nv[label].shape == (lastfm_pair_kg.num_nodes(label), 384)
        assert nv.ids[label] == lastfm_pair_kg.nodes[label]["id"].tolist()
        np.testing.assert_allclose(np.linalg.norm(nv[label], axis=1), 1.0, atol=1e-5)
    nv.check_aligned(lastfm_pair_kg)
    # the artist rows are the vectors of their documents
    docs = node_documents(lastfm_pair_kg, labels=["Artist"])["Artist"]
    assert nv.documents["Artist"] == docs


def small_kg(lastfm_pair_kg):
    """The pair graph's users and the artists of the first user (a few dozen texts)."""
    users = lastfm_pair_kg.users["id"].tolist()[:1]
    return lastfm_pair_kg.subgraph(users)


def test_second_run_loads_no_model_and_gives_the_same_vectors(lastfm_pair_kg, text_encoder, tmp_path):
    kg = small_kg(lastfm_pair_kg)
    cache = VectorCache(tmp_path)
    first = embed_graph(kg, encoder=text_encoder, cache=cache, labels=["User", "Artist"])
    assert first.report.num_cached == 0
    assert first.report.num_encoded == kg.num_nodes("User") + kg.num_nodes("Artist")
    fresh = TextEncoder(device="cpu")  # a new process: nothing loaded
    second = embed_graph(kg, encoder=fresh, cache=VectorCache(tmp_path), labels=["User", "Artist"])
    assert not fresh.is_loaded and fresh.calls == 0
    assert second.report.num_encoded == 0 and second.report.encode_seconds == 0
    assert second.report.cached == first.report.encoded
    for label in ("User", "Artist"):
        np.testing.assert_array_equal(second[label], first[label])
    # another model fingerprint (max_length) invalidates: everything is encoded again
    other = embed_graph(kg, encoder=TextEncoder(device="cpu", max_length=32), cache=VectorCache(tmp_path),
                        labels=["User"])
    assert other.report.num_encoded == kg.num_nodes("User")


def test_a_damaged_cache_file_is_rebuilt(lastfm_pair_kg, text_encoder, tmp_path, caplog):
    # (a truncated file is covered with fake vectors in tests/unit/test_text_cache.py)
    kg = small_kg(lastfm_pair_kg)
    first = embed_graph(kg, encoder=text_encoder, cache=VectorCache(tmp_path), labels=["Artist"])
    (shard,) = tmp_path.glob("*/shard-*.safetensors")
    data = bytearray(shard.read_bytes())
    data[len(data) - 100] ^= 0x40  # one bit inside a vector: the file still parses
    shard.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="kgrec.text.cache"):
        again = embed_graph(kg, encoder=text_encoder, cache=VectorCache(tmp_path), labels=["Artist"])
    assert "checksum mismatch" in caplog.text
    assert again.report.num_encoded == kg.num_nodes("Artist")  # nothing was taken from the bad file
    np.testing.assert_allclose(again["Artist"], first["Artist"], atol=1e-6)
    # rebuilt: a third run is served from the new shard
    fresh = TextEncoder(device="cpu")
    third = embed_graph(kg, encoder=fresh, cache=VectorCache(tmp_path), labels=["Artist"])
    assert third.report.num_cached == kg.num_nodes("Artist") and not fresh.is_loaded


def test_saved_vectors_round_trip(lastfm_pair_vectors, tmp_path):
    lastfm_pair_vectors.save(tmp_path)
    back = NodeVectors.load(tmp_path)
    assert back.fingerprint == lastfm_pair_vectors.fingerprint
    for label in PAIR_LABELS:
        np.testing.assert_array_equal(back[label], lastfm_pair_vectors[label])


@pytest.mark.slow
def test_synthetic_graph_embeds_every_label(synthetic_kg, synthetic_vectors):
    assert set(synthetic_vectors.labels) == set(synthetic_kg.nodes)
    synthetic_vectors.check_aligned(synthetic_kg)
    items = synthetic_vectors[synthetic_kg.schema.item_label]
    assert np.isfinite(items).all() and len(np.unique(items.round(5), axis=0)) == len(items)
