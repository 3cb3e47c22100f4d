"""The synthetic generator at scale: interactions drawn in blocks of users (bounded working memory),
deterministic per seed, every draw accounted for."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.kg.sources import synthetic


@pytest.fixture
def small_blocks(monkeypatch):
    import importlib

    module = importlib.import_module("kgrec.kg.sources.synthetic")
    monkeypatch.setattr(module, "BLOCK_DRAWS", 97)  # a few users per block: many blocks
    return module


def test_blocks_are_deterministic_and_keep_every_draw(small_blocks):
    a = synthetic(num_users=300, num_items=120, seed=5)
    b = synthetic(num_users=300, num_items=120, seed=5)
    assert a.equals(b)
    inter = a.interactions
    # every user drew at least once; the weights add up to the draws; no pair twice
    assert set(inter["src"]) == set(a.users["id"])
    assert not inter.duplicated(["src", "dst"]).any()
    assert 300 * 15 < int(inter["weight"].sum()) < 300 * 25
    # users come out in order, block after block
    users = inter["src"].str.slice(1).astype(int).to_numpy()
    assert np.all(np.diff(users) >= 0)


def test_one_block_or_many_draw_from_the_same_tastes(small_blocks):
    many = synthetic(num_users=400, num_items=300, seed=0)
    inter = many.interactions.merge(many.users[["id", "topic"]], left_on="src", right_on="id") \
        .merge(many.items[["id", "topic"]], left_on="dst", right_on="id", suffixes=("_user", "_item"))
    assert float((inter["topic_user"] == inter["topic_item"]).mean()) > 2.0 / many.metadata["num_topics"]


def test_a_graph_under_one_block_is_unchanged_by_blocking(monkeypatch):
    import importlib

    module = importlib.import_module("kgrec.kg.sources.synthetic")
    one = synthetic(num_users=200, num_items=150, seed=2)
    monkeypatch.setattr(module, "BLOCK_DRAWS", 10**9)
    assert synthetic(num_users=200, num_items=150, seed=2).equals(one)
    monkeypatch.setattr(module, "BLOCK_DRAWS", 50)
    assert not synthetic(num_users=200, num_items=150, seed=2).equals(one)  # other blocks, other draws


def test_skipping_a_block_takes_the_random_numbers_a_block_takes():
    import importlib

    module = importlib.import_module("kgrec.kg.sources.synthetic")
    taste = np.full((3, 2), 0.5)
    given = np.random.default_rng(1).random((2, 9))
    counts = np.array([4, 7, 1])
    drawn, skipped = np.random.default_rng(3), np.random.default_rng(3)
    module._interaction_block(drawn, taste, module._row_cdf(taste), given, module._shifted_cdf(given), 0, counts)
    module._skip_block(skipped, int(counts.sum()))
    assert drawn.bit_generator.state == skipped.bit_generator.state
