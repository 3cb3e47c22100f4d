"""Evaluation metrics against hand-computed values; training items are never counted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kgrec.gnn.data import UserItems
from kgrec.gnn.evaluate import auc_score, best_threshold, click_metrics, f1_score, rank_metrics


def _items(pairs, num_users, num_items):
    return UserItems.from_pairs(np.asarray(pairs, dtype=np.int64).T.reshape(2, -1), num_users, num_items)


def test_rank_metrics_hand_computed():
    # 2 users, 6 items. Scores rank items 0..5 in order 5,4,3,2,1,0 for user 0 and 0..5 for user 1.
    scores = torch.tensor([[0.0, 1, 2, 3, 4, 5], [5.0, 4, 3, 2, 1, 0]])
    train = _items([(0, 5), (1, 0)], 2, 6)          # each user's top item is a training item: masked
    test = _items([(0, 3), (0, 0), (1, 2)], 2, 6)
    m = rank_metrics(lambda u: scores[u], test, exclude=[train], ks=(2, 3))
    # user 0 ranking without item 5: 4, 3, 2, 1, 0 -> targets {3, 0}: item 3 at rank 2
    # user 1 ranking without item 0: 1, 2, 3, 4, 5 -> target {2} at rank 2
    d1, d2 = 1 / math.log2(2), 1 / math.log2(3)
    assert m["recall@2"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert m["hit@2"] == pytest.approx(1.0)
    assert m["mrr@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    ndcg_u0 = d2 / (d1 + d2)          # one hit at rank 2, two targets
    ndcg_u1 = d2 / d1                 # one hit at rank 2, one target
    assert m["ndcg@2"] == pytest.approx((ndcg_u0 + ndcg_u1) / 2)
    # at 3: user 0 top-3 = 4, 3, 2 (still one hit); user 1 top-3 = 1, 2, 3
    assert m["recall@3"] == pytest.approx((1 / 2 + 1) / 2)
    # coverage@2: top-2 lists {4, 3} and {1, 2} -> 4 of 6 items
    assert m["coverage@2"] == pytest.approx(4 / 6)
    assert m.count == 2


def test_training_items_are_never_counted():
    # a scorer that puts every user's training items first: with them masked, a test item ranks first
    num_users, num_items = 3, 20
    rng = np.random.default_rng(0)
    train_pairs = [(u, int(i)) for u in range(num_users) for i in rng.choice(num_items, 5, replace=False)]
    train = _items(train_pairs, num_users, num_items)
    test_pairs = []
    for u in range(num_users):
        free = np.setdiff1d(np.arange(num_items), train[u])
        test_pairs.append((u, int(free[0])))
    test = _items(test_pairs, num_users, num_items)
    scores = torch.zeros(num_users, num_items)
    for u, i in train_pairs:
        scores[u, i] = 10.0                       # training items on top
    for u, i in test_pairs:
        scores[u, i] = 5.0
    m = rank_metrics(lambda u: scores[u], test, exclude=[train], ks=(1,))
    assert m["hit@1"] == 1.0 and m["ndcg@1"] == 1.0
    # without the mask the training items would take every top slot
    unmasked = rank_metrics(lambda u: scores[u], test, exclude=[], ks=(1,))
    assert unmasked["hit@1"] == 0.0
    # a test item that is also a training item of that user cannot count as a hit
    leaky = _items(train_pairs[:1], num_users, num_items)
    m2 = rank_metrics(lambda u: scores[u], leaky, exclude=[train], ks=(5,))
    assert m2["hit@5"] == 0.0


def test_candidates_restrict_the_ranking():
    scores = torch.tensor([[5.0, 4, 3, 2, 1, 0]])
    test = _items([(0, 4)], 1, 6)
    m = rank_metrics(lambda u: scores[u], test, ks=(1,), candidates=np.array([4, 5]))
    assert m["hit@1"] == 1.0
    assert m["coverage@1"] == pytest.approx(1 / 2)


def test_users_without_targets_are_skipped():
    scores = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    test = _items([(1, 1)], 2, 2)
    m = rank_metrics(lambda u: scores[u], test, ks=(1,))
    assert m.count == 1 and m["recall@1"] == 1.0


def test_auc_f1_hand_computed():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([1, 0, 1, 1, 0, 0])
    # positive-negative pairs won: 0.9 beats all 3 negatives, 0.7 and 0.6 beat 0.5 and 0.4 -> 7 of 9
    assert auc_score(scores, labels) == pytest.approx(7 / 9)
    # ties count one half
    assert auc_score(np.array([1.0, 1.0]), np.array([1, 0])) == pytest.approx(0.5)
    # threshold 0.65: predicted positive {0.9, 0.8, 0.7}: tp 2, fp 1, fn 1 -> F1 = 4 / 6
    assert f1_score(scores >= 0.65, labels) == pytest.approx(4 / 6)
    m = click_metrics(scores, labels, threshold=0.65)
    assert m["auc"] == pytest.approx(7 / 9) and m["f1"] == pytest.approx(4 / 6)


def test_best_threshold_maximises_f1():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([1, 0, 1, 1, 0, 0])
    t = best_threshold(scores, labels)
    f1_at_t = f1_score(scores >= t, labels)
    for cut in scores:
        assert f1_at_t >= f1_score(scores >= cut, labels) - 1e-12
    assert t == pytest.approx(0.6)
