"""Evaluation in chunks of users: the same metrics, bit for bit, whatever the chunk size; never a
users × items matrix beyond one chunk; a fixed validation sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kgrec.gnn import split_interactions
from kgrec.gnn.evaluate import CHUNK_BYTES, chunk_users, rank_metrics, topk_chunks, validation_sample


def _reference(scores: torch.Tensor, target, exclude, ks, candidates=None) -> dict[str, float]:
    """Every metric from the whole users × items matrix at once, by the definitions (the old way)."""
    scores = scores.clone()
    for ex in exclude:
        for u in range(ex.num_users):
            scores[u, torch.from_numpy(ex[u])] = -math.inf
    if candidates is not None:
        keep = torch.zeros(scores.shape[1], dtype=torch.bool)
        keep[torch.from_numpy(candidates)] = True
        scores[:, ~keep] = -math.inf
    users = np.flatnonzero(target.counts() > 0)
    out: dict[str, list[float]] = {}
    seen = {k: set() for k in ks}
    for u in users:
        order = torch.topk(scores[u], max(ks)).indices.tolist()
        order = [i for i in order if math.isfinite(float(scores[u, i]))]
        truth = set(target[u].tolist())
        for k in ks:
            top = order[:k]
            hits = [1.0 if i in truth else 0.0 for i in top]
            n_hit = sum(hits)
            out.setdefault(f"recall@{k}", []).append(n_hit / len(truth))
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(truth))))
            out.setdefault(f"ndcg@{k}", []).append(dcg / idcg)
            out.setdefault(f"hit@{k}", []).append(float(n_hit > 0))
            first = next((r + 1 for r, h in enumerate(hits) if h), None)
            out.setdefault(f"mrr@{k}", []).append(0.0 if first is None else 1.0 / first)
            seen[k].update(top)
    values = {key: float(np.mean(v)) for key, v in out.items()}
    n_cand = scores.shape[1] if candidates is None else len(np.unique(candidates))
    values.update({f"coverage@{k}": len(seen[k]) / n_cand for k in ks})
    return values


@pytest.fixture(scope="module")
def graph_split(synthetic_kg):
    """The synthetic graph's random split and a fixed random score matrix over its users and items."""
    split = split_interactions(synthetic_kg, "random", seed=0)
    scores = torch.from_numpy(np.random.default_rng(1).standard_normal((split.num_users, split.num_items))).float()
    return split, scores


@pytest.mark.parametrize("part", ["valid", "test"])
def test_chunked_equals_unchunked_exactly(graph_split, part):
    split, scores = graph_split
    train, valid = split.user_items("train"), split.user_items("valid")
    exclude = [train] if part == "valid" else [train, valid]
    target = split.user_items(part)
    results = [rank_metrics(lambda u: scores[u], target, exclude=exclude, ks=(5, 10, 20), batch_size=size)
               for size in (1, 7, 64, 10_000)]
    first = results[0].to_dict()
    for other in results[1:]:
        assert other.to_dict() == first  # exactly: per-user values summed once, in user order
        assert other.count == results[0].count
    reference = _reference(scores, target, exclude, (5, 10, 20))
    assert set(reference) == set(first)
    for key, value in reference.items():
        assert first[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_chunked_candidates_and_user_subset(graph_split):
    split, scores = graph_split
    target, train = split.user_items("test"), split.user_items("train")
    candidates = np.arange(0, split.num_items, 3)
    a = rank_metrics(lambda u: scores[u], target, exclude=[train], ks=(10,), candidates=candidates, batch_size=3)
    b = rank_metrics(lambda u: scores[u], target, exclude=[train], ks=(10,), candidates=candidates, batch_size=999)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() == pytest.approx(_reference(scores, target, [train], (10,), candidates))
    users = np.flatnonzero(target.counts() > 0)[::2]
    sub = rank_metrics(lambda u: scores[u], target, exclude=[train], ks=(10,), users=users, batch_size=5)
    assert sub.count == len(users)
    # a subset's metrics are the mean over exactly those users
    one_by_one = [rank_metrics(lambda u: scores[u], target, exclude=[train], ks=(10,), users=[u]) for u in users]
    assert sub["ndcg@10"] == pytest.approx(np.mean([m["ndcg@10"] for m in one_by_one]))


def test_top_k_per_chunk_never_holds_an_excluded_item(graph_split):
    split, scores = graph_split
    train = split.user_items("train")
    users = np.arange(split.num_users)
    seen = []
    for top in topk_chunks(lambda u: scores[u], users, k=20, num_items=split.num_items, exclude=[train], batch_size=16):
        assert top.items.shape == (len(top.users), 20) and len(top.users) <= 16
        for row, u in enumerate(top.users.tolist()):
            assert not set(top.items[row].tolist()) & set(train[u].tolist())
            # best first, and the same items a full sort of the masked row gives
            masked = scores[u].clone()
            masked[torch.from_numpy(train[u])] = -math.inf
            assert torch.equal(top.scores[row], torch.sort(masked, descending=True).values[:20])
        seen.extend(top.users.tolist())
    assert seen == users.tolist()
    # the caller's scores are never written to
    assert torch.isfinite(scores).all()


def test_a_chunk_stays_within_its_byte_budget():
    # 1,024 users × 100 k items of float32 (and its masked copy) would be 800 MB: the chunk shrinks
    rows = chunk_users(100_000, 1024)
    assert rows < 1024 and 2 * 4 * rows * 100_000 <= CHUNK_BYTES
    assert chunk_users(500, 1024) == 1024
    assert chunk_users(10**9, 1024) == 1


def test_validation_sample_is_fixed_and_only_when_users_are_many(graph_split):
    split, _ = graph_split
    with_valid = np.flatnonzero(split.user_items("valid").counts() > 0)
    assert validation_sample(split, 0) is None
    assert validation_sample(split, len(with_valid)) is None
    a = validation_sample(split, 10, seed=3)
    b = validation_sample(split, 10, seed=3)
    assert np.array_equal(a, b) and len(a) == 10 and np.all(np.diff(a) > 0)
    assert set(a) <= set(with_valid)
    assert not np.array_equal(a, validation_sample(split, 10, seed=4))


def test_an_owned_scorer_is_masked_in_place_with_the_same_result(graph_split):
    split, scores = graph_split
    train, target = split.user_items("train"), split.user_items("valid")
    handed: list[torch.Tensor] = []

    def fresh(u):  # a new tensor per call, as the base model's matrix product is
        handed.append(scores[u].clone())
        return handed[-1]

    copied = rank_metrics(lambda u: scores[u], target, exclude=[train], ks=(10, 20), batch_size=7)
    owned = rank_metrics(fresh, target, exclude=[train], ks=(10, 20), batch_size=7, owned=True)
    assert owned.to_dict() == copied.to_dict()
    # owned: no copy was made, so the scorer's own tensors carry the masks
    assert any(not torch.isfinite(t).all() for t in handed)
    assert torch.isfinite(scores).all()


def test_evaluation_never_writes_to_scores_a_model_of_its_own_hands_out(graph_split):
    from kgrec.gnn import TrainConfig
    from kgrec.gnn.evaluate import evaluate_model

    split, scores = graph_split

    class Own:  # not the base class: the tensors it hands out may be ones it keeps
        kept: list[torch.Tensor] = []

        def eval(self):
            return self

        def score_all_items(self, users):
            self.kept.append(scores[users].clone())
            return self.kept[-1]

    model = Own()
    m = evaluate_model(model, split, part="valid", config=TrainConfig(eval_batch_size=5))
    assert m.count > 0 and len(model.kept) > 1
    assert all(torch.isfinite(t).all() for t in model.kept)
    assert torch.isfinite(scores).all()
