"""The synthetic generator: deterministic, any size, and its interactions follow the users' tastes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kgrec.errors import ConfigError
from kgrec.kg.sources import synthetic


def test_same_seed_same_graph_other_seed_other_graph():
    a = synthetic(num_users=50, num_items=80, seed=3)
    b = synthetic(num_users=50, num_items=80, seed=3)
    c = synthetic(num_users=50, num_items=80, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_shape_labels_and_metadata(synthetic_kg):
    kg = synthetic_kg
    assert kg.metadata["synthetic"] is True
    assert kg.num_nodes("User") == 100 and kg.num_nodes("Item") == 200
    assert kg.num_nodes("Tag") == 30 and kg.num_nodes("Genre") == 8
    assert kg.schema.interaction == ("User", "INTERACTED", "Item")
    assert set(kg.edges) == {("User", "INTERACTED", "Item"), ("Item", "HAS_TAG", "Tag"), ("Item", "HAS_GENRE", "Genre")}
    items = kg.items
    assert items["name"].str.match(r"^[A-Z][a-z]+ [A-Z][a-z]+$").all()
    assert all(text.startswith(name + ": ") for name, text in zip(items["name"], items["text"]))
    assert items["text"].str.split().str.len().min() >= 16
    # every item has at least one tag and one genre, every user at least one interaction
    assert set(kg.edges[("Item", "HAS_TAG", "Tag")]["src"]) == set(items["id"])
    assert set(kg.edges[("Item", "HAS_GENRE", "Genre")]["src"]) == set(items["id"])
    assert set(kg.interactions["src"]) == set(kg.users["id"])
    assert (kg.interactions["weight"] >= 1).all()
    assert len(set(kg.nodes["Tag"]["name"])) == 30  # distinct words


def test_interactions_follow_tastes_and_tags_follow_topics():
    kg = synthetic(num_users=400, num_items=300, seed=0)
    inter = kg.interactions.merge(kg.users[["id", "topic"]], left_on="src", right_on="id") \
        .merge(kg.items[["id", "topic"]], left_on="dst", right_on="id", suffixes=("_user", "_item"))
    same = float((inter["topic_user"] == inter["topic_item"]).mean())
    assert same > 2.0 / kg.metadata["num_topics"]  # chance is 1/8
    tags = kg.edges[("Item", "HAS_TAG", "Tag")].merge(kg.items[["id", "topic"]], left_on="src", right_on="id") \
        .merge(kg.nodes["Tag"][["id", "topic"]], left_on="dst", right_on="id", suffixes=("_item", "_tag"))
    assert float((tags["topic_item"] == tags["topic_tag"]).mean()) > 0.4


def test_size_scales_linearly_and_fast():
    start = time.perf_counter()
    kg = synthetic(num_users=10_000, num_items=2_000, seed=1)
    elapsed = time.perf_counter() - start
    assert kg.num_nodes("User") == 10_000
    per_user = kg.num_edges(kg.schema.interaction) / 10_000
    assert 15 < per_user <= 20  # mean draws 20, repeats collapse into weight
    assert int(kg.interactions["weight"].sum()) > kg.num_edges(kg.schema.interaction) * 0.99
    assert elapsed < 30, f"10,000 users took {elapsed:.1f}s"


@pytest.mark.slow
def test_a_hundred_thousand_users_take_seconds():
    start = time.perf_counter()
    kg = synthetic(num_users=100_000, num_items=5_000, seed=2)
    elapsed = time.perf_counter() - start
    assert kg.num_nodes("User") == 100_000
    assert elapsed < 60, f"100,000 users took {elapsed:.1f}s"


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="num_users must be an integer >= 1"):
        synthetic(num_users=0)
    with pytest.raises(ConfigError, match="num_items"):
        synthetic(num_items=2.5)
    with pytest.raises(ConfigError, match="interactions_per_user"):
        synthetic(interactions_per_user=0.5)
    with pytest.raises(TypeError):
        synthetic(10)  # keyword-only


def test_ids_are_strings_and_unique():
    kg = synthetic(num_users=20, num_items=30, seed=5)
    for label, df in kg.nodes.items():
        assert df["id"].is_unique, label
        assert str(df["id"].dtype) == "string"
    assert np.array_equal(kg.users["id"].to_numpy(), np.array([f"u{i}" for i in range(20)], dtype=object))
